"""What every op shares: turning arguments into Tensors, the strided-loop iterators
(``pat_iter``), and :func:`run`, the one call of the forward kernel.

Each op follows the same steps:

1. turn the arguments into Tensors and check dtypes and shapes, raising ShapeError or
   DTypeError that name the op, the shapes/dtypes and the fix;
2. allocate the output;
3. :func:`run` its forward kernel through ``pat_exec_fwd`` (the same function the replay
   runs), which also tells anomaly detection and pat.compile's recorder;
4. :func:`~pyautotape.record.record` it; the record keeps what the op's rules read.

Python numbers are weak (NumPy 2 rules): ``2 * x`` and ``x ** 2`` keep ``x``'s dtype.

>>> cstrides((2, 3, 4))
[12, 4, 1]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _ffi
from .._ffi import DTYPE_CODE, ITER_WORDS, NULL, _from_buffer, lib
from .._state import hooks, state
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, _float_array, exact_guard, get_default_dtype

_INT32_MAX = 2**31 - 1  # BLAS sizes are 32-bit in scipy-openblas32
OPCODE = {name: code for code, name in enumerate(_ffi.OP_NAMES)}


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, np.bool_)


def const(x: Any, dtype: np.dtype, opname: str, argname: str) -> Tensor:
    """A non-differentiable Tensor from a Python number, list, ndarray, or an integer or
    bool Tensor (promoted to ``dtype``, as PyTorch promotes them in float arithmetic)."""
    if isinstance(x, Tensor):
        arr = x._data.astype(dtype)
        exact_guard((x._data,))  # computed outside the tape (see exact_guard)
    elif _is_scalar(x):
        try:
            arr = np.array(x, dtype=dtype)
        except OverflowError:
            raise OverflowError(
                f"{opname}: {argname} is a Python int of {len(str(abs(int(x))))} digits, "
                f"beyond the range of {np.dtype(dtype)}; pass a float (e.g. float('inf')) "
                "or a smaller number"
            ) from None
    elif isinstance(x, numbers.Real) and not isinstance(x, np.bool_):  # a traced .item()
        arr = np.array(float(x), dtype=dtype)
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


def tensor_arg(x: Any, opname: str, argname: str = "x") -> Tensor:
    if isinstance(x, Tensor):
        return x if x._data.dtype.kind == "f" else const(x, get_default_dtype(), opname, argname)
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8):
        return const(x, x.dtype.newbyteorder("="), opname, argname)
    return const(x, get_default_dtype(), opname, argname)


def operands(opname: str, *args: Any) -> tuple[list[Tensor], np.dtype]:
    """Tensors for all args with one common dtype; non-Tensors follow the Tensors' dtype."""
    dtype = None
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a._data.dtype.kind == "f":  # int/bool ones are promoted
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
        a if isinstance(a, Tensor) and a._data.dtype.kind == "f"
        else const(a, dtype, opname, names[i])
        for i, a in enumerate(args)
    ]
    return out, dtype


def prod(shape: Sequence[int]) -> int:
    return math.prod(shape)


def cstrides(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-contiguous array of this shape."""
    strides, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = acc
        acc *= shape[d]
    return strides


_iter_cache: dict[tuple, np.ndarray] = {}


def pack_iter(shape: Sequence[int], strides: Sequence[Sequence[int]], opname: str) -> np.ndarray:
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
    for axis, row in enumerate(merged):
        words[1 + axis] = row[0]
        for o in range(nops):
            words[1 + lib.PAT_MAXDIM + o * lib.PAT_MAXDIM + axis] = row[1 + o]
    words.flags.writeable = False
    if len(_iter_cache) > 4096:
        _iter_cache.clear()
    _iter_cache[key] = words
    return words


def bcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of a contiguous array of ``shape`` read as ``out_shape``."""
    lead = len(out_shape) - len(shape)
    own = cstrides(shape)
    return [
        0 if d < lead or shape[d - lead] == 1 else own[d - lead] for d in range(len(out_shape))
    ]


def broadcast(opname: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{opname}: shapes {' and '.join(map(str, shapes))} do not broadcast (NumPy rules: "
            "trailing dimensions must be equal or 1); reshape an operand"
        ) from None


_bcast_cache: dict[tuple, tuple[tuple[int, ...], np.ndarray]] = {}


def bcast_iter(name: str, *shapes: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """Output shape and pat_iter [y, operands...] of a broadcast, cached by shapes."""
    key = shapes
    hit = _bcast_cache.get(key)
    if hit is not None:
        return hit
    out = broadcast(name, *shapes)
    it = pack_iter(out, [cstrides(out)] + [bcast_strides(s, out) for s in shapes], name)
    if len(_bcast_cache) > 4096:
        _bcast_cache.clear()
    _bcast_cache[key] = (out, it)
    return out, it


_exec_fwd = lib.pat_exec_fwd
_BYTES, _ITER = "char[]", "pat_iter *"


def run(op: int, name: str, dtype: np.dtype, y: np.ndarray, aux: Any = None,
        s0: Any = None, s1: Any = None, s2: Any = None, it: np.ndarray | None = None,
        m: int = 0, k: int = 0, n: int = 0, alpha: float = 0.0) -> None:
    """Call the forward kernel. Every buffer here was made by the caller (np.empty) or is a
    Tensor's own array, C-contiguous and of ``dtype`` by construction."""
    fb = _from_buffer  # (cdecl, buffer, require_writable) positionally: no keyword parsing
    rc = _exec_fwd(
        op,
        DTYPE_CODE[dtype],
        fb(_BYTES, y, True),
        fb(_BYTES, aux, True) if aux is not None else NULL,
        fb(s0) if s0 is not None else NULL,
        fb(s1) if s1 is not None else NULL,
        fb(s2) if s2 is not None else NULL,
        fb(_ITER, it) if it is not None else NULL,
        m,
        k,
        n,
        alpha,
        NULL,
    )
    if rc != 0:
        _ffi.check(rc, name)
    if state.anomaly and hooks.forward is not None:  # pat.detect_anomaly: output finite?
        hooks.forward(op, name, dtype, y, s0, s1, s2)
    rec = state.recorder
    if rec is not None:
        rec.forward(op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha)


def axes(name: str, ndim: int, axis: Any) -> tuple[int, ...]:
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


def one_axis(name: str, ndim: int, axis: Any) -> int:
    """The one axis an op works along (softmax, concatenate, ...): an int in range."""
    if axis is None or isinstance(axis, (tuple, list)):
        raise TypeError(
            f"{name}: axis must be one int (e.g. axis=-1), got {axis!r}; {name} works "
            "along a single axis (flatten first with .reshape(-1) for the whole tensor)"
        )
    (ax,) = axes(name, ndim, axis)
    return ax


def blas_sizes(name: str, *sizes: int) -> None:
    if max(sizes) > _INT32_MAX:
        raise ShapeError(f"{name}: a dimension exceeds 2**31 - 1, the BLAS limit; split the work")
