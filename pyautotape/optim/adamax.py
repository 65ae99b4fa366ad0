"""Adamax (``pat_adamax_step``), as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._ffi import lib
from ._stepped import Stepped, check_betas, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["Adamax"]


class Adamax(Stepped):
    """Adamax (Kingma & Ba, the infinity-norm Adam): ``exp_avg`` as Adam,
    ``exp_inf = max(beta2 * exp_inf, |g| + eps)``,
    ``p -= lr / (1 - beta1^t) * exp_avg / exp_inf``.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.Adamax([w], lr=0.1, eps=0.0)
    >>> (w * 3).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # the first step is lr * sign(grad)
    array([0.9])
    """

    _buffers = ("exp_avg", "exp_inf")
    _kind = lib.PAT_OPTIM_ADAMAX

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "Adamax", "lr", "eps", "weight_decay")
        check_flags(hyper, "Adamax", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "eps", "epsilon value")
        check_betas(hyper, "Adamax")
        check_min(hyper, "weight_decay", "weight_decay value")

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_adamax_step, flags(group))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
