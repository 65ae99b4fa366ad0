"""Small data sets and data utilities for examples and tests.

Everything here is pure NumPy and independent of the rest of pyautotape:

- :func:`load_digits` -- the 8x8 handwritten digits (1797 samples, 10 classes), bundled.
- :func:`make_moons` -- two interleaving half circles (binary classification).
- :func:`make_spirals` -- the classic CS231n spirals (multi-class classification).
- :func:`train_test_split` -- random, optionally stratified, train/test split.
- :class:`DataLoader` -- iterate over shuffled mini-batches, epoch by epoch.

Randomness
----------
Every function that draws random numbers takes a ``seed``. With an explicit ``seed`` (an int
or a :class:`numpy.random.Generator`) results are reproducible. With ``seed=None`` the generator
comes from :func:`_default_rng`: fresh OS entropy, unless a global seed was set with
:func:`_seed` (which ``pyautotape.manual_seed`` calls), in which case each call gets its own
generator derived deterministically from that seed, so a whole program is reproducible.
"""

from __future__ import annotations

import gzip
import math
import numbers
import operator
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "DataLoader",
    "load_digits",
    "make_moons",
    "make_spirals",
    "train_test_split",
]

SeedLike = int | np.integer | np.random.Generator | None

# Set by _seed(); None means "use fresh entropy".
_SEED_SEQUENCE: np.random.SeedSequence | None = None

_DIGITS_FILE = "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)


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


# --------------------------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------------------------


def _digits_resource():  # -> importlib.resources.abc.Traversable
    try:
        root = resources.files(__package__ or "pyautotape")
    except (ModuleNotFoundError, TypeError):  # module loaded outside its package
        root = Path(__file__).resolve().parent
    return root / "datasets" / _DIGITS_FILE


@lru_cache(maxsize=1)
def _load_digits_raw() -> np.ndarray:
    """Parse the bundled file once; returns a read-only (1797, 65) uint8 array."""
    resource = _digits_resource()
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"load_digits: bundled data file {_DIGITS_FILE!r} not found at {resource}; "
            "the pyautotape installation is incomplete (package data missing), reinstall it"
        ) from exc
    if table.shape != _DIGITS_SHAPE or table.min() < 0 or table[:, :64].max() > 16:
        raise RuntimeError(
            f"load_digits: bundled data file {_DIGITS_FILE!r} is corrupt "
            f"(shape {table.shape}, expected {_DIGITS_SHAPE}); reinstall pyautotape"
        )
    out = table.astype(np.uint8)
    out.flags.writeable = False
    return out


