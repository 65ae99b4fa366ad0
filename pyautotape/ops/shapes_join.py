"""PyTorch's shape functions that join, split or fill: ``cat stack hstack vstack split
chunk unbind roll pad tril triu diag``.

They compose recorded ops (concatenate, the strided gathers of shapes_view, reshape and
``where`` with a constant mask), so their gradients, tangents and replays are those ops'.
Integer and bool tensors are moved by NumPy and keep their dtype.

>>> import pyautotape as pat
>>> a, b = pat.split(pat.arange(5.0), [2, 3])
>>> pat.stack([a, a]).shape, pat.cat([a, b], dim=0).shape, b.shape
((2, 2), (5,), (3,))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .core import const
from .elementwise import where
from .shape import concatenate
from .shapes_view import (
    diagonal as _diagonal,
)
from .shapes_view import (
    dim_arg,
    exact_out,
    expand,
    flatten,
    flip,
    is_exact,
    movedim,
    narrow,
    reshaped,
    select,
    sizes_arg,
    src,
    unsqueeze,
)
from .spec import SPECS, Example

__all__ = ["cat", "stack", "hstack", "vstack", "split", "chunk", "unbind", "roll", "pad",
           "tril", "triu", "diag"]


def _seq(name: str, tensors: Any) -> list[Tensor]:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence):
        raise TypeError(f"{name}: pass a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError(f"{name}: needs at least one tensor")
    return [src(x, name) for x in tensors]


def _join(name: str, ts: list[Tensor], dim: int) -> Tensor:
    """concatenate, or NumPy's when the tensors are all integer/bool."""
    if all(is_exact(u) for u in ts):
        if len({u._data.dtype for u in ts}) > 1:
            raise TypeError(f"{name}: the tensors have dtypes "
                            f"{sorted({str(u._data.dtype) for u in ts})}; cast them to one")
        shapes = [u.shape for u in ts]
        try:
            return exact_out(ts, np.concatenate([u._data for u in ts], axis=dim))
        except ValueError:
            raise ShapeError(f"{name}: shapes {shapes} differ outside dim {dim}") from None
    return concatenate(ts, axis=dim)


def cat(tensors: Sequence[Any], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim, as ``torch.cat`` (``pat.concatenate``; ``axis=``
    is an alias of ``dim=``).

    >>> import pyautotape as pat
    >>> pat.cat([pat.zeros(2, 1), pat.ones(2, 2)], dim=1).shape
    (2, 3)
    """
    ts = _seq("cat", tensors)
    d = dim if axis is None else axis
    if ts[0].ndim == 0:
        raise ShapeError("cat: 0-d tensors cannot be joined; stack them, or reshape to (1,)")
    return _join("cat", ts, dim_arg("cat", ts[0].ndim, d))


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dim ``dim``, as ``torch.stack``.

    >>> import pyautotape as pat
    >>> pat.stack([pat.zeros(2), pat.ones(2)], dim=1).numpy()
    array([[0., 1.],
           [0., 1.]], dtype=float32)
    """
    ts = _seq("stack", tensors)
    d = dim_arg("stack", ts[0].ndim, dim, extra=1)
    if any(u.shape != ts[0].shape for u in ts):
        raise ShapeError(f"stack: the tensors have shapes {[u.shape for u in ts]}; stack needs "
                         "one shape (cat joins along an existing dim)")
    return _join("stack", [unsqueeze(u, d) for u in ts], d)


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-d tensors), as ``torch.hstack``.

    >>> import pyautotape as pat
    >>> pat.hstack([pat.zeros(2), pat.ones(3)]).shape
    (5,)
    """
    ts = [u if u.ndim else reshaped(u, (1,)) for u in _seq("hstack", tensors)]
    return _join("hstack", ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 0, 0-d and 1-d tensors first made rows, as ``torch.vstack``.

    >>> import pyautotape as pat
    >>> pat.vstack([pat.zeros(3), pat.ones(3)]).shape
    (2, 3)
    """
    ts = [u if u.ndim >= 2 else reshaped(u, (1, -1) if u.ndim else (1, 1))
          for u in _seq("vstack", tensors)]
    return _join("vstack", ts, 0)


