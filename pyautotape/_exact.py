"""Integer and bool tensors' bookkeeping (kept out of tensor.py): which dtypes they have,
how pat.compile's recorder treats values computed from them in Python, and ``Tensor.size``,
an int that PyTorch code can also call.

>>> import numpy as np
>>> np.dtype(np.int64) in EXACT_DTYPES
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._state import state as _state

__all__ = ["EXACT_DTYPES", "exact_guard"]


class _Size(int):
    """``Tensor.size``: an int (the element count, as NumPy's) that, called, answers as
    PyTorch's ``size()``.

    >>> import pyautotape as pat
    >>> t = pat.zeros(2, 3)
    >>> t.size, t.size(), t.size(-1)
    (6, (2, 3), 3)
    """

    _shape: tuple[int, ...]

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self._shape
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size: dim must be an int, got {dim!r}")
        if not -len(self._shape) <= dim < len(self._shape):
            raise IndexError(
                f"size: dim {dim} is out of range for a {len(self._shape)}-d tensor"
            )
        return self._shape[dim]


# integer and bool tensors: labels, indices, masks; never differentiable
EXACT_DTYPES = frozenset(np.dtype(d) for d in (np.int64, np.int32, np.bool_))


def exact_guard(inputs: Any, out: np.ndarray | None = None) -> None:
    """While pat.compile records, a value computed in Python from ``inputs`` (arrays) is a
    constant of the recording. Float inputs get a guard (a replay retraces when they
    change). Integer/bool inputs are sound only when they derive from guarded values
    (comparisons are guarded, and what is computed from them); any other makes the step
    run eagerly. ``out`` is then marked as derived from guarded values."""
    rec = _state.recorder
    if rec is None:
        return
    ok = rec.__dict__.setdefault("_exact_ok", set())
    for a in inputs:
        if a.dtype.kind == "f":
            rec.read(a)
        elif id(a) not in ok:
            rec.opaque("an integer or bool tensor not made by a comparison inside the step "
                       "(pass labels as integer ndarrays to run it compiled)")
            return
    if out is not None:
        ok.add(id(out))
        rec.keep.append(out)
