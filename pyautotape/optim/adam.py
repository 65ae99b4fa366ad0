"""Adam and AdamW (``pat_adam_step``; AdamW decouples the weight decay)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._ffi import lib
from .optimizer import Optimizer, _GroupState, _number

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's formula: bias-corrected moments, ``eps`` added
    after dividing sqrt(v) by sqrt(1 - beta2^t), and L2 ``weight_decay`` added to the
    gradient (see :class:`AdamW` for decoupled decay).

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0, 1.0]), requires_grad=True)
    >>> opt = pat.optim.Adam([w], lr=0.5)
    >>> (w * np.array([3.0, -0.1])).sum().backward(); opt.step()
    >>> np.round(w.numpy(), 6)  # the first step is lr * sign(grad), up to eps
    array([0.5, 1.5])
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _required_state = ("step",)
    _decoupled = 0

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        where = type(self).__name__
        for name in ("lr", "eps", "weight_decay"):
            hyper[name] = _number(hyper[name], name, where)
        betas = hyper["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        hyper["betas"] = betas = tuple(_number(b, "betas", where) for b in betas)
        if not 0.0 <= hyper["lr"]:
            raise ValueError(f"Invalid learning rate: {hyper['lr']}")
        if not 0.0 <= hyper["eps"]:
            raise ValueError(f"Invalid epsilon value: {hyper['eps']}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        if not 0.0 <= hyper["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {hyper['weight_decay']}")

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._call(group, state, grads, lib.pat_adam_step, True, self._decoupled)

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"])

    def _param_state(self, state: _GroupState, i: int) -> dict[str, Any] | None:
        m, v = state.buffers["exp_avg"][i], state.buffers["exp_avg_sq"][i]
        return None if m is None else {"step": int(state.counts[i]), "exp_avg": m, "exp_avg_sq": v}

    def _set_param_state(
        self, state: _GroupState, i: int, entry: Mapping[str, Any] | None
    ) -> None:
        for name in self._buffers:
            state.buffers[name][i] = None if entry is None else entry[name]
        state.counts[i] = 0 if entry is None else entry["step"]


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

    _decoupled = 1

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
