"""What pat.data's functions share: the default random generator (seeded by
``pyautotape.manual_seed``) and argument checks.

>>> _seed(3); a = _default_rng().integers(100); _seed(3)
>>> bool(a == _default_rng().integers(100)); _seed(None)
True
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

SeedLike = int | np.integer | np.random.Generator | None

# Set by _seed(); None means "use fresh entropy".
_SEED_SEQUENCE: np.random.SeedSequence | None = None


# --------------------------------------------------------------------------------------------
# Random number generation
# --------------------------------------------------------------------------------------------


def _seed(seed: int | None) -> None:
    """Set (or with ``None`` clear) the module-wide default seed.

    Called by ``pyautotape.manual_seed``. After ``_seed(s)``, every generator handed out by
    :func:`_default_rng` is derived deterministically from ``s``: the n-th call after seeding
    always returns the same stream, and distinct calls return independent streams.

    Parameters
    ----------
    seed : int or None
        A non-negative integer, or ``None`` to go back to fresh OS entropy.

    Examples
    --------
    >>> _seed(0)
    >>> a = _default_rng().integers(1000)
    >>> _seed(0)
    >>> bool(a == _default_rng().integers(1000))
    True
    >>> _seed(None)
    """
    global _SEED_SEQUENCE
    if seed is None:
        _SEED_SEQUENCE = None
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _SEED_SEQUENCE = np.random.SeedSequence(int(seed))


def _default_rng() -> np.random.Generator:
    """Return a new generator from the module default seed, or from fresh entropy if unset.

    Returns
    -------
    numpy.random.Generator
        A generator independent of all earlier ones handed out.

    Examples
    --------
    >>> isinstance(_default_rng(), np.random.Generator)
    True
    """
    if _SEED_SEQUENCE is None:
        return np.random.default_rng()
    return np.random.default_rng(_SEED_SEQUENCE.spawn(1)[0])


def _make_rng(seed: SeedLike, where: str) -> np.random.Generator:
    """Turn a user ``seed`` argument into a generator, validating it."""
    if seed is None:
        return _default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{where}: seed must be an int, a numpy.random.Generator or None, "
            f"got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"{where}: seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


# --------------------------------------------------------------------------------------------
# Argument validation helpers
# --------------------------------------------------------------------------------------------


def _check_int(value: object, name: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return value


def _check_bool(value: object, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {type(value).__name__}")
    return bool(value)


def _check_noise(noise: object, where: str) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"{where}: noise must be a real number, got {type(noise).__name__}")
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{where}: noise must be finite and >= 0, got {noise}")
    return noise


def _check_dtype(dtype: DTypeLike, where: str, kinds: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{where}: dtype {dtype!r} is not a valid NumPy dtype") from exc
    if dt.kind not in kinds:
        wanted = "a floating-point" if kinds == "f" else "a numeric (integer or float)"
        raise TypeError(f"{where}: dtype must be {wanted} dtype, got {dt}")
    return dt


def _as_samples(a: ArrayLike, name: str, where: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(
            f"{where}: {name} must be at least 1-D with samples along axis 0, got a scalar; "
            f"wrap it in a list or use np.atleast_1d"
        )
    return arr


def _check_same_length(X: np.ndarray, y: np.ndarray, where: str) -> None:
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{where}: X and y must have the same number of samples (length of axis 0), "
            f"got X.shape={X.shape} and y.shape={y.shape}"
        )


