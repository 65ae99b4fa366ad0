"""PyTorch's shape functions that read one tensor: ``view flatten unflatten squeeze
unsqueeze expand expand_as broadcast_to permute swapaxes swapdims t movedim repeat tile flip
narrow select diag`` (2-D to 1-D) and ``diagonal``.

Each is a reshape or one strided gather (ops.shape: a NumPy view of the input made
contiguous in C), so each is one recorded op of the table whose gradient is the copy back:
the gather's reverse rule adds every output element into the element it was read from, in
order, so an element read many times (``expand``, ``repeat``: stride 0) gets the sum of
their gradients. Integer and bool tensors are moved by NumPy and keep their dtype.

>>> import pyautotape as pat
>>> x = pat.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
>>> y = x.expand(2, 3).flip(1)
>>> y.sum().backward()
>>> y.shape, x.grad.numpy()
((2, 3), array([[2., 2., 2.]], dtype=float32))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..tensor import EXACT_DTYPES, Tensor, _wrap, exact_guard
from .core import tensor_arg
from .shape import _gather, reshape

__all__ = ["view", "flatten", "unflatten", "squeeze", "unsqueeze", "expand", "expand_as",
           "broadcast_to", "permute", "swapaxes", "swapdims", "t", "movedim", "repeat",
           "tile", "flip", "narrow", "select", "diagonal"]


# -- helpers shared with shapes_join ------------------------------------------------------


def src(x: Any, name: str) -> Tensor:
    """``x`` as a Tensor: a float one (tensor_arg), or an integer/bool Tensor as it is."""
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:
        return x
    return tensor_arg(x, name)


def is_exact(t: Tensor) -> bool:
    return t._data.dtype in EXACT_DTYPES


def exact_out(srcs: Sequence[Tensor], arr: np.ndarray) -> Tensor:
    """An integer/bool result computed by NumPy outside the tape (see exact_guard)."""
    arr = np.array(arr, order="C", copy=True)
    exact_guard([s._data for s in srcs], arr)
    return _wrap(arr)


def dim_arg(name: str, ndim: int, dim: Any, what: str = "dim", extra: int = 0) -> int:
    """One dim in ``[-(ndim + extra), ndim + extra)``, as a non-negative int."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {dim!r:.60}")
    n = max(ndim + extra, 1)  # a 0-d tensor takes dim 0 and -1, as torch
    if not -n <= dim < n:
        raise ShapeError(
            f"{name}: {what} {dim} is out of range for a {ndim}-d tensor (expected one in "
            f"[{-n}, {n - 1}])"
        )
    return int(dim) % n


def dims_arg(name: str, ndim: int, dims: Any, what: str = "dims") -> tuple[int, ...]:
    """A tuple of distinct dims (an int alone is one dim)."""
    items = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    out = tuple(dim_arg(name, ndim, d, what) for d in items)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: {what} {tuple(items)} repeat a dim")
    return out


def sizes_arg(name: str, sizes: tuple[Any, ...]) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))`` as a tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{name}: sizes must be ints, got {sizes!r:.60}")
    return tuple(int(s) for s in sizes)


def moved(name: str, t: Tensor, view: np.ndarray) -> Tensor:
    """A copy of ``view`` (a NumPy view of t's data): a gather on the tape, or NumPy's copy
    for an integer/bool tensor."""
    if is_exact(t):
        return exact_out([t], view)
    return _gather(name, t, view)


