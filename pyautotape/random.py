"""The random generator behind parameter initialisation, and ``manual_seed``.

``pat.manual_seed(seed)`` makes a whole program reproducible: it reseeds the generator that
:mod:`pyautotape.nn` draws initial weights from, and the default seed of
:mod:`pyautotape.data` (shuffling in ``DataLoader``, splits and toy data sets made without an
explicit ``seed``), and the generator of ``pat.dropout``'s masks.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import data
from .ops.nn import seed as _seed_dropout

__all__ = ["manual_seed", "default_generator"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed initialisation and shuffling; returns the new initialisation generator.

    >>> import pyautotape as pat
    >>> _ = pat.manual_seed(0); a = pat.nn.Linear(3, 2).weight.numpy()
    >>> _ = pat.manual_seed(0); b = pat.nn.Linear(3, 2).weight.numpy()
    >>> bool((a == b).all())
    True
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _generator = np.random.default_rng(int(seed))
    data._seed(int(seed))
    _seed_dropout(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that parameter initialisation draws from (see :func:`manual_seed`).

    >>> import numpy as np, pyautotape as pat
    >>> isinstance(pat.random.default_generator(), np.random.Generator)
    True
    """
    return _generator
