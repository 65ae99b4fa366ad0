"""Indexing with PyTorch's semantics: ``x[idx]`` and ``x[idx] = v`` for integer arrays and
boolean masks mixed with ints, slices, None and Ellipsis, and ``index_select``,
``gather``, ``scatter_add``, ``take_along_dim``, ``masked_fill``, ``nonzero`` and the
one-argument ``where(cond)``.

Every index is turned here into int64 element offsets (C order) into the indexed tensor,
validated before C is called (an IndexError names the op, the index and the shape;
negative indices count from the end). Two ops of ``csrc/index.c`` move the data:
``gather`` (``y[i] = x[off[i]]``, whose gradient is a scatter-add, so repeated indices
accumulate) and ``scatter_add`` (its transpose). Integers select first, as in PyTorch:
``x[0, :, [1, 2]]`` has shape ``(x.shape[1], 2)`` (NumPy's would be ``(2, x.shape[1])``).

>>> import numpy as np, pyautotape as pat
>>> x = pat.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = x[[0, 2, 0]]
>>> y.sum().backward()
>>> y.numpy(), x.grad.numpy()
(array([1., 3., 1.], dtype=float32), array([2., 0., 1.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ffi import lib
from .._state import state
from ..errors import DTypeError, ShapeError
from ..record import record
from ..tensor import EXACT_DTYPES, Tensor, _Guard, _wrap, _writable, exact_guard
from .core import operands, run, tensor_arg
from .elementwise import add
from .elementwise import where as _where3
from .inplace import _rebind, _refuse_leaf, _write
from .selection import guard_index as _guard
from .selection import nonzero
from .shape import _basic_index
from .shape import index as _index_op
from .spec import Example, OpSpec, register

__all__ = ["index_select", "gather", "scatter_add", "take_along_dim", "masked_fill",
           "nonzero"]  # and INPLACE: masked_fill_, scatter_add_ (Tensor methods)

_NOT_AN_INDEX = ("only integers, slices (:), None, Ellipsis (...), integer arrays or tensors "
                 "and boolean masks are valid indices")


# -- turning an index into offsets -------------------------------------------------------


def _as_index(obj: Any, name: str) -> Any:
    """An ndarray (int64 or bool) for an array-like index, an int for a 0-d integer one,
    else ``obj`` unchanged (an int, a slice, None, Ellipsis)."""
    if obj is None or obj is Ellipsis or isinstance(obj, slice):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        raise TypeError(f"{name}: a bool scalar is not supported as an index; use None to "
                        "add an axis, or a boolean mask tensor")
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    rec = state.recorder
    src = rec.host(obj) if rec is not None else obj
    if isinstance(src, Tensor):
        arr = src._data
    elif isinstance(src, np.ndarray):
        arr = src
    elif isinstance(src, (list, tuple)):
        arr = np.asarray([i._data if isinstance(i, Tensor) else i for i in src])
        if arr.size == 0:
            arr = arr.astype(np.int64)
    else:
        raise TypeError(f"{name}: {type(obj).__name__} index {obj!r:.60}: {_NOT_AN_INDEX}")
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{name}: index arrays must be integers or bools, got dtype "
                        f"{arr.dtype} ({_NOT_AN_INDEX}); cast first, e.g. idx.long()")
    _guard(src)
    if arr.dtype.kind == "b":
        if arr.ndim == 0:
            raise TypeError(f"{name}: a 0-d bool index is not supported; use None to add an "
                            "axis, or a boolean mask with the indexed dims' shape")
        return arr
    if arr.ndim == 0:
        return int(arr)
    return arr.astype(np.int64, copy=False)


def _check_range(arr: np.ndarray, size: int, dim: int, name: str, shape: Any) -> np.ndarray:
    """``arr`` with negative indices counted from the end; IndexError outside [-size, size)."""
    bad = (arr < -size) | (arr >= size)
    if bad.any():
        v = int(arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise IndexError(f"{name}: index {v} is out of bounds for dimension {dim} with size "
                         f"{size} (tensor of shape {tuple(shape)})")
    return np.where(arr < 0, arr + size, arr)


def _coords(shape: tuple[int, ...], d: int) -> np.ndarray:
    """The index along axis ``d`` of every element of ``shape`` (a broadcast view)."""
    ax = [1] * len(shape)
    ax[d] = shape[d]
    return np.broadcast_to(np.arange(shape[d], dtype=np.int64).reshape(ax), shape)


def _flat(shape: tuple[int, ...], coords: list[np.ndarray]) -> np.ndarray:
    """C-order element offsets of the elements at ``coords`` (one array per axis)."""
    out: Any = np.int64(0)
    stride = 1
    for d in range(len(shape) - 1, -1, -1):
        out = out + coords[d] * stride
        stride *= shape[d]
    return np.asarray(out, dtype=np.int64)


def offsets(shape: tuple[int, ...], idx: Any, name: str = "index") -> np.ndarray | None:
    """The C-order element offsets of ``x[idx]`` for x of ``shape``, shaped as the result
    (PyTorch's semantics); None when ``idx`` is basic (ints, slices, None, Ellipsis only).

    >>> offsets((2, 3), (slice(None), [2, 0])).tolist()
    [[2, 0], [5, 3]]
    >>> offsets((2, 3), np.array([[True, False, True], [False, True, False]])).tolist()
    [0, 2, 4]
    """
    items = [_as_index(i, name) for i in (idx if isinstance(idx, tuple) else (idx,))]
    if not any(isinstance(i, np.ndarray) for i in items):
        return None
    used = sum(i.ndim if isinstance(i, np.ndarray) and i.dtype.kind == "b" else 1
               for i in items if i is not None and i is not Ellipsis)
    ell = [p for p, i in enumerate(items) if i is Ellipsis]
    if len(ell) > 1:
        raise IndexError(f"{name}: an index can only have a single ellipsis (...)")
    if used > len(shape):
        raise IndexError(f"{name}: too many indices for a tensor of shape {shape}: {used} "
                         f"dimensions indexed")
    if ell:
        p = ell[0]
        items = items[:p] + [slice(None)] * (len(shape) - used) + items[p + 1:]
    # the basic pass: ints select (PyTorch's order), slices and None apply, arrays wait
    basic: list[Any] = []
    later: list[tuple[int, np.ndarray]] = []  # (axis of the basic view, index array)
    axis = view_axis = 0
    for i in items:
        if i is None:
            basic.append(None)
            view_axis += 1
        elif isinstance(i, int):
            n = shape[axis]
            if not -n <= i < n:
                raise IndexError(f"{name}: index {i} is out of bounds for dimension {axis} "
                                 f"with size {n} (tensor of shape {shape})")
            basic.append(i)
            axis += 1
        elif isinstance(i, slice):
            basic.append(i)
            axis += 1
            view_axis += 1
        else:
            k = i.ndim if i.dtype.kind == "b" else 1
            if i.dtype.kind == "b" and i.shape != shape[axis:axis + k]:
                raise IndexError(f"{name}: the shape of the mask {list(i.shape)} at index "
                                 f"{axis} does not match the shape of the indexed tensor "
                                 f"{list(shape[axis:axis + k])} (tensor of shape {shape})")
            if i.dtype.kind != "b":
                i = _check_range(i, shape[axis], axis, name, shape)
            basic.extend([slice(None)] * k)
            later.append((view_axis, i))
            axis += k
            view_axis += k
    try:
        views = [_coords(shape, d)[tuple(basic)] for d in range(len(shape))]
    except ValueError as exc:  # a zero slice step
        raise ValueError(f"{name}: {exc} (tensor of shape {shape}); use a nonzero step"
                         ) from None
    vshape = views[0].shape if views else np.empty(shape)[tuple(basic)].shape
    probe = np.broadcast_to(np.bool_(False), vshape)  # shapes only: nothing allocated
    adv: list[Any] = [slice(None)] * len(vshape)
    for pos, i in sorted(later, key=lambda e: e[0], reverse=True):
        k = i.ndim if i.dtype.kind == "b" else 1
        adv[pos:pos + k] = list(np.nonzero(i)) if i.dtype.kind == "b" else [i]
    try:
        picked = [v[tuple(adv)] for v in views]
        out_shape = probe[tuple(adv)].shape
    except IndexError as exc:  # index arrays that do not broadcast together
        raise IndexError(f"{name}: {exc} (tensor of shape {shape})") from None
    return np.broadcast_to(_flat(shape, picked), out_shape) if shape else \
        np.zeros(out_shape, np.int64)


def _take(t: Tensor, off: np.ndarray) -> Tensor:
    """The gather op: ``y = x.flat[off]`` in off's shape (recorded; off a private copy)."""
    flat = np.array(off, dtype=np.int64, order="C", copy=True).reshape(-1)
    y = np.empty(np.shape(off), t.dtype)
    op = lib.PAT_OP_GATHER
    n, k = flat.size, t._data.size
    run(op, "gather", t.dtype, y, s0=t._data, s1=flat, n=n, k=k)
    return record(op, y, (t, flat), n=n, k=k)


def _scatter(src: Tensor, off: np.ndarray, shape: tuple[int, ...]) -> Tensor:
    """The scatter_add op: zeros of ``shape`` with ``src.flat[i]`` added at ``off.flat[i]``."""
    flat = np.array(off, dtype=np.int64, order="C", copy=True).reshape(-1)
    if src._data.size != flat.size:  # the kernel reads one src element per offset
        raise ShapeError(f"scatter_add: src of shape {src.shape} has {src._data.size} "
                         f"elements for {flat.size} indices; give src the index's shape")
    y = np.empty(shape, src.dtype)
    op = lib.PAT_OP_SCATTER_ADD
    n, k = flat.size, y.size
    run(op, "scatter_add", src.dtype, y, s0=src._data, s1=flat, n=n, k=k)
    return record(op, y, (src, flat), n=n, k=k)


# -- x[idx] and x[idx] = v ------------------------------------------------------------------


def getitem(t: Tensor, idx: Any) -> Tensor:
    """``t[idx]`` (Tensor.__getitem__): basic indexing is a strided copy (op ``index``),
    advanced indexing a gather; integer and bool tensors are indexed without a gradient."""
    exact = t._data.dtype in EXACT_DTYPES
    if _basic_index(idx):
        if exact:
            return _exact_out(t, t._data[idx])
        return _index_op(t, idx)
    off = offsets(t.shape, idx, "index")
    if off is None:  # ints as 0-d arrays or tensors: basic after all
        items = idx if isinstance(idx, tuple) else (idx,)
        return getitem(t, tuple(_as_index(i, "index") for i in items))
    if exact:
        return _exact_out(t, np.take(t._data, off))
    return _take(tensor_arg(t, "index"), off)


def _exact_out(src: Tensor, arr: Any) -> Tensor:
    arr = np.array(arr, order="C", copy=True)
    exact_guard((src._data,), arr)
    return _wrap(arr)


def setitem(t: Tensor, idx: Any, value: Any) -> None:
    """``t[idx] = value`` (Tensor.__setitem__), PyTorch's rules: written in place when
    nothing is recorded (grad mode off, or neither t nor value requires grad), bumping
    t's version so a tape that saved the old value refuses backward; a leaf that requires
    grad is refused outside ``pat.no_grad()``; otherwise recorded out of place (t is
    rebound to ``where(written, 0, t) + scatter(value)``). With repeated indices the last
    write wins."""
    off = offsets(t.shape, idx, "setitem")
    where: Any = off  # the written positions: offsets, or a basic index of t's buffer
    if off is None:  # basic: a view of the buffer is written
        where = idx if _basic_index(idx) else tuple(
            _as_index(i, "setitem") for i in (idx if isinstance(idx, tuple) else (idx,)))
        try:
            shape = np.shape(t._data[where])
        except (IndexError, ValueError, TypeError) as exc:
            raise IndexError(f"setitem: {exc} (tensor of shape {t.shape}, index "
                             f"{idx!r:.60})") from None
    else:
        shape = off.shape
    if state.grad_enabled and (t.requires_grad or (isinstance(value, Tensor)
                                                   and value.requires_grad)):
        if t.is_leaf and t.requires_grad:
            _refuse_leaf(t, "setitem")
        if t._data.dtype.kind != "f":
            raise DTypeError(f"setitem: cannot write a value that requires grad into a "
                             f"{t.dtype} tensor")
        if off is None:
            off = np.arange(t.size, dtype=np.int64).reshape(t.shape)[where]
        _record_write(t, np.asarray(off), value)
        return
    raw = value._data if isinstance(value, Tensor) else np.asarray(value)
    if raw.dtype.kind not in "fiub" or (t._data.dtype.kind in "iub" and raw.dtype.kind == "f"
                                        and not np.array_equal(raw, np.trunc(raw))):
        raise TypeError(f"setitem: cannot write a {raw.dtype} value into a {t.dtype} tensor "
                        "(it would be truncated); convert it first")
    try:
        vb = np.broadcast_to(raw, shape)
    except ValueError:
        raise ShapeError(f"setitem: a value of shape {raw.shape} cannot be broadcast to the "
                         f"indexed shape {shape} of a tensor of shape {t.shape}") from None
    if t._guard is None:
        t._guard = _Guard(t._data)
    rec = state.recorder
    if rec is not None:  # pat.compile replays kernel calls; this write is not one of them
        rec.opaque("Tensor.__setitem__ wrote into a tensor's buffer")
    with _writable(t, "setitem") as buf:  # bumps the version: saved copies go stale
        if off is None:
            buf[where] = vb
        else:
            buf.reshape(-1)[off.reshape(-1)] = vb.reshape(-1)


def _record_write(t: Tensor, off: np.ndarray, v: Any) -> None:
    flat = off.reshape(-1)
    # the last write to each offset wins (as NumPy's assignment): keep those positions
    last = np.unique(flat[::-1], return_index=True)[1]
    pos = np.sort(flat.size - 1 - last)
    keep = np.ones(t.shape, np.bool_)
    keep.reshape(-1)[flat] = False
    vt = v if isinstance(v, Tensor) else np.asarray(v, t.dtype)
    vshape = np.shape(vt._data if isinstance(vt, Tensor) else vt)
    try:
        if np.broadcast_shapes(vshape, off.shape) != off.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"setitem: a value of shape {vshape} cannot be broadcast to the "
                         f"indexed shape {off.shape} of a tensor of shape {t.shape}") from None
    vb = add(vt, np.zeros(off.shape, t.dtype))  # broadcast (recorded)
    picked = _take(vb, pos) if pos.size != flat.size else vb
    y = add(_where3(keep, t, 0.0), _scatter(picked, flat[pos], t.shape))
    _rebind(t, y, "setitem")


