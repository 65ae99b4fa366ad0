"""A user's own data for ``python -m pyautotape train --data PATH``: a CSV file with a
header row, or an NPZ archive with arrays ``X`` (samples, features) and ``y`` (samples,).

The task follows from the target: text labels, booleans, or whole numbers with at most
``MAX_CLASSES`` distinct values make a classification (classes are the sorted distinct
values); any other numbers make a regression. Every problem with the file is a
:class:`DataFileError` (a ``ValueError``) that names the file and, for a CSV, the line
and column.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> rows = ["a,b,label", "1,2,cat", "3,4,dog", "5,6,cat", "7,8,dog", "9,0,cat"]
>>> _ = open(path, "w").write("\\n".join(rows) + "\\n")
>>> table = load_table(path)
>>> table.X.shape, table.task, table.classes, table.target
((5, 2), 'classification', ['cat', 'dog'], 'label')
>>> table.y
array([0, 1, 0, 1, 0])
"""

from __future__ import annotations

import csv
import dataclasses
import os
import zipfile
from collections.abc import Callable

import numpy as np

__all__ = ["Table", "DataFileError", "load_table", "Problem", "file_problem", "MAX_CLASSES",
           "TASKS"]

MAX_CLASSES = 20
TASKS = ("auto", "classification", "regression")


class DataFileError(ValueError):
    """A data file that cannot be used for training; the message names the file."""


@dataclasses.dataclass
class Table:
    """Features ``X`` (float64), target ``y`` (int64 class indices or float64 values)."""

    X: np.ndarray
    y: np.ndarray
    task: str
    target: str
    features: list[str]
    classes: list | None  # the label of each class index (classification only)


def load_table(path: str | os.PathLike[str], target: str | None = None,
               task: str = "auto") -> Table:
    """Read a ``.csv`` (header row; ``target`` names the target column, default the last)
    or a ``.npz`` (arrays ``X`` and ``y``; ``target`` must be None)."""
    name = os.fspath(path)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not os.path.isfile(name):
        raise DataFileError(f"{name}: no such file")
    ext = os.path.splitext(name)[1].lower()
    if ext == ".csv":
        X, raw, features, target = _read_csv(name, target)
    elif ext == ".npz":
        if target is not None:
            raise DataFileError(f"{name}: --target names a CSV column; an NPZ file's target "
                                "is its array 'y'")
        X, raw, features, target = _read_npz(name)
    else:
        raise DataFileError(f"{name}: expected a .csv or .npz file, got {ext or 'no suffix'!r}")
    if len(X) < 5:
        raise DataFileError(f"{name}: {len(X)} samples; at least 5 are needed (20% are held "
                            "out for testing)")
    return _with_task(name, X, raw, features, target, task)


def _with_task(name: str, X: np.ndarray, raw: np.ndarray, features: list[str], target: str,
               task: str) -> Table:
    numeric = raw.dtype.kind in "biuf"
    if numeric and raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise DataFileError(f"{name}: the target {target!r} has NaN or infinite values")
    values = np.unique(raw)
    whole = raw.dtype.kind in "biu" or (numeric and bool(np.all(raw == np.round(raw))))
    if task == "auto":
        task = ("classification" if not numeric or (whole and len(values) <= MAX_CLASSES)
                else "regression")
    if task == "regression":
        if not numeric:
            raise DataFileError(f"{name}: the target {target!r} holds text; a regression "
                                "needs numbers")
        return Table(X, raw.astype(np.float64), task, target, features, None)
    if len(values) < 2:
        raise DataFileError(f"{name}: the target {target!r} has a single value "
                            f"({values[0]!r}); a classification needs two classes or more")
    y = np.searchsorted(values, raw).astype(np.int64)
    classes = [v.item() if hasattr(v, "item") else v for v in values]
    return Table(X, y, task, target, features, classes)