@overload
def load_digits(
    return_X_y: Literal[True] = ..., dtype: DTypeLike = ...
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def load_digits(return_X_y: Literal[False], dtype: DTypeLike = ...) -> dict[str, np.ndarray]: ...


def load_digits(
    return_X_y: bool = True, dtype: DTypeLike = np.float32
) -> tuple[np.ndarray, np.ndarray] | dict[str, np.ndarray]:
    """Load the 8x8 handwritten digits data set (1797 samples, 10 classes).

    The UCI *Optical Recognition of Handwritten Digits* test set (Alpaydin & Kaynak, 1998,
    CC BY 4.0), bundled with pyautotape. Each sample is an 8x8 image flattened row-major to 64
    features; each pixel is an integer count in ``0..16``. Pixels are **not** rescaled: divide
    by 16 to get values in ``[0, 1]``, as is usual before training.

    Parameters
    ----------
    return_X_y : bool, default True
        If True return ``(X, y)``. If False return a dict with keys ``"data"`` (same as ``X``),
        ``"target"`` (same as ``y``), ``"images"`` (``X`` reshaped to ``(1797, 8, 8)``) and
        ``"target_names"`` (``arange(10)``).
    dtype : numpy dtype, default numpy.float32
        Dtype of ``X`` (any integer or floating dtype). The values are exact in all of them.

    Returns
    -------
    X : numpy.ndarray, shape (1797, 64)
        Pixel values ``0..16`` as ``dtype``; a fresh C-contiguous array on every call.
    y : numpy.ndarray of int64, shape (1797,)
        Digit labels ``0..9``.

    Raises
    ------
    TypeError
        If ``return_X_y`` is not a bool or ``dtype`` is not numeric.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((1797, 64), dtype('float32'), (1797,), dtype('int64'))
    >>> int(X.max()), sorted(set(y.tolist())) == list(range(10))
    (16, True)
    >>> X = X / 16.0  # scale pixels to [0, 1]
    """
    return_X_y = _check_bool(return_X_y, "return_X_y", "load_digits")
    dt = _check_dtype(dtype, "load_digits", "fiu")
    raw = _load_digits_raw()
    X = np.array(raw[:, :64], dtype=dt, order="C", copy=True)  # never hand out the cache
    y = raw[:, 64].astype(np.int64)
    if return_X_y:
        return X, y
    return {
        "data": X,
        "target": y,
        "images": X.reshape(-1, 8, 8),
        "target_names": np.arange(10, dtype=np.int64),
    }


# --------------------------------------------------------------------------------------------
# Synthetic data sets
# --------------------------------------------------------------------------------------------


def make_moons(
    n_samples: int = 200,
    noise: float = 0.1,
    seed: SeedLike = None,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Make two interleaving half circles ("moons"), a toy binary classification problem.

    Class 0 is the upper half circle of radius 1 centred at ``(0, 0)``; class 1 is the lower
    half circle centred at ``(1, 0.5)``, as in scikit-learn's ``make_moons``. Class 0 gets
    ``n_samples // 2`` points and class 1 the rest; rows are returned in random order, and
    isotropic Gaussian noise with standard deviation ``noise`` is added to the coordinates.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of points, at least 2.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise (``0`` for exact half circles).
    seed : int, numpy.random.Generator or None, default None
        Seed for reproducibility; ``None`` uses the module default (see the module docstring).
    dtype : floating dtype, default numpy.float32
        Dtype of ``X``.

    Returns
    -------
    X : numpy.ndarray, shape (n_samples, 2)
        Point coordinates.
    y : numpy.ndarray of int64, shape (n_samples,)
        Labels in ``{0, 1}``.

    Raises
    ------
    TypeError, ValueError
        On a bad argument.

    Examples
    --------
    >>> X, y = make_moons(100, noise=0.05, seed=0)
    >>> X.shape, X.dtype, y.shape
    ((100, 2), dtype('float32'), (100,))
    >>> np.bincount(y).tolist()
    [50, 50]
    """
    where = "make_moons"
    n_samples = _check_int(n_samples, "n_samples", where, 2)
    noise = _check_noise(noise, where)
    dt = _check_dtype(dtype, where, "f")
    rng = _make_rng(seed, where)

    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.empty((n_samples, 2), dtype=np.float64)
    X[:n_out, 0] = np.cos(t_out)
    X[:n_out, 1] = np.sin(t_out)
    X[n_out:, 0] = 1.0 - np.cos(t_in)
    X[n_out:, 1] = 0.5 - np.sin(t_in)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n_out, n_in])

    perm = rng.permutation(n_samples)
    X = X[perm]
    y = y[perm]
    if noise > 0:
        X += rng.normal(0.0, noise, size=X.shape)
    return np.ascontiguousarray(X, dtype=dt), y


def make_spirals(
    n_samples: int = 300,
    n_classes: int = 3,
    noise: float = 0.2,
    seed: SeedLike = None,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Make interleaved spiral arms, the classic CS231n toy multi-class problem.

    Class ``k`` has points at radii ``linspace(0, 1)`` and angles
    ``linspace(4k, 4(k + 1)) + noise * N(0, 1)`` (radians), i.e. ``(r sin t, r cos t)``.
    Points are split as evenly as possible between classes (the first ``n_samples % n_classes``
    classes get one extra) and rows are returned in random order. All points lie in the unit
    disc, so no rescaling is needed.

    Parameters
    ----------
    n_samples : int, default 300
        Total number of points, at least ``n_classes``.
    n_classes : int, default 3
        Number of spiral arms (classes), at least 1.
    noise : float, default 0.2
        Standard deviation of the Gaussian noise added to each point's angle, in radians.
    seed : int, numpy.random.Generator or None, default None
        Seed for reproducibility; ``None`` uses the module default (see the module docstring).
    dtype : floating dtype, default numpy.float32
        Dtype of ``X``.

    Returns
    -------
    X : numpy.ndarray, shape (n_samples, 2)
        Point coordinates.
    y : numpy.ndarray of int64, shape (n_samples,)
        Labels in ``range(n_classes)``.

    Raises
    ------
    TypeError, ValueError
        On a bad argument.

    Examples
    --------
    >>> X, y = make_spirals(300, n_classes=3, seed=0)
    >>> X.shape, y.dtype, np.bincount(y).tolist()
    ((300, 2), dtype('int64'), [100, 100, 100])
    >>> bool(np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6))
    True
    """
    where = "make_spirals"
    n_classes = _check_int(n_classes, "n_classes", where, 1)
    n_samples = _check_int(n_samples, "n_samples", where, 1)
    if n_samples < n_classes:
        raise ValueError(
            f"{where}: n_samples ({n_samples}) must be >= n_classes ({n_classes}) "
            "so that every class gets at least one point"
        )
    noise = _check_noise(noise, where)
    dt = _check_dtype(dtype, where, "f")
    rng = _make_rng(seed, where)

    counts = np.full(n_classes, n_samples // n_classes, dtype=np.int64)
    counts[: n_samples % n_classes] += 1
    y = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    radius = np.concatenate([np.linspace(0.0, 1.0, int(c)) for c in counts])
    theta = np.concatenate(
        [np.linspace(4.0 * k, 4.0 * (k + 1), int(c)) for k, c in enumerate(counts)]
    )
    if noise > 0:
        theta = theta + rng.normal(0.0, noise, size=n_samples)
    X = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1)

    perm = rng.permutation(n_samples)
    return np.ascontiguousarray(X[perm], dtype=dt), y[perm]


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def _n_test(test_size: object, n: int) -> int:
    where = "train_test_split"
    if isinstance(test_size, bool):
        raise TypeError(f"{where}: test_size must be a float in (0, 1) or an int, got bool")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"{where}: an int test_size is a sample count and must be in [1, {n - 1}] "
                f"for {n} samples (so both parts are non-empty), got {n_test}"
            )
        return n_test
    if isinstance(test_size, numbers.Real):
        frac = float(test_size)
        if not 0.0 < frac < 1.0:
            raise ValueError(
                f"{where}: a float test_size is a fraction and must be in (0, 1), got {frac}"
            )
        n_test = math.ceil(frac * n)
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"{where}: test_size={frac} with {n} samples gives {n_test} test and "
                f"{n - n_test} train samples; both parts must be non-empty"
            )
        return n_test
    raise TypeError(
        f"{where}: test_size must be a float in (0, 1) or an int, got {type(test_size).__name__}"
    )


