"""Ops of the nn layers that need a kernel of their own: ``dropout``, whose random mask
comes from a counter-based generator in C (``csrc/nn.c``).

The generator state is three float64 words (key high 32 bits, key low 32 bits, call
counter), one array for the process, reseeded in place by :func:`pyautotape.manual_seed`.
Each call of :func:`dropout` reads it in its kernel and then advances the counter by a
recorded in-place add, so a step replayed by ``pat.compile`` draws a fresh mask each time,
the same masks the eager steps would have drawn.

>>> import pyautotape as pat
>>> _ = pat.manual_seed(0)
>>> y = pat.dropout(pat.tensor([1.0] * 8), 0.5)
>>> sorted(set(y.numpy().tolist())) in ([0.0, 2.0], [0.0], [2.0])
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ffi import F64, lib
from .._state import state
from ..errors import DTypeError, ShapeError
from ..record import record
from ..tensor import Tensor
from .core import bcast_iter, run, tensor_arg
from .spec import Example, OpSpec, register

__all__ = ["dropout"]  # pick, embedding: pat.ops.pick / pat.ops.embedding (nn builds on them)

_STATE = np.zeros(3, np.float64)  # key hi, key lo, counter: read by the kernel, in place
_ONE_CALL = np.array([0.0, 0.0, 1.0])
_ONE_CALL.flags.writeable = False
_ADVANCE_IT = bcast_iter("add", (3,), (3,))[1]


def seed(value: int) -> None:
    """Reseed dropout's generator in place (``pat.manual_seed`` calls this): the key is
    drawn from ``value`` through NumPy's SeedSequence and the counter starts at 0."""
    key = int(np.random.SeedSequence(int(value)).generate_state(1, np.uint64)[0])
    _STATE[:] = (key >> 32, key & 0xFFFFFFFF, 0.0)


_entropy = np.random.SeedSequence().entropy  # an int when drawn from the OS
seed(int(_entropy if isinstance(_entropy, int) else 0) & ((1 << 63) - 1))


def _check_p(p: Any, where: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: p must be a number in [0, 1], got {type(p).__name__}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{where}: dropout probability has to be between 0 and 1, got {p}")
    return float(p)


def _masked(t: Tensor, p: float, state: np.ndarray) -> Tensor:
    """The op itself: ``x * mask`` for the mask the state's (key, counter) gives."""
    y = np.empty(t.shape, t.dtype)
    mask = np.empty(t.shape, t.dtype)
    op = lib.PAT_OP_DROPOUT
    run(op, "dropout", t.dtype, y, aux=mask, s0=t._data, s1=state, n=t.size, alpha=p)
    return record(op, y, (t, state), aux=mask, n=t.size, alpha=p)


def dropout(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (``torch.nn.functional.dropout``); with ``training=False`` or ``p == 0`` it returns
    ``x`` unchanged. Masks come from the generator :func:`pyautotape.manual_seed` seeds;
    every call draws a new one, in eager steps and in replayed ones alike.
    ``inplace=True`` is accepted for PyTorch compatibility and returns a new tensor.

    >>> import pyautotape as pat
    >>> _ = pat.manual_seed(1)
    >>> x = pat.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    >>> y = pat.dropout(x, 0.5)
    >>> y.sum().backward()
    >>> bool((x.grad.numpy() == y.numpy()).all())
    True
    >>> pat.dropout(x, 0.5, training=False) is x
    True
    """
    p = _check_p(p, "dropout")
    t = tensor_arg(x, "dropout")
    if not bool(training) or p == 0.0:
        return t
    out = _masked(t, p, _STATE)
    # advance the counter: a recorded in-place add, so a replay advances it too
    run(lib.PAT_OP_ADD, "add", F64, _STATE, s0=_STATE, s1=_ONE_CALL, it=_ADVANCE_IT)
    return out


def pick(x: Any, labels: Any, ignore_index: int = -100) -> Tensor:
    """``y[r] = x[r, labels[r]]`` for x (m, k) and integer labels (m,): the gather under
    ``nn.functional.nll_loss``; rows whose label is ``ignore_index`` give 0 (and no
    gradient). Labels are an integer ndarray of m elements in any shape, read in C order
    (bound as an input under pat.compile).

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> pat.ops.pick(x, np.array([1, -100])).numpy()
    array([2., 0.], dtype=float32)
    """
    t = tensor_arg(x, "pick")
    if t.ndim != 2:
        raise ShapeError(f"pick: x must be 2-D (rows, classes), got {t.shape}")
    m, k = t.shape
    if isinstance(labels, Tensor):
        raise DTypeError("pick: labels must be an integer ndarray of class indices, not a "
                         "Tensor; pass e.g. y.astype(np.int64)")
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise DTypeError(f"pick: labels have dtype {lab.dtype}; class indices must be "
                         "integers, e.g. y.astype(np.int64)")
    if lab.size != m or (lab.ndim != 1 and m == 0):
        raise ShapeError(f"pick: labels have shape {lab.shape}, expected {m} labels, one "
                         "per row of x")
    ig = int(ignore_index)
    bad = (lab != ig) & ((lab < 0) | (lab >= k))
    if bad.any():
        pos = int(np.argmax(bad.reshape(-1)))
        raise ValueError(f"pick: label {int(lab.reshape(-1)[pos])} at index {pos} is outside "
                         f"[0, {k}) (and is not ignore_index={ig})")
    full = np.array(lab, dtype=np.int64, order="C", copy=True)  # the labels' own shape
    if state.recorder is not None:
        state.recorder.converted(labels, full)  # a replay copies new labels in here
    out = full.reshape(-1)
    y = np.empty((m,), t.dtype)
    op = lib.PAT_OP_PICK
    run(op, "pick", t.dtype, y, s0=t._data, s1=out, m=m, k=k, n=ig)
    return record(op, y, (t, out), m=m, k=k, n=ig)


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Row lookup ``y[..., :] = weight[indices[...], :]`` for an integer ndarray of
    indices and weight (num_embeddings, dim); the gradient is scattered back into the
    looked-up rows, except the ``padding_idx`` row, which gets none (PyTorch's rule).

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor([[0.0, 1.0], [2.0, 3.0]])
    >>> pat.ops.embedding(np.array([[1, 0]]), w).numpy()
    array([[[2., 3.],
            [0., 1.]]], dtype=float32)
    """
    w = tensor_arg(weight, "embedding", "weight")
    if w.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim), got {w.shape}")
    k, n = w.shape
    if isinstance(indices, Tensor):
        raise DTypeError("embedding: indices must be an integer ndarray, not a Tensor; pass "
                         "e.g. idx.astype(np.int64)")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"embedding: indices have dtype {idx.dtype}; they must be integers, "
                         "e.g. idx.astype(np.int64)")
    bad = (idx < 0) | (idx >= k)
    if bad.any():
        pos = np.unravel_index(int(np.argmax(bad.reshape(-1))), idx.shape)
        raise IndexError(f"embedding: index {int(idx[pos])} at {tuple(map(int, pos))} is "
                         f"outside [0, {k}) for a weight with {k} rows")
    skip = -1
    if padding_idx is not None:
        if not -k <= int(padding_idx) < k:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within [-{k}, {k})")
        skip = int(padding_idx) % k
    full = np.array(idx, dtype=np.int64, order="C", copy=True)
    if state.recorder is not None:
        state.recorder.converted(indices, full)
    flat = full.reshape(-1)
    m = flat.size
    y = np.empty(idx.shape + (n,), w.dtype)
    op = lib.PAT_OP_EMBEDDING
    run(op, "embedding", w.dtype, y, s0=w._data, s1=flat, m=m, k=k, n=n, alpha=float(skip))
    return record(op, y, (w, flat), m=m, k=k, n=n, alpha=float(skip))