def _read_csv(name: str, target: str | None) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    try:
        with open(name, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{name}: not a readable CSV file ({exc})") from None
    if len(rows) < 2:
        raise DataFileError(f"{name}: expected a header row and data rows, got {len(rows)} "
                            "row(s)")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise DataFileError(f"{name}: the header has {len(header)} column; need at least "
                            "one feature and the target")
    if len(set(header)) != len(header) or "" in header:
        raise DataFileError(f"{name}: the header row must name each column once: {header}")
    target = header[-1] if target is None else target
    if target not in header:
        raise DataFileError(f"{name}: no column {target!r}; the columns are {header}")
    col = header.index(target)
    features = [h for i, h in enumerate(header) if i != col]
    X = np.empty((len(rows) - 1, len(features)))
    labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataFileError(f"{name}, line {line}: {len(row)} fields, the header has "
                                f"{len(header)}")
        cells = [c.strip() for c in row]
        labels.append(cells[col])
        for j, (h, cell) in enumerate(
                (h, c) for i, (h, c) in enumerate(zip(header, cells, strict=True)) if i != col):
            try:
                X[line - 2, j] = float(cell)
            except ValueError:
                raise DataFileError(f"{name}, line {line}, column {h!r}: expected a number, "
                                    f"got {cell!r}") from None
    if not np.isfinite(X).all():
        line, j = np.argwhere(~np.isfinite(X))[0]
        raise DataFileError(f"{name}, line {line + 2}, column {features[j]!r}: NaN or "
                            "infinite feature value")
    if any(c == "" for c in labels):
        raise DataFileError(f"{name}, line {labels.index('') + 2}: the target {target!r} "
                            "is empty")
    try:
        raw = np.array([float(c) for c in labels])
    except ValueError:
        raw = np.array(labels)
    return X, raw, features, target


def _read_npz(name: str) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    try:
        with np.load(name, allow_pickle=False) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise DataFileError(f"{name}: expected arrays 'X' and 'y', it has "
                                    f"{sorted(archive.files)}")
            X, y = archive["X"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"{name}: not a readable NPZ archive ({exc})") from None
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise DataFileError(f"{name}: X must be a 2-D numeric array (samples, features), got "
                            f"shape {X.shape} dtype {X.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(X):
        raise DataFileError(f"{name}: y must be 1-D with one value per row of X "
                            f"({len(X)}), got shape {y.shape}")
    if y.dtype.kind not in "biufU":
        raise DataFileError(f"{name}: y must hold numbers or text labels, got {y.dtype}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise DataFileError(f"{name}: X has NaN or infinite values")
    return X, y, [f"x{i}" for i in range(X.shape[1])], "y"


# ---------------------------------------------------------------------------------------
# a train/test problem, as ``python -m pyautotape train`` uses it


@dataclasses.dataclass
class Problem:
    """A split, standardised data set and how to score a model on it.

    Classification: ``y`` are class indices, the model has one output per class and the
    score is the test accuracy. Regression: the model has one output, ``y`` is the
    standardised target as a column, and the score is the test RMSE in the target's units.
    """

    description: str
    task: str
    Xtr: np.ndarray
    Xte: np.ndarray
    ytr: np.ndarray
    yte: np.ndarray
    outputs: int
    info: dict  # what a saved model needs to be used again (standardisation, classes)

    def score(self, predict) -> tuple[float, str, str]:
        """``(value, short, long)`` of ``predict(X) -> ndarray`` on the test set: the
        accuracy or the RMSE, as a progress-bar text and as the result line."""
        out = predict(self.Xte)
        if self.task == "classification":
            correct = int((out.argmax(axis=1) == self.yte).sum())
            acc = correct / max(len(self.yte), 1)
            line = f"test accuracy  {acc:.2%} ({correct}/{len(self.yte)})"
            return acc, f"test acc {acc:.2%}", line
        scale = self.info["y_std"]
        err = (out[:, 0].astype(np.float64) - self.yte[:, 0]) * scale
        rmse = float(np.sqrt(np.mean(err**2)))
        spread = float(np.sum((self.yte[:, 0] * scale - np.mean(self.yte[:, 0] * scale)) ** 2))
        r2 = 1.0 - float(np.sum(err**2)) / spread if spread > 0 else float("nan")
        return rmse, f"test RMSE {rmse:.4g}", f"test RMSE      {rmse:.4g} (R² {r2:.3f})"


def file_problem(path: str, target: str | None, task: str, dtype: np.dtype,
                 split: Callable) -> Problem:
    """The :class:`Problem` of a data file: split with ``split(X, y)`` (the CLI's 80/20,
    seed 0), features standardised with the training part's mean and deviation (and a
    regression's target too)."""
    table = load_table(path, target, task)
    Xtr, Xte, ytr, yte = split(table.X, table.y)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    info: dict = {"x_mean": mean, "x_std": std, "target": table.target, "task": table.task}
    Xtr, Xte = ((Xtr - mean) / std).astype(dtype), ((Xte - mean) / std).astype(dtype)
    name = os.path.basename(path)
    n = f"{len(Xtr)} train / {len(Xte)} test samples, {table.X.shape[1]} features"
    if table.classes is not None:  # a classification
        info["classes"] = table.classes
        return Problem(f"{name}: {n}, {len(table.classes)} classes of {table.target!r}",
                       table.task, Xtr, Xte, ytr, yte, len(table.classes), info)
    y_mean, y_std = float(ytr.mean()), float(ytr.std()) or 1.0
    info.update(y_mean=y_mean, y_std=y_std)
    col = lambda v: ((v - y_mean) / y_std).astype(dtype)[:, None]  # noqa: E731
    return Problem(f"{name}: {n}, regression of {table.target!r}", table.task, Xtr, Xte,
                   col(ytr), col(yte), 1, info)