def reshaped(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    if is_exact(t):
        return exact_out([t], t._data.reshape(shape))
    return reshape(t, shape)


# -- reshapes -----------------------------------------------------------------------------


def view(x: Any, *shape: Any) -> Tensor:
    """``x`` in a new shape with the same elements, as ``torch.Tensor.view`` (one -1 is
    inferred). The result is a copy on the tape, not an alias: writing into it leaves x alone.

    >>> import pyautotape as pat
    >>> pat.view(pat.zeros(2, 3), -1).shape, pat.zeros(6).view(3, 2).shape
    ((6,), (3, 2))
    """
    t = src(x, "view")
    size = sizes_arg("view", shape)
    try:
        new = np.empty(t.shape, np.bool_).reshape(size).shape
    except ValueError as exc:
        raise ShapeError(f"view: cannot view {t.shape} as {size} ({exc})") from None
    return reshaped(t, new)


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one, as ``torch.flatten``; a 0-d
    tensor becomes shape (1,).

    >>> import pyautotape as pat
    >>> pat.flatten(pat.zeros(2, 3, 4)).shape, pat.zeros(2, 3, 4).flatten(1).shape
    ((24,), (2, 12))
    """
    t = src(x, "flatten")
    if t.ndim == 0:
        dim_arg("flatten", 0, start_dim, "start_dim")
        dim_arg("flatten", 0, end_dim, "end_dim")
        return reshaped(t, (1,))
    s = dim_arg("flatten", t.ndim, start_dim, "start_dim")
    e = dim_arg("flatten", t.ndim, end_dim, "end_dim")
    if s > e:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"{t.ndim}-d tensor; pass start_dim <= end_dim")
    shape = t.shape[:s] + (int(np.prod(t.shape[s:e + 1], dtype=np.int64)),) + t.shape[e + 1:]
    return reshaped(t, shape)


def unflatten(x: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1), as ``torch.unflatten``.

    >>> import pyautotape as pat
    >>> pat.unflatten(pat.zeros(2, 12), 1, (3, -1)).shape
    (2, 3, 4)
    """
    t = src(x, "unflatten")
    d = dim_arg("unflatten", t.ndim, dim)
    if not isinstance(sizes, (tuple, list)) or not sizes:
        raise TypeError(f"unflatten: sizes must be a non-empty tuple of ints, got {sizes!r:.60}")
    size = sizes_arg("unflatten", tuple(sizes))
    try:
        part = np.empty(t.shape[d], np.bool_).reshape(size).shape
    except ValueError:
        raise ShapeError(f"unflatten: sizes {size} do not multiply to {t.shape[d]}, the size "
                         f"of dim {dim} of {t.shape}") from None
    return reshaped(t, t.shape[:d] + part + t.shape[d + 1:])


def squeeze(x: Any, dim: int | Sequence[int] | None = None) -> Tensor:
    """Drop size-1 dims: all of them, or those of ``dim`` (an int or a tuple) that have
    size 1 (others are kept, as ``torch.squeeze``).

    >>> import pyautotape as pat
    >>> pat.squeeze(pat.zeros(1, 2, 1)).shape, pat.zeros(1, 2, 1).squeeze(0).shape
    ((2,), (2, 1))
    """
    t = src(x, "squeeze")
    ds = range(t.ndim) if dim is None else dims_arg("squeeze", t.ndim, dim, "dim")
    drop = {d for d in ds if t.ndim and t.shape[d] == 1}
    return reshaped(t, tuple(n for d, n in enumerate(t.shape) if d not in drop))


def unsqueeze(x: Any, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (in ``[-ndim-1, ndim]``), as ``torch.unsqueeze``.

    >>> import pyautotape as pat
    >>> pat.unsqueeze(pat.zeros(2, 3), -1).shape
    (2, 3, 1)
    """
    t = src(x, "unsqueeze")
    d = dim_arg("unsqueeze", t.ndim, dim, extra=1)
    return reshaped(t, t.shape[:d] + (1,) + t.shape[d:])


# -- strided gathers ----------------------------------------------------------------------


def expand(x: Any, *sizes: Any) -> Tensor:
    """``x`` broadcast to ``sizes``, as ``torch.Tensor.expand``: -1 keeps a dim, size-1 dims
    repeat, new dims go in front. The gradient sums over the repeats.

    >>> import pyautotape as pat
    >>> pat.expand(pat.zeros(3, 1), -1, 4).shape, pat.zeros(3).expand(2, 3).shape
    ((3, 4), (2, 3))
    """
    t = src(x, "expand")
    size = sizes_arg("expand", sizes)
    if len(size) < t.ndim:
        raise ShapeError(f"expand: {len(size)} sizes {size} for a {t.ndim}-d tensor of shape "
                         f"{t.shape}; give at least {t.ndim} (-1 keeps a dim)")
    lead = len(size) - t.ndim
    out = []
    for i, n in enumerate(size):
        old = t.shape[i - lead] if i >= lead else None
        if n == -1:
            if old is None:
                raise ShapeError(f"expand: -1 at position {i} of {size} is a new leading dim; "
                                 "give its size")
            n = old
        if n < 0 or (old is not None and old != 1 and old != n):
            raise ShapeError(
                f"expand: cannot expand {t.shape} to {size}: dim {i} has size {old}, which "
                "must be 1 (to repeat) or equal (-1 keeps it)" if old is not None else
                f"expand: size {n} at position {i} of {size} is negative"
            )
        out.append(n)
    return moved("index", t, np.broadcast_to(t._data, tuple(out)))


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """``x`` broadcast to ``shape``, as ``torch.broadcast_to`` (``expand`` with a tuple).

    >>> import pyautotape as pat
    >>> pat.broadcast_to(pat.tensor([1.0, 2.0]), (2, 2)).numpy()
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"broadcast_to: shape must be a tuple of ints, got {shape!r:.60}")
    return expand(x, tuple(shape))


def expand_as(x: Any, other: Any) -> Tensor:
    """``x`` broadcast to ``other``'s shape.

    >>> import pyautotape as pat
    >>> pat.expand_as(pat.zeros(1, 3), pat.zeros(4, 3)).shape
    (4, 3)
    """
    shape = getattr(other, "shape", None)
    if shape is None:
        raise TypeError(f"expand_as: other must be a Tensor or array, not {type(other).__name__}")
    return expand(x, tuple(shape))


def permute(x: Any, *dims: Any) -> Tensor:
    """Reorder the dims, as ``torch.permute``: ``permute(x, (2, 0, 1))`` or ``x.permute(2, 0, 1)``.

    >>> import pyautotape as pat
    >>> pat.permute(pat.zeros(2, 3, 4), (2, 0, 1)).shape
    (4, 2, 3)
    """
    t = src(x, "permute")
    order = dims_arg("permute", t.ndim, sizes_arg("permute", dims))
    if len(order) != t.ndim:
        raise ShapeError(f"permute: dims {dims} name {len(order)} dims of a {t.ndim}-d tensor "
                         f"of shape {t.shape}; give each of the {t.ndim} once")
    return moved("transpose", t, t._data.transpose(order))


def swapaxes(x: Any, axis0: int, axis1: int) -> Tensor:
    """Exchange two dims, as ``torch.swapaxes`` (also ``swapdims`` and
    ``transpose(x, dim0, dim1)``).

    >>> import pyautotape as pat
    >>> pat.swapaxes(pat.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    t = src(x, "swapaxes")
    a = dim_arg("swapaxes", t.ndim, axis0, "dim0")
    b = dim_arg("swapaxes", t.ndim, axis1, "dim1")
    if t.ndim == 0:
        return reshaped(t, ())
    return moved("transpose", t, np.swapaxes(t._data, a, b))


def swapdims(x: Any, dim0: int, dim1: int) -> Tensor:
    """Exchange two dims (``swapaxes``).

    >>> import pyautotape as pat
    >>> pat.zeros(2, 3).swapdims(0, 1).shape
    (3, 2)
    """
    return swapaxes(x, dim0, dim1)


def t(x: Any) -> Tensor:
    """The transpose of a tensor of at most 2 dims, as ``torch.t`` (0-d and 1-d: itself).

    >>> import pyautotape as pat
    >>> pat.t(pat.zeros(2, 3)).shape, pat.zeros(3).t().shape
    ((3, 2), (3,))
    """
    u = src(x, "t")
    if u.ndim > 2:
        raise ShapeError(f"t: needs a tensor of at most 2 dims, got shape {u.shape}; use "
                         "x.transpose(dim0, dim1) or x.permute(...)")
    if u.ndim < 2:
        return reshaped(u, u.shape)
    return moved("transpose", u, u._data.T)


def movedim(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (ints or tuples of equal length),
    the others keeping their order, as ``torch.movedim``.

    >>> import pyautotape as pat
    >>> pat.movedim(pat.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    u = src(x, "movedim")
    s = dims_arg("movedim", u.ndim, source, "source")
    d = dims_arg("movedim", u.ndim, destination, "destination")
    if len(s) != len(d):
        raise ShapeError(f"movedim: source {source} and destination {destination} have "
                         "different lengths")
    if u.ndim == 0:
        return reshaped(u, ())
    return moved("transpose", u, np.moveaxis(u._data, s, d))


def repeat(x: Any, *sizes: Any) -> Tensor:
    """Tile ``x`` ``sizes[i]`` times along dim i, as ``torch.Tensor.repeat`` (NumPy's
    ``tile``): more sizes than dims add leading dims. The gradient sums over the copies.

    >>> import pyautotape as pat
    >>> pat.tensor([1.0, 2.0]).repeat(2, 2).numpy()
    array([[1., 2., 1., 2.],
           [1., 2., 1., 2.]], dtype=float32)
    """
    u = src(x, "repeat")
    reps = sizes_arg("repeat", sizes)
    if len(reps) < u.ndim:
        raise ShapeError(f"repeat: {len(reps)} repeats {reps} for a {u.ndim}-d tensor of shape "
                         f"{u.shape}; give at least {u.ndim} (1 keeps a dim)")
    if any(r < 0 for r in reps):
        raise ShapeError(f"repeat: repeats {reps} must be >= 0")
    return _tile(u, reps)


def _tile(u: Tensor, reps: tuple[int, ...]) -> Tensor:
    a = u._data.reshape((1,) * (len(reps) - u.ndim) + u.shape)
    shape: list[int] = []
    strides: list[int] = []
    dims: list[int] = list(map(int, a.shape))
    for r, size, st in zip(reps, dims, a.strides, strict=True):
        shape += [r, size]
        strides += [0, int(st)]
    view = np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    out = tuple(r * d for r, d in zip(reps, dims, strict=True))
    return reshaped(moved("index", u, view), out)


def tile(x: Any, dims: Sequence[int]) -> Tensor:
    """Repeat ``x`` ``dims[i]`` times along dim i, as ``torch.tile``: fewer dims than ``x``
    has are padded with leading 1s.

    >>> import pyautotape as pat
    >>> pat.tile(pat.zeros(2, 3), (2,)).shape
    (2, 6)
    """
    u = src(x, "tile")
    reps = sizes_arg("tile", (dims,) if isinstance(dims, (tuple, list)) else (dims,))
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: dims {reps} must be >= 0")
    return _tile(u, (1,) * (u.ndim - len(reps)) + reps)


def flip(x: Any, dims: int | Sequence[int]) -> Tensor:
    """Reverse the order of the elements along ``dims``, as ``torch.flip``.

    >>> import pyautotape as pat
    >>> pat.flip(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), (0, 1)).numpy()
    array([[4., 3.],
           [2., 1.]], dtype=float32)
    """
    u = src(x, "flip")
    ds = dims_arg("flip", u.ndim, dims)
    if u.ndim == 0:
        return reshaped(u, ())
    return moved("index", u, u._data[tuple(slice(None, None, -1) if d in ds else slice(None)
                                           for d in range(u.ndim))])


def narrow(x: Any, dim: int, start: int, length: int) -> Tensor:
    """Elements ``start .. start + length - 1`` along ``dim``, as ``torch.narrow`` (a
    negative start counts from the end).

    >>> import pyautotape as pat
    >>> pat.narrow(pat.tensor([1.0, 2.0, 3.0, 4.0]), 0, 1, 2).numpy()
    array([2., 3.], dtype=float32)
    """
    u = src(x, "narrow")
    if u.ndim == 0:
        raise ShapeError("narrow: cannot narrow a 0-d tensor; reshape it to (1,) first")
    d = dim_arg("narrow", u.ndim, dim)
    for v, what in ((start, "start"), (length, "length")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"narrow: {what} must be an int, got {v!r:.60}")
    n = u.shape[d]
    s = int(start) + n if -n <= start < 0 else int(start)
    if not 0 <= s <= n or length < 0 or s + length > n:
        raise ShapeError(f"narrow: start {start} and length {length} leave dim {dim} of size "
                         f"{n} (shape {u.shape}); need 0 <= start + length <= {n}")
    sl = tuple(slice(s, s + int(length)) if i == d else slice(None) for i in range(u.ndim))
    return moved("index", u, u._data[sl])


def select(x: Any, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dim removed, as ``torch.select``.

    >>> import pyautotape as pat
    >>> pat.select(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, -1).numpy()
    array([2., 4.], dtype=float32)
    """
    u = src(x, "select")
    if u.ndim == 0:
        raise ShapeError("select: cannot select from a 0-d tensor")
    d = dim_arg("select", u.ndim, dim)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"select: index must be an int, got {index!r:.60}")
    n = u.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {n} "
                         f"(shape {u.shape})")
    idx = tuple(int(index) % n if i == d else slice(None) for i in range(u.ndim))
    return moved("index", u, u._data[idx + (Ellipsis,)])


def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal ``offset`` of the (dim1, dim2) planes, appended as the last dim, as
    ``torch.diagonal`` (offset > 0 above the main diagonal).

    >>> import pyautotape as pat
    >>> pat.diagonal(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), 1).numpy()
    array([2.], dtype=float32)
    """
    u = src(x, "diagonal")
    if u.ndim < 2:
        raise ShapeError(f"diagonal: needs at least 2 dims, got shape {u.shape}; for a 1-d "
                         "tensor pat.diag(v) builds the matrix")
    a = dim_arg("diagonal", u.ndim, dim1, "dim1")
    b = dim_arg("diagonal", u.ndim, dim2, "dim2")
    if a == b:
        raise ShapeError(f"diagonal: dim1 and dim2 are both {a}; pass two different dims")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise TypeError(f"diagonal: offset must be an int, got {offset!r:.60}")
    return moved("index", u, np.diagonal(u._data, int(offset), a, b))
