"""Shapes and data movement: ``reshape``, ``transpose``, basic indexing and ``concatenate``.
All are copies in C whose gradient is the copy back (a scatter for indexing).

>>> import pyautotape as pat
>>> pat.tensor([[1.0, 2.0, 3.0]]).T.shape
(3, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._ffi import lib
from ..errors import ShapeError
from ..record import record
from ..tensor import Tensor
from .core import OPCODE, cstrides, one_axis, operands, pack_iter, prod, run, tensor_arg
from .spec import Example, OpSpec, register


def reshape(x: Any, shape: Sequence[int] | int) -> Tensor:
    """The same elements in a new shape (one -1 is inferred).

    >>> import pyautotape as pat
    >>> pat.reshape(pat.tensor([1.0, 2.0, 3.0, 4.0]), (2, 2)).shape
    (2, 2)
    """
    t = tensor_arg(x, "reshape")
    try:
        new_shape = np.empty(t.shape, dtype=np.bool_).reshape(shape).shape
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"reshape: cannot reshape {t.shape} into {shape!r} ({exc})") from None
    y = np.empty(new_shape, t.dtype)
    run(lib.PAT_OP_RESHAPE, "reshape", t.dtype, y, s0=t._data, n=t._data.size)
    return record(lib.PAT_OP_RESHAPE, y, (t,), n=t._data.size)


def _gather(name: str, t: Tensor, view: np.ndarray) -> Tensor:
    """Record a copy of ``view``, a NumPy view into t's data, as op ``name``."""
    item = t.dtype.itemsize
    base = (view.__array_interface__["data"][0] - t._data.__array_interface__["data"][0]) // item
    if view.size == 0:
        base = 0
    it = pack_iter(view.shape, (cstrides(view.shape), [s // item for s in view.strides]), name)
    op = OPCODE[name]
    y = np.empty(view.shape, t.dtype)
    run(op, name, t.dtype, y, s0=t._data, it=it, m=base)
    return record(op, y, (t,), it=it, m=base)


def transpose(x: Any, axes: Sequence[int] | int | None = None, dim1: int | None = None
              ) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``; with two
    ints, ``transpose(x, dim0, dim1)`` exchanges those two dims, as ``torch.transpose``.

    >>> import pyautotape as pat
    >>> pat.transpose(pat.tensor([[1.0, 2.0, 3.0]])).shape
    (3, 1)
    >>> pat.transpose(pat.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    if dim1 is not None or isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if dim1 is None:
            raise TypeError(
                f"transpose: got one dim {axes!r}; pass two, transpose(x, dim0, dim1), to "
                "exchange them, or a permutation tuple as np.transpose"
            )
        t = tensor_arg(x, "transpose")
        a, b = one_axis("transpose", t.ndim, axes), one_axis("transpose", t.ndim, dim1)
        return _gather("transpose", t, np.swapaxes(t._data, a, b))
    t = tensor_arg(x, "transpose")
    if axes is not None:
        if isinstance(axes, (str, bytes)) or not isinstance(axes, Sequence):
            raise TypeError(f"transpose: axes must be a tuple of ints, got {axes!r:.60}")
        axes = tuple(axes)
        if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise TypeError(
                f"transpose: axes must be ints, got {axes!r:.60}; pass a permutation of "
                f"range({t.ndim}), e.g. {tuple(range(t.ndim))[::-1]}"
            )
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
    t = tensor_arg(x, "index")
    if not _basic_index(idx):
        raise TypeError(
            f"index: only basic indexing (ints, slices, None, ...) is supported, got {idx!r}; "
            "index the tensor itself (x[idx]) for integer arrays and masks"
        )
    try:
        view = t._data[idx]
        if not isinstance(view, np.ndarray):  # all ints: NumPy returns a scalar, not a view
            view = t._data[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
    except OverflowError:
        raise IndexError(f"index: {idx!r:.60} is out of range for a tensor of shape {t.shape}"
                         ) from None
    except IndexError as exc:
        raise IndexError(f"index: {exc} (tensor of shape {t.shape}, index {idx!r:.60})"
                         ) from None
    except ValueError as exc:  # a zero slice step
        raise ValueError(f"index: {exc} (tensor of shape {t.shape}, index {idx!r:.60}); use "
                         "a nonzero step, e.g. t[::-1] to reverse") from None
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
    ts, dt = operands("concatenate", *tensors)
    nd = ts[0].ndim
    if nd == 0:
        raise ShapeError("concatenate: 0-d tensors cannot be joined; reshape them to (1,)")
    ax = one_axis("concatenate", nd, axis)
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
    outer = prod(acc.shape[:ax])
    inner = prod(acc.shape[ax + 1 :])
    for t in ts[1:]:
        shape = acc.shape[:ax] + (acc.shape[ax] + t.shape[ax],) + acc.shape[ax + 1 :]
        y = np.empty(shape, dt)
        k, n = acc.shape[ax] * inner, t.shape[ax] * inner
        run(lib.PAT_OP_CONCAT, "concatenate", dt, y, s0=acc._data, s1=t._data, m=outer, k=k, n=n)
        acc = record(lib.PAT_OP_CONCAT, y, (acc, t), m=outer, k=k, n=n)
    return acc


# ---------------------------------------------------------------------------------------
# the specs: data movement costs no FLOPs


def _no_flops(*_: Any) -> int:
    return 0


def _move(name: str, fn: Any, call: Any, ref: Any, make: Any, **fields: Any) -> OpSpec:
    return OpSpec(name, fn, "move", flops=_no_flops, bwd_flops=_no_flops,
                  examples=(Example(call, ref, make),), **fields)


register(_move("reshape", reshape, lambda x: reshape(x, (4, 3)), lambda x: x.reshape(4, 3),
               lambda r: [r.standard_normal((3, 4))]))
register(_move("transpose", transpose, lambda x: transpose(x, (2, 0, 1)),
               lambda x: x.transpose(2, 0, 1), lambda r: [r.standard_normal((2, 3, 4))]))
register(_move("index", index, lambda x: x[1:, ::2], lambda x: x[1:, ::2],
               lambda r: [r.standard_normal((3, 4))]))
register(_move("concatenate", concatenate, lambda a, b: concatenate([a, b], axis=1),
               lambda a, b: np.concatenate([a, b], axis=1),
               lambda r: [r.standard_normal((3, 2)), r.standard_normal((3, 4))],
               inputs=("a", "b")))

__all__ = ["reshape", "transpose", "index", "concatenate"]
