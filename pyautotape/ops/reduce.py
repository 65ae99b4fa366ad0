"""Reductions: ``sum``, ``mean``, ``max`` and ``min`` over axes, as NumPy (``axis``,
``keepdims``) and PyTorch (``dim``, ``keepdim``: aliases). ``max``/``min`` given ``dim``
(by keyword or position, as ``x.max(1)``) return ``(values, indices)`` as torch does.

>>> import pyautotape as pat
>>> pat.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=1).numpy()
array([3., 7.], dtype=float32)
"""

from __future__ import annotations

import builtins
import math
from typing import Any, NamedTuple

import numpy as np

from .._exact import EXACT_DTYPES, exact_guard
from .._ffi import lib
from ..errors import ShapeError
from ..record import record
from ..tensor import Tensor, _wrap, no_grad
from .core import OPCODE, cstrides, pack_iter, prod, run, tensor_arg
from .core import axes as reduce_axes
from .elementwise import maximum, minimum, neg
from .nn import pick
from .shape import reshape, transpose
from .spec import Cost, Example, OpSpec, register

max_ = builtins.max


def pick_axis(name: str, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> tuple[Any, bool]:
    """``dim``/``keepdim`` (PyTorch) as aliases of ``axis``/``keepdims`` (NumPy)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; pass one")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def zero_d_axis(name: str, ndim: int, axis: Any) -> Any:
    """A 0-d tensor reduced over dim 0 or -1 (torch allows it): reduce over no axes."""
    if ndim == 0 and axis is not None:
        items = axis if isinstance(axis, (tuple, list)) else (axis,)
        if all(not isinstance(a, bool) and isinstance(a, (int, np.integer)) and a in (0, -1)
               for a in items):
            return ()
    return axis


def exact_reduce(name: str, t: Tensor, axis: Any, keepdims: bool) -> Tensor:
    """An integer/bool tensor's sum/max/min/prod in NumPy, as torch: sum and prod in
    int64, max and min in its own dtype (no gradient)."""
    ax = reduce_axes(name, t.ndim, zero_d_axis(name, t.ndim, axis))
    a = t._data
    if name in ("max", "min") and a.size and any(a.shape[d] == 0 for d in ax):
        raise ShapeError(f"{name}: reduction over a zero-size axis of shape {t.shape} has no "
                         "identity; reduce over non-empty axes")
    if name in ("sum", "prod"):
        y = getattr(np, name)(a, axis=ax, keepdims=keepdims, dtype=np.int64)
    else:
        y = getattr(np, name)(a, axis=ax, keepdims=keepdims)
    y = np.asarray(y, order="C")
    exact_guard((a,), y)
    return _wrap(y)


def _reduce(name: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES and name != "mean":
        return exact_reduce(name, x, axis, keepdims)
    t = tensor_arg(x, name)
    axis = zero_d_axis(name, t.ndim, axis)
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


def sum(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, *,
        dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis`` (None: all), as ``np.sum``; float32 rows accumulate in double.
    ``dim``/``keepdim`` are PyTorch's names for ``axis``/``keepdims``.

    >>> import pyautotape as pat
    >>> pat.sum(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([4., 6.], dtype=float32)
    >>> pat.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=1, keepdim=True).shape
    (2, 1)
    """
    axis, keepdims = pick_axis("sum", axis, keepdims, dim, keepdim)
    return _reduce("sum", x, axis, keepdims)


def mean(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, *,
         dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None) -> Tensor:
    """Mean over ``axis`` (or ``dim``); the mean of zero elements is NaN (as NumPy).

    >>> import pyautotape as pat
    >>> pat.mean(pat.tensor([1.0, 2.0, 6.0])).item()
    3.0
    """
    axis, keepdims = pick_axis("mean", axis, keepdims, dim, keepdim)
    return _reduce("mean", x, axis, keepdims)


def amax(x: Any, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
         axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
    """Max over ``dim`` (int, tuple or None: all), no indices; NaN wins (as NumPy); tied
    maxima share the gradient evenly (as ``torch.amax``).

    >>> import pyautotape as pat
    >>> pat.amax(pat.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1).numpy()
    array([5., 7.], dtype=float32)
    """
    dim, keepdim = pick_axis("amax", dim, keepdim, axis, keepdims)
    return _reduce("max", x, dim, keepdim)


def amin(x: Any, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
         axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
    """Min over ``dim``, no indices: ``-amax(-x)``, so tied minima share the gradient
    evenly (as ``torch.amin``).

    >>> import pyautotape as pat
    >>> pat.amin(pat.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1).numpy()
    array([1., 2.], dtype=float32)
    """
    dim, keepdim = pick_axis("amin", dim, keepdim, axis, keepdims)
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:
        return exact_reduce("min", x, dim, keepdim)
    return neg(_reduce("max", neg(tensor_arg(x, "amin")), dim, keepdim))


class ValuesIndices(NamedTuple):
    """What ``max``/``min`` over one ``dim`` return, as ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _arg_mask(name: str, t: Tensor, dim: int, keepdim: bool) -> np.ndarray:
    """The first index along ``dim`` where t attains its max (NaN first), found from
    comparisons (pat.compile guards their pattern, so a replay with the same winners is
    sound)."""
    m = _reduce("max", t, dim, True)
    with no_grad():
        hit = (t == m) | (t != t)
    idx = np.argmax(hit._data, axis=dim, keepdims=keepdim).astype(np.int64)
    exact_guard((hit._data,), idx)
    return idx


def _select(name: str, x: Any, dim: Any, keepdim: bool, sign: float) -> ValuesIndices:
    exact = isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES
    t = x if exact else tensor_arg(x, name)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{name}: dim must be one int for (values, indices); for several "
                        f"axes use pat.a{name}(x, dim={tuple(dim)!r})")
    d = reduce_axes(name, max_(t.ndim, 1), dim)[0]
    if (t.shape[d] if t.ndim else 1) == 0:
        raise ShapeError(f"{name}: dim {dim} of shape {t.shape} is empty; it has no "
                         "value there")
    if exact:  # integer/bool tensors: NumPy, no gradient
        a = t._data if t.ndim else t._data.reshape(1)
        i = (np.argmax if sign > 0 else np.argmin)(a, axis=d, keepdims=True)
        v = np.take_along_axis(a, i, axis=d)
        if not keepdim or not t.ndim:
            v, i = np.squeeze(v, axis=d), np.squeeze(i, axis=d)
        if not t.ndim:
            v, i = v.reshape(()), i.reshape(())
        out = np.asarray(v, order="C"), np.asarray(i, np.int64, order="C")
        exact_guard((t._data,), out[0])
        exact_guard((t._data,), out[1])
        return ValuesIndices(_wrap(out[0]), _wrap(out[1]))
    src = t if t.ndim else reshape(t, (1,))
    s = src if sign > 0 else neg(src)
    idx = _arg_mask(name, s, d, True)
    perm = [a for a in range(src.ndim) if a != d] + [d]
    k = src.shape[d]
    rows = reshape(transpose(s, perm), (-1, k))
    vals = pick(rows, idx.reshape(-1))
    kept = tuple(1 if a == d else n for a, n in enumerate(src.shape))
    vals = reshape(vals if sign > 0 else neg(vals), kept)
    if not keepdim:
        kept_out = tuple(n for a, n in enumerate(src.shape) if a != d) if t.ndim else ()
        vals, idx = reshape(vals, kept_out), idx.reshape(kept_out)
    exact_guard((), idx)
    return ValuesIndices(vals, _wrap(np.asarray(idx, order="C")))


def max(x: Any, dim: Any = None, keepdim: bool = False, *,
        axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Any:
    """Max, as PyTorch and NumPy.

    * ``max(x)``, ``max(x, axis=...)``: the max over all (or those) axes, a Tensor; NaN wins
      (as NumPy); tied maxima share the gradient evenly (as ``torch.amax``).
    * ``max(x, dim)`` (``x.max(1)``, ``x.max(dim=1)``): ``(values, indices)``, a named
      tuple as ``torch.max``; indices an int64 Tensor (the first maximum); the gradient
      goes to the selected element.
    * ``max(x, other)`` with a Tensor ``other``: ``maximum(x, other)``.

    >>> import pyautotape as pat
    >>> x = pat.tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> pat.max(x, axis=1).numpy()
    array([5., 7.], dtype=float32)
    >>> values, indices = x.max(dim=1)
    >>> values.numpy(), indices.numpy()
    (array([5., 7.], dtype=float32), array([1, 0]))
    """
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        axis, keepdims = pick_axis("max", axis, keepdims, None, None)
        return _reduce("max", x, axis, keepdims if keepdims is not None else keepdim)
    if axis is not None:
        raise TypeError(f"max: got both dim={dim!r} and axis={axis!r}; pass one")
    return _select("max", x, dim, bool(keepdim if keepdims is None else keepdims), 1.0)


def min(x: Any, dim: Any = None, keepdim: bool = False, *,
        axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Any:
    """Min, as :func:`max` mirrored: a Tensor over ``axis`` (tied minima share the
    gradient), ``(values, indices)`` over one ``dim``, ``minimum`` with a Tensor.

    >>> import pyautotape as pat
    >>> x = pat.tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> pat.min(x).item()
    1.0
    >>> pat.min(x, 0).indices.numpy()
    array([0, 1])
    """
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        kd = keepdims if keepdims is not None else keepdim
        if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:
            return exact_reduce("min", x, axis, bool(kd))
        return neg(_reduce("max", neg(tensor_arg(x, "min")), axis, bool(kd)))
    if axis is not None:
        raise TypeError(f"min: got both dim={dim!r} and axis={axis!r}; pass one")
    return _select("min", x, dim, bool(keepdim if keepdims is None else keepdims), -1.0)


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

__all__ = ["sum", "mean", "max", "min", "amax", "amin"]
