"""Tensor, grad mode, the default dtype, and the guards on arrays the tape keeps.

A :class:`Tensor` is an ndarray (``.data``), a gradient slot (``.grad``) and a link to the
record that made it (``._node``, None for a leaf). The tape itself is in record.py, the
reverse sweep in engine.py. Arithmetic operators and op methods (``x + y``, ``x @ w``,
``x[i]``, ``x.sum()``, ``x.exp()``, ...) are set on the class by pyautotape/ops/methods.py,
beside the ops they call, so this module does not import the ops that import it.

Arrays a record keeps for its rules are made read-only while it is alive (:class:`_Guard`),
so an in-place write that would corrupt a gradient fails at the write. Writes pyautotape
itself makes (optimizer steps) go through :class:`_writable`, which bumps a version
instead; a sweep refuses a record whose saved arrays changed version.

>>> import pyautotape as pat
>>> x = pat.tensor([1.0, 2.0], requires_grad=True)
>>> x.is_leaf, x.grad is None
(True, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._exact import EXACT_DTYPES, _Size, exact_guard
from ._ffi import F32, F64
from ._guard import _Guard, _writable  # noqa: F401 (_writable: re-exported)
from ._state import state as _state
from .errors import DTypeError, ShapeError, TapeError
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
    "get_default_dtype",
    "set_default_dtype",
    "last_sweep_stats",
]

_default_dtype = F32


def last_sweep_stats() -> dict[str, int]:
    """Counters of this thread's last reverse sweep, as the C core counted them:
    ``gemm_calls``, ``gemm_flops`` and ``instrs`` (backward rules run).

    >>> import numpy as np, pyautotape as pat
    >>> from pyautotape.tensor import last_sweep_stats
    >>> w = pat.tensor(np.ones((3, 2)), requires_grad=True)
    >>> pat.linear(pat.tensor(np.ones((4, 2))), w).sum().backward()
    >>> last_sweep_stats()["gemm_calls"]  # dW only: x needs no gradient
    1
    """
    st = _state.last_stats
    if st is None:
        return {"gemm_calls": 0, "gemm_flops": 0, "instrs": 0}
    return {"gemm_calls": st.gemm_calls, "gemm_flops": st.gemm_flops, "instrs": st.instrs}


# ---------------------------------------------------------------------------------------
# the default dtype (grad mode lives in grad_mode.py; its names are re-exported here)


def get_default_dtype() -> np.dtype:
    """The dtype given to lists, Python scalars and integer arrays (initially float32).

    >>> import pyautotape as pat
    >>> pat.get_default_dtype()
    dtype('float32')
    """
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the default float dtype: ``np.float32`` or ``np.float64``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.set_default_dtype(np.float64); pat.tensor([1, 2]).dtype
    dtype('float64')
    >>> pat.set_default_dtype(np.float32)
    """
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (F32, F64):
        raise DTypeError(f"set_default_dtype: {dt} is not supported; use float32 or float64")
    _default_dtype = dt


# ---------------------------------------------------------------------------------------
# conversion of user input


