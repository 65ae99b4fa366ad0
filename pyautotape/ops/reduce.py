"""Reductions: ``sum``, ``mean`` and ``max`` over axes, as NumPy (``axis``, ``keepdims``).

>>> import pyautotape as pat
>>> pat.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=1).numpy()
array([3., 7.], dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._ffi import lib
from ..errors import ShapeError
from ..record import record
from ..tensor import Tensor
from .core import OPCODE, cstrides, pack_iter, prod, run, tensor_arg
from .core import axes as reduce_axes
from .spec import Cost, Example, OpSpec, register


def _reduce(name: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    t = tensor_arg(x, name)
    axes = reduce_axes(name, t.ndim, axis)
    kept = tuple(1 if d in axes else n for d, n in enumerate(t.shape))
    out_shape = kept if keepdims else tuple(n for d, n in enumerate(t.shape) if d not in axes)
    ostr = [0 if d in axes else s for d, s in enumerate(cstrides(kept))]
    it = pack_iter(t.shape, (ostr, cstrides(t.shape)), name)
    count = prod([t.shape[d] for d in axes])
    ny = prod(out_shape)
    y = np.empty(out_shape, t.dtype)
    op = OPCODE[name]
    if name == "max":
        if count == 0 and ny > 0:
            raise ShapeError(
                f"max: reduction over a zero-size axis of shape {t.shape} has no identity; "
                "reduce over non-empty axes"
            )
        cnt = np.empty(out_shape, np.float64)  # tie counts, exact past 2**24
        run(op, name, t.dtype, y, aux=cnt, s0=t._data, it=it, m=ny)
        return record(op, y, (t,), aux=cnt, it=it, m=ny)
    alpha = 1.0 if name == "sum" else (1.0 / count if count else math.nan)
    run(op, name, t.dtype, y, s0=t._data, it=it, m=ny, alpha=alpha)
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
# the specs


def _max_groups(x: np.ndarray, it: np.ndarray | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """x viewed with the axes of its max reduction (decoded from the op's pat_iter: the
    output's stride is 0 along a reduced axis), and those axes."""
    if it is None or x.size == 0:
        return x.reshape(-1), (0,)
    nd = int(it[0])
    sizes = [int(s) for s in it[1 : 1 + nd]]
    md = lib.PAT_MAXDIM
    ostr = [int(s) for s in it[1 + md : 1 + md + nd]]
    xm = x.reshape(sizes) if math.prod(sizes) == x.size else x.reshape(-1)
    axes = tuple(d for d in range(xm.ndim) if d < len(ostr) and ostr[d] == 0)
    return xm, axes


def _max_kink(r: Any, sources: Any, want_pattern: bool) -> tuple[int, int, np.ndarray | None]:
    """max: outputs attained by more than one element; the pattern is which elements
    attain the max."""
    cnt = r.aux
    at = int(np.count_nonzero(cnt > 1)) if cnt is not None else 0
    size = int(cnt.size) if cnt is not None else math.prod(r.shape)
    pattern = None
    if want_pattern:
        xm, axes = _max_groups(sources[0]._data, r.it)
        top = xm.max(axis=axes, keepdims=True) if xm.size else xm
        pattern = (xm == top).astype(np.int8)
    return at, size, pattern


def _distinct(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.1 apart in random order: no ties for max."""
    n = int(np.prod(shape))
    return (r.permutation(n) * 0.1 - 0.05 * n).reshape(shape)


def _size_in(c: Cost) -> int:
    return math.prod(c.ins[0])


def _example(call: Any, ref: Any, make: Any) -> tuple[Example, ...]:
    return (Example(call, ref, make),)


register(OpSpec("sum", sum, "reduce", flops=_size_in, examples=_example(
    lambda x: sum(x, axis=1), lambda x: x.sum(axis=1), lambda r: [r.standard_normal((3, 4))])))
register(OpSpec("mean", mean, "reduce", flops=_size_in, examples=_example(
    lambda x: mean(x, axis=0, keepdims=True), lambda x: x.mean(axis=0, keepdims=True),
    lambda r: [r.standard_normal((3, 4))])))
register(OpSpec("max", max, "reduce", flops=_size_in, aux="tie counts", kink=_max_kink,
                examples=_example(lambda x: max(x, axis=1), lambda x: x.max(axis=1),
                                  lambda r: [_distinct(r, (3, 4))])))

__all__ = ["sum", "mean", "max"]
