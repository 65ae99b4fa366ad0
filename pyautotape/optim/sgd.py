"""SGD with momentum, dampening, Nesterov and weight decay (``pat_sgd_step``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._ffi import lib
from ._stepped import flags
from .optimizer import Optimizer, _GroupState, _number

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's formula: the buffer
    starts as the gradient; dampening scales later gradients), Nesterov momentum and L2
    weight decay added to the gradient.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     (w * 2).sum().backward(); opt.step(); opt.zero_grad()
    >>> w.numpy()  # 1 - 0.1 * 2 - 0.1 * (0.9 * 2 + 2)
    array([0.42])
    """

    _buffers = ("momentum_buffer",)
    _kind = lib.PAT_OPTIM_SGD

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            hyper[name] = _number(hyper[name], name, "SGD")
        if not hyper["lr"] >= 0.0:
            raise ValueError(f"Invalid learning rate: {hyper['lr']}")
        if not hyper["momentum"] >= 0.0:
            raise ValueError(f"Invalid momentum value: {hyper['momentum']}")
        if not hyper["weight_decay"] >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {hyper['weight_decay']}")
        hyper["nesterov"] = bool(hyper["nesterov"])
        if not isinstance(hyper["maximize"], bool):
            raise TypeError(f"SGD: maximize must be True or False, got {hyper['maximize']!r}")
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._call(group, state, grads, lib.pat_sgd_step, True,
                   flags(group, nesterov=lib.PAT_OPT_NESTEROV))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["momentum"], group["dampening"], group["weight_decay"])

    def _needed(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self._buffers if group["momentum"] != 0 else ()

    def _fresh_count(self, count: int) -> int:
        return 0  # a new momentum buffer starts as the gradient

    def _param_state(self, state: _GroupState, i: int) -> dict[str, Any] | None:
        buf = state.buffers["momentum_buffer"][i]
        if buf is None or state.counts[i] == 0:
            return None
        return {"momentum_buffer": buf}

    def _set_param_state(
        self, state: _GroupState, i: int, entry: Mapping[str, Any] | None
    ) -> None:
        buf = None if entry is None else entry.get("momentum_buffer")
        state.buffers["momentum_buffer"][i] = buf
        state.counts[i] = 0 if buf is None else 1
