"""Tensor, the tape records, grad mode, and the reverse sweep.

How the tape works (the Wengert list):

* Every op run while grad mode is on, with at least one input that requires a gradient,
  appends a :class:`Record` with the next sequence number of its thread. The sequence
  number is the tape order.
* A record points to the records (or leaf tensors) that produced its differentiable
  inputs, and keeps only the arrays its backward rule reads. The tape of a thread is
  therefore exactly the records still reachable from live tensors: a forward pass whose
  outputs are dropped is freed by reference counting, so loops of forward passes without
  backward never grow memory.
* ``backward`` gathers the records reachable from the output with an explicit stack,
  puts them back in sequence order, marks which values lie on a path from the requested
  inputs, packs them into an array of ``pat_instr`` and runs one C call that walks them
  from the last to the first. No recursion anywhere.

Arrays a record keeps for backward are made read-only while it is alive, so an in-place
write that would corrupt a gradient fails at the write. Writes pyautotape itself makes
(optimizer steps) bump a version counter instead; backward refuses a record whose saved
arrays changed version.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _ffi
from ._ffi import F32, F64, ffi, lib
from .errors import DTypeError, ShapeError, TapeError

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "get_default_dtype",
    "set_default_dtype",
]

# ---------------------------------------------------------------------------------------
# grad mode (per thread) and the default dtype


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.recorder = None  # a replay._Recorder while pat.compile records a step
        self.stream = None  # a transforms._Stream while pat.jvp(..., stream=True) runs f
        self.anomaly = 0  # anomaly.CHECK | anomaly.SITES bits (pat.detect_anomaly)
        self.tapes = None  # the open pat.Tape scopes (tape.py), innermost last, or None


_state = _ThreadState()
_seq = itertools.count()  # next() on a count is atomic under the GIL
_engine_lock = threading.Lock()
_default_dtype = F32

# What the engine did, for tests that prove what a transform did NOT do (pat.jvp runs no
# reverse sweep and allocates no adjoint buffer). Python allocates every buffer C uses, so
# counting here counts them all. Read through pat.transforms.engine_counts().
ENGINE_COUNTS = {"reverse_sweeps": 0, "adjoint_buffers": 0, "tangent_sweeps": 0,
                 "tangent_buffers": 0, "hvp_sweeps": 0}


def _raise_callback_error() -> None:
    """Raise the exception a custom op's Python callback stored during a C sweep."""
    exc = getattr(_state, "callback_error", None)
    _state.callback_error = None
    if exc is None:
        raise TapeError("a custom op's callback failed without leaving an exception")
    raise exc


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
    st = getattr(_state, "last_stats", None)
    if st is None:
        return {"gemm_calls": 0, "gemm_flops": 0, "instrs": 0}
    return {"gemm_calls": st.gemm_calls, "gemm_flops": st.gemm_flops, "instrs": st.instrs}


def is_grad_enabled() -> bool:
    """Whether ops run in this thread are recorded on the tape.

    >>> import pyautotape as pat
    >>> pat.is_grad_enabled()
    True
    >>> with pat.no_grad():
    ...     pat.is_grad_enabled()
    False
    """
    return _state.grad_enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off for this thread.

    >>> import pyautotape as pat
    >>> pat.set_grad_enabled(False)
    >>> (pat.tensor([1.0], requires_grad=True) * 2).requires_grad
    False
    >>> pat.set_grad_enabled(True)
    """
    _state.grad_enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode for the current thread."""

    _mode = True

    def __enter__(self) -> None:
        self._prev = _state.grad_enabled
        _state.grad_enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._prev

    def __call__(self, fn):  # decorator use: @pat.no_grad()
        import functools

        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _state.grad_enabled
            _state.grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Run ops without recording them (this thread only).

    >>> import pyautotape as pat
    >>> w = pat.tensor([1.0, 2.0], requires_grad=True)
    >>> with pat.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _mode = False


class enable_grad(_GradMode):
    """Record ops again inside a ``no_grad`` block (this thread only).

    >>> import pyautotape as pat
    >>> w = pat.tensor([1.0], requires_grad=True)
    >>> with pat.no_grad():
    ...     with pat.enable_grad():
    ...         y = w * 2
    >>> y.requires_grad
    True
    """

    _mode = True


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
# guards on arrays saved for backward


