"""Normalisation and regularisation layers: LayerNorm, BatchNorm1d, Dropout.

>>> import numpy as np, pyautotape as pat
>>> ln = pat.nn.LayerNorm(4)
>>> [n for n, _ in ln.named_parameters()]
['weight', 'bias']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import pyautotape.nn.functional as F  # the module, not the package: no import cycle

from ..tensor import Tensor, tensor
from .module import Module, Parameter, _dtype, _positive_int

__all__ = ["LayerNorm", "BatchNorm1d", "Dropout"]


class LayerNorm(Module):
    """``torch.nn.LayerNorm``: normalise over the trailing ``normalized_shape`` dims, then
    an elementwise affine map (weight ones, bias zeros) unless ``elementwise_affine=False``.

    >>> import pyautotape as pat
    >>> pat.nn.LayerNorm(2)(pat.tensor([[1.0, 3.0]])).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: Sequence[int] | int, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape = tuple(
            _positive_int(s, "normalized_shape", "LayerNorm") for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = _dtype(dtype, "LayerNorm")
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class BatchNorm1d(Module):
    """``torch.nn.BatchNorm1d`` over (N, C) or (N, C, L): batch statistics in training
    (updating ``running_mean`` / ``running_var`` in place, also in replayed steps), the
    running ones in eval(). Buffers: running_mean, running_var, num_batches_tracked (the
    last a float tensor of the module's dtype, not int64 as in PyTorch).

    >>> import numpy as np, pyautotape as pat
    >>> bn = pat.nn.BatchNorm1d(3)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> _ = bn(pat.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3)))
    >>> bn.running_mean.numpy(), bn.num_batches_tracked.item()
    (array([0.15, 0.25, 0.35], dtype=float32), 1.0)
    """

    # buffers (register_buffer), None without track_running_stats
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_features = _positive_int(num_features, "num_features", "BatchNorm1d")
        if momentum is None:
            raise ValueError("BatchNorm1d: momentum=None (a cumulative average) is not "
                             "supported; pass a momentum in (0, 1], e.g. 0.1")
        self.eps, self.momentum = eps, float(momentum)
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _dtype(dtype, "BatchNorm1d")
        c = self.num_features
        self.weight: Tensor | None = Parameter(np.ones(c, dt)) if affine else None
        self.bias: Tensor | None = Parameter(np.zeros(c, dt)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", tensor(np.zeros(c, dt)))
            self.register_buffer("running_var", tensor(np.ones(c, dt)))
            self.register_buffer("num_batches_tracked", tensor(np.zeros((), dt)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Any) -> Tensor:
        self._guard_mode()
        use_batch = self.training or not self.track_running_stats
        count = self.num_batches_tracked
        if self.training and self.track_running_stats and count is not None:
            F._update(count, 1.0, count * 0.0 + 1.0, 1.0)
        track = self.training and self.track_running_stats
        return F.batch_norm(x, self.running_mean if track or not use_batch else None,
                            self.running_var if track or not use_batch else None,
                            self.weight, self.bias, use_batch, self.momentum, self.eps)

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, count 0."""
        if self.track_running_stats:
            for buf, v in ((self.running_mean, 0.0), (self.running_var, 1.0),
                           (self.num_batches_tracked, 0.0)):
                if buf is not None:
                    buf._data = np.full(buf.shape, v, buf.dtype)
                    buf._guard = None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class Dropout(Module):
    """``nn.functional.dropout`` as a module: active in train(), the identity in eval().

    >>> import pyautotape as pat
    >>> d = pat.nn.Dropout(0.5).eval()
    >>> x = pat.tensor([1.0, 2.0]); d(x) is x
    True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        from ..ops.nn import _check_p

        self.p = _check_p(p, "Dropout")
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        self._guard_mode()
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
