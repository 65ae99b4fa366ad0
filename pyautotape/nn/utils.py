"""``pat.nn.utils``: gradient clipping and flat parameter vectors, as ``torch.nn.utils``.

Clipping is computed by ops on the gradient buffers and written back by recorded in-place
ops, so a step compiled with ``pat.compile`` replays it in C with each step's own norm.
``vector_to_parameters`` writes parameters from Python: a compiled step that calls it runs
eagerly every call (``stats["eager"]``) instead of replaying a stale copy.

>>> import numpy as np, pyautotape as pat
>>> w = pat.tensor([3.0, 4.0], requires_grad=True)
>>> (w * w).sum().backward()            # grad = [6, 8], norm 10
>>> round(float(pat.nn.utils.clip_grad_norm_([w], 1.0)), 4)
10.0
>>> np.round(w.grad.numpy(), 4)
array([0.6, 0.8], dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import _state, ops
from .._ffi import lib
from ..errors import DTypeError, ShapeError
from ..ops.core import bcast_iter, run
from ..tensor import Tensor, _wrap, _writable, no_grad, tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def _params(parameters: Any) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters: Any, where: str) -> list[Tensor]:
    grads = [p._grad for p in _params(parameters) if p._grad is not None]
    if len({g.dtype for g in grads}) > 1:
        kinds = sorted({str(g.dtype) for g in grads})
        raise DTypeError(f"{where}: the gradients mix dtypes {kinds}; convert the model "
                         "with .to(dtype) first")
    return grads


def _inplace(op: str, g: Tensor, other: Tensor) -> None:
    """``g = g (op) other`` into g's own buffer by a recorded kernel call (elementwise,
    so writing over the input it reads is safe)."""
    it = bcast_iter(op, g.shape, other.shape)[1]
    code = getattr(lib, f"PAT_OP_{op.upper()}")
    with _writable(g) as buf:
        run(code, op, g.dtype, buf, s0=buf, s1=other._data, it=it)


def _abs(x: Tensor) -> Tensor:
    return ops.relu(x, subgradient=0.5) + ops.relu(-x, subgradient=0.5)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most
    ``max_norm``: by ``min(1, max_norm / (norm + 1e-6))``, PyTorch's factor; returns the
    total norm before clipping as a 0-d tensor. ``error_if_nonfinite`` raises RuntimeError
    when that norm is NaN or infinite (under pat.compile it is a guard: a non-finite norm
    records again, and the eager run raises). ``foreach`` is accepted and changes nothing.
    """
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return tensor(0.0)
    p = float(norm_type)
    with no_grad():
        flat = [_wrap(g._data) for g in grads]
        if math.isinf(p):
            parts = [ops.max(_abs(g)) for g in flat]
            total = parts[0] if len(parts) == 1 else ops.max(ops.concatenate(
                [ops.reshape(t, (1,)) for t in parts]))
        elif p == 2.0:
            sq = [ops.sum(g * g) for g in flat]
            acc = sq[0]
            for t in sq[1:]:
                acc = acc + t
            total = ops.sqrt(acc)
        elif p > 0:
            pw = [ops.sum(_abs(g) ** p) for g in flat]
            acc = pw[0]
            for t in pw[1:]:
                acc = acc + t
            total = acc ** (1.0 / p)
        else:
            raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {p}")
        if error_if_nonfinite:
            finite = bool(np.isfinite(total._data))
            rec = _state.state.recorder
            if rec is not None:
                rec.compare(total._data, np.inf, "<", np.array(finite))
            if not finite:
                raise RuntimeError(
                    f"clip_grad_norm_: the total norm of order {p} of the gradients is "
                    f"{float(total._data)}, so they cannot be clipped; pass "
                    "error_if_nonfinite=False to clip anyway")
        coef = ops.minimum(float(max_norm) / (total + 1e-6), 1.0)
        for g in grads:
            _inplace("mul", g, coef)
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place (by
    recorded ops: replayable).

    >>> import pyautotape as pat
    >>> w = pat.tensor([3.0], requires_grad=True); (w * w).sum().backward()
    >>> pat.nn.utils.clip_grad_value_([w], 1.0); w.grad.numpy()
    array([1.], dtype=float32)
    """
    c = float(clip_value)
    for g in _grads(parameters, "clip_grad_value_"):
        lo = tensor(np.array(-c, g.dtype))
        hi = tensor(np.array(c, g.dtype))
        _inplace("maximum", g, lo)
        _inplace("minimum", g, hi)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one vector (differentiable).

    >>> import pyautotape as pat
    >>> pat.nn.utils.parameters_to_vector(pat.nn.Linear(2, 3).parameters()).shape
    (9,)
    """
    ps = _params(parameters)
    if not ps:
        raise ValueError("parameters_to_vector: no parameters given")
    return ops.concatenate([ops.reshape(p, (-1,)) for p in ps])


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters' values, in place.

    >>> import numpy as np, pyautotape as pat
    >>> lin = pat.nn.Linear(1, 1)
    >>> pat.nn.utils.vector_to_parameters(np.array([2.0, 3.0]), lin.parameters())
    >>> lin.weight.item(), lin.bias.item()
    (2.0, 3.0)
    """
    rec = _state.state.recorder
    if rec is not None:
        rec.opaque("nn.utils.vector_to_parameters writes parameters from Python")
    v = vec.numpy() if isinstance(vec, Tensor) else np.asarray(vec)
    ps = _params(parameters)
    need = sum(p.size for p in ps)
    if v.ndim != 1 or v.size != need:
        raise ShapeError(f"vector_to_parameters: vec must be 1-D with {need} elements (the "
                         f"parameters' total), got shape {v.shape}")
    off = 0
    for p in ps:
        with _writable(p) as buf:
            np.copyto(buf, v[off:off + p.size].reshape(p.shape).astype(p.dtype))
        off += p.size
