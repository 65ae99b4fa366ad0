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
from .inplace import INPLACE_METHODS
from .reduce import max, mean, sum
from .shape import index, reshape, transpose
from .spec import SPECS


def _reduction(op: Any, what: str) -> Any:
    def method(self: Tensor, axis: int | tuple[int, ...] | None = None,
               keepdims: bool = False) -> Tensor:
        return op(self, axis=axis, keepdims=keepdims)

    method.__name__ = op.__name__
    method.__doc__ = f"{what} over ``axis`` (int, tuple, or None: all), as ``np.{op.__name__}``."
    return method


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


def _operator(op: Any) -> tuple[Any, Any]:
    """x (op) other, and the reflected other (op) x (Python calls it when x is on the right)."""
    return (lambda self, other: op(self, other)), (lambda self, other: op(other, self))


METHODS: dict[str, Any] = {}
for _name, _op in (("add", add), ("sub", sub), ("mul", mul), ("truediv", div), ("pow", pow),
                   ("matmul", matmul)):
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _operator(_op)
METHODS |= {
    "__neg__": lambda self: neg(self),
    "__getitem__": lambda self, idx: index(self, idx),
    "sum": _reduction(sum, "Sum"),
    "mean": _reduction(mean, "Mean"),
    "max": _reduction(max, "Max (tied maxima share the gradient evenly)"),
    "reshape": _reshape,
    "transpose": _transpose,
    "T": property(_T),
} | INPLACE_METHODS


def install() -> None:
    """Set :data:`METHODS` and the ``method=True`` ops on :class:`Tensor`."""
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
    for spec in SPECS.values():
        if spec.method:
            setattr(Tensor, spec.name, spec.fn)
