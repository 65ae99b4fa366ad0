"""``nonzero`` (and so the one-argument ``where(cond)``), and the guard pat.compile puts
on index arrays: values computed in Python from an index, constants of a recording.

>>> import pyautotape as pat
>>> pat.nonzero(pat.tensor([0.0, 3.0, 0.0, 1.0])).tolist()
[[1], [3]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._state import state
from ..tensor import Tensor, _wrap, exact_guard

__all__ = ["nonzero"]


def guard_index(obj: Any) -> None:
    """While pat.compile records, the values of an index are constants of the recording:
    a guard on them (an argument), a check of them (a captured array), or, for a tensor,
    what ``exact_guard`` decides (a mask made by a comparison in the step is guarded)."""
    rec = state.recorder
    if rec is None:
        return
    if isinstance(obj, Tensor):
        exact_guard((obj._data,))
        return
    src = rec.host(obj)
    if isinstance(src, np.ndarray):
        if id(src) in rec.bound:
            rec.read(src)
        elif id(src) not in rec.made:
            rec.consts[id(src)] = (src, src.dtype, src.shape, src.tobytes())


def _index_tensor(arr: np.ndarray) -> Tensor:
    out = np.ascontiguousarray(arr, np.int64)
    rec = state.recorder
    if rec is not None:  # derived from guarded values: usable as an index in the step
        rec.__dict__.setdefault("_exact_ok", set()).add(id(out))
        rec.keep.append(out)
    return _wrap(out)


def nonzero(x: Any, as_tuple: bool = False) -> Any:
    """Indices of the nonzero (True) elements in C order, as ``torch.nonzero``: an int64
    tensor of shape (count, x.ndim), or with ``as_tuple=True`` one 1-D index tensor per
    dim (which ``x[...]`` accepts). Not differentiable.

    >>> import pyautotape as pat
    >>> m = pat.tensor([[0.0, 1.0], [2.0, 0.0]])
    >>> pat.nonzero(m).tolist(), [i.tolist() for i in pat.nonzero(m, as_tuple=True)]
    ([[0, 1], [1, 0]], [[0, 1], [1, 0]])
    """
    rec = state.recorder
    src = rec.host(x) if rec is not None else x
    arr = src._data if isinstance(src, Tensor) else np.asarray(src)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"nonzero: needs a numeric or bool tensor, got dtype {arr.dtype}")
    guard_index(src)
    if as_tuple:
        parts = np.nonzero(arr) if arr.ndim else (np.nonzero(arr.reshape(1))[0],)
        return tuple(_index_tensor(p) for p in parts)
    return _index_tensor(np.argwhere(arr))