def _float_array(data: Any, dtype: np.dtype | None, opname: str, argname: str) -> np.ndarray:
    """A fresh, native-order, C-contiguous float32/float64 copy of ``data``."""
    if isinstance(data, np.ndarray):
        arr = data
    else:
        if isinstance(data, (str, bytes)):
            raise DTypeError(f"{opname}: {argname} is a {type(data).__name__}; pass numbers")
        try:
            arr = np.asarray(data)
        except ValueError as exc:
            raise ShapeError(
                f"{opname}: {argname} is ragged (nested sequences of different lengths); "
                "pass a rectangular list or an ndarray"
            ) from exc
    kind = arr.dtype.kind
    typed = isinstance(data, (np.ndarray, np.generic))  # lists and Python numbers are not
    if kind == "f" and arr.dtype.itemsize in (4, 8):
        if dtype is not None:
            target = np.dtype(dtype)
        else:
            target = arr.dtype.newbyteorder("=") if typed else _default_dtype
    elif kind in "iub" and not typed:
        target = np.dtype(dtype) if dtype is not None else _default_dtype
    elif kind in "iub" and dtype is not None:
        target = np.dtype(dtype)
    else:
        raise DTypeError(
            f"{opname}: {argname} has dtype {arr.dtype}, but a float32 or float64 tensor "
            f"is needed; convert it first, e.g. x.astype(np.float32)"
        )
    if target not in (F32, F64):
        raise DTypeError(f"{opname}: dtype {target} is not supported; use float32 or float64")
    out = np.array(arr, dtype=target, order="C", copy=True)
    rec = _state.recorder
    if rec is not None:
        rec.converted(data, out)
    return out


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor from an ndarray, a (nested) list or a Python number.

    Float ndarrays keep their dtype (float32 or float64); lists, Python numbers and integer
    arrays take ``dtype`` or the default dtype (:func:`get_default_dtype`). The data is
    copied, so later changes to ``data`` do not reach the tensor.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> x.dtype, x.shape
    (dtype('float64'), (2,))
    >>> pat.tensor([[1, 2]]).dtype
    dtype('float32')
    """
    if isinstance(data, Tensor):
        data = data._data
    elif _state.recorder is not None:  # an integer argument of a compiled function
        data = _state.recorder.host(data)
    if dtype is not None and np.dtype(dtype) in EXACT_DTYPES:
        return _exact_tensor(data, np.dtype(dtype), requires_grad, "tensor")
    if isinstance(data, np.ndarray) and data.dtype.kind in "iub" and dtype is None:
        if requires_grad:
            raise DTypeError(
                f"tensor: requires_grad=True needs float data, got {data.dtype}; "
                "pass dtype=np.float32 or convert with .astype(np.float32)"
            )
        dtype = _default_dtype
    arr = _float_array(data, dtype, "tensor", "data")
    t = Tensor.__new__(Tensor)
    t._data = arr
    t._grad = None
    t._guard = None
    t._node = None
    t.requires_grad = bool(requires_grad)
    return t


def _exact_tensor(data: Any, dt: np.dtype, requires_grad: bool, opname: str) -> Tensor:
    if requires_grad:
        raise DTypeError(
            f"{opname}: requires_grad=True needs a float dtype, got {dt}: only float32 and "
            "float64 tensors have gradients; pass dtype=pat.float32"
        )
    if isinstance(data, (str, bytes)):
        raise DTypeError(f"{opname}: data is a {type(data).__name__}; pass numbers")
    try:
        arr = np.array(data, dtype=dt, order="C", copy=True)
    except (ValueError, TypeError) as exc:
        raise DTypeError(f"{opname}: cannot make a {dt} tensor of this data ({exc})") from None
    rec = _state.recorder
    if rec is not None:  # from an argument: its values change; from a literal: a constant
        if id(data) in rec.inputs:
            rec.opaque(f"{opname}: an integer or bool tensor made from an argument")
        else:
            exact_guard((), arr)
    return _wrap(arr)


# ---------------------------------------------------------------------------------------
# Tensor


class Tensor:
    """An n-dimensional float32/float64 array that records the ops applied to it (or an
    int64/int32/bool one, for labels, indices and masks, which never requires grad).

    Build one with :func:`pyautotape.tensor`. ``.data`` is the live ndarray; ``.grad``
    receives gradients from :meth:`backward`.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad.numpy()
    array([2., 4., 6.], dtype=float32)
    """

    _data: np.ndarray
    requires_grad: bool
    _grad: Tensor | None
    _node: Any  # the record.Record that made this tensor (None for a leaf)
    _guard: _Guard | None

    __slots__ = ("_data", "requires_grad", "_grad", "_node", "_guard", "_hooked", "__weakref__")
    __hash__ = object.__hash__

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``ndarray (op) Tensor`` runs the Tensor's reflected operator (a Tensor result);
        a ufunc writing into ndarrays (``p.data -= lr * p.grad``) works on the values;
        any other ufunc on a Tensor is refused (use the op: ``pat.exp(t)``)."""
        out = kwargs.get("out")
        if method == "__call__" and out is not None:
            if all(type(o) is np.ndarray for o in out):
                args = []
                for a in inputs:
                    if isinstance(a, Tensor):
                        if _state.recorder is not None:
                            _state.recorder.read(a._data)
                        a = a._data
                    args.append(a)
                return ufunc(*args, **kwargs)
        elif method == "__call__" and len(inputs) == 2 and not kwargs and inputs[1] is self:
            name = _REFLECTED.get(ufunc.__name__)
            if name is not None and not isinstance(inputs[0], Tensor):
                return getattr(self, name)(inputs[0])
        return NotImplemented

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        t = tensor(data, requires_grad=requires_grad, dtype=dtype)
        self._data = t._data
        self.requires_grad = t.requires_grad
        self._grad = None
        self._node = None
        self._guard = None

    if TYPE_CHECKING:
        # What ops.methods.install() sets on the class at import, for type checkers only:
        # operators and core methods precisely, the rest through __getattr__ (checked
        # installed by tests/test_packaging.py).
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __iadd__(self, other: Any) -> Tensor: ...
        def __isub__(self, other: Any) -> Tensor: ...
        def __imul__(self, other: Any) -> Tensor: ...
        def __itruediv__(self, other: Any) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __setitem__(self, index: Any, value: Any) -> None: ...
        def sum(self, axis: int | tuple[int, ...] | None = None,
                keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: int | tuple[int, ...] | None = None,
                 keepdims: bool = False) -> Tensor: ...
        def max(self, axis: int | tuple[int, ...] | None = None,
                keepdims: bool = False) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def relu(self, subgradient: float | None = None) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __invert__(self) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __rand__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __ror__(self, other: Any) -> Tensor: ...
        def __xor__(self, other: Any) -> Tensor: ...
        def __rxor__(self, other: Any) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __rfloordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        # every other installed method, typed loosely
        def __getattr__(self, name: str) -> Any: ...

    # -- properties ---------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The value as a live ndarray (read-only while a recorded op needs it for backward).

        Handed out while writable, views of it may outlive the lock a later record puts on
        the buffer, so the records made after that keep a copy instead (until ``.data`` is
        assigned): a write through such a view cannot change a saved value.

        While pat.compile records, the live array escapes what a replay can guard (later
        reads and writes through it are not seen): the recording runs eagerly on every
        call instead (``strict=True``: RetapeRequired)."""
        if _state.recorder is not None:
            _state.recorder.refuse(
                "Tensor.data was read while recording (use ops, t.detach(), or t.numpy() "
                "for a guarded copy)"
            )
        arr = self._data
        if arr.flags.writeable:
            g = self._guard
            if g is None:
                g = self._guard = _Guard(arr)
            g.exposed = True
        return arr

    @data.setter
    def data(self, value: Any) -> None:
        arr = _float_array(value, self._data.dtype, "Tensor.data", "value")
        if arr.shape != self._data.shape:
            raise ShapeError(
                f"Tensor.data: new value has shape {arr.shape}, the tensor {self._data.shape}"
            )
        self._data = arr
        self._guard = None

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's buffer has seen (PyTorch's ``_version``):
        ``add_``, ``-=``, optimizer steps, ``.grad.zero_()``. A record keeps the versions of
        the arrays it saved and a sweep refuses one whose arrays moved on; a replay can
        compare it the same way.

        >>> import pyautotape as pat
        >>> x = pat.tensor([1.0]); v = x._version
        >>> x += 1; x._version - v
        1
        """
        g = self._guard
        if g is None:
            g = self._guard = _Guard(self._data)
        return g.version

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> _Size:
        """The element count as NumPy's ``.size`` (an int); called, as PyTorch's:
        ``t.size()`` is the shape and ``t.size(d)`` one dimension."""
        s = int.__new__(_Size, self._data.size)
        s._shape = self._data.shape
        return s

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded op."""
        return self._node is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a Tensor), or None. Assignable (e.g. ``p.grad = None``)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | np.ndarray | None) -> None:
        if value is None:
            self._grad = None
            return
        g = value if isinstance(value, Tensor) else tensor(value, dtype=self.dtype)
        if g.shape != self.shape or g.dtype != self.dtype:
            raise ShapeError(
                f"Tensor.grad: gradient of shape {g.shape} {g.dtype} does not match the "
                f"tensor's {self.shape} {self.dtype}"
            )
        self._grad = g

    def numpy(self) -> np.ndarray:
        """A copy of the value as an ndarray."""
        if _state.recorder is not None:
            exact_guard((self._data,))  # floats: a read guard; int/bool: derived or eager
        return self._data.copy()

    def item(self) -> Any:
        """The value of a one-element tensor as a Python float (int or bool for an integer
        or bool tensor)."""
        if self._data.size != 1:
            raise ShapeError(f"item: tensor of shape {self.shape} has {self.size} elements, not 1")
        if self._data.dtype in EXACT_DTYPES:
            exact_guard((self._data,))
            return self._data.reshape(()).item()
        value = float(self._data.reshape(()))
        if _state.recorder is not None:
            return _state.recorder.scalar(self._data, value)
        return value

    def detach(self) -> Tensor:
        """A leaf tensor sharing this one's data, cut from the tape."""
        t = Tensor.__new__(Tensor)
        t._data = self._data
        t.requires_grad = False
        t._grad = None
        t._node = None
        if self._guard is None:
            self._guard = _Guard(self._data)
        t._guard = self._guard
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf, in place; returns self."""
        if requires_grad and self._data.dtype in EXACT_DTYPES:
            raise DTypeError(
                f"requires_grad_: a {self._data.dtype} tensor cannot require grad (only "
                "float32/float64 can); cast it first, e.g. t.float()"
            )
        if not self.is_leaf and not requires_grad:
            raise TapeError(
                "requires_grad_: only leaf tensors can stop requiring grad; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def __repr__(self) -> str:
        if _state.recorder is not None:
            _state.recorder.read(self._data)
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}, dtype={self.dtype}{extra})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t.numpy() > 0).any() or .all()"
            )
        value = bool(self._data.reshape(()))
        if _state.recorder is not None:
            if self._data.dtype in EXACT_DTYPES:
                exact_guard((self._data,))
            else:
                _state.recorder.compare(self._data, 0, "!=", np.array(value))
        return value

    def __float__(self) -> float:
        if self._data.size != 1:
            raise TypeError(
                f"float: only a one-element tensor converts to a float, got shape {self.shape}"
            )
        if _state.recorder is not None:
            _state.recorder.read(self._data)  # the value becomes a constant: guard it
        return float(self._data.reshape(()))

    def __int__(self) -> int:
        return int(self.__float__())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if _state.recorder is not None:
            _state.recorder.read(self._data)  # np.asarray(t): a guarded copy
        return self._data.astype(dtype) if dtype is not None else self._data.copy()

    # -- comparisons: bool tensors (never differentiable), guarded while pat.compile records
    def _compare(self, other: Any, how: str, result: np.ndarray) -> Tensor:
        result = np.asarray(result, order="C")  # keeps 0-d (ascontiguousarray makes it 1-d)
        if _state.recorder is not None and self._data.dtype.kind != "f":
            # integer/bool operands: sound when they derive from guarded values
            others = [other] if isinstance(other, np.ndarray) else []
            exact_guard([self._data, *others], result)
        elif _state.recorder is not None:
            _state.recorder.compare(self._data, other, how, result)
            exact_guard((), result)  # the guard holds it: a constant of the recording
        return _wrap(result)

    def __lt__(self, other: Any) -> Tensor:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "<", self._data < o)

    def __le__(self, other: Any) -> Tensor:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "<=", self._data <= o)

    def __gt__(self, other: Any) -> Tensor:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, ">", self._data > o)

    def __ge__(self, other: Any) -> Tensor:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, ">=", self._data >= o)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "==", self._data == o)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "!=", self._data != o)

    # -- backward -----------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        A non-scalar tensor needs ``gradient`` (the cotangent, same shape). The tape is
        released afterwards unless ``retain_graph=True``. ``create_graph=True`` makes the
        gradients Tensors on the tape, differentiable once more (engine.backward).

        >>> import pyautotape as pat
        >>> w = pat.tensor([3.0], requires_grad=True)
        >>> (w * w).sum().backward()
        >>> w.grad.numpy()
        array([6.], dtype=float32)
        """
        backward = _ENGINE[0]  # set when the engine is imported (it imports this module)
        if backward is None:
            from .engine import backward
        backward(self, gradient, retain_graph, create_graph)


