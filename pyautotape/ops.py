"""The differentiable ops: validate in Python, allocate with NumPy, compute in C, record.

Each op follows the same four steps (see DESIGN §2, "Declaring an op"):

1. turn the arguments into Tensors and check dtypes and shapes, raising ShapeError or
   DTypeError that name the op, the shapes/dtypes and the fix;
2. allocate the output;
3. run the forward kernel through ``pat_exec_fwd`` (the same function the replay uses);
4. :func:`~pyautotape.tensor.record` it, keeping only what the backward rule reads.

Python numbers are weak (NumPy 2 rules): ``2 * x`` and ``x ** 2`` keep ``x``'s dtype.
"""

from __future__ import annotations

import builtins
import math
import numbers
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _ffi
from . import anomaly as _anomaly
from ._ffi import DTYPE_CODE, ITER_WORDS, NULL, _from_buffer, lib
from .errors import DTypeError, ShapeError
from .tensor import Tensor, _float_array, _state, get_default_dtype, record

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "tanh",
    "sigmoid", "relu", "leaky_relu", "maximum", "minimum", "where", "sum", "mean", "max",
    "reshape", "transpose", "concatenate", "linear", "softmax", "log_softmax",
    "cross_entropy", "mse_loss", "index", "set_relu_subgradient", "get_relu_subgradient",
]

# name -> opcode; checked at import against the C table, so the two lists cannot drift
REGISTRY: dict[str, int] = {
    "add": lib.PAT_OP_ADD,
    "sub": lib.PAT_OP_SUB,
    "mul": lib.PAT_OP_MUL,
    "div": lib.PAT_OP_DIV,
    "pow": lib.PAT_OP_POW,
    "maximum": lib.PAT_OP_MAXIMUM,
    "minimum": lib.PAT_OP_MINIMUM,
    "where": lib.PAT_OP_WHERE,
    "neg": lib.PAT_OP_NEG,
    "exp": lib.PAT_OP_EXP,
    "log": lib.PAT_OP_LOG,
    "sqrt": lib.PAT_OP_SQRT,
    "tanh": lib.PAT_OP_TANH,
    "sigmoid": lib.PAT_OP_SIGMOID,
    "relu": lib.PAT_OP_RELU,
    "leaky_relu": lib.PAT_OP_LEAKY_RELU,
    "sum": lib.PAT_OP_SUM,
    "mean": lib.PAT_OP_MEAN,
    "max": lib.PAT_OP_MAX,
    "reshape": lib.PAT_OP_RESHAPE,
    "transpose": lib.PAT_OP_TRANSPOSE,
    "index": lib.PAT_OP_INDEX,
    "concatenate": lib.PAT_OP_CONCAT,
    "matmul": lib.PAT_OP_MATMUL,
    "linear": lib.PAT_OP_LINEAR,
    "softmax": lib.PAT_OP_SOFTMAX,
    "log_softmax": lib.PAT_OP_LOG_SOFTMAX,
    "cross_entropy": lib.PAT_OP_CROSS_ENTROPY,
    "mse_loss": lib.PAT_OP_MSE,
    "custom": lib.PAT_OP_CUSTOM,  # a pat.Function (pyautotape/function.py), not a wrapper here
}

if [n for n, _ in sorted(REGISTRY.items(), key=lambda kv: kv[1])] != _ffi.op_names():
    raise ImportError(
        "pyautotape's op registry and the C op table differ; the C extension is out of "
        "date: rebuild with pip install -e ."
    )

_INT32_MAX = 2**31 - 1  # BLAS sizes are 32-bit in scipy-openblas32

# ---------------------------------------------------------------------------------------
# the ReLU subgradient


_relu_subgradient = 0.0
_relu_lock = threading.Lock()


def _check_subgradient(s: Any, where: str) -> float:
    if isinstance(s, bool) or not isinstance(s, numbers.Real):
        raise TypeError(f"{where}: subgradient must be a number in [0, 1], got {s!r}")
    s = float(s)
    if not 0.0 <= s <= 1.0:  # also rejects NaN
        raise ValueError(
            f"{where}: subgradient must lie in [0, 1] (any value there is a valid "
            f"subgradient of relu at 0), got {s}"
        )
    return s


def set_relu_subgradient(s: float) -> None:
    """Set the derivative ``relu`` (and ``maximum``/``minimum`` at a tie) use at exactly 0.

    Any value in [0, 1] is a valid subgradient; the default is 0.0, as PyTorch and JAX.

    >>> import pyautotape as pat
    >>> pat.set_relu_subgradient(0.5); pat.get_relu_subgradient()
    0.5
    >>> pat.set_relu_subgradient(0.0)
    """
    global _relu_subgradient
    value = _check_subgradient(s, "set_relu_subgradient")
    with _relu_lock:
        _relu_subgradient = value


