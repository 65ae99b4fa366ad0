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

import numpy as np

from .. import creation
from .._ffi import F32, F64
from ..errors import DTypeError
from ..tensor import EXACT_DTYPES, Tensor, _wrap, exact_guard
from .activation import clamp, clip
from .dense import addmm, dot, matmul, outer
from .elementwise import _binary, add, div, maximum, minimum, mul, neg, pow, sub
from .indexing import INPLACE as INDEX_INPLACE
from .indexing import (
    gather,
    getitem,
    index_select,
    masked_fill,
    scatter_add,
    setitem,
    take_along_dim,
)
from .inplace import INPLACE_METHODS
from .loss import log_softmax, softmax
from .math import abs, atan2, floor_divide, fmod, lerp, remainder
from .reductions import REDUCTIONS
from .selection import nonzero
from .shape import reshape, transpose
from .shapes_cast import cast
from .shapes_join import chunk, diag, roll, split, tril, triu, unbind
from .shapes_view import (
    broadcast_to,
    diagonal,
    expand,
    expand_as,
    flatten,
    flip,
    movedim,
    narrow,
    permute,
    repeat,
    select,
    squeeze,
    swapaxes,
    swapdims,
    t,
    tile,
    unflatten,
    unsqueeze,
    view,
)
from .spec import SPECS


def _reshape(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one -1 is inferred."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(self, shape)


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose(0, 1)`` exchanges two dims (as torch); ``t.transpose()`` reverses the
    axes and ``t.transpose(2, 0, 1)`` or ``t.transpose((1, 0))`` permutes them (as NumPy)."""
    if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
        return swapaxes(self, axes[0], axes[1])
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if _exact(self):
        return _out(self, self._data.transpose(*axes))
    return transpose(self, axes if axes else None)


def _tile(self: Tensor, *dims: Any) -> Tensor:
    """``t.tile(2, 1)`` or ``t.tile((2, 1))``: as ``pat.tile``."""
    return tile(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)


def _flip(self: Tensor, *dims: Any) -> Tensor:
    """``t.flip(0, 1)`` or ``t.flip((0, 1))``: as ``pat.flip``."""
    return flip(self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)


def _T(self: Tensor) -> Tensor:
    """The tensor with its axes reversed."""
    return transpose(self, None)


def _operator(op: Any) -> tuple[Any, Any]:
    """x (op) other, and the reflected other (op) x (Python calls it when x is on the right)."""
    return (lambda self, other: op(self, other)), (lambda self, other: op(other, self))


def _exact(t: Tensor) -> bool:
    return t._data.dtype in EXACT_DTYPES


def _out(src: Tensor, arr: np.ndarray) -> Tensor:
    """A tensor computed from ``src`` outside the tape (see tensor.exact_guard)."""
    arr = np.asarray(arr, order="C")  # keeps 0-d
    if arr is src._data:
        arr = arr.copy()
    exact_guard((src._data,), arr)
    return _wrap(arr)


def _read(t: Tensor) -> None:
    exact_guard((t._data,))


def _tolist(t: Tensor) -> Any:
    _read(t)
    return t._data.tolist()


def _logical(name: str, fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        o = other._data if isinstance(other, Tensor) else np.asarray(other)
        if self._data.dtype.kind not in "iub" or o.dtype.kind not in "iub":
            raise DTypeError(f"{name}: needs bool or integer tensors, got {self._data.dtype} "
                             f"and {o.dtype}; compare first, e.g. (x > 0) & (x < 1)")
        y = np.ascontiguousarray(fn(self._data, o))
        exact_guard([self._data] + ([other._data] if isinstance(other, Tensor) else []), y)
        return _wrap(y)

    method.__name__ = name
    return method


def _invert(self: Tensor) -> Tensor:
    """``~mask``: logical not of a bool tensor (bitwise not of an integer one)."""
    if self._data.dtype.kind not in "iub":
        raise DTypeError(f"~: needs a bool or integer tensor, got {self._data.dtype}")
    return _out(self, ~self._data)


# -- casts, devices and the small PyTorch protocol ----------------------------------------


def _cast(self: Tensor, dtype: Any, what: str) -> Tensor:
    dt = creation._dtype(dtype, what)
    src = self._data.dtype
    if dt == src:
        return self
    if src in (F32, F64) and dt in (F32, F64):  # on the tape: the gradient is cast back
        return cast(self, dt)
    return _out(self, self._data.astype(dt))


def _caster(dtype: Any, name: str) -> Any:
    def method(self: Tensor) -> Tensor:
        return _cast(self, dtype, name)

    method.__name__ = name
    method.__doc__ = f"This tensor as {np.dtype(dtype)} (itself when it already is)."
    return method


def _type(self: Tensor, dtype: Any = None) -> Any:
    """``t.type()`` names the dtype; ``t.type(dtype)`` casts (as ``.astype``)."""
    if dtype is None:
        return str(self._data.dtype)
    return _cast(self, dtype, "type")


def _astype(self: Tensor, dtype: Any) -> Tensor:
    """This tensor cast to ``dtype`` (itself when it already is); float32 <-> float64 on
    the tape (the gradient is cast back), to an integer or bool dtype without a gradient."""
    return _cast(self, dtype, "astype")


def _to(self: Tensor, *args: Any, dtype: Any = None, device: Any = None,
        **kw: Any) -> Tensor:
    """``t.to("cpu")``, ``t.to(pat.float64)``, ``t.to("cpu", pat.float64)``: the device must
    be the CPU; a dtype casts as ``.astype``."""
    for a in args:
        if isinstance(a, str) or type(a).__name__ == "device":
            device = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        else:
            dtype = a
    creation.check_device(device, "to")
    return self if dtype is None else _cast(self, dtype, "to")


def _clone(self: Tensor) -> Tensor:
    """A copy that stays on the tape (its gradient flows back to this tensor)."""
    if _exact(self):
        return _out(self, self._data.copy())
    return reshape(self, self.shape)


def _exact_shaped(op: Any, np_fn: Any) -> Any:
    """A shape method that keeps an integer/bool tensor's dtype (computed in NumPy)."""
    def method(self: Tensor, *args: Any) -> Any:
        if _exact(self):
            return _out(self, np_fn(self._data, *args))
        return op(self, *args)

    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def _np_reshape(a: np.ndarray, *shape: Any) -> np.ndarray:
    return a.reshape(tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list))
                     else shape)