# ---------------------------------------------------------------------------------------
# small helpers shared by the engine, the optimizers and nn

_ENGINE: list[Any] = [None]  # engine.backward


_REFLECTED = {
    "add": "__radd__", "subtract": "__rsub__", "multiply": "__rmul__",
    "true_divide": "__rtruediv__", "power": "__rpow__", "matmul": "__rmatmul__",
    "less": "__gt__", "less_equal": "__ge__", "greater": "__lt__",
    "greater_equal": "__le__", "equal": "__eq__", "not_equal": "__ne__",
}


def clear_grad(p: Tensor, set_to_none: bool = True) -> None:
    """Clear ``p.grad``: drop it (``set_to_none``) or zero it in place (a replay records
    the zeroing). Shared by ``Module.zero_grad`` and ``Optimizer.zero_grad``."""
    g = p._grad
    if set_to_none and _state.recorder is not None:
        _state.recorder.cleared(p)  # whatever .grad was at the start, fn drops it
    if g is None:
        return
    if set_to_none:
        p._grad = None
    elif g._data.flags.writeable:
        g._data.fill(0)
        if _state.recorder is not None:
            _state.recorder.zero(g._data)
    else:
        p._grad = _wrap(np.zeros(p.shape, p.dtype))


def _wrap(arr: np.ndarray) -> Tensor:
    """A Tensor around ``arr`` itself (no copy), cut from the tape."""
    t = Tensor.__new__(Tensor)
    t._data = arr
    t.requires_grad = False
    t._grad = None
    t._node = None
    t._guard = None
    return t