def split(x: Any, split_size_or_sections: int | Sequence[int], dim: int = 0
          ) -> tuple[Tensor, ...]:
    """Cut ``x`` along ``dim`` into pieces of ``split_size`` elements (the last may be
    smaller), or of the sizes in a list, as ``torch.split``.

    >>> import pyautotape as pat
    >>> [p.shape for p in pat.split(pat.zeros(5, 2), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    u = src(x, "split")
    if u.ndim == 0:
        raise ShapeError("split: cannot split a 0-d tensor")
    d = dim_arg("split", u.ndim, dim)
    n = u.shape[d]
    s = split_size_or_sections
    if isinstance(s, (tuple, list)):
        sizes = list(sizes_arg("split", tuple(s)))
        if any(k < 0 for k in sizes) or sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} must be >= 0 and sum to {n}, the size of "
                             f"dim {dim} of {u.shape}")
    else:
        (k,) = sizes_arg("split", (s,))
        if k <= 0 and n > 0 or k < 0:
            raise ShapeError(f"split: split_size must be positive, got {k}")
        sizes = [min(k, n - i) for i in range(0, n, k)] if n else [0]
    out, at = [], 0
    for k in sizes:
        out.append(narrow(u, d, at, k))
        at += k
    return tuple(out)


def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``x`` into ``chunks`` pieces of ``ceil(size / chunks)`` along ``dim`` (fewer
    when they run out), as ``torch.chunk``.

    >>> import pyautotape as pat
    >>> [p.shape[0] for p in pat.chunk(pat.zeros(5), 3)]
    [2, 2, 1]
    """
    u = src(x, "chunk")
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ShapeError(f"chunk: chunks must be a positive int, got {chunks!r:.60}")
    if u.ndim == 0:
        raise ShapeError("chunk: cannot chunk a 0-d tensor")
    n = u.shape[dim_arg("chunk", u.ndim, dim)]
    return split(u, max(-(-n // int(chunks)), 1), dim)


def unbind(x: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, that dim removed, as ``torch.unbind``.

    >>> import pyautotape as pat
    >>> [p.shape for p in pat.unbind(pat.zeros(2, 3), 1)]
    [(2,), (2,), (2,)]
    """
    u = src(x, "unbind")
    if u.ndim == 0:
        raise ShapeError("unbind: cannot unbind a 0-d tensor")
    d = dim_arg("unbind", u.ndim, dim)
    return tuple(select(u, d, i) for i in range(u.shape[d]))


def roll(x: Any, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None
         ) -> Tensor:
    """Shift elements ``shifts`` places along ``dims``, wrapping around, as ``torch.roll``;
    without dims the flattened tensor is rolled and reshaped back.

    >>> import pyautotape as pat
    >>> pat.roll(pat.tensor([1.0, 2.0, 3.0]), 1).numpy()
    array([3., 1., 2.], dtype=float32)
    """
    u = src(x, "roll")
    sh = sizes_arg("roll", (shifts,) if not isinstance(shifts, (tuple, list)) else (shifts,))
    if dims is None:
        if len(sh) != 1:
            raise ShapeError(f"roll: {len(sh)} shifts need as many dims; pass dims=")
        return reshaped(roll(reshaped(u, (-1,)), sh[0], 0), u.shape)
    ds = (dims,) if not isinstance(dims, (tuple, list)) else tuple(dims)
    if len(ds) != len(sh):
        raise ShapeError(f"roll: shifts {shifts} and dims {dims} differ in length")
    for d in ds:
        dim_arg("roll", u.ndim, d)
    if is_exact(u):
        return exact_out([u], np.roll(u._data, sh, tuple(ds)))
    out = u
    for s, d in zip(sh, ds, strict=True):
        dd = dim_arg("roll", u.ndim, d)
        n = u.shape[dd]
        k = s % n if n else 0
        if k:
            out = concatenate([narrow(out, dd, n - k, k), narrow(out, dd, 0, n - k)], axis=dd)
    return out if out is not u else reshaped(u, u.shape)


def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None
        ) -> Tensor:
    """Pad with ``value`` (0 by default), as ``torch.nn.functional.pad``: ``pad`` is
    ``(left, right)`` for the last dim, then ``(top, bottom)`` for the one before, ...;
    a negative amount crops. Only ``mode="constant"``.

    >>> import pyautotape as pat
    >>> pat.pad(pat.ones(1, 2), (1, 0, 0, 1)).numpy()
    array([[0., 1., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    u = src(x, "pad")
    if mode != "constant":
        raise ValueError(f"pad: mode {mode!r} is not supported; only mode='constant'")
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r:.60}")
    amounts = sizes_arg("pad", tuple(pad))
    if len(amounts) % 2 or len(amounts) > 2 * u.ndim:
        raise ShapeError(f"pad: pad {tuple(pad)} must have an even length of at most "
                         f"{2 * u.ndim} (two per dim of shape {u.shape}, last dim first)")
    fill = 0.0 if value is None else value
    if isinstance(fill, bool) or not isinstance(fill, (int, float, np.integer, np.floating)):
        raise TypeError(f"pad: value must be a number, got {value!r:.60}")
    out = u
    for j in range(len(amounts) // 2):
        d, lo, hi = u.ndim - 1 - j, amounts[2 * j], amounts[2 * j + 1]
        n = out.shape[d]
        if n + min(lo, 0) + min(hi, 0) < 0:
            raise ShapeError(f"pad: pad {tuple(pad)} crops dim {d} of size {n} below zero")
        if lo < 0 or hi < 0:
            out = narrow(out, d, -min(lo, 0), n + min(lo, 0) + min(hi, 0))
        parts = []
        for k in (max(lo, 0), -1, max(hi, 0)):
            if k == -1:
                parts.append(out)
            elif k:
                shape = out.shape[:d] + (k,) + out.shape[d + 1:]
                if is_exact(out):
                    parts.append(exact_out([out], np.full(shape, fill, out._data.dtype)))
                else:
                    parts.append(const(np.full(shape, fill, out.dtype), out.dtype, "pad", "value"))
        if len(parts) > 1:
            out = _join("pad", parts, d)
    return out if out is not u else reshaped(u, u.shape)


def _tri(name: str, x: Any, diagonal: int, upper: bool) -> Tensor:
    u = src(x, name)
    if u.ndim < 2:
        raise ShapeError(f"{name}: needs at least 2 dims, got shape {u.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{name}: diagonal must be an int, got {diagonal!r:.60}")
    m, n = u.shape[-2:]
    keep = np.tri(m, n, int(diagonal) - 1, dtype=np.bool_)
    keep = ~keep if upper else np.tri(m, n, int(diagonal), dtype=np.bool_)
    if is_exact(u):
        return exact_out([u], np.where(keep, u._data, np.zeros((), u._data.dtype)))
    return where(keep, u, 0.0)


def tril(x: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below diagonal ``diagonal``) of the last two dims, zero
    elsewhere, as ``torch.tril`` (a NaN above the diagonal becomes 0).

    >>> import pyautotape as pat
    >>> pat.tril(pat.ones(2, 2)).numpy()
    array([[1., 0.],
           [1., 1.]], dtype=float32)
    """
    return _tri("tril", x, diagonal, upper=False)


def triu(x: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above diagonal ``diagonal``) of the last two dims, zero
    elsewhere, as ``torch.triu``.

    >>> import pyautotape as pat
    >>> pat.triu(pat.ones(2, 2), 1).numpy()
    array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    return _tri("triu", x, diagonal, upper=True)


def diag(x: Any, diagonal: int = 0) -> Tensor:
    """A 1-d ``x`` on diagonal ``diagonal`` of a square matrix, or diagonal ``diagonal``
    of a 2-d ``x`` as a 1-d tensor, as ``torch.diag``.

    >>> import pyautotape as pat
    >>> pat.diag(pat.tensor([1.0, 2.0])).numpy()
    array([[1., 0.],
           [0., 2.]], dtype=float32)
    >>> pat.diag(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), -1).numpy()
    array([3.], dtype=float32)
    """
    u = src(x, "diag")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"diag: diagonal must be an int, got {diagonal!r:.60}")
    k = int(diagonal)
    if u.ndim == 2:
        return _diagonal(u, k)
    if u.ndim != 1:
        raise ShapeError(f"diag: needs a 1-d or 2-d tensor, got shape {u.shape} (for the "
                         "diagonals of a batch use pat.diagonal(x, 0, -2, -1))")
    if is_exact(u):
        return exact_out([u], np.diag(u._data, k))
    n = u.shape[0]
    if n == 0:
        return pad(reshaped(u, (0, 0)), (abs(k), 0, abs(k), 0))
    # [v | 0 (n, n)] read row-major n*n elements at a time puts v[i] at (i, i)
    wide = concatenate([reshaped(u, (n, 1)),
                        const(np.zeros((n, n), u.dtype), u.dtype, "diag", "x")], axis=1)
    square = reshaped(narrow(reshaped(wide, (-1,)), 0, 0, n * n), (n, n))
    if k == 0:
        return square
    return pad(square, (k, 0, 0, k) if k > 0 else (0, -k, -k, 0))



# -- test rows: each function that is one recorded op is a further example of that op's
# OpSpec, so the table-driven tests (both dtypes, every sweep, replay, anomaly) run it


def _example(name: str, call: Any, ref: Any, *shapes: tuple[int, ...]) -> None:
    spec = SPECS[name]
    spec.examples = (*spec.examples, Example(
        call, ref, lambda r: [r.standard_normal(s) for s in shapes]))


_example("index", lambda x: expand(x, 2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1))
_example("index", lambda x: flip(x, (0, 2)), lambda x: x[::-1, :, ::-1], (2, 3, 4))
_example("index", lambda x: diag(x, 1), lambda x: np.diag(x, 1), (3, 4))
_example("transpose", lambda x: movedim(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), (2, 3, 4))
_example("reshape", lambda x: flatten(x, 1), lambda x: x.reshape(2, 12), (2, 3, 4))
_example("concatenate", lambda x: pad(x, (1, 2, 0, 1)),
         lambda x: np.pad(x, ((0, 1), (1, 2))), (2, 3))
_example("where", lambda x: tril(x, -1), lambda x: np.tril(x, -1), (2, 3, 4))