def _softmax(self: Tensor, dim: int = -1) -> Tensor:
    """Softmax along ``dim`` (as ``torch.Tensor.softmax``)."""
    return softmax(self, dim)


def _log_softmax(self: Tensor, dim: int = -1) -> Tensor:
    """Log-softmax along ``dim``."""
    return log_softmax(self, dim)


def _binary_method(op: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return op(self, other)

    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def _binary_operator(name: str) -> tuple[Any, Any]:
    """:func:`_operator` of an op that is ``_binary(name, a, b)``, one call shorter."""
    return ((lambda self, other: _binary(name, self, other)),
            (lambda self, other: _binary(name, other, self)))


METHODS: dict[str, Any] = {}
for _name, _op in (("matmul", matmul), ("floordiv", floor_divide), ("mod", remainder)):
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _operator(_op)
for _name, _opname in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"),
                       ("pow", "pow")):
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _binary_operator(_opname)
for _name, _fn in (("and", np.logical_and), ("or", np.logical_or), ("xor", np.logical_xor)):
    METHODS[f"__{_name}__"] = _logical(f"__{_name}__", _fn)
    METHODS[f"__r{_name}__"] = _logical(f"__r{_name}__", _fn)
METHODS |= {
    "__neg__": lambda self: _out(self, -self._data) if _exact(self) else neg(self),
    "__abs__": lambda self: abs(self),
    "__invert__": _invert,
    "__getitem__": getitem,
    "__setitem__": setitem,
    "index_select": lambda self, dim, index: index_select(self, dim, index),
    "gather": lambda self, dim, index: gather(self, dim, index),
    "scatter_add": lambda self, dim, index, src: scatter_add(self, dim, index, src),
    "take_along_dim": lambda self, indices, dim=None: take_along_dim(self, indices, dim),
    "masked_fill": lambda self, mask, value: masked_fill(self, mask, value),
    "nonzero": lambda self, as_tuple=False: nonzero(self, as_tuple),
    **{f.__name__: f for f in REDUCTIONS},
    "reshape": _exact_shaped(_reshape, _np_reshape),
    "view": view,
    "transpose": _transpose,
    **{f.__name__: f for f in (flatten, unflatten, squeeze, unsqueeze, expand, expand_as,
                               broadcast_to, permute, swapaxes, swapdims, t, movedim, repeat,
                               narrow, select, diagonal, split, chunk, unbind, roll, tril,
                               triu, diag)},
    "tile": _tile,
    "flip": _flip,
    "T": property(_T),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "float": _caster(np.float32, "float"),
    "double": _caster(np.float64, "double"),
    "long": _caster(np.int64, "long"),
    "int": _caster(np.int32, "int"),
    "bool": _caster(np.bool_, "bool"),
    "type": _type,
    "astype": _astype,
    "to": _to,
    "cpu": lambda self: self,
    "device": property(lambda self: "cpu", doc="Always ``'cpu'``."),
    "is_floating_point": lambda self: self._data.dtype.kind == "f",
    "numel": lambda self: self._data.size,
    "dim": lambda self: self._data.ndim,
    "tolist": _tolist,
    "clone": _clone,
    "clamp": clamp,
    "clip": clip,
    "outer": _binary_method(outer),
    "dot": _binary_method(dot),
    "addmm": addmm,
    "lerp": lerp,
    "maximum": _binary_method(maximum),
    "minimum": _binary_method(minimum),
    "atan2": _binary_method(atan2),
    "fmod": _binary_method(fmod),
    "remainder": _binary_method(remainder),
    "floor_divide": _binary_method(floor_divide),
    "pow": _binary_method(pow),
    "add": _binary_method(add),
    "sub": _binary_method(sub),
    "mul": _binary_method(mul),
    "div": _binary_method(div),
    "matmul": _binary_method(matmul),
} | INPLACE_METHODS | INDEX_INPLACE


def install() -> None:
    """Set :data:`METHODS` and the ``method=True`` ops on :class:`Tensor`."""
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
    for spec in SPECS.values():
        if spec.method:
            setattr(Tensor, spec.name, spec.fn)