# -- the functions --------------------------------------------------------------------------


def _dim(name: str, ndim: int, dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {dim!r:.40}")
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not lo <= dim <= hi:
        raise IndexError(f"{name}: dim {dim} is out of range for a {ndim}-d tensor "
                         f"(expected to be in range of [{lo}, {hi}])")
    return int(dim) % max(ndim, 1)


def _int_index(name: str, index: Any, argname: str = "index") -> np.ndarray:
    a = _as_index(index if not isinstance(index, (int, np.integer)) else np.asarray(index),
                  name)
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise DTypeError(f"{name}: {argname} must be an integer tensor or array, got dtype "
                         f"{a.dtype}; e.g. idx.long()")
    return a.astype(np.int64, copy=False)


def index_select(x: Any, dim: int, index: Any) -> Tensor:
    """The entries of ``x`` at positions ``index`` (1-D or 0-d integers) along ``dim``, as
    ``torch.index_select``; repeated indices repeat (and their gradients add up).

    >>> import pyautotape as pat
    >>> x = pat.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> pat.index_select(x, 1, [2, 0]).numpy()
    array([[3., 1.],
           [6., 4.]], dtype=float32)
    """
    t = tensor_arg(x, "index_select")
    d = _dim("index_select", t.ndim, dim)
    idx = _int_index("index_select", index)
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D or 0-d, got shape {idx.shape}")
    if t.ndim == 0:
        _check_range(idx.reshape(-1), 1, 0, "index_select", t.shape)
        return _take(t, np.zeros(idx.reshape(-1).shape if idx.ndim else (), np.int64))
    off = offsets(t.shape, (slice(None),) * d + (idx.reshape(-1),), "index_select")
    assert off is not None  # an index array was given
    return _take(t, off)


def _along(name: str, shape: tuple[int, ...], idx: np.ndarray, d: int,
           out_shape: tuple[int, ...]) -> np.ndarray:
    """Offsets of ``x[..., idx[...], ...]`` along ``d`` over ``out_shape`` (the other axes'
    positions: their own index, or 0 where x has size 1 and is broadcast, as in
    take_along_dim)."""
    idx = _check_range(np.broadcast_to(idx, out_shape), shape[d], d, name, shape)
    coords = [idx if e == d else (np.zeros(out_shape, np.int64)
                                  if shape[e] == 1 < out_shape[e] else _coords(out_shape, e))
              for e in range(len(shape))]
    return _flat(shape, coords)


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` (dim 0) or ``x[i][index[i][j]]`` (dim 1), as
    ``torch.gather``: ``index`` has x's number of dims and is no larger than x outside
    ``dim``; the result has index's shape.

    >>> import pyautotape as pat
    >>> x = pat.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> pat.gather(x, 1, [[0, 0], [1, 0]]).numpy()
    array([[1., 1.],
           [4., 3.]], dtype=float32)
    """
    t = tensor_arg(x, "gather")
    d = _dim("gather", t.ndim, dim)
    idx = _int_index("gather", index)
    nd = max(t.ndim, 1)
    if idx.ndim != t.ndim and not (t.ndim == 0 and idx.ndim <= 1):
        raise ShapeError(f"gather: index has {idx.ndim} dims but x has {t.ndim} (shapes "
                         f"{idx.shape} and {t.shape}); they must have the same number")
    shape = t.shape if t.ndim else (1,)
    ishape = idx.shape if idx.ndim else (1,) * nd
    if any(ishape[e] > shape[e] for e in range(nd) if e != d):
        raise ShapeError(f"gather: index of shape {idx.shape} is larger than x of shape "
                         f"{t.shape} outside dimension {d}")
    off = _along("gather", shape, idx.reshape(ishape), d, ishape)
    return _take(t, off.reshape(idx.shape))


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """``x`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (dim 0) or ``[i][index[i][j]]``
    (dim 1), as ``torch.scatter_add``; repeated indices accumulate. Differentiable in x
    and in src (src's gradient gathers the output's at the same positions).

    >>> import pyautotape as pat
    >>> pat.scatter_add(pat.zeros(3), 0, [0, 2, 0], pat.tensor([1.0, 2.0, 3.0])).numpy()
    array([4., 0., 2.], dtype=float32)
    """
    (t, s), _ = operands("scatter_add", x, src)
    d = _dim("scatter_add", t.ndim, dim)
    idx = _int_index("scatter_add", index)
    if not (idx.ndim == s.ndim == t.ndim):
        raise ShapeError(f"scatter_add: index, src and x must have the same number of dims, "
                         f"got shapes {idx.shape}, {s.shape} and {t.shape}")
    if any(idx.shape[e] > s.shape[e] for e in range(idx.ndim)) or any(
            idx.shape[e] > t.shape[e] for e in range(idx.ndim) if e != d):
        raise ShapeError(f"scatter_add: index of shape {idx.shape} must be no larger than "
                         f"src {s.shape} and than x {t.shape} outside dimension {d}")
    if t.ndim == 0:
        off = _check_range(idx, 1, 0, "scatter_add", t.shape) * 0
        return add(t, _scatter(s, off, ()))
    if s.shape != idx.shape:
        s = _index_op(s, tuple(slice(0, n) for n in idx.shape))
    off = _along("scatter_add", t.shape, idx, d, idx.shape)
    return add(t, _scatter(s, off, t.shape))


def take_along_dim(x: Any, indices: Any, dim: int | None = None) -> Tensor:
    """Values of ``x`` at ``indices`` along ``dim``, as ``torch.take_along_dim`` (x and
    indices broadcast outside ``dim``); ``dim=None`` indexes the flattened x.

    >>> import pyautotape as pat
    >>> x = pat.tensor([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> pat.take_along_dim(x, x.argmax(1, keepdim=True).numpy(), 1).numpy()
    array([[30.],
           [60.]], dtype=float32)
    """
    t = tensor_arg(x, "take_along_dim")
    idx = _int_index("take_along_dim", indices, "indices")
    if dim is None:
        return _take(t, _check_range(idx.reshape(-1), t.size, 0, "take_along_dim",
                                     (t.size,)))
    d = _dim("take_along_dim", t.ndim, dim)
    if idx.ndim != t.ndim:
        raise ShapeError(f"take_along_dim: indices have {idx.ndim} dims but x has {t.ndim} "
                         f"(shapes {idx.shape} and {t.shape})")
    if t.ndim == 0:
        return _take(t, _check_range(idx, 1, 0, "take_along_dim", t.shape) * 0)
    try:
        out = np.broadcast_shapes(t.shape[:d] + (1,) + t.shape[d + 1:],
                                  idx.shape[:d] + (1,) + idx.shape[d + 1:])
    except ValueError:
        raise ShapeError(f"take_along_dim: x {t.shape} and indices {idx.shape} do not "
                         f"broadcast outside dimension {d}") from None
    out = out[:d] + (idx.shape[d],) + out[d + 1:]
    return _take(t, _along("take_along_dim", t.shape, idx, d, out))


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """``x`` with ``value`` where ``mask`` (a bool tensor or array broadcasting to x) is
    True, as ``torch.masked_fill``; x's gradient is 0 there, and a ``value`` tensor that
    requires grad gets the sum of the filled positions' gradients.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, -2.0, 3.0])
    >>> pat.masked_fill(x, x < 0, 0.0).numpy()
    array([1., 0., 3.], dtype=float32)
    """
    t = tensor_arg(x, "masked_fill")
    rec = state.recorder
    m = rec.host(mask) if rec is not None else mask
    c = m._data if isinstance(m, Tensor) else np.asarray(m)
    if c.dtype != np.bool_:
        raise DTypeError(f"masked_fill: mask has dtype {c.dtype}; pass a bool tensor, e.g. "
                         "x < 0")
    try:
        if np.broadcast_shapes(c.shape, t.shape) != t.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"masked_fill: mask of shape {c.shape} does not broadcast to x's "
                         f"shape {t.shape}") from None
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                         f"{value.shape}")
    return _where3(mask, value, t)


def _inplace(name: str, fn: Any) -> Any:
    """The in-place method ``t.<name>(...)``: with nothing to record, the out-of-place
    result written into t's buffer (its version bumped); a leaf that requires grad is
    refused outside ``pat.no_grad()``; otherwise recorded out of place, t rebound to it."""
    def method(self: Tensor, *args: Any) -> Tensor:
        grads = any(isinstance(a, Tensor) and a.requires_grad for a in (self, *args))
        if state.grad_enabled and grads:
            if self.is_leaf and self.requires_grad:
                _refuse_leaf(self, name)
            return _rebind(self, fn(self, *args), name)
        if self._data.dtype.kind != "f":
            raise DTypeError(f"{name}: needs a float tensor, got {self.dtype}")
        return _write(self, name, fn(self, *args)._data)  # nothing records here

    method.__name__ = name
    method.__doc__ = f"In place: ``self = {fn.__name__}(self, ...)``; returns self."
    return method


INPLACE = {"masked_fill_": _inplace("masked_fill_", masked_fill),
           "scatter_add_": _inplace("scatter_add_", lambda t, d, i, s: scatter_add(t, d, i, s))}

# -- the specs: data movement costs no FLOPs ------------------------------------------------

_ROWS = np.array([2, 0, 2, 1])  # repeated: the gradient accumulates
_GATHER_IDX = np.array([[0, 2, 2], [1, 1, 0]])
_MASK = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])

register(OpSpec("gather", gather, "index", inputs=("x", "index"), flops=lambda c: 0, examples=(
    Example(lambda x: x[_ROWS], lambda x: x[_ROWS], lambda r: [r.standard_normal((3, 4))]),
    Example(lambda x: x[:, [3, 0, 3]][_MASK[:2, :3]], lambda x: x[:, [3, 0, 3]][_MASK[:2, :3]],
            lambda r: [r.standard_normal((2, 4))]),
    Example(lambda x: x[_MASK], lambda x: x[_MASK], lambda r: [r.standard_normal((3, 4))]),
    Example(lambda x: gather(x, 1, _GATHER_IDX),
            lambda x: np.take_along_axis(x, _GATHER_IDX, 1),
            lambda r: [r.standard_normal((2, 4))]),
    Example(lambda x: index_select(x, 0, _ROWS), lambda x: x[_ROWS],
            lambda r: [r.standard_normal((3, 2))]),
)))
# the op itself scatters src into zeros (scatter_add adds x to that; tests/test_indexing.py)
_SCATTER_OFF = _along("scatter_add", (3, 3), _GATHER_IDX[:, :3], 0, (2, 3))
register(OpSpec("scatter_add", scatter_add, "index", inputs=("src", "index"),
                flops=lambda c: 0, examples=(Example(
                    lambda s: _scatter(tensor_arg(s, "scatter_add"), _SCATTER_OFF, (3, 3)),
                    lambda s: _np_scatter_add(np.zeros((3, 3)), _GATHER_IDX[:, :3], s),
                    lambda r: [r.standard_normal((2, 3))]),)))


def _np_scatter_add(x: np.ndarray, idx: np.ndarray, src: np.ndarray) -> np.ndarray:
    """NumPy's scatter_add along dim 0 (the spec's reference)."""
    out = np.array(x, copy=True)
    cols = np.broadcast_to(np.arange(idx.shape[1]), idx.shape)
    np.add.at(out, (idx, cols), src[:idx.shape[0], :idx.shape[1]])
    return out
