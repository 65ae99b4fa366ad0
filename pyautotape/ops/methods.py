"""Tensor's arithmetic operators and op methods, beside the ops they call.

tensor.py defines the data, the gradient and the link to the tape; the operators
(``x + y``, ``x @ w``, ``-x``, ``x[i]``) and methods (``x.sum()``, ``x.reshape(2, 3)``,
``x.T``, and each op whose OpSpec has ``method=True``: ``x.exp()``, ``x.relu()``, ...) are
set on the class here, once, when pyautotape.ops is imported. That way the core does not
import the ops that import it. Comparisons stay in tensor.py: they run no op.

>>> import pyautotape as pat
>>> x = pat.tensor([[1.0, 2.0]])
>>> (2 * x + 1).sum().item(), x.T.shape, x.exp().shape
(8.0, (2, 1), (1, 2))
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .dense import matmul
from .elementwise import add, div, mul, neg, pow, sub
from .reduce import max, mean, sum
from .shape import index, reshape, transpose
from .spec import SPECS


def _sum(self: Tensor, axis: int | tuple[int, ...] | None = None,
         keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, or None for all), as ``np.sum``."""
    return sum(self, axis=axis, keepdims=keepdims)


def _mean(self: Tensor, axis: int | tuple[int, ...] | None = None,
          keepdims: bool = False) -> Tensor:
    """Mean over ``axis``, as ``np.mean``."""
    return mean(self, axis=axis, keepdims=keepdims)


def _max(self: Tensor, axis: int | tuple[int, ...] | None = None,
         keepdims: bool = False) -> Tensor:
    """Max over ``axis``; tied maxima share the gradient evenly."""
    return max(self, axis=axis, keepdims=keepdims)


def _reshape(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one -1 is inferred."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(self, shape)


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()`` reverses the axes; ``t.transpose(1, 0, 2)`` permutes them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return transpose(self, axes if axes else None)


def _T(self: Tensor) -> Tensor:
    """The tensor with its axes reversed."""
    return transpose(self, None)


METHODS: dict[str, Any] = {
    "__add__": lambda self, other: add(self, other),
    "__radd__": lambda self, other: add(other, self),
    "__sub__": lambda self, other: sub(self, other),
    "__rsub__": lambda self, other: sub(other, self),
    "__mul__": lambda self, other: mul(self, other),
    "__rmul__": lambda self, other: mul(other, self),
    "__truediv__": lambda self, other: div(self, other),
    "__rtruediv__": lambda self, other: div(other, self),
    "__pow__": lambda self, other: pow(self, other),
    "__rpow__": lambda self, other: pow(other, self),
    "__matmul__": lambda self, other: matmul(self, other),
    "__rmatmul__": lambda self, other: matmul(other, self),
    "__neg__": lambda self: neg(self),
    "__getitem__": lambda self, idx: index(self, idx),
    "sum": _sum,
    "mean": _mean,
    "max": _max,
    "reshape": _reshape,
    "transpose": _transpose,
    "T": property(_T),
}


def install() -> None:
    """Set :data:`METHODS` and the ``method=True`` ops on :class:`Tensor`."""
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
    for spec in SPECS.values():
        if spec.method:
            setattr(Tensor, spec.name, spec.fn)
