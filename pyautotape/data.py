"""Small data sets and data utilities for examples and tests.

Everything here is NumPy (Tensors only where a data set holds them) (splitting and
batching live in loader.py, the shared checks and generator in _datautil.py):

- :func:`load_digits` -- the 8x8 handwritten digits (1797 samples, 10 classes), bundled.
- :func:`make_moons` -- two interleaving half circles (binary classification).
- :func:`make_spirals` -- the classic CS231n spirals (multi-class classification).
- :func:`train_test_split` -- random, optionally stratified, train/test split.
- :class:`DataLoader` -- ``DataLoader(dataset, batch_size=1, shuffle=False, ...)`` as
  PyTorch's (with :class:`Dataset`, :class:`TensorDataset`, :class:`Subset`,
  :func:`random_split`, the samplers and :func:`default_collate`, from dataset.py; also
  importable from ``pyautotape.utils.data``), or ``DataLoader(X, y, batch_size)`` over two
  arrays, shuffled by default (loader.py).

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
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, overload

import numpy as np
from numpy.typing import DTypeLike

from ._datautil import (
    SeedLike,
    _check_bool,
    _check_dtype,
    _check_int,
    _check_noise,
    _make_rng,
)
from ._datautil import _seed as _seed  # what pat.manual_seed sets
from .dataset import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)
from .loader import train_test_split

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "default_collate",
    "random_split",
    "load_digits",
    "make_moons",
    "make_spirals",
    "train_test_split",
]
_DIGITS_FILE = "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)


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


