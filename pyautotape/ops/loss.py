"""Softmax and losses: ``softmax``, ``log_softmax``, ``cross_entropy`` (fused with
log-softmax) and ``mse_loss``, with PyTorch's ``reduction``.

>>> import numpy as np, pyautotape as pat
>>> round(pat.mse_loss(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item(), 3)
2.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._ffi import lib
from .._state import state
from ..errors import DTypeError, ShapeError
from ..record import record
from ..tensor import Tensor, exact_guard
from .core import OPCODE, one_axis, operands, prod, run, tensor_arg
from .spec import Cost, Example, OpSpec, register


def _softmax(name: str, x: Any, axis: int) -> Tensor:
    t = tensor_arg(x, name)
    if t.ndim == 0:
        raise ShapeError(f"{name}: needs at least 1-D input, got a scalar")
    ax = one_axis(name, t.ndim, axis)
    m, k, n = prod(t.shape[:ax]), t.shape[ax], prod(t.shape[ax + 1 :])
    op = OPCODE[name]
    y = np.empty(t.shape, t.dtype)
    run(op, name, t.dtype, y, s0=t._data, m=m, k=k, n=n)
    return record(op, y, (t,), m=m, k=k, n=n)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis`` (default last), shifted by the max.

    >>> import pyautotape as pat
    >>> pat.softmax(pat.tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    return _softmax("softmax", x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis`` (default last).

    >>> import pyautotape as pat
    >>> round(float(pat.log_softmax(pat.tensor([0.0, 0.0]))[0].item()), 4)
    -0.6931
    """
    return _softmax("log_softmax", x, axis)


_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(name: str, reduction: Any) -> int:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return _REDUCTIONS[reduction]


def _labels(labels: Any, n: int, classes: int) -> np.ndarray:
    if isinstance(labels, Tensor):
        if labels.dtype.kind not in "iu":
            raise DTypeError(
                f"cross_entropy: labels are a {labels.dtype} tensor; class indices must be "
                "integers, e.g. y.long()"
            )
        exact_guard((labels._data,))  # a constant of a pat.compile recording, or opaque
        labels = labels._data
    elif state.recorder is not None:  # an argument of a compiled function: its buffer
        labels = state.recorder.host(labels)
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise DTypeError(
            f"cross_entropy: labels have dtype {lab.dtype}; class indices must be integers, "
            "e.g. y.astype(np.int64)"
        )
    if lab.shape != (n,):
        raise ShapeError(
            f"cross_entropy: labels have shape {lab.shape}, expected ({n},) for logits with "
            f"{n} rows"
        )
    if n:
        lo, hi = int(lab.min()), int(lab.max())
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            pos = int(np.argmax(lab == bad))
            raise ValueError(
                f"cross_entropy: label {bad} at index {pos} is outside [0, {classes}) for "
                f"logits with {classes} classes"
            )
    out = np.array(lab, dtype=np.int64, order="C", copy=True)
    if state.recorder is not None:
        state.recorder.converted(labels, out)
    return out


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer labels (N,), fused in one
    kernel (log-softmax + NLL) that keeps the probabilities for the backward.

    >>> import numpy as np, pyautotape as pat
    >>> logits = pat.tensor(np.zeros((2, 4)), requires_grad=True)
    >>> loss = pat.cross_entropy(logits, np.array([0, 3]))
    >>> round(loss.item(), 4)
    1.3863
    """
    red = _reduction("cross_entropy", reduction)
    t = tensor_arg(logits, "cross_entropy", "logits")
    if t.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must be 2-D (N, C), got {t.shape}")
    m, k = t.shape
    if k == 0 and m > 0:
        raise ShapeError("cross_entropy: logits have 0 classes")
    lab = _labels(labels, m, k)
    y = np.empty((m,) if red == 0 else (), t.dtype)
    probs = np.empty(t.shape, t.dtype)
    run(lib.PAT_OP_CROSS_ENTROPY, "cross_entropy", t.dtype, y, aux=probs, s0=t._data,
         s1=lab, m=m, k=k, n=red)
    return record(lib.PAT_OP_CROSS_ENTROPY, y, (t, lab), aux=probs, m=m, k=k, n=red)


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((pred - target)²)``; shapes must match exactly (no silent
    broadcasting). Both arguments may require gradients.

    >>> import pyautotape as pat
    >>> pat.mse_loss(pat.tensor([1.0, 2.0]), pat.tensor([1.0, 4.0])).item()
    2.0
    """
    red = _reduction("mse_loss", reduction)
    (tp, tt), dt = operands("mse_loss", pred, target)
    if tp.shape != tt.shape:
        raise ShapeError(
            f"mse_loss: pred {tp.shape} and target {tt.shape} differ; reshape the target "
            "(e.g. y.reshape(-1, 1)) so they match"
        )
    n = tp.size
    y = np.empty(tp.shape if red == 0 else (), dt)
    diff = np.empty(tp.shape, dt)
    run(lib.PAT_OP_MSE, "mse_loss", dt, y, aux=diff, s0=tp._data, s1=tt._data, n=n, k=red)
    return record(lib.PAT_OP_MSE, y, (tp, tt), aux=diff, n=n, k=red)


# ---------------------------------------------------------------------------------------
# the specs


def _np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_LABELS = np.array([0, 4, 2, 1])


def _np_xent(x: np.ndarray) -> np.ndarray:
    return np.mean(-np.log(_np_softmax(x))[np.arange(len(_LABELS)), _LABELS])


def _softmax_flops(c: Cost) -> int:
    return 4 * math.prod(c.ins[0])


register(OpSpec("softmax", softmax, "softmax", flops=_softmax_flops, examples=(Example(
    softmax, _np_softmax, lambda r: [r.standard_normal((3, 5))]),)))
register(OpSpec("log_softmax", log_softmax, "softmax", flops=_softmax_flops, examples=(Example(
    log_softmax, lambda x: np.log(_np_softmax(x)), lambda r: [r.standard_normal((3, 5))]),)))
register(OpSpec("cross_entropy", cross_entropy, "loss", inputs=("logits", "labels"),
                aux="probabilities", flops=lambda c: 4 * c.m * c.k, examples=(Example(
                    lambda x: cross_entropy(x, _LABELS), _np_xent,
                    lambda r: [r.standard_normal((4, 5))]),)))
register(OpSpec("mse_loss", mse_loss, "loss", inputs=("pred", "target"), aux="differences",
                flops=lambda c: 3 * c.n, examples=(Example(
                    mse_loss, lambda a, b: np.mean((a - b) ** 2),
                    lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))]),)))

__all__ = ["softmax", "log_softmax", "cross_entropy", "mse_loss"]
