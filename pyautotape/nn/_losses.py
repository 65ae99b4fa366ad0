"""The loss functions of ``pat.nn.functional``, as ``torch.nn.functional``: composed from
ops whose gradients are exact (relu with subgradient 1/2 where an ``|x|`` or a softplus
switches, so the derivative at the kink is PyTorch's), and ``pick``, the row gather by
class index, so every loss replays under ``pat.compile`` with new targets each step.

>>> import numpy as np, pyautotape as pat
>>> F = pat.nn.functional
>>> round(F.l1_loss(pat.tensor([1.0, -1.0]), pat.tensor([0.0, 0.0])).item(), 4)
1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..errors import DTypeError, ShapeError
from ..ops.core import const, operands, tensor_arg
from ..ops.nn import pick
from ..tensor import Tensor

__all__ = [
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
    "cosine_embedding_loss", "margin_ranking_loss",
]

_RED = ("none", "mean", "sum")


def _check_red(name: str, reduction: Any, extra: tuple[str, ...] = ()) -> str:
    if reduction not in _RED + extra:
        raise ValueError(f"{name}: reduction must be one of {list(_RED + extra)}, got "
                         f"{reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _abs(x: Tensor) -> Tensor:
    """|x| with derivative 0 at 0 (PyTorch's sign(0))."""
    return ops.relu(x, subgradient=0.5) + ops.relu(-x, subgradient=0.5)


def _softplus_neg(x: Tensor) -> Tensor:
    """log(1 + exp(-x)), stably: relu(-x) + log(1 + exp(-|x|)); derivative -1/2 at 0."""
    return ops.relu(-x, subgradient=0.5) + ops.log(1.0 + ops.exp(-_abs(x)))


def _same_shape(name: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{name}: input {a.shape} and target {b.shape} must have the same "
                         "shape (reshape the target, e.g. y.reshape(-1, 1))")


def _rows(name: str, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """(N, C, d1, ...) -> (N*d1*..., C) with the class axis last; the shape of the rest."""
    if x.ndim == 0:
        raise ShapeError(f"{name}: input must be (C,), (N, C) or (N, C, d1, ...), got a scalar")
    if x.ndim == 1:
        return ops.reshape(x, (1, x.shape[0])), ()
    if x.ndim == 2:
        return x, (x.shape[0],)
    perm = (0, *range(2, x.ndim), 1)
    rest = (x.shape[0], *x.shape[2:])
    return ops.reshape(ops.transpose(x, perm), (-1, x.shape[1])), rest


def _weight(name: str, weight: Any, c: int, dtype: np.dtype) -> Tensor | None:
    if weight is None:
        return None
    if isinstance(weight, Tensor) and weight.dtype == dtype:
        w = weight
    else:
        raw = weight.numpy() if isinstance(weight, Tensor) else np.asarray(weight)
        w = const(raw.astype(dtype), dtype, name, "weight")
    if w.shape != (c,):
        raise ShapeError(f"{name}: weight must have one entry per class, shape ({c},), got "
                         f"{w.shape}")
    return w


def _indices(name: str, target: Any, rest: tuple[int, ...], input_shape: tuple) -> Any:
    """The target itself (pick binds it as a replay input), once its shape is checked."""
    lab = np.asarray(target)
    if lab.shape != rest and not (rest == () and lab.shape == (1,)):
        raise ShapeError(f"{name}: target of class indices has shape {lab.shape}, expected "
                         f"{rest} for input {input_shape}")
    if isinstance(target, Tensor):
        raise DTypeError(f"{name}: class indices must be an integer ndarray, not a Tensor; "
                         "pass e.g. y.astype(np.int64)")
    return target if isinstance(target, np.ndarray) else lab


def _nll_rows(name: str, logp: Tensor, lab: np.ndarray, weight: Tensor | None,
              ignore_index: int) -> tuple[Tensor, Tensor]:
    """(-w[t] logp[t] per row, w[t] per row) with 0 for ignored rows."""
    m, c = logp.shape
    picked = pick(logp, lab, ignore_index)
    if weight is None:
        w_rows = pick(const(np.ones((m, c), logp.dtype), logp.dtype, name, "ones"), lab,
                      ignore_index)
        return -picked, w_rows
    wt = ops.reshape(weight, (1, c)) * const(np.ones((m, 1), logp.dtype), logp.dtype, name, "w")
    w_rows = pick(wt, lab, ignore_index)
    return -(picked * w_rows), w_rows


def _finish(loss: Tensor, denom: Tensor, rest: tuple[int, ...], reduction: str) -> Tensor:
    if reduction == "none" and rest == ():
        return ops.reshape(loss, ())
    if reduction == "none":
        return ops.reshape(loss, rest)
    total = ops.sum(loss)
    return total / ops.sum(denom) if reduction == "mean" else total


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) or (N, C, d1, ...)
    at integer class indices ``target`` (N,) / (N, d1, ...), as ``torch.nn.functional.
    nll_loss``: ``mean`` divides by the summed weights of the rows not ignored.

    >>> import numpy as np, pyautotape as pat
    >>> logp = pat.log_softmax(pat.tensor([[0.0, 0.0], [0.0, 0.0]]))
    >>> round(pat.nn.functional.nll_loss(logp, np.array([0, 1])).item(), 4)
    0.6931
    """
    _check_red("nll_loss", reduction)
    x = tensor_arg(input, "nll_loss", "input")
    rows, rest = _rows("nll_loss", x)
    lab = _indices("nll_loss", target, rest, x.shape)
    w = _weight("nll_loss", weight, rows.shape[1], x.dtype)
    loss, denom = _nll_rows("nll_loss", rows, lab, w, ignore_index)
    return _finish(loss, denom, rest, reduction)


def cross_entropy(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """``torch.nn.functional.cross_entropy``: logits (C,), (N, C) or (N, C, d1, ...)
    against class indices (an integer ndarray of shape (N,) / (N, d1, ...)) or class
    probabilities (floats of the input's shape), with ``weight``, ``ignore_index`` and
    ``label_smoothing``. An integer one-hot target is refused: pass the indices
    (``y.argmax(1)``) or the probabilities as floats.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.zeros((2, 3)))
    >>> F = pat.nn.functional
    >>> round(F.cross_entropy(x, np.array([0, -100])).item(), 4)
    1.0986
    >>> round(F.cross_entropy(x, np.full((2, 3), 1 / 3), label_smoothing=0.1).item(), 4)
    1.0986
    """
    _check_red("cross_entropy", reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {eps}")
    x = tensor_arg(input, "cross_entropy", "input")
    rows, rest = _rows("cross_entropy", x)
    m, c = rows.shape
    w = _weight("cross_entropy", weight, c, x.dtype)
    logp = ops.log_softmax(rows, axis=1)
    probs = isinstance(target, Tensor) or np.asarray(target).dtype.kind == "f"
    if not probs:
        lab_arr = np.asarray(target)
        if lab_arr.dtype.kind not in "iu":
            raise DTypeError(f"cross_entropy: target has dtype {lab_arr.dtype}; pass class "
                             "indices as integers or class probabilities as floats")
        if lab_arr.shape == x.shape and x.ndim >= 2 and lab_arr.shape != rest:
            raise ShapeError(
                f"cross_entropy: target {lab_arr.shape} is an integer array of the input's "
                "shape, a one-hot encoding; pass class indices (e.g. y.argmax(axis=1)) or "
                "class probabilities as floats (y.astype(np.float32))")
        lab = _indices("cross_entropy", target, rest, x.shape)
        loss, denom = _nll_rows("cross_entropy", logp, lab, w, ignore_index)
        if eps > 0.0:
            mask = pick(const(np.ones((m, c), x.dtype), x.dtype, "cross_entropy", "ones"),
                        lab, ignore_index)
            lw = logp if w is None else logp * ops.reshape(w, (1, c))
            smooth = -ops.sum(lw, axis=1) * mask
            loss = loss * (1.0 - eps) + smooth * (eps / c)
        return _finish(loss, denom, rest, reduction)
    t = target if isinstance(target, Tensor) else const(np.asarray(target), x.dtype,
                                                        "cross_entropy", "target")
    if t.shape != x.shape:
        raise ShapeError(f"cross_entropy: probability targets must have the input's shape "
                         f"{x.shape}, got {t.shape}")
    if t.dtype != x.dtype:
        raise DTypeError(f"cross_entropy: input is {x.dtype} but target is {t.dtype}")
    trows, _ = _rows("cross_entropy", t)
    if eps > 0.0:
        trows = trows * (1.0 - eps) + eps / c
    lw = logp if w is None else logp * ops.reshape(w, (1, c))
    loss = -ops.sum(lw * trows, axis=1)
    if reduction == "none":
        return ops.reshape(loss, rest)
    total = ops.sum(loss)
    return total / float(m) if reduction == "mean" else total


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """``-(t log x + (1 - t) log(1 - x))`` for probabilities x, each log clamped at -100
    as PyTorch does.

    >>> import pyautotape as pat
    >>> F = pat.nn.functional
    >>> round(F.binary_cross_entropy(pat.tensor([0.5]), pat.tensor([1.0])).item(), 4)
    0.6931
    """
    _check_red("binary_cross_entropy", reduction)
    (x, t), _ = operands("binary_cross_entropy", input, target)
    _same_shape("binary_cross_entropy", x, t)
    lx = ops.maximum(ops.log(x), -100.0)
    l1x = ops.maximum(ops.log(1.0 - x), -100.0)
    loss = -(t * lx + (1.0 - t) * l1x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable expression:
    ``(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)``.

    >>> import pyautotape as pat
    >>> F = pat.nn.functional
    >>> round(F.binary_cross_entropy_with_logits(pat.tensor([0.0]), pat.tensor([1.0])).item(), 4)
    0.6931
    """
    _check_red("binary_cross_entropy_with_logits", reduction)
    (x, t), _ = operands("binary_cross_entropy_with_logits", input, target)
    _same_shape("binary_cross_entropy_with_logits", x, t)
    sp = _softplus_neg(x)
    if pos_weight is None:
        loss = (1.0 - t) * x + sp
    else:
        loss = (1.0 - t) * x + (1.0 + (pos_weight - 1.0) * t) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """``mean((input - target)²)``: the fused ``pat.mse_loss``.

    >>> import pyautotape as pat
    >>> pat.nn.functional.mse_loss(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item()
    2.0
    """
    _check_red("mse_loss", reduction)
    return ops.mse_loss(input, target, reduction=reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """``mean(|input - target|)`` (derivative 0 where they are equal, as PyTorch).

    >>> import pyautotape as pat
    >>> pat.nn.functional.l1_loss(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item()
    1.0
    """
    _check_red("l1_loss", reduction)
    (x, t), _ = operands("l1_loss", input, target)
    _same_shape("l1_loss", x, t)
    return _reduce(_abs(x - t), reduction)


def _smooth(d: Tensor, beta: float) -> Tensor:
    a = _abs(d)
    m = ops.minimum(a, beta)
    return (m * m) * (0.5 / beta) + (a - m)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d² / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (d = input - target).

    >>> import pyautotape as pat
    >>> pat.nn.functional.smooth_l1_loss(pat.tensor([0.5, 3.0]), pat.tensor([0.0, 0.0]),
    ...                                  reduction="none").numpy()
    array([0.125, 2.5  ], dtype=float32)
    """
    _check_red("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    (x, t), _ = operands("smooth_l1_loss", input, target)
    _same_shape("smooth_l1_loss", x, t)
    d = x - t
    return _reduce(_abs(d) if beta == 0 else _smooth(d, float(beta)), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """``0.5 d²`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``.

    >>> import pyautotape as pat
    >>> pat.nn.functional.huber_loss(pat.tensor([3.0]), pat.tensor([0.0]), delta=2.0).item()
    4.0
    """
    _check_red("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    (x, t), _ = operands("huber_loss", input, target)
    _same_shape("huber_loss", x, t)
    return _reduce(_smooth(x - t, float(delta)) * float(delta), reduction)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target (log target - input)`` for log-probabilities ``input`` (0 where target is
    0); ``reduction="batchmean"`` divides the sum by the batch size (the KL divergence).

    >>> import numpy as np, pyautotape as pat
    >>> p = pat.tensor([0.5, 0.5])
    >>> pat.nn.functional.kl_div(pat.log(p), p, reduction="sum").item()
    0.0
    """
    _check_red("kl_div", reduction, ("batchmean",))
    (x, t), dt = operands("kl_div", input, target)
    _same_shape("kl_div", x, t)
    if log_target:
        loss = ops.exp(t) * (t - x)
    else:
        loss = t * (ops.log(ops.maximum(t, float(np.finfo(dt).tiny))) - x)
    if reduction == "batchmean":
        total = ops.sum(loss)
        return total / float(x.shape[0]) if x.ndim else total
    return _reduce(loss, reduction)


def _pair_target(name: str, target: Any, n: int, dt: np.dtype) -> Tensor:
    y = target if isinstance(target, Tensor) else const(np.asarray(target, dt), dt, name,
                                                        "target")
    if y.shape != (n,):
        raise ShapeError(f"{name}: target must have shape ({n},) of 1 / -1, got {y.shape}")
    return y


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos - margin)`` where it is -1.

    >>> import numpy as np, pyautotape as pat
    >>> a = pat.tensor([[1.0, 0.0]]); b = pat.tensor([[1.0, 0.0]])
    >>> pat.nn.functional.cosine_embedding_loss(a, b, np.array([1.0])).item()
    0.0
    """
    _check_red("cosine_embedding_loss", reduction)
    (a, b), dt = operands("cosine_embedding_loss", input1, input2)
    if a.shape != b.shape or a.ndim != 2:
        raise ShapeError(f"cosine_embedding_loss: inputs must both be (N, D), got {a.shape} "
                         f"and {b.shape}")
    y = _pair_target("cosine_embedding_loss", target, a.shape[0], dt)
    eps = 1e-12
    cos = ops.sum(a * b, axis=1) / ops.sqrt((ops.sum(a * a, axis=1) + eps)
                                            * (ops.sum(b * b, axis=1) + eps))
    loss = (1.0 + y) * 0.5 * (1.0 - cos) + (1.0 - y) * 0.5 * ops.relu(cos - float(margin))
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """``max(0, -target (x1 - x2) + margin)``.

    >>> import numpy as np, pyautotape as pat
    >>> F = pat.nn.functional
    >>> F.margin_ranking_loss(pat.tensor([1.0]), pat.tensor([2.0]), np.array([1.0])).item()
    1.0
    """
    _check_red("margin_ranking_loss", reduction)
    (a, b), dt = operands("margin_ranking_loss", input1, input2)
    if a.shape != b.shape or a.ndim != 1:
        raise ShapeError(f"margin_ranking_loss: inputs must both be (N,), got {a.shape} and "
                         f"{b.shape}")
    y = _pair_target("margin_ranking_loss", target, a.shape[0], dt)
    return _reduce(ops.relu(-y * (a - b) + float(margin)), reduction)
