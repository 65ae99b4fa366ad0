"""Adam and AdamW (``pat_adam_step``; AdamW decouples the weight decay), with ``amsgrad``
and ``maximize``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._ffi import lib
from ._stepped import Stepped, check_betas, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["Adam", "AdamW"]


class Adam(Stepped):
    """Adam (Kingma & Ba) with PyTorch's formula: bias-corrected moments, ``eps`` added
    after dividing sqrt(v) by sqrt(1 - beta2^t), and L2 ``weight_decay`` added to the
    gradient (see :class:`AdamW` for decoupled decay). ``amsgrad=True`` divides by the
    running maximum of the second moment (state ``max_exp_avg_sq``); ``maximize=True``
    ascends.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0, 1.0]), requires_grad=True)
    >>> opt = pat.optim.Adam([w], lr=0.5)
    >>> (w * np.array([3.0, -0.1])).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # the first step is lr * sign(grad), up to eps
    array([0.5, 1.5])
    """

    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _optional = ("max_exp_avg_sq",)
    _kind = lib.PAT_OPTIM_ADAM
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        where = type(self).__name__
        check_numbers(hyper, where, "lr", "eps", "weight_decay")
        check_flags(hyper, where, "amsgrad", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "eps", "epsilon value")
        check_betas(hyper, where)
        check_min(hyper, "weight_decay", "weight_decay value")

    def _needed(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self._buffers if group["amsgrad"] else self._buffers[:2]

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        flag = flags(group, amsgrad=lib.PAT_OPT_AMSGRAD)
        self._run(group, state, grads, lib.pat_adam_step,
                  flag | (lib.PAT_OPT_DECOUPLED if self._decoupled else 0))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    each step first scales the parameter by ``1 - lr * weight_decay``.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([2.0]), requires_grad=True)
    >>> opt = pat.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * 0).sum().backward(); opt.step()
    >>> w.numpy()  # zero gradient: only the decay acts, 2 * (1 - 0.1 * 0.5)
    array([1.9])
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
