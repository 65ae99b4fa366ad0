"""PyTorch's map-style data pipeline: ``Dataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``random_split``, the samplers, ``default_collate`` and the
``DataLoader(dataset, batch_size=1, shuffle=False, ...)`` that drives them, with
``torch.utils.data``'s defaults and batch order. ``pat.data.DataLoader(X, y, batch_size)``
(two arrays) remains the array loader of loader.py.

Batches are what the samples are made of, stacked: NumPy arrays and numbers become NumPy
arrays (so integer labels stay int64), pyautotape Tensors become Tensors; tuples become
lists, dicts dicts, as ``torch.utils.data.default_collate`` does. Randomness (``shuffle``,
``RandomSampler``, ``random_split``) comes from ``generator`` (a NumPy Generator or an int
seed) or else from ``pat.manual_seed``.

>>> import numpy as np
>>> from pyautotape.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
>>> [yb.tolist() for _, yb in DataLoader(ds, batch_size=2)]
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import bisect
import collections.abc as cabc
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any, cast

import numpy as np

from ._datautil import _make_rng

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
           "default_collate", "DataLoader"]


class Dataset:
    """A map-style data set: subclasses define ``__getitem__(i)`` and ``__len__``;
    ``a + b`` concatenates.

    >>> class Squares(Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return i * i
    >>> len(Squares() + Squares()), (Squares() + Squares())[5]
    (8, 1)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _rows(x: Any) -> Any:
    from .tensor import Tensor

    if isinstance(x, Tensor):
        return x
    return np.asarray(x)


class TensorDataset(Dataset):
    """Samples are ``tuple(t[i] for t in tensors)``; all share their first dimension.
    Arrays (or anything ``np.asarray`` takes) and pyautotape Tensors are accepted; a
    Tensor's rows are Tensors (no gradient), an array's rows arrays.

    >>> ds = TensorDataset(np.zeros((3, 2)), np.array([7, 8, 9]))
    >>> len(ds), ds[1][1]
    (3, np.int64(8))
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: pass at least one array or Tensor")
        self.tensors = tuple(_rows(t) for t in tensors)
        for i, t in enumerate(self.tensors):
            if len(t.shape) == 0:
                raise ValueError(f"TensorDataset: argument {i} is a scalar; samples run "
                                 "along the first dimension")
        n = self.tensors[0].shape[0]
        if any(t.shape[0] != n for t in self.tensors):
            raise ValueError("Size mismatch between tensors: first dimensions are "
                             f"{[t.shape[0] for t in self.tensors]}")

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        from .tensor import Tensor, tensor

        return tuple(tensor(t.numpy()[index]) if isinstance(t, Tensor) else t[index]
                     for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    >>> s = Subset([10, 11, 12, 13], [3, 0])
    >>> len(s), s[0], s[1]
    (2, 13, 10)
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: int | list[int]) -> Any:
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several data sets one after another.

    >>> c = ConcatDataset([[1, 2], [3]])
    >>> len(c), c[2], c[-1]
    (3, 3, 3)
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: Any = None) -> list[Subset]:
    """Split into non-overlapping random subsets of the given ``lengths`` (counts summing
    to ``len(dataset)``, or fractions summing to 1, the remainder going one by one to the
    first subsets as in PyTorch).

    >>> parts = random_split(list(range(10)), [0.7, 0.3], generator=0)
    >>> [len(p) for p in parts], sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    ([7, 3], True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=2)
        lengths = counts
    for v in lengths:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                             f"summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input "
                         f"dataset! ({sum(lengths)} vs {n})")
    perm = _make_rng(generator, "random_split").permutation(n).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + int(length)]))
        start += int(length)
    return out