class _Guard:
    """Lock count and version of one tensor's buffer.

    While ``count > 0`` some live record reads the buffer in its backward, and the array
    is read-only. ``version`` counts writes pyautotape made through :func:`_writable`."""

    __slots__ = ("arr", "count", "version", "__weakref__")

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.count = 0
        self.version = 0

    def lock(self) -> None:
        self.count += 1
        if self.count == 1:
            self.arr.flags.writeable = False

    def unlock(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.arr.flags.writeable = True


class _writable:
    """Context manager for writes pyautotape makes into a tensor's buffer (optimizer
    steps, gradient accumulation): lifts the read-only lock for the write and bumps the
    version, so a record that saved the old values refuses to run backward."""

    __slots__ = ("t", "g")

    def __init__(self, t: Tensor) -> None:
        self.t = t
        self.g = t._guard

    def __enter__(self) -> np.ndarray:
        if self.g is not None and self.g.count > 0:
            self.g.arr.flags.writeable = True
        return self.t._data

    def __exit__(self, *exc: object) -> None:
        g = self.g
        if g is not None:
            g.version += 1
            if g.count > 0:
                g.arr.flags.writeable = False


# ---------------------------------------------------------------------------------------
# records


class Record:
    """One entry of the tape: an op, its sizes, the edges to its differentiable inputs and
    the arrays its backward reads.

    ``parents[i]`` is the Record that produced input i, the leaf Tensor itself, or None
    when input i needs no gradient. ``saved[i]`` is input i's value when the backward
    reads it. ``out`` is the output's value when the backward reads it, ``aux`` an extra
    array (tie counts, probabilities, labels)."""

    __slots__ = (
        "seq",
        "op",
        "dtype",
        "shape",
        "parents",
        "saved",
        "out",
        "aux",
        "it",
        "m",
        "k",
        "n",
        "alpha",
        "guards",
        "versions",
        "released",
        "busy",
        "where",
        "slot",
        "live",
        "__weakref__",
    )

    def __del__(self) -> None:
        if not self.released:
            self._unlock()

    def _unlock(self) -> None:
        for g in self.guards:
            g.unlock()

    def release(self) -> None:
        """Drop what the backward would read; a later backward raises TapeError."""
        if not self.released:
            self.released = True
            self._unlock()
            self.guards = ()
            self.saved = [None, None, None]
            self.out = None
            self.aux = None

    @property
    def name(self) -> str:
        return OP_NAMES[self.op]


OP_NAMES = _ffi.op_names()


def record(
    op: int,
    out: np.ndarray,
    inputs: Sequence[Tensor | None],
    saved: Sequence[Tensor | np.ndarray | None] = (),
    save_out: bool = False,
    aux: np.ndarray | None = None,
    it: np.ndarray | None = None,
    m: int = 0,
    k: int = 0,
    n: int = 0,
    alpha: float = 0.0,
) -> Tensor:
    """Wrap ``out`` in a Tensor and, if grad mode is on and an input requires a gradient,
    append a record for it. ``saved[i]`` is what input i's backward reads (a Tensor, whose
    buffer is then locked, or a plain constant array)."""
    y = Tensor.__new__(Tensor)
    y._data = out
    y._grad = None
    y._guard = None
    y._node = None
    y.requires_grad = False
    if not _state.grad_enabled:
        return y
    parents = [None, None, None]
    any_grad = False
    i = 0
    for t in inputs:
        if t is not None and t.requires_grad:
            parents[i] = t._node if t._node is not None else t
            any_grad = True
        i += 1
    if not any_grad:
        return y
    if _state.stream is not None:  # forward mode without a tape: push the tangent now
        return _state.stream.push(y, op, inputs, saved, save_out, aux, it, m, k, n, alpha)
    r = Record.__new__(Record)
    r.released = True  # until fully built, so __del__ never unlocks what it did not lock
    r.seq = next(_seq)
    r.op = op
    r.dtype = out.dtype
    r.shape = out.shape
    r.parents = parents
    r.it = it
    r.m = m
    r.k = k
    r.n = n
    r.alpha = alpha
    r.busy = False
    # (file, line, function) of the caller, kept while pat.detect_anomaly is on
    r.where = _anomaly.record_site(op, out) if _state.anomaly else None
    guards = []
    values = [None, None, None]
    i = 0
    for s in saved:
        if s is not None:
            if type(s) is Tensor:
                g = s._guard
                if g is None:
                    g = s._guard = _Guard(s._data)
                guards.append(g)
                values[i] = s._data
            else:
                values[i] = s
        i += 1
    r.saved = values
    if save_out:
        g = y._guard = _Guard(out)
        guards.append(g)
        r.out = out
    else:
        r.out = None
    r.aux = aux
    for g in guards:
        g.lock()
    r.guards = tuple(guards)
    r.versions = tuple(g.version for g in guards)
    r.released = False
    y.requires_grad = True
    y._node = r
    tapes = _state.tapes
    if tapes is not None:  # a pat.Tape scope is open: it notes what it shows
        for tp in tapes:
            tp._note(r, y, inputs, saved)
    return y


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


# ---------------------------------------------------------------------------------------
# Tensor


class Tensor:
    """An n-dimensional float32/float64 array that records the ops applied to it.

    Build one with :func:`pyautotape.tensor`. ``.data`` is the live ndarray; ``.grad``
    receives gradients from :meth:`backward`.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad.numpy()
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("_data", "requires_grad", "_grad", "_node", "_guard", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators (ndarray + Tensor)
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        t = tensor(data, requires_grad=requires_grad, dtype=dtype)
        self._data = t._data
        self.requires_grad = t.requires_grad
        self._grad = None
        self._node = None
        self._guard = None

    # -- properties ---------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The value as a live ndarray (read-only while a recorded op needs it for backward)."""
        return self._data

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
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

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
            _state.recorder.read(self._data)
        return self._data.copy()

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self._data.size != 1:
            raise ShapeError(f"item: tensor of shape {self.shape} has {self.size} elements, not 1")
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
        if not self.is_leaf and not requires_grad:
            raise TapeError(
                "requires_grad_: only leaf tensors can stop requiring grad; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def __repr__(self) -> str:
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
            _state.recorder.compare(self._data, 0, "!=", np.array(value))
        return value

    def __float__(self) -> float:
        return self.item()

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data.astype(dtype) if dtype is not None else self._data.copy()

    # -- operators: gradients flow through them; comparisons return bool ndarrays ------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.index(self, index)

    def _compare(self, other: Any, how: str, result: np.ndarray) -> np.ndarray:
        if _state.recorder is not None:
            _state.recorder.compare(self._data, other, how, result)
        return result

    def __lt__(self, other: Any) -> np.ndarray:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "<", self._data < o)

    def __le__(self, other: Any) -> np.ndarray:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "<=", self._data <= o)

    def __gt__(self, other: Any) -> np.ndarray:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, ">", self._data > o)

    def __ge__(self, other: Any) -> np.ndarray:
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, ">=", self._data >= o)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "==", self._data == o)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        o = other._data if isinstance(other, Tensor) else other
        return self._compare(o, "!=", self._data != o)

    # -- methods (NumPy-style arguments) ------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (int, tuple, or None for all), as ``np.sum``."""
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``, as ``np.mean``."""
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Max over ``axis``; tied maxima share the gradient evenly."""
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one -1 is inferred."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """``t.transpose()`` reverses the axes; ``t.transpose(1, 0, 2)`` permutes them."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes if axes else None)

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed."""
        return _ops.transpose(self, None)

    def relu(self, subgradient: float | None = None) -> Tensor:
        """``pat.relu(self, subgradient)``."""
        return _ops.relu(self, subgradient=subgradient)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    # -- backward -----------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        A non-scalar tensor needs ``gradient`` (the cotangent, same shape). The tape is
        released afterwards unless ``retain_graph=True``.

        >>> import pyautotape as pat
        >>> w = pat.tensor([3.0], requires_grad=True)
        >>> (w * w).sum().backward()
        >>> w.grad.numpy()
        array([6.], dtype=float32)
        """
        if not self.requires_grad:
            raise TapeError(
                "backward: this tensor does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad())"
            )
        seed = _seed_gradient(self, gradient, "backward")
        run_backward([(self, seed)], None, retain_graph)


