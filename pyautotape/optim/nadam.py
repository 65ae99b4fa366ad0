"""NAdam (``pat_nadam_step``), as ``torch.optim.NAdam``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._ffi import lib
from ..tensor import Tensor
from ._stepped import Stepped, check_betas, check_flags, check_min, check_numbers, flags
from .optimizer import _GroupState

__all__ = ["NAdam"]


class NAdam(Stepped):
    """Adam with Nesterov momentum (Dozat), as ``torch.optim.NAdam``: the momentum
    coefficient ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))`` and its running
    product (state ``mu_product``, a float64 scalar per parameter) weight the gradient and
    the first moment. ``decoupled_weight_decay=True`` decays as AdamW.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
    >>> opt = pat.optim.NAdam([w], lr=0.1)
    >>> (w * 3).sum().backward(); opt.step()
    >>> sorted(opt.state[w]), bool(w.numpy()[0] < 1.0)
    (['exp_avg', 'exp_avg_sq', 'mu_product', 'step'], True)
    """

    _buffers = ("exp_avg", "exp_avg_sq", "mu_product")
    _kind = lib.PAT_OPTIM_NADAM

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, hyper: dict[str, Any]) -> None:
        check_numbers(hyper, "NAdam", "lr", "eps", "weight_decay", "momentum_decay")
        check_flags(hyper, "NAdam", "decoupled_weight_decay", "maximize")
        check_min(hyper, "lr", "learning rate")
        check_min(hyper, "eps", "epsilon value")
        check_betas(hyper, "NAdam")
        check_min(hyper, "weight_decay", "weight_decay value")
        check_min(hyper, "momentum_decay", "momentum_decay value")

    def _fresh_buffer(self, name: str, group: dict[str, Any], p: Tensor) -> np.ndarray:
        if name == "mu_product":
            return np.ones((), np.float64)
        return np.zeros(p.shape, p.dtype)

    def _checked_entry(
        self, entry: Mapping[str, Any], p: Tensor, idx: int, where: str
    ) -> dict[str, Any]:
        rest = dict(entry)
        if "mu_product" not in rest:
            raise ValueError(f"{where}: the state of parameter {idx} lacks ['mu_product']")
        raw = rest.pop("mu_product")
        mu = np.asarray(raw.numpy() if isinstance(raw, Tensor) else raw, dtype=np.float64)
        if mu.size != 1 or not np.isfinite(mu).all():
            raise ValueError(
                f"{where}: state 'mu_product' of parameter {idx} must be a finite number, "
                f"got {raw!r}"
            )
        self._buffers = ("exp_avg", "exp_avg_sq")  # checked against the parameter's shape
        try:
            out = super()._checked_entry(rest, p, idx, where)
        finally:
            del self._buffers
        out["mu_product"] = np.array(mu.reshape(()), np.float64)
        return out

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        self._run(group, state, grads, lib.pat_nadam_step,
                  flags(group, decoupled_weight_decay=lib.PAT_OPT_DECOUPLED))

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                group["momentum_decay"])