class Sampler:
    """Base class of index samplers: ``__iter__`` yields dataset indices.

    >>> class Evens(Sampler):
    ...     def __iter__(self): return iter([0, 2, 4])
    >>> list(Evens())
    [0, 2, 4]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__}: a Sampler subclass defines __iter__, "
                                  "yielding the indices (as in torch.utils.data)")

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no length")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1.

    >>> list(SequentialSampler("abc"))
    [0, 1, 2]
    """

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random permutation each epoch (or ``num_samples`` draws with
    ``replacement=True``).

    >>> sorted(RandomSampler(range(4), generator=0))
    [0, 1, 2, 3]
    """

    def __init__(self, data_source: Any, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _make_rng(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError("replacement should be a boolean value, but got replacement="
                            f"{replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.replacement:
            return iter(self.generator.integers(0, n, self.num_samples).tolist())
        reps = [self.generator.permutation(n) for _ in range(-(-self.num_samples // n))]
        return iter(np.concatenate(reps)[: self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a new random order each epoch.

    >>> sorted(SubsetRandomSampler([5, 7, 9], generator=0))
    [5, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = _make_rng(generator, "SubsetRandomSampler")

    def __iter__(self) -> Iterator[int]:
        return (self.indices[i] for i in self.generator.permutation(len(self.indices)))

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last may be shorter unless
    ``drop_last``.

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                or batch_size <= 0):
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler: Iterable[int] = sampler
        self.batch_size: int = int(batch_size)
        self.drop_last: bool = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(cast(Sized, self.sampler))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch, recursively, as PyTorch does: arrays and
    numbers into NumPy arrays (a leading batch axis), Tensors into a Tensor, dicts by key,
    tuples and lists element by element (a list), strings into a list.

    >>> b = default_collate([(np.zeros(2), 1), (np.ones(2), 2)])
    >>> b[0].shape, b[1].tolist()
    ((2, 2), [1, 2])
    >>> default_collate([{"x": 1.5}, {"x": 2.5}])["x"].tolist()
    [1.5, 2.5]
    """
    from .tensor import Tensor, tensor

    elem = batch[0]
    if isinstance(elem, Tensor):
        return tensor(np.stack([b.numpy() for b in batch]))
    if isinstance(elem, (np.ndarray, np.generic)):
        return np.stack([np.asarray(b) for b in batch])
    if isinstance(elem, bool):
        return np.array(batch, np.bool_)
    if isinstance(elem, numbers.Integral):
        return np.array(batch, np.int64)
    if isinstance(elem, numbers.Real):
        return np.array(batch, np.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, cabc.Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch, strict=True)))
    if isinstance(elem, cabc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch, strict=True)]
    raise TypeError(f"default_collate: batch must contain arrays, numbers, Tensors, dicts "
                    f"or lists; found {type(elem).__name__}")


def _array_form(args: tuple, kwargs: dict) -> bool:
    """``DataLoader(X, y, batch_size, ...)``: two sample arrays, not a dataset."""
    if "y" in kwargs or "X" in kwargs:
        return True
    if len(args) < 2:
        return False
    if "batch_size" in kwargs:  # DataLoader(X, y, batch_size=...), whatever y is
        return True
    return not (args[1] is None or isinstance(args[1], numbers.Integral))


class DataLoader:
    """``DataLoader(dataset, batch_size=1, shuffle=False, sampler=None,
    batch_sampler=None, num_workers=0, collate_fn=None, drop_last=False, generator=None)``
    with PyTorch's rules. Batches are loaded in this process whatever ``num_workers``
    says: the same batches, in the same order.

    Given two arrays, ``DataLoader(X, y, batch_size, shuffle=True, seed=None,
    drop_last=False)`` is the array loader of :mod:`pyautotape.loader` instead (its own
    defaults: shuffled, ``batch_size`` required).

    >>> ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.arange(3))
    >>> xb, yb = next(iter(DataLoader(ds, batch_size=2)))
    >>> xb.tolist(), yb.tolist()
    ([[0.0, 1.0], [2.0, 3.0]], [0, 1])
    >>> len(DataLoader(ds)), len(DataLoader(ds, batch_size=2, drop_last=True))
    (3, 1)
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if _array_form(args, kwargs):
            from .loader import DataLoader as ArrayLoader

            return ArrayLoader(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False,
                 generator: Any = None) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset must be a map-style data set (with "
                            f"__getitem__ and __len__), got {type(dataset).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.generator = generator
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if batch_sampler is not None else _no_collate)

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
            return
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate
        for idx in self.batch_sampler:
            if fast:  # the same as collating the rows one by one, in one take per array
                yield _take_rows(self.dataset, idx)
            else:
                yield self.collate_fn([self.dataset[i] for i in idx])

    def __len__(self) -> int:
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, drop_last={self.drop_last}, "
                f"batches={len(self)})")


def _no_collate(sample: Any) -> Any:
    return sample


def _take_rows(ds: TensorDataset, idx: list[int]) -> list[Any]:
    from .tensor import Tensor, tensor

    ix = np.asarray(idx, np.intp)
    return [tensor(np.take(t.numpy(), ix, axis=0)) if isinstance(t, Tensor)
            else np.take(t, ix, axis=0) for t in ds.tensors]
