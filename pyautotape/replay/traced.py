"""What a compiled function's arguments are while pat.compile records: float arrays become
:class:`TracedArg` Tensors (so ``x / 16.0`` or ``np.sqrt(x)`` is recorded, not frozen), other
arrays (integer labels, masks) :class:`TracedArray` wrappers that pyautotape's ops read and
NumPy work on refuses, with a message saying how to move that work out of the function.

>>> import numpy as np, pyautotape as pat
>>> seen = []
>>> step = pat.compile(lambda x: seen.append(type(x).__name__) or x / 2.0)
>>> step(np.ones(2)).numpy().tolist(), seen
([0.5, 0.5], ['TracedArg'])
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .._state import state as _state
from ..tensor import Tensor

_MOVE_OUT = (
    "NumPy work on an argument inside a compiled function would be frozen into the "
    "recording; do it with pyautotape ops (x / 16.0, pat.exp(x), ...), or before calling "
    "the compiled function and pass the result as an argument"
)

# NumPy ufuncs a TracedArg turns into the pyautotape op of the same math (recorded): only
# those whose result is correctly rounded, so NumPy's and pyautotape's bits agree;
# np.exp and friends are refused (call pat.exp: NumPy's implementation may differ by an ulp)
_UFUNCS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
    "true_divide": "div", "negative": "neg", "sqrt": "sqrt",
}
_COMPARE = {"less": "__lt__", "less_equal": "__le__", "greater": "__gt__",
            "greater_equal": "__ge__", "equal": "__eq__", "not_equal": "__ne__"}


def _refuse(what: str, pos: int | None) -> TypeError:
    where = f"argument {pos}" if pos is not None else "an argument"
    return TypeError(f"compile: {what} on {where}: {_MOVE_OUT}")


class TracedArg(Tensor):
    """A float array argument of a compiled function, as the recording sees it: a Tensor
    over the replay's input buffer. Tensor arithmetic and ops on it are recorded; NumPy
    ufuncs with a correctly rounded pyautotape op of the same math run that op
    (``np.add``, ``np.sqrt``, ...); ``astype`` to its own dtype is recorded; any other
    NumPy work raises TypeError."""

    _pos: int  # the argument position it stands for

    __slots__ = ("_pos",)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from .. import ops  # ops import tensor.py, which this module imports

        name = _UFUNCS.get(ufunc.__name__)
        if method == "__call__" and not kwargs and name is not None:
            return getattr(ops, name)(*inputs)
        cmp = _COMPARE.get(ufunc.__name__)
        if method == "__call__" and not kwargs and cmp is not None and len(inputs) == 2:
            a, b = inputs
            if isinstance(a, Tensor):
                return getattr(a, cmp)(b)
        raise _refuse(f"np.{ufunc.__name__}", self._pos)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise _refuse(f"np.{func.__name__}", self._pos)

    def astype(self, dtype: Any, copy: bool = True) -> Tensor:
        """``astype`` to the argument's own dtype: a recorded copy; to the other float
        dtype: the argument converted as it is copied in (``pat.tensor(x, dtype=...)``,
        no gradient). Other casts inside the function are refused (cast before the call)."""
        dt = np.dtype(dtype)
        if dt == self._data.dtype:
            return self * 1.0 if copy else self  # x * 1.0 is x bitwise, and recorded
        if dt in (np.float32, np.float64) and not self.requires_grad:
            from ..tensor import tensor

            return tensor(self._data, dtype=dt)  # bound: the replay converts each call
        raise _refuse(f"astype({dt}) of a {self._data.dtype} array", self._pos)

    def tolist(self) -> list:
        raise _refuse("tolist()", self._pos)


def traced_arg(buf: np.ndarray, pos: int, requires_grad: bool = False) -> TracedArg:
    t = TracedArg.__new__(TracedArg)
    t._data, t._grad, t._node, t._guard = buf, None, None, None
    t.requires_grad = requires_grad
    t._pos = pos
    return t


class TracedArray:
    """A non-float array argument (integer labels, a mask) while recording. pyautotape's
    ops that take such arrays (``cross_entropy``'s labels) read the replay's input buffer
    through :meth:`Recorder.host`; ``shape``, ``dtype``, ``ndim``, ``size`` and ``len``
    work; reading the values from Python (``np.asarray``) records a guard; NumPy
    arithmetic, indexing and methods raise TypeError saying how to move them out."""

    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: np.ndarray, pos: int) -> None:
        self._buf = buf
        self._pos = pos

    shape = property(lambda self: self._buf.shape)
    dtype = property(lambda self: self._buf.dtype)
    ndim = property(lambda self: self._buf.ndim)
    size = property(lambda self: self._buf.size)

    def __len__(self) -> int:
        return len(self._buf)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("pyautotape.") and dtype in (None, self._buf.dtype):
            # pyautotape's own ops: the input buffer itself, which the op hands to the
            # recorder's converted() (bound as an input of the replay, so no guard)
            return self._buf
        rec = _state.recorder
        if rec is not None:
            rec.read(self._buf)  # the values become constants of the recording: guard them
        return self._buf.astype(dtype) if dtype is not None else self._buf.copy()

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise _refuse(f"np.{ufunc.__name__}", self._pos)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise _refuse(f"np.{func.__name__}", self._pos)

    def __getitem__(self, idx: Any) -> Any:
        raise _refuse("indexing", self._pos)

    def __iter__(self):
        raise _refuse("iteration", self._pos)

    def __getattr__(self, name: str) -> Any:
        if hasattr(np.ndarray, name) and not name.startswith("__"):
            raise _refuse(f".{name}", self._pos)
        raise AttributeError(f"'TracedArray' object has no attribute '{name}'")

    def __repr__(self) -> str:
        return f"TracedArray(argument {self._pos}, shape={self.shape}, dtype={self.dtype})"


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
              "__rmod__", "__pow__", "__rpow__", "__neg__", "__eq__", "__ne__", "__lt__",
              "__le__", "__gt__", "__ge__", "__and__", "__or__", "__invert__", "__bool__",
              "__int__", "__float__", "__index__"):
    def _op(self: TracedArray, *args: Any, _n: str = _name) -> Any:
        raise _refuse(f"the operator {_n}", self._pos)

    setattr(TracedArray, _name, _op)
TracedArray.__hash__ = object.__hash__  # type: ignore[method-assign]
