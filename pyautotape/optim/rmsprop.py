"""RMSprop (``pat_rmsprop_step``): PyTorch's, with momentum and the centred variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._ffi import lib
from ._stepped import Stepped, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["RMSprop"]


class RMSprop(Stepped):
    """RMSprop (Hinton), as ``torch.optim.RMSprop``: ``square_avg = alpha * square_avg +
    (1 - alpha) * g^2`` and ``p -= lr * g / (sqrt(square_avg) + eps)``; ``momentum > 0``
    accumulates ``g / avg`` in ``momentum_buffer``; ``centered=True`` subtracts the squared
    running mean ``grad_avg`` first.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * 2).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # 1 - 0.01 * 2 / sqrt(0.25 * 4)
    array([0.98])
    >>> sorted(opt.state[w])
    ['square_avg', 'step']
    """

    _buffers = ("square_avg", "momentum_buffer", "grad_avg")
    _optional = ("momentum_buffer", "grad_avg")
    _kind = lib.PAT_OPTIM_RMSPROP

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "RMSprop", "lr", "alpha", "eps", "weight_decay", "momentum")
        check_flags(hyper, "RMSprop", "centered", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "eps", "epsilon value")
        check_min(hyper, "momentum", "momentum value")
        check_min(hyper, "weight_decay", "weight_decay value")
        check_min(hyper, "alpha", "alpha value")

    def _needed(self, group: dict[str, Any]) -> tuple[str, ...]:
        out = ["square_avg"]
        if group["momentum"] > 0:
            out.append("momentum_buffer")
        if group["centered"]:
            out.append("grad_avg")
        return tuple(out)

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_rmsprop_step,
                  flags(group, centered=lib.PAT_OPT_CENTERED))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                group["momentum"])
