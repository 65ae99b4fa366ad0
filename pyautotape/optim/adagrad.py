"""Adagrad (``pat_adagrad_step``), as ``torch.optim.Adagrad``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._ffi import lib
from ..tensor import Tensor
from ._stepped import Stepped, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["Adagrad"]


class Adagrad(Stepped):
    """Adagrad (Duchi et al.): ``sum += g^2``, ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``; ``sum`` starts at
    ``initial_accumulator_value``.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.Adagrad([w], lr=0.5)
    >>> (w * 4).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # 1 - 0.5 * 4 / sqrt(16)
    array([0.5])
    """

    _buffers = ("sum",)
    _kind = lib.PAT_OPTIM_ADAGRAD

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "Adagrad", "lr", "lr_decay", "weight_decay",
                      "initial_accumulator_value", "eps")
        check_flags(hyper, "Adagrad", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "lr_decay", "lr_decay value")
        check_min(hyper, "weight_decay", "weight_decay value")
        check_min(hyper, "initial_accumulator_value", "initial_accumulator_value value")
        check_min(hyper, "eps", "epsilon value")

    def _fresh_buffer(self, name: str, group: dict[str, Any], p: Tensor) -> np.ndarray:
        return np.full(p.shape, group["initial_accumulator_value"], p.dtype)

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_adagrad_step, flags(group))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["lr_decay"], group["weight_decay"], group["eps"])