def get_relu_subgradient() -> float:
    """The global ReLU subgradient at 0 (see :func:`set_relu_subgradient`).

    >>> import pyautotape as pat
    >>> pat.get_relu_subgradient()
    0.0
    """
    return _relu_subgradient


# ---------------------------------------------------------------------------------------
# argument handling


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, np.bool_)


def _const(x: Any, dtype: np.dtype, opname: str, argname: str) -> Tensor:
    """A non-differentiable Tensor from a Python number, list or ndarray."""
    if _is_scalar(x):
        arr = np.array(x, dtype=dtype)
    elif isinstance(x, np.ndarray):
        if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
            raise DTypeError(
                f"{opname}: {argname} has dtype {x.dtype}; pass a float32/float64 array "
                f"or a Tensor (e.g. {argname}.astype(np.{dtype}))"
            )
        if x.dtype.newbyteorder("=") != dtype:
            raise DTypeError(
                f"{opname}: cannot mix {dtype} and {x.dtype.newbyteorder('=')}; cast one "
                f"first, e.g. {argname}.astype(np.{dtype})"
            )
        arr = _float_array(x, dtype, opname, argname)
    elif isinstance(x, (list, tuple)):
        arr = _float_array(x, dtype, opname, argname)
    else:
        raise TypeError(
            f"{opname}: {argname} must be a Tensor, ndarray, list or number, "
            f"not {type(x).__name__}"
        )
    t = Tensor.__new__(Tensor)
    t._data, t.requires_grad, t._grad, t._node, t._guard = arr, False, None, None, None
    return t


def _tensor_arg(x: Any, opname: str, argname: str = "x") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8):
        return _const(x, x.dtype.newbyteorder("="), opname, argname)
    return _const(x, get_default_dtype(), opname, argname)


def _operands(opname: str, *args: Any) -> tuple[list[Tensor], np.dtype]:
    """Tensors for all args with one common dtype; non-Tensors follow the Tensors' dtype."""
    dtype = None
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if dtype is None:
                dtype = a.dtype
            elif a.dtype != dtype:
                raise DTypeError(
                    f"{opname}: operands have dtypes {dtype} and {a.dtype} (argument {i}); "
                    "mixing float32 and float64 is not allowed: cast one, e.g. "
                    "pat.tensor(x.numpy(), dtype=np.float64)"
                )
    if dtype is None:
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype.itemsize in (4, 8):
                dtype = a.dtype.newbyteorder("=")
                break
        else:
            dtype = get_default_dtype()
    names = ("a", "b", "c")
    out = [
        a if isinstance(a, Tensor) else _const(a, dtype, opname, names[i])
        for i, a in enumerate(args)
    ]
    return out, dtype


