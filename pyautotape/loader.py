"""Splitting and batching: :func:`train_test_split` and :class:`DataLoader`, re-exported
by :mod:`pyautotape.data`.

>>> import numpy as np
>>> [len(b[0]) for b in DataLoader(np.zeros((5, 2)), np.zeros(5), batch_size=2, shuffle=False)]
[2, 2, 1]
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

from ._datautil import (
    SeedLike,
    _as_samples,
    _check_bool,
    _check_same_length,
    _make_rng,
)

__all__ = ["train_test_split", "DataLoader"]


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
        self._X: np.ndarray = _as_samples(X, "X", where)
        self._y: np.ndarray = _as_samples(y, "y", where)
        _check_same_length(self._X, self._y, where)
        self.batch_size: int = operator.index(batch_size)
        self.shuffle: bool = _check_bool(shuffle, "shuffle", where)
        self.drop_last: bool = _check_bool(drop_last, "drop_last", where)
        self._rng: np.random.Generator = _make_rng(seed, where)

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