def _stratified_test_counts(
    class_counts: np.ndarray, n_test: int, rng: np.random.Generator
) -> np.ndarray:
    """Split ``n_test`` between classes proportionally (largest remainder, random ties)."""
    n = int(class_counts.sum())
    exact = class_counts * (n_test / n)
    take = np.floor(exact).astype(np.int64)
    left = n_test - int(take.sum())
    if left > 0:
        frac = exact - take
        # Sort by descending remainder; a random key breaks ties fairly.
        order = np.lexsort((rng.random(frac.size), -frac))
        order = order[take[order] < class_counts[order]]
        take[order[:left]] += 1
    return take


def train_test_split(
    X: ArrayLike,
    y: ArrayLike,
    test_size: float = 0.2,
    seed: SeedLike = None,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split samples randomly into a training and a test part.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
        Features; samples along axis 0.
    y : array_like, shape (n_samples, ...)
        Targets; samples along axis 0.
    test_size : float or int, default 0.2
        A float in ``(0, 1)`` is the fraction of samples in the test part (rounded up); an int
        is the number of test samples. Both parts must end up non-empty.
    seed : int, numpy.random.Generator or None, default None
        Seed for reproducibility; ``None`` uses the module default (see the module docstring).
    stratify : bool, default False
        If True, keep the class proportions of ``y`` (which must then be 1-D) in both parts,
        as closely as integer counts allow.

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray
        New C-contiguous arrays, each part in random order.

    Raises
    ------
    ValueError
        If ``X`` and ``y`` differ in length, either is a scalar, ``test_size`` is out of range,
        or ``stratify=True`` with a ``y`` that is not 1-D.
    TypeError
        If ``test_size``, ``seed`` or ``stratify`` has the wrong type.

    Examples
    --------
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10) % 2
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, seed=0)
    >>> X_tr.shape, X_te.shape, y_tr.shape, y_te.shape
    ((7, 2), (3, 2), (7,), (3,))
    >>> sorted(X_tr[:, 0].tolist() + X_te[:, 0].tolist()) == X[:, 0].tolist()
    True
    """
    where = "train_test_split"
    X = _as_samples(X, "X", where)
    y = _as_samples(y, "y", where)
    _check_same_length(X, y, where)
    stratify = _check_bool(stratify, "stratify", where)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"{where}: need at least 2 samples to split, got {n}")
    n_test = _n_test(test_size, n)
    rng = _make_rng(seed, where)

    if stratify:
        if y.ndim != 1:
            raise ValueError(
                f"{where}: stratify=True needs 1-D class labels y, got y.shape={y.shape}"
            )
        classes, inverse, class_counts = np.unique(y, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        take = _stratified_test_counts(class_counts, n_test, rng)
        test_parts, train_parts = [], []
        for k in range(classes.size):
            members = rng.permutation(np.flatnonzero(inverse == k))
            test_parts.append(members[: take[k]])
            train_parts.append(members[take[k] :])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    else:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]

    return (
        np.ascontiguousarray(np.take(X, train_idx, axis=0)),
        np.ascontiguousarray(np.take(X, test_idx, axis=0)),
        np.ascontiguousarray(np.take(y, train_idx, axis=0)),
        np.ascontiguousarray(np.take(y, test_idx, axis=0)),
    )


# --------------------------------------------------------------------------------------------
# DataLoader
# --------------------------------------------------------------------------------------------


class DataLoader:
    """Iterate over ``(X_batch, y_batch)`` mini-batches of NumPy arrays.

    Every call to ``iter()`` (i.e. every epoch) visits each sample exactly once; with
    ``shuffle=True`` each epoch uses a new random order. The random generator is created once,
    in ``__init__``, from ``seed`` (or, if ``seed`` is None, from the module default seed set
    by ``pyautotape.manual_seed``, else fresh entropy), so the sequence of epochs is
    reproducible. Batches are new C-contiguous arrays; ``X`` and ``y`` are not copied up front.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
        Features; samples along axis 0.
    y : array_like, shape (n_samples, ...)
        Targets; samples along axis 0.
    batch_size : int
        Samples per batch, at least 1. The last batch may be smaller unless ``drop_last``.
    shuffle : bool, default True
        Visit samples in a new random order every epoch; if False, in their original order.
    seed : int, numpy.random.Generator or None, default None
        Seed of the shuffling generator.
    drop_last : bool, default False
        Drop the last batch of an epoch if it has fewer than ``batch_size`` samples.

    Raises
    ------
    TypeError
        If ``batch_size`` is not an int or ``shuffle``/``drop_last`` are not bools.
    ValueError
        If ``batch_size < 1``, ``X`` or ``y`` is a scalar, or they differ in length.

    Examples
    --------
    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> loader = DataLoader(X, y, batch_size=2, shuffle=False)
    >>> len(loader)
    3
    >>> [yb.tolist() for _, yb in loader]
    [[0, 1], [2, 3], [4]]
    >>> loader = DataLoader(X, y, batch_size=2, seed=0, drop_last=True)
    >>> [xb.shape for xb, _ in loader]
    [(2, 2), (2, 2)]
    """

    def __init__(
        self,
        X: ArrayLike,
        y: ArrayLike,
        batch_size: int,
        shuffle: bool = True,
        seed: SeedLike = None,
        drop_last: bool = False,
    ) -> None:
        where = "DataLoader"
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(
                f"{where}: batch_size must be a positive int, got {type(batch_size).__name__} "
                f"({batch_size!r}); pass e.g. batch_size=32"
            )
        if batch_size < 1:
            raise ValueError(
                f"{where}: batch_size must be a positive int, got {batch_size}; "
                "pass e.g. batch_size=32"
            )
        self._X = _as_samples(X, "X", where)
        self._y = _as_samples(y, "y", where)
        _check_same_length(self._X, self._y, where)
        self.batch_size: int = operator.index(batch_size)
        self.shuffle: bool = _check_bool(shuffle, "shuffle", where)
        self.drop_last: bool = _check_bool(drop_last, "drop_last", where)
        self._rng = _make_rng(seed, where)

    @property
    def X(self) -> np.ndarray:
        """The full feature array (not a copy)."""
        return self._X

    @property
    def y(self) -> np.ndarray:
        """The full target array (not a copy)."""
        return self._y

    @property
    def n_samples(self) -> int:
        """Number of samples in the data set."""
        return int(self._X.shape[0])

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = self.n_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Start a new epoch; the order is drawn now, not at the first ``next()``."""
        n = self.n_samples
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        b = self.batch_size
        for i in range(len(self)):
            idx = order[i * b : (i + 1) * b]
            yield (
                np.ascontiguousarray(np.take(self._X, idx, axis=0)),
                np.ascontiguousarray(np.take(self._y, idx, axis=0)),
            )

    def __repr__(self) -> str:
        return (
            f"DataLoader(n_samples={self.n_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})"
        )