def _seed_gradient(out: Tensor, gradient: Any, where: str) -> np.ndarray:
    if gradient is None:
        if out.size != 1:
            raise ShapeError(
                f"{where}: output has shape {out.shape}; a non-scalar output needs "
                "gradient= (a cotangent of the same shape), or call .sum() first"
            )
        return np.ones(out.shape, dtype=out.dtype)
    g = gradient._data if isinstance(gradient, Tensor) else gradient
    try:
        g = _float_array(g, out.dtype, where, "gradient")
    except DTypeError:
        raise
    if g.shape != out.shape:
        raise ShapeError(
            f"{where}: gradient has shape {g.shape} but the output has shape {out.shape}; "
            "pass a cotangent of the output's shape"
        )
    return g


# ---------------------------------------------------------------------------------------
# the reverse sweep


def _collect(roots: Sequence[Tensor]) -> list[Record]:
    """All records reachable from the roots, in tape order. Iterative, never recursive."""
    seen: dict[int, Record] = {}
    stack = [t._node for t in roots if t._node is not None]
    while stack:
        r = stack.pop()
        if id(r) in seen:
            continue
        if r.released:
            raise TapeError(
                f"backward: the tape through '{r.name}' (record {r.seq}) was already "
                "released by an earlier backward; pass retain_graph=True to the first "
                "backward to run it again"
            )
        if r.busy:
            raise TapeError(
                f"backward: the tape through '{r.name}' is in use by another backward "
                "(another thread); run backward once, or give each thread its own graph"
            )
        seen[id(r)] = r
        for p in r.parents:
            if isinstance(p, Record) and id(p) not in seen:
                stack.append(p)
    return sorted(seen.values(), key=lambda r: r.seq)