def _prod(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _cstrides(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous array of this shape."""
    strides, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = acc
        acc *= shape[d]
    return strides


_iter_cache: dict[tuple, np.ndarray] = {}


def _pack_iter(shape: Sequence[int], strides: Sequence[Sequence[int]], opname: str) -> np.ndarray:
    """A pat_iter as int64 words, after dropping size-1 axes and merging axes whose strides
    line up in every operand (so (64, 128) + (128,) is one contiguous row per sample)."""
    key = (tuple(shape), tuple(tuple(s) for s in strides))
    hit = _iter_cache.get(key)
    if hit is not None:
        return hit
    nops = len(strides)
    if 0 in shape:
        dims: list[list[int]] = [[0] + [0] * nops]
    else:
        dims = [[n] + [s[d] for s in strides] for d, n in enumerate(shape) if n != 1]
    merged: list[list[int]] = []
    for d in dims:
        if merged:
            prev = merged[-1]
            if all(prev[1 + o] == d[1 + o] * d[0] for o in range(nops)):
                prev[0] *= d[0]
                for o in range(nops):
                    prev[1 + o] = d[1 + o]
                continue
        merged.append(list(d))
    if len(merged) > lib.PAT_MAXDIM:
        raise ShapeError(
            f"{opname}: the strided loop over these shapes needs {len(merged)} separate "
            f"axes, more than {lib.PAT_MAXDIM} (the most the C kernels take); reshape the "
            "operands so fewer axes differ (merge or drop axes) first"
        )
    words = np.zeros(ITER_WORDS, dtype=np.int64)
    words[0] = len(merged)
    for d, row in enumerate(merged):
        words[1 + d] = row[0]
        for o in range(nops):
            words[1 + lib.PAT_MAXDIM + o * lib.PAT_MAXDIM + d] = row[1 + o]
    words.flags.writeable = False
    if len(_iter_cache) > 4096:
        _iter_cache.clear()
    _iter_cache[key] = words
    return words


def _bcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of a contiguous array of ``shape`` read as ``out_shape``."""
    lead = len(out_shape) - len(shape)
    own = _cstrides(shape)
    return [
        0 if d < lead or shape[d - lead] == 1 else own[d - lead] for d in range(len(out_shape))
    ]


def _broadcast(opname: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{opname}: shapes {' and '.join(map(str, shapes))} do not broadcast (NumPy rules: "
            "trailing dimensions must be equal or 1); reshape an operand"
        ) from None


def _run(op: int, name: str, dtype: np.dtype, y: np.ndarray, aux: Any = None,
         s0: Any = None, s1: Any = None, s2: Any = None, it: np.ndarray | None = None,
         m: int = 0, k: int = 0, n: int = 0, alpha: float = 0.0) -> None:
    """Call the forward kernel. Every buffer here was made by the caller (np.empty) or is a
    Tensor's own array, C-contiguous and of ``dtype`` by construction."""
    fb = _from_buffer
    rc = lib.pat_exec_fwd(
        op,
        DTYPE_CODE[dtype],
        fb(y, require_writable=True),
        fb(aux, require_writable=True) if aux is not None else NULL,
        fb(s0) if s0 is not None else NULL,
        fb(s1) if s1 is not None else NULL,
        fb(s2) if s2 is not None else NULL,
        fb("pat_iter *", it) if it is not None else NULL,
        m,
        k,
        n,
        alpha,
        NULL,
    )
    if rc != 0:
        _ffi.check(rc, name)
    if _state.anomaly:  # pat.detect_anomaly: is the output finite?
        _anomaly.forward(op, name, dtype, y, s0, s1, s2)
    rec = _state.recorder
    if rec is not None:
        rec.forward(op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha)


def _need(t: Tensor) -> bool:
    return t.requires_grad


# ---------------------------------------------------------------------------------------
# elementwise


_bcast_cache: dict[tuple, tuple[tuple[int, ...], np.ndarray]] = {}


def _bcast_iter(name: str, *shapes: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """Output shape and pat_iter [y, operands...] of a broadcast, cached by shapes."""
    key = shapes
    hit = _bcast_cache.get(key)
    if hit is not None:
        return hit
    out = _broadcast(name, *shapes)
    it = _pack_iter(out, [_cstrides(out)] + [_bcast_strides(s, out) for s in shapes], name)
    if len(_bcast_cache) > 4096:
        _bcast_cache.clear()
    _bcast_cache[key] = (out, it)
    return out, it


_PY_NUMBERS = (float, int)


def _binary(name: str, a: Any, b: Any, alpha: float = 0.0) -> Tensor:
    # Fast paths for the common cases, Tensor (op) Tensor and Tensor (op) Python number;
    # a number becomes a 0-d constant array of the tensor's dtype (weak scalars).
    ta = a if type(a) is Tensor else None
    tb = b if type(b) is Tensor else None
    if ta is not None and tb is not None and ta._data.dtype == tb._data.dtype:
        ad, bd = ta._data, tb._data
    elif ta is not None and type(b) in _PY_NUMBERS:
        ad, bd = ta._data, np.array(b, ta._data.dtype)
    elif tb is not None and type(a) in _PY_NUMBERS:
        ad, bd = np.array(a, tb._data.dtype), tb._data
    else:
        (ta, tb), _ = _operands(name, a, b)
        ad, bd = ta._data, tb._data
    dt = ad.dtype
    out_shape, it = _bcast_iter(name, ad.shape, bd.shape)
    op = REGISTRY[name]
    y = np.empty(out_shape, dt)
    _run(op, name, dt, y, s0=ad, s1=bd, it=it, alpha=alpha)
    ga = ta is not None and ta.requires_grad
    gb = tb is not None and tb.requires_grad
    sa = ta if ta is not None else ad  # what a backward rule keeps: the Tensor, or the constant
    sb = tb if tb is not None else bd
    if op == lib.PAT_OP_ADD or op == lib.PAT_OP_SUB:
        saved: tuple = ()
    elif op == lib.PAT_OP_MUL:  # d(ab)/da reads b, d(ab)/db reads a
        saved = (sa if gb else None, sb if ga else None)
    else:
        saved = (sa, sb)
    return record(op, y, (ta, tb), saved, it=it, alpha=alpha)


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with NumPy broadcasting; the backward sums over broadcast axes.

    >>> import pyautotape as pat
    >>> (pat.tensor([1.0, 2.0]) + 1).numpy()
    array([2., 3.], dtype=float32)
    """
    return _binary("add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.sub(pat.tensor([3.0]), 1).numpy()
    array([2.], dtype=float32)
    """
    return _binary("sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.mul(pat.tensor([2.0, 3.0]), pat.tensor([4.0, 5.0])).numpy()
    array([ 8., 15.], dtype=float32)
    """
    return _binary("mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.div(pat.tensor([1.0]), 4).numpy()
    array([0.25], dtype=float32)
    """
    return _binary("div", a, b)


def pow(a: Any, b: Any) -> Tensor:
    """``a ** b`` with broadcasting; d/db is taken as 0 where a == 0 and b >= 0.

    >>> import pyautotape as pat
    >>> (pat.tensor([3.0]) ** 2).numpy()
    array([9.], dtype=float32)
    """
    return _binary("pow", a, b)


def maximum(a: Any, b: Any, subgradient: float | None = None) -> Tensor:
    """Elementwise max; at a tie the gradient goes ``s`` to a and ``1 - s`` to b, with
    ``s`` the ReLU subgradient, so ``maximum(x, 0)`` equals ``relu(x)`` in both passes.

    >>> import pyautotape as pat
    >>> pat.maximum(pat.tensor([1.0, -2.0]), 0).numpy()
    array([1., 0.], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "maximum")
    return _binary("maximum", a, b, alpha=s)


def minimum(a: Any, b: Any, subgradient: float | None = None) -> Tensor:
    """Elementwise min; ties split the gradient ``s : 1 - s`` as :func:`maximum`.

    >>> import pyautotape as pat
    >>> pat.minimum(pat.tensor([1.0, -2.0]), 0).numpy()
    array([ 0., -2.], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "minimum")
    return _binary("minimum", a, b, alpha=s)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``cond ? a : b`` elementwise with broadcasting; ``cond`` is a bool array (comparisons
    of tensors return one) and gets no gradient. The gradient flows to a where cond holds
    and to b elsewhere (never NaN from the unselected branch).

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor([-1.0, 2.0])
    >>> pat.where(x > 0, x, 0.0).numpy()
    array([0., 2.], dtype=float32)
    """
    if isinstance(cond, Tensor):
        raise DTypeError("where: cond must be a bool ndarray, not a Tensor; use (t > 0) etc.")
    c = np.asarray(cond)
    if c.dtype != np.bool_:
        raise DTypeError(f"where: cond has dtype {c.dtype}; pass a bool array, e.g. x > 0")
    (ta, tb), dt = _operands("where", a, b)
    out_shape, it = _bcast_iter("where", c.shape, ta.shape, tb.shape)
    c = np.ascontiguousarray(c)
    y = np.empty(out_shape, dt)
    c8 = c.view(np.uint8).copy()  # a private copy: the backward reads it later
    _run(lib.PAT_OP_WHERE, "where", dt, y, s0=c8, s1=ta._data, s2=tb._data, it=it)
    return record(lib.PAT_OP_WHERE, y, (None, ta, tb), (c8,), it=it)


def _unary(name: str, x: Any, alpha: float = 0.0, save: str = "") -> Tensor:
    t = _tensor_arg(x, name)
    op = REGISTRY[name]
    y = np.empty(t.shape, t.dtype)
    _run(op, name, t.dtype, y, s0=t._data, n=t.size, alpha=alpha)
    return record(
        op, y, (t,), (t,) if save == "x" else (), save_out=save == "y", n=t.size, alpha=alpha
    )


def neg(x: Any) -> Tensor:
    """``-x``.

    >>> import pyautotape as pat
    >>> pat.neg(pat.tensor([1.0])).numpy()
    array([-1.], dtype=float32)
    """
    return _unary("neg", x)


def exp(x: Any) -> Tensor:
    """``e ** x``; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.exp(pat.tensor([0.0])).numpy()
    array([1.], dtype=float32)
    """
    return _unary("exp", x, save="y")


def log(x: Any) -> Tensor:
    """Natural log; the gradient at 0 is +inf (as JAX and PyTorch).

    >>> import pyautotape as pat
    >>> pat.log(pat.tensor([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("log", x, save="x")


def sqrt(x: Any) -> Tensor:
    """Square root; the gradient at 0 is +inf (as JAX and PyTorch).

    >>> import pyautotape as pat
    >>> pat.sqrt(pat.tensor([4.0])).numpy()
    array([2.], dtype=float32)
    """
    return _unary("sqrt", x, save="y")


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent; the backward reads the output (1 - y²).

    >>> import pyautotape as pat
    >>> pat.tanh(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("tanh", x, save="y")


def sigmoid(x: Any) -> Tensor:
    """Logistic function 1 / (1 + e^-x), computed without overflow.

    >>> import pyautotape as pat
    >>> pat.sigmoid(pat.tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    return _unary("sigmoid", x, save="y")


def relu(x: Any, subgradient: float | None = None) -> Tensor:
    """``max(x, 0)``, with ``relu(nan) = nan``.

    ``subgradient`` is the derivative used at exactly 0 (any value in [0, 1]); None takes
    the global default (:func:`set_relu_subgradient`, initially 0). Above 0 the gradient
    passes, below it is 0, and at NaN it passes (as PyTorch). With subgradient 0 the
    backward reads the output (which the next layer keeps anyway); otherwise it keeps the
    input, to tell x == 0 from x < 0.

    >>> import pyautotape as pat
    >>> x = pat.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> pat.relu(x, subgradient=0.5).sum().backward()
    >>> x.grad.numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "relu")
    return _unary("relu", x, alpha=s, save="y" if s == 0.0 else "x")


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """``x if x > 0 else negative_slope * x``; the derivative at 0 is ``negative_slope``
    (as PyTorch).

    >>> import pyautotape as pat
    >>> pat.leaky_relu(pat.tensor([-2.0, 3.0]), 0.5).numpy()
    array([-1.,  3.], dtype=float32)
    """
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return _unary("leaky_relu", x, alpha=float(negative_slope), save="x")


# ---------------------------------------------------------------------------------------
# reductions


def _axes(name: str, ndim: int, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{name}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def _reduce(name: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    t = _tensor_arg(x, name)
    axes = _axes(name, t.ndim, axis)
    kept = tuple(1 if d in axes else n for d, n in enumerate(t.shape))
    out_shape = kept if keepdims else tuple(n for d, n in enumerate(t.shape) if d not in axes)
    ostr = [0 if d in axes else s for d, s in enumerate(_cstrides(kept))]
    it = _pack_iter(t.shape, (ostr, _cstrides(t.shape)), name)
    count = _prod([t.shape[d] for d in axes])
    ny = _prod(out_shape)
    y = np.empty(out_shape, t.dtype)
    op = REGISTRY[name]
    if name == "max":
        if count == 0 and ny > 0:
            raise ShapeError(
                f"max: reduction over a zero-size axis of shape {t.shape} has no identity; "
                "reduce over non-empty axes"
            )
        cnt = np.empty(out_shape, t.dtype)
        _run(op, name, t.dtype, y, aux=cnt, s0=t._data, it=it, m=ny)
        return record(op, y, (t,), (t,), save_out=True, aux=cnt, it=it, m=ny)
    alpha = 1.0 if name == "sum" else (1.0 / count if count else math.nan)
    _run(op, name, t.dtype, y, s0=t._data, it=it, m=ny, alpha=alpha)
    return record(op, y, (t,), it=it, m=ny, alpha=alpha)


def sum(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all), as ``np.sum``; float32 rows accumulate in double.

    >>> import pyautotape as pat
    >>> pat.sum(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([4., 6.], dtype=float32)
    """
    return _reduce("sum", x, axis, keepdims)


def mean(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; the mean of zero elements is NaN (as NumPy).

    >>> import pyautotape as pat
    >>> pat.mean(pat.tensor([1.0, 2.0, 6.0])).item()
    3.0
    """
    return _reduce("mean", x, axis, keepdims)


def max(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Max over ``axis``; NaN wins (as NumPy); tied maxima share the gradient evenly (as
    ``torch.amax`` and ``jax.numpy.max``).

    >>> import pyautotape as pat
    >>> pat.max(pat.tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1).numpy()
    array([5., 7.], dtype=float32)
    """
    return _reduce("max", x, axis, keepdims)


# ---------------------------------------------------------------------------------------
# shapes and data movement


def reshape(x: Any, shape: Sequence[int] | int) -> Tensor:
    """The same elements in a new shape (one -1 is inferred).

    >>> import pyautotape as pat
    >>> pat.reshape(pat.tensor([1.0, 2.0, 3.0, 4.0]), (2, 2)).shape
    (2, 2)
    """
    t = _tensor_arg(x, "reshape")
    try:
        new_shape = np.empty(t.shape, dtype=np.bool_).reshape(shape).shape
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"reshape: cannot reshape {t.shape} into {shape!r} ({exc})") from None
    y = np.empty(new_shape, t.dtype)
    _run(lib.PAT_OP_RESHAPE, "reshape", t.dtype, y, s0=t._data, n=t.size)
    return record(lib.PAT_OP_RESHAPE, y, (t,), n=t.size)


def _gather(name: str, t: Tensor, view: np.ndarray) -> Tensor:
    """Record a copy of ``view``, a NumPy view into t's data, as op ``name``."""
    item = t.dtype.itemsize
    base = (view.__array_interface__["data"][0] - t._data.__array_interface__["data"][0]) // item
    if view.size == 0:
        base = 0
    it = _pack_iter(view.shape, (_cstrides(view.shape), [s // item for s in view.strides]), name)
    op = REGISTRY[name]
    y = np.empty(view.shape, t.dtype)
    _run(op, name, t.dtype, y, s0=t._data, it=it, m=base)
    return record(op, y, (t,), it=it, m=base)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``.

    >>> import pyautotape as pat
    >>> pat.transpose(pat.tensor([[1.0, 2.0, 3.0]])).shape
    (3, 1)
    """
    t = _tensor_arg(x, "transpose")
    if axes is not None:
        axes = tuple(axes)
        norm = [int(a) + t.ndim if int(a) < 0 else int(a) for a in axes]
        if sorted(norm) != list(range(t.ndim)):
            raise ShapeError(
                f"transpose: axes {axes} are not a permutation of the {t.ndim} axes of {t.shape}"
            )
    return _gather("transpose", t, t._data.transpose(axes))


def _basic_index(idx: Any) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    for i in items:
        if i is None or i is Ellipsis or isinstance(i, slice):
            continue
        if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)):
            continue
        return False
    return True


def index(x: Any, idx: Any) -> Tensor:
    """Basic indexing ``x[idx]`` (ints, slices, None, Ellipsis), as NumPy; the result is a
    copy whose gradient is scattered back into x's shape.

    >>> import pyautotape as pat
    >>> pat.tensor([[1.0, 2.0], [3.0, 4.0]])[:, 1].numpy()
    array([2., 4.], dtype=float32)
    """
    t = _tensor_arg(x, "index")
    if not _basic_index(idx):
        raise TypeError(
            f"index: only basic indexing (ints, slices, None, ...) is supported, got {idx!r}; "
            "for a mask use pat.where, for a gather of labels use pat.cross_entropy"
        )
    try:
        view = t._data[idx]
        if not isinstance(view, np.ndarray):  # all ints: NumPy returns a scalar, not a view
            view = t._data[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
    except IndexError as exc:
        raise IndexError(f"index: {exc} (tensor of shape {t.shape})") from None
    return _gather("index", t, view)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, as ``np.concatenate``. k tensors are recorded
    as k - 1 pairwise joins.

    >>> import pyautotape as pat
    >>> pat.concatenate([pat.tensor([1.0]), pat.tensor([2.0, 3.0])]).numpy()
    array([1., 2., 3.], dtype=float32)
    """
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise TypeError("concatenate: pass a list or tuple of tensors")
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    ts, dt = _operands("concatenate", *tensors)
    nd = ts[0].ndim
    if nd == 0:
        raise ShapeError("concatenate: 0-d tensors cannot be joined; reshape them to (1,)")
    (ax,) = _axes("concatenate", nd, axis)
    for t in ts[1:]:
        if (
            t.ndim != nd
            or t.shape[:ax] + t.shape[ax + 1 :] != ts[0].shape[:ax] + ts[0].shape[ax + 1 :]
        ):
            raise ShapeError(
                f"concatenate: shapes {[u.shape for u in ts]} differ outside axis {ax}"
            )
    acc = ts[0]
    if len(ts) == 1:
        return reshape(acc, acc.shape)
    outer = _prod(acc.shape[:ax])
    inner = _prod(acc.shape[ax + 1 :])
    for t in ts[1:]:
        shape = acc.shape[:ax] + (acc.shape[ax] + t.shape[ax],) + acc.shape[ax + 1 :]
        y = np.empty(shape, dt)
        k, n = acc.shape[ax] * inner, t.shape[ax] * inner
        _run(lib.PAT_OP_CONCAT, "concatenate", dt, y, s0=acc._data, s1=t._data, m=outer, k=k, n=n)
        acc = record(lib.PAT_OP_CONCAT, y, (acc, t), m=outer, k=k, n=n)
    return acc


# ---------------------------------------------------------------------------------------
# dense


def _blas_sizes(name: str, *sizes: int) -> None:
    if builtins.max(sizes) > _INT32_MAX:
        raise ShapeError(f"{name}: a dimension exceeds 2**31 - 1, the BLAS limit; split the work")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with ``np.matmul`` rules: 1-D operands are promoted and the added
    axis removed; leading axes are batch axes and broadcast.

    >>> import pyautotape as pat
    >>> (pat.tensor([[1.0, 2.0]]) @ pat.tensor([[3.0], [4.0]])).numpy()
    array([[11.]], dtype=float32)
    """
    (ta, tb), dt = _operands("matmul", a, b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise ShapeError(
            f"matmul: operands must be at least 1-D, got {ta.shape} and {tb.shape}; "
            "use * for scalars"
        )
    ash = ta.shape if ta.ndim >= 2 else (1,) + ta.shape
    bsh = tb.shape if tb.ndim >= 2 else tb.shape + (1,)
    m, k = ash[-2:]
    k2, n = bsh[-2:]
    if k != k2:
        raise ShapeError(
            f"matmul: {ta.shape} @ {tb.shape}: the inner dimensions {k} and {k2} differ; "
            "transpose an operand (x.T) or fix the shapes"
        )
    batch = _broadcast("matmul", ash[:-2], bsh[:-2])
    _blas_sizes("matmul", m, k, n)
    out_shape = batch + ((m,) if ta.ndim >= 2 else ()) + ((n,) if tb.ndim >= 2 else ())
    it = _pack_iter(
        batch,
        (
            [s * m * n for s in _cstrides(batch)],
            [s * m * k for s in _bcast_strides(ash[:-2], batch)],
            [s * k * n for s in _bcast_strides(bsh[:-2], batch)],
        ),
        "matmul",
    )
    y = np.empty(out_shape, dt)
    _run(lib.PAT_OP_MATMUL, "matmul", dt, y, s0=ta._data, s1=tb._data, it=it, m=m, k=k, n=n)
    saved = (ta if _need(tb) else None, tb if _need(ta) else None)
    return record(lib.PAT_OP_MATMUL, y, (ta, tb), saved, it=it, m=m, k=k, n=n)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x @ weight.T + bias`` with weight (out, in), as ``torch.nn.functional.linear``;
    one fused kernel (bias written first, GEMM adds onto it). The backward computes dW
    only when weight needs a gradient and the bias sum only when bias does.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.ones((2, 3)))
    >>> w = pat.tensor(np.ones((4, 3)))
    >>> pat.linear(x, w, pat.tensor(np.zeros(4))).shape
    (2, 4)
    """
    if (
        type(x) is Tensor
        and type(weight) is Tensor
        and (bias is None or type(bias) is Tensor)
        and x._data.dtype == weight._data.dtype
        and (bias is None or bias._data.dtype == x._data.dtype)
    ):  # the common case, without the general conversion
        tx, tw, tb, dt = x, weight, bias, x._data.dtype
    else:
        args = (x, weight) if bias is None else (x, weight, bias)
        ts, dt = _operands("linear", *args)
        tx, tw = ts[0], ts[1]
        tb = ts[2] if bias is not None else None
    xs, ws = tx._data.shape, tw._data.shape
    if len(ws) != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in), got {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ShapeError(
            f"linear: x {xs} does not end in in_features={ws[1]} of weight "
            f"{ws} (weight is (out, in), as PyTorch)"
        )
    n, k = ws
    if tb is not None and tb._data.shape != (n,):
        raise ShapeError(
            f"linear: bias must have shape ({n},) for weight {ws}, got {tb._data.shape}"
        )
    m = xs[0] if len(xs) == 2 else _prod(xs[:-1])
    if m > _INT32_MAX or k > _INT32_MAX or n > _INT32_MAX:
        _blas_sizes("linear", m, k, n)
    y = np.empty(xs[:-1] + (n,), dt)
    _run(lib.PAT_OP_LINEAR, "linear", dt, y, s0=tx._data, s1=tw._data,
         s2=tb._data if tb is not None else None, m=m, k=k, n=n)
    saved = (tx if tw.requires_grad else None, tw if tx.requires_grad else None)
    return record(lib.PAT_OP_LINEAR, y, (tx, tw, tb), saved, m=m, k=k, n=n)


# ---------------------------------------------------------------------------------------
# softmax and losses


def _softmax(name: str, x: Any, axis: int) -> Tensor:
    t = _tensor_arg(x, name)
    if t.ndim == 0:
        raise ShapeError(f"{name}: needs at least 1-D input, got a scalar")
    (ax,) = _axes(name, t.ndim, axis)
    m, k, n = _prod(t.shape[:ax]), t.shape[ax], _prod(t.shape[ax + 1 :])
    op = REGISTRY[name]
    y = np.empty(t.shape, t.dtype)
    _run(op, name, t.dtype, y, s0=t._data, m=m, k=k, n=n)
    return record(op, y, (t,), save_out=True, m=m, k=k, n=n)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (default last), shifted by the max.

    >>> import pyautotape as pat
    >>> pat.softmax(pat.tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    return _softmax("softmax", x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis`` (default last).

    >>> import pyautotape as pat
    >>> round(float(pat.log_softmax(pat.tensor([0.0, 0.0]))[0].item()), 4)
    -0.6931
    """
    return _softmax("log_softmax", x, axis)


_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(name: str, reduction: Any) -> int:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return _REDUCTIONS[reduction]


def _labels(labels: Any, n: int, classes: int) -> np.ndarray:
    if isinstance(labels, Tensor):
        raise DTypeError(
            "cross_entropy: labels must be an integer ndarray of class indices, not a "
            "Tensor; pass e.g. y.astype(np.int64)"
        )
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise DTypeError(
            f"cross_entropy: labels have dtype {lab.dtype}; class indices must be integers, "
            "e.g. y.astype(np.int64)"
        )
    if lab.shape != (n,):
        raise ShapeError(
            f"cross_entropy: labels have shape {lab.shape}, expected ({n},) for logits with "
            f"{n} rows"
        )
    if n:
        lo, hi = int(lab.min()), int(lab.max())
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            pos = int(np.argmax(lab == bad))
            raise ValueError(
                f"cross_entropy: label {bad} at index {pos} is outside [0, {classes}) for "
                f"logits with {classes} classes"
            )
    out = np.array(lab, dtype=np.int64, order="C", copy=True)
    if _state.recorder is not None:
        _state.recorder.converted(labels, out)
    return out


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer labels (N,), fused in one
    kernel (log-softmax + NLL) that keeps the probabilities for the backward.

    >>> import numpy as np, pyautotape as pat
    >>> logits = pat.tensor(np.zeros((2, 4)), requires_grad=True)
    >>> loss = pat.cross_entropy(logits, np.array([0, 3]))
    >>> round(loss.item(), 4)
    1.3863
    """
    red = _reduction("cross_entropy", reduction)
    t = _tensor_arg(logits, "cross_entropy", "logits")
    if t.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must be 2-D (N, C), got {t.shape}")
    m, k = t.shape
    if k == 0 and m > 0:
        raise ShapeError("cross_entropy: logits have 0 classes")
    lab = _labels(labels, m, k)
    y = np.empty((m,) if red == 0 else (), t.dtype)
    probs = np.empty(t.shape, t.dtype)
    _run(lib.PAT_OP_CROSS_ENTROPY, "cross_entropy", t.dtype, y, aux=probs, s0=t._data,
         s1=lab, m=m, k=k, n=red)
    return record(lib.PAT_OP_CROSS_ENTROPY, y, (t, None), (None, lab), aux=probs, m=m, k=k, n=red)


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((pred - target)²)``; shapes must match exactly (no silent
    broadcasting). Both arguments may require gradients.

    >>> import pyautotape as pat
    >>> pat.mse_loss(pat.tensor([1.0, 2.0]), pat.tensor([1.0, 4.0])).item()
    2.0
    """
    red = _reduction("mse_loss", reduction)
    (tp, tt), dt = _operands("mse_loss", pred, target)
    if tp.shape != tt.shape:
        raise ShapeError(
            f"mse_loss: pred {tp.shape} and target {tt.shape} differ; reshape the target "
            "(e.g. y.reshape(-1, 1)) so they match"
        )
    n = tp.size
    y = np.empty(tp.shape if red == 0 else (), dt)
    diff = np.empty(tp.shape, dt)
    _run(lib.PAT_OP_MSE, "mse_loss", dt, y, aux=diff, s0=tp._data, s1=tt._data, n=n, k=red)
    return record(lib.PAT_OP_MSE, y, (tp, tt), aux=diff, n=n, k=red)
