"""RAdam (``pat_radam_step``), as ``torch.optim.RAdam``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._ffi import lib
from ._stepped import Stepped, check_betas, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["RAdam"]


class RAdam(Stepped):
    """Rectified Adam (Liu et al.): Adam's moments; while the variance estimate is not
    tractable (rho_t <= 5, the first steps) the update is the bias-corrected momentum
    alone, later Adam's step times the rectification term. ``decoupled_weight_decay=True``
    decays as AdamW.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.RAdam([w], lr=0.1)
    >>> (w * 3).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # step 1: lr * the bias-corrected momentum, 1 - 0.1 * 3
    array([0.7])
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _kind = lib.PAT_OPTIM_RADAM

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "RAdam", "lr", "eps", "weight_decay")
        check_flags(hyper, "RAdam", "decoupled_weight_decay", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "eps", "epsilon value")
        check_betas(hyper, "RAdam")
        check_min(hyper, "weight_decay", "weight_decay value")

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_radam_step,
                  flags(group, decoupled_weight_decay=lib.PAT_OPT_DECOUPLED))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