# ---------------------------------------------------------------------------------------
# the spec: a fixed generator state, so the example is a pure function of x

_G = 0x9E3779B97F4A7C15


def _mix(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def reference_mask(shape: tuple[int, ...], p: float, state: np.ndarray) -> np.ndarray:
    """The kernel's mask (float64) in NumPy: element i is kept when
    ``(mix(base + (i+1) G) >> 11) 2^-53 >= p`` with ``base = mix(key ^ mix(counter))``.

    >>> import numpy as np
    >>> m = reference_mask((1000,), 0.25, np.array([0.0, 7.0, 0.0]))
    >>> sorted(set(m.tolist())), 0.7 < float((m > 0).mean()) < 0.8
    ([0.0, 1.3333333333333333], True)
    """
    key = (int(state[0]) << 32) | int(state[1])
    base = _mix(np.array([key ^ int(_mix(np.array([int(state[2])], np.uint64))[0])], np.uint64))
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        idx = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_G)) + base[0]
        u = (_mix(idx) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    keep = (u >= p) if p < 1.0 else np.zeros(n, bool)
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    return (keep * scale).reshape(shape)


_EXAMPLE_STATE = np.array([12345.0, 678.0, 9.0])
_EXAMPLE_STATE.flags.writeable = False

register(OpSpec("dropout", dropout, "nn", aux="mask", examples=(Example(
    lambda x: _masked(tensor_arg(x, "dropout"), 0.5, _EXAMPLE_STATE),
    lambda x: x * reference_mask(x.shape, 0.5, _EXAMPLE_STATE),
    lambda r: [r.standard_normal((3, 4))]),)))

_PICK_LABELS = np.array([0, 4, -100, 1])
register(OpSpec("pick", pick, "nn", inputs=("x", "labels"), flops=lambda c: 0,
                examples=(Example(lambda x: pick(x, _PICK_LABELS),
                                  lambda x: np.where(_PICK_LABELS == -100, 0.0,
                                                     x[np.arange(4), _PICK_LABELS % 5]),
                                  lambda r: [r.standard_normal((4, 5))]),)))

_EMB_INDEX = np.array([[2, 0], [2, 1]])
register(OpSpec("embedding", embedding, "nn", inputs=("weight", "indices"), flops=lambda c: 0,
                examples=(Example(lambda w: embedding(_EMB_INDEX, w), lambda w: w[_EMB_INDEX],
                                  lambda r: [r.standard_normal((3, 4))]),)))
