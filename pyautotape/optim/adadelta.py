"""Adadelta (``pat_adadelta_step``), as ``torch.optim.Adadelta``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._ffi import lib
from ._stepped import Stepped, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["Adadelta"]


class Adadelta(Stepped):
    """Adadelta (Zeiler): ``square_avg = rho * square_avg + (1 - rho) * g^2``,
    ``delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g``,
    ``acc_delta = rho * acc_delta + (1 - rho) * delta^2``, ``p -= lr * delta``.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.Adadelta([w], lr=1.0, rho=0.0, eps=1.0)
    >>> (w * 0).sum().backward(); opt.step()
    >>> w.numpy()  # a zero gradient moves nothing
    array([1.])
    """

    _buffers = ("square_avg", "acc_delta")
    _kind = lib.PAT_OPTIM_ADADELTA

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "Adadelta", "lr", "rho", "eps", "weight_decay")
        check_flags(hyper, "Adadelta", "maximize")
        check_min(hyper, "lr", "learning rate")
        if not 0.0 <= hyper["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {hyper['rho']}")
        check_min(hyper, "eps", "epsilon value")
        check_min(hyper, "weight_decay", "weight_decay value")

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_adadelta_step, flags(group))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["rho"], group["eps"], group["weight_decay"])