def run_backward(
    roots: Sequence[tuple[Tensor, np.ndarray]],
    targets: Sequence[Tensor] | None,
    retain_graph: bool,
    stats: Any = None,
) -> list[np.ndarray | None] | None:
    """Run the reverse sweep from ``roots`` (tensor, seed) pairs.

    targets None: accumulate into ``.grad`` of every leaf that requires grad (backward).
    Otherwise return the gradient array of each target (None when it is not reached),
    leaving every ``.grad`` untouched (autograd.grad)."""
    with _engine_lock:
        records = _collect([t for t, _ in roots])
        for r in records:
            r.busy = True
    if stats is None:
        stats = ffi.new("pat_stats *")
    _state.last_stats = stats
    try:
        return _sweep(records, roots, targets, stats)
    finally:
        for r in records:
            r.busy = False
            if not retain_graph:
                r.release()


def _sweep(records, roots, targets, stats):
    """Pack the records into pat_instr rows over a table of slots and run the C sweep.

    A value is live (gets a gradient buffer) when it lies on a path from a requested
    input to a root; records come in tape order, so a single forward pass over them
    decides liveness and assigns slots (parents always come first)."""
    every_leaf = targets is None  # backward(): every leaf that requires grad
    if not every_leaf:
        live_leaf = {id(t) for t in targets if t._node is None}
        target_nodes = {id(t._node) for t in targets if t._node is not None}
    vals: list[np.ndarray | None] = []
    grads: list[np.ndarray | None] = []
    leaf_slot: dict[int, int] = {}
    leaf_slots: list[tuple[Tensor, int, bool]] = []  # (leaf, slot, fresh buffer?)
    rows: list[Record] = []
    srcs: list[list[int]] = []
    auxs: list[int] = []
    its: list[int] = []
    iters: list[np.ndarray] = []
    for r in records:
        live = not every_leaf and id(r) in target_nodes
        src = [-1, -1, -1]
        saved = r.saved
        for i, p in enumerate(r.parents):
            sv = saved[i]
            if p is None:
                if sv is not None:  # a constant the rule reads
                    src[i] = len(vals)
                    vals.append(sv)
                    grads.append(None)
                continue
            if type(p) is Record:
                s = p.slot
                live = live or p.live
            else:  # a leaf that requires grad
                s = leaf_slot.get(id(p))
                if s is None:
                    s = leaf_slot[id(p)] = len(vals)
                    want = every_leaf or id(p) in live_leaf
                    buf, fresh = _leaf_grad_buffer(p, every_leaf) if want else (None, False)
                    vals.append(None)
                    grads.append(buf)
                    if want:
                        leaf_slots.append((p, s, fresh))
                live = live or grads[s] is not None
            if sv is not None and vals[s] is None:
                vals[s] = sv
            src[i] = s
        r.live = live
        r.slot = len(vals)
        vals.append(r.out)
        grads.append(np.zeros(r.shape, r.dtype) if live else None)
        aux = -1
        if r.aux is not None:
            aux = len(vals)
            vals.append(r.aux)
            grads.append(None)
        it = -1
        if r.it is not None:
            it = len(iters)
            iters.append(r.it)
        rows.append(r)
        srcs.append(src)
        auxs.append(aux)
        its.append(it)
        for g, v in zip(r.guards, r.versions, strict=True):
            if g.version != v:
                raise TapeError(
                    f"backward: an array saved by '{r.name}' (record {r.seq}) was modified "
                    "in place after it was recorded (e.g. by an optimizer step); run "
                    "backward before updating, or recompute the forward pass"
                )

    for t, seed in roots:
        if t._node is not None:
            s = t._node.slot
            if grads[s] is None:
                grads[s] = np.zeros(t.shape, t.dtype)
            grads[s] += seed

    tape = _pack(rows, srcs, auxs, its)
    itab = np.stack(iters) if iters else np.zeros((0, _ffi.ITER_WORDS), dtype=np.int64)
    rec = _state.recorder
    if rec is not None:
        rec.sweep(tape, itab, vals, grads, leaf_slots, roots, [r.where for r in rows])
    ENGINE_COUNTS["reverse_sweeps"] += 1
    ENGINE_COUNTS["adjoint_buffers"] += sum(g is not None for g in grads)
    vptr, vkeep = _ffi.pointer_table(vals)
    gptr, gkeep = _ffi.pointer_table(grads)
    failed = ffi.new("int64_t *", -1)
    if _state.anomaly & _anomaly.CHECK:  # pat.detect_anomaly: the same sweep, checked
        rc = _anomaly.backward(rows, tape, itab, vals, grads, vptr, gptr, leaf_slots, stats,
                               failed)
    else:
        rc = lib.pat_tape_backward(
            ffi.from_buffer("pat_instr *", tape),
            len(rows),
            ffi.from_buffer("pat_iter *", itab),
            len(iters),
            vptr,
            gptr,
            len(vals),
            stats,
            failed,
        )
    if rc != lib.PAT_OK:
        if rc == lib.PAT_ECALLBACK:
            _raise_callback_error()
        bad = records[failed[0]] if 0 <= failed[0] < len(records) else None
        name = bad.name if bad is not None else "?"
        _ffi.check(rc, f"backward of '{name}'")

    # -- hand the results out -----------------------------------------------------------
    if every_leaf:
        for leaf, s, fresh in leaf_slots:
            if fresh:
                leaf._grad = _wrap(grads[s])
        for t, seed in roots:  # a leaf used as its own root: d t / d t = seed
            if t._node is None:
                _accumulate_leaf(t, seed)
        return None
    result: list[np.ndarray | None] = []
    for t in targets:
        if t._node is not None:
            g = grads[t._node.slot] if id(t._node) in {id(r) for r in records} else None
        else:
            s = leaf_slot.get(id(t))
            g = grads[s] if s is not None else None
        for root, seed in roots:
            if root is t and t._node is None:
                g = seed.copy() if g is None else g + seed
        result.append(g)
    return result


def _pack(rows: list[Record], srcs: list[list[int]], auxs: list[int], its: list[int]):
    """The records as a pat_instr array, filled column by column (much faster than one
    tuple per row for long tapes)."""
    tape = np.empty(len(rows), dtype=_ffi.INSTR_DTYPE)
    code = _ffi.DTYPE_CODE
    tape["op"] = [r.op for r in rows]
    tape["dtype"] = [code[r.dtype] for r in rows]
    tape["dst"] = [r.slot for r in rows]
    tape["src"] = srcs if rows else np.zeros((0, 3))
    tape["aux"] = auxs
    tape["iter"] = its
    tape["m"] = [r.m for r in rows]
    tape["k"] = [r.k for r in rows]
    tape["n"] = [r.n for r in rows]
    tape["alpha"] = [r.alpha for r in rows]
    return tape


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
    t = Tensor.__new__(Tensor)
    t._data = arr
    t.requires_grad = False
    t._grad = None
    t._node = None
    t._guard = None
    return t


def _leaf_grad_buffer(leaf: Tensor, accumulate: bool) -> tuple[np.ndarray, bool]:
    """The buffer the sweep accumulates the leaf's gradient into: its existing ``.grad``
    (accumulation, as PyTorch) when that is writable, else a fresh zero array."""
    g = leaf._grad
    if accumulate and g is not None and g._data.flags.writeable and g._guard is None:
        return g._data, False
    buf = np.zeros(leaf._data.shape, leaf._data.dtype)
    if accumulate and g is not None:
        buf += g._data
        if _state.recorder is not None:
            _state.recorder.opaque("backward accumulated into a read-only .grad")
    return buf, True


def _accumulate_leaf(leaf: Tensor, g: np.ndarray) -> None:
    if leaf._grad is None:
        leaf._grad = _wrap(g.copy())
    else:
        leaf._grad = _wrap(leaf._grad._data + g)


from . import anomaly as _anomaly  # noqa: E402  (anomaly.py imports the names above)
from . import ops as _ops  # noqa: E402  (ops.py imports the names above)
