"""More reductions, built from the differentiable ops (so every mode, second order and
pat.compile replay come with them): ``argmax argmin prod var std norm logsumexp cumsum
cumprod``, and the truth reductions ``any all count_nonzero`` (no gradient). All take
PyTorch's ``dim``/``keepdim`` and NumPy's ``axis``/``keepdims``.

>>> import pyautotape as pat
>>> pat.tensor([[1.0, 2.0], [3.0, 4.0]]).var(dim=1).numpy()
array([0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from .._exact import EXACT_DTYPES, exact_guard
from ..errors import ShapeError
from ..tensor import Tensor, _wrap, no_grad
from .activation import clamp
from .core import axes as reduce_axes
from .core import tensor_arg
from .elementwise import add, exp, log, mul, sqrt, sub, where
from .math import abs
from .reduce import (
    _reduce,
    _select,
    amax,
    amin,
    exact_reduce,
    max,
    mean,
    min,
    pick_axis,
    sum,
    zero_d_axis,
)
from .shape import concatenate, index, reshape, transpose

Axis = int | tuple[int, ...] | None


def _out(inputs: Any, arr: Any) -> Tensor:
    """A tensor computed in NumPy from ``inputs`` (no gradient; guarded under compile)."""
    arr = np.asarray(arr, order="C")
    exact_guard([t._data for t in inputs], arr)
    return _wrap(arr)


def _data(x: Any, name: str) -> Tensor:
    return x if isinstance(x, Tensor) else tensor_arg(x, name)


def _arg(name: str, x: Any, dim: Any, keepdim: bool, sign: float) -> Tensor:
    t = _data(x, name)
    if t._data.dtype.kind != "f":  # integer/bool tensors: NumPy, no tape
        a = t._data.reshape(-1) if dim is None or t.ndim == 0 else t._data
        if dim is None:
            d = 0
        else:
            d = reduce_axes(name, builtins.max(t.ndim, 1), dim)[0] if t.ndim else 0
        if a.shape[d] == 0:
            raise ShapeError(f"{name}: the tensor of shape {t.shape} is empty along the "
                             "reduced axis")
        i = np.asarray((np.argmax if sign > 0 else np.argmin)(a, axis=d), np.int64)
        if dim is None or t.ndim == 0:
            i = i.reshape((1,) * t.ndim if keepdim else ())
        elif keepdim:
            i = np.expand_dims(i, d)
        return _out([t], i)
    with no_grad():
        if dim is None:
            idx = _select(name, reshape(t, (-1,)), 0, False, sign).indices
            return _out([idx], idx._data.reshape((1,) * t.ndim if keepdim else ()))
        return _select(name, t, dim, keepdim, sign).indices


def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first maximum (NaN first), an int64 Tensor (no gradient); over the
    flattened tensor when ``dim`` is None, as ``torch.argmax``.

    >>> import pyautotape as pat
    >>> pat.argmax(pat.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1).numpy()
    array([1, 0])
    """
    return _arg("argmax", x, dim, keepdim, 1.0)


def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first minimum, as :func:`argmax`.

    >>> import pyautotape as pat
    >>> pat.argmin(pat.tensor([3.0, 1.0, 2.0])).item()
    1
    """
    return _arg("argmin", x, dim, keepdim, -1.0)


def _to_rows(t: Tensor, d: int) -> tuple[Tensor, list[int]]:
    """t with axis d moved last, as rows (-1, n)."""
    perm = [a for a in range(t.ndim) if a != d] + [d]
    m = math.prod(t.shape[a] for a in perm[:-1])
    return reshape(transpose(t, perm), (m, t.shape[d])), perm


def _from_rows(rows: Tensor, t: Tensor, perm: list[int]) -> Tensor:
    moved = reshape(rows, tuple(t.shape[a] for a in perm))
    return transpose(moved, list(np.argsort(perm)))


def prod(x: Any, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
         keepdims: bool | None = None) -> Tensor:
    """Product over ``dim`` (int, tuple or None: all), as a pairwise tree of products, so
    the gradient at zeros is exact (the product of the others), as ``torch.prod``.

    >>> import pyautotape as pat
    >>> pat.prod(pat.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1).numpy()
    array([ 2., 12.], dtype=float32)
    """
    dim, keepdim = pick_axis("prod", dim, keepdim, axis, keepdims)
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:
        return exact_reduce("prod", x, dim, keepdim)
    t = tensor_arg(x, "prod")
    ax = reduce_axes("prod", t.ndim, zero_d_axis("prod", t.ndim, dim))
    rest = [a for a in range(t.ndim) if a not in ax]
    n = math.prod(t.shape[a] for a in ax)
    m = math.prod(t.shape[a] for a in rest)
    rows = reshape(transpose(t, rest + list(ax)), (m, n)) if t.ndim else reshape(t, (1, 1))
    if n == 0:
        rows = add(mul(sum(rows, axis=1, keepdims=True), 0.0), 1.0)
    while rows.shape[1] > 1:
        h = rows.shape[1] // 2
        pair = mul(index(rows, (slice(None), slice(0, h))),
                   index(rows, (slice(None), slice(h, 2 * h))))
        rows = pair if rows.shape[1] == 2 * h else concatenate(
            [pair, index(rows, (slice(None), slice(2 * h, None)))], axis=1)
    shape = (tuple(1 if a in ax else s for a, s in enumerate(t.shape)) if keepdim
             else tuple(t.shape[a] for a in rest))
    return reshape(rows, shape)


def var(x: Any, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Axis = None,
        keepdims: bool | None = None) -> Tensor:
    """Variance over ``dim``: ``sum((x - mean)^2) / (n - correction)``, as ``torch.var``
    (``correction=1`` by default; ``unbiased=False`` is ``correction=0``).

    >>> import pyautotape as pat
    >>> pat.var(pat.tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item()
    1.25
    """
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass correction= or unbiased=, not both")
    c = float(correction if correction is not None else (1 if unbiased is None or unbiased
                                                         else 0))
    dim, keepdim = pick_axis("var", dim, keepdim, axis, keepdims)
    t = tensor_arg(x, "var")
    dim = zero_d_axis("var", t.ndim, dim)
    n = math.prod(t.shape[a] for a in reduce_axes("var", t.ndim, dim))
    dev = sub(t, mean(t, dim, True))
    ss = sum(mul(dev, dev), dim, keepdim)
    denom = builtins.max(0.0, n - c)
    return mul(ss, 1.0 / denom) if denom else mul(ss, math.inf)


def std(x: Any, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Axis = None,
        keepdims: bool | None = None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))`` with :func:`var`'s arguments; where the
    variance is 0 the gradient is 0 (as torch), not the NaN of sqrt's slope there.

    >>> import pyautotape as pat
    >>> pat.std(pat.tensor([1.0, 3.0])).item()
    1.4142135381698608
    """
    v = var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)
    return _safe_root(v, sqrt)


def _safe_root(s: Tensor, root: Any) -> Tensor:
    """root(s) with a zero gradient where s == 0 (torch's convention for norms and std)."""
    zero = s == 0
    return where(zero, 0.0, root(where(zero, 1.0, s)))


def norm(x: Any, p: Any = "fro", dim: Axis = None, keepdim: bool = False, *,
         axis: Axis = None, keepdims: bool | None = None) -> Tensor:
    """Vector norm over ``dim`` (None: all), as ``torch.norm``: ``p=2`` or ``'fro'``
    (``sqrt(sum(x^2))``, gradient 0 at the zero vector, as torch), ``p=1`` (``sum|x|``),
    ``p=inf`` / ``-inf`` (``amax|x|`` / ``amin|x|``, tied maxima sharing the gradient),
    any other positive float (``sum(|x|^p)^(1/p)``).

    >>> import pyautotape as pat
    >>> pat.norm(pat.tensor([3.0, 4.0])).item()
    5.0
    >>> pat.norm(pat.tensor([3.0, -4.0]), p=1).item()
    7.0
    """
    dim, keepdim = pick_axis("norm", dim, keepdim, axis, keepdims)
    t = tensor_arg(x, "norm")
    if p == "fro":
        p = 2.0
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or p <= 0 \
            and p != -math.inf:
        raise ValueError(f"norm: p={p!r} is not supported; use 1, 2, 'fro', inf, -inf or a "
                         "positive float")
    a = abs(t)
    if p == math.inf:
        return amax(a, zero_d_axis("norm", t.ndim, dim), keepdim)
    if p == -math.inf:
        return amin(a, zero_d_axis("norm", t.ndim, dim), keepdim)
    if p == 1:
        return sum(a, dim, keepdim)
    s = sum(mul(t, t) if p == 2 else exp(mul(log(a), float(p))), dim, keepdim)
    return _safe_root(s, sqrt if p == 2 else lambda u: exp(mul(log(u), 1.0 / p)))


def logsumexp(x: Any, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
              keepdims: bool | None = None) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``, computed stably as ``m + log(sum(exp(x - m)))``
    with m the max (clamped to finite, so all -inf gives -inf, as torch); the gradient is
    the softmax.

    >>> import pyautotape as pat
    >>> round(pat.logsumexp(pat.tensor([0.0, 0.0])).item(), 6)
    0.693147
    """
    dim, keepdim = pick_axis("logsumexp", dim, keepdim, axis, keepdims)
    t = tensor_arg(x, "logsumexp")
    dim = zero_d_axis("logsumexp", t.ndim, dim)
    big = float(np.finfo(t._data.dtype).max)
    m = clamp(_reduce("max", t, dim, True), -big, big)
    s = log(sum(exp(sub(t, m)), dim, True))
    out = add(s, m)
    if keepdim:
        return out
    return reshape(out, tuple(n for a, n in enumerate(t.shape)
                              if a not in reduce_axes("logsumexp", t.ndim, dim)))


def _scan(name: str, x: Any, dim: int, op: Any) -> Tensor:
    if dim is None:
        raise TypeError(f"{name}: dim is required (as torch.{name}); e.g. {name}(x, dim=0)")
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:  # int64, as torch
        d = reduce_axes(name, builtins.max(x.ndim, 1), dim)[0]
        a = x._data if x.ndim else x._data.reshape(1)
        y = getattr(np, name)(a, axis=d, dtype=np.int64).reshape(x.shape)
        return _out([x], y)
    t = tensor_arg(x, name)
    if t.ndim == 0:
        reduce_axes(name, 1, dim)
        return op(t, 0.0) if op is add else mul(t, 1.0)
    d = reduce_axes(name, t.ndim, dim)[0]
    rows, perm = _to_rows(t, d)
    n = rows.shape[1]
    s = 1
    while s < n:  # Hillis-Steele: after the step with shift s, each entry covers 2s inputs
        head = index(rows, (slice(None), slice(0, s)))
        tail = op(index(rows, (slice(None), slice(s, None))),
                  index(rows, (slice(None), slice(0, n - s))))
        rows = concatenate([head, tail], axis=1)
        s *= 2
    return _from_rows(rows, t, perm)


def cumsum(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Running sums along ``dim``, as ``torch.cumsum`` (a log-depth scan of adds).

    >>> import pyautotape as pat
    >>> pat.cumsum(pat.tensor([1.0, 2.0, 3.0]), dim=0).numpy()
    array([1., 3., 6.], dtype=float32)
    """
    dim, _ = pick_axis("cumsum", dim, False, axis, None)
    return _scan("cumsum", x, dim, add)


def cumprod(x: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Running products along ``dim``, as ``torch.cumprod`` (a log-depth scan of
    multiplies: the gradient at zeros is exact).

    >>> import pyautotape as pat
    >>> pat.cumprod(pat.tensor([1.0, 2.0, 3.0]), dim=0).numpy()
    array([1., 2., 6.], dtype=float32)
    """
    dim, _ = pick_axis("cumprod", dim, False, axis, None)
    return _scan("cumprod", x, dim, mul)


def _truth(name: str, x: Any, dim: Axis, keepdim: bool, fn: Any, dtype: Any) -> Tensor:
    t = _data(x, name)
    ax = reduce_axes(name, t.ndim, zero_d_axis(name, t.ndim, dim))
    out = fn(t._data, axis=ax, keepdims=keepdim) if name != "count_nonzero" else \
        np.count_nonzero(t._data, axis=ax, keepdims=keepdim)
    return _out([t], np.asarray(out, dtype))


def any(x: Any, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
        keepdims: bool | None = None) -> Tensor:
    """Whether any element over ``dim`` is nonzero: a bool Tensor (no gradient).

    >>> import pyautotape as pat
    >>> pat.any(pat.tensor([[0.0, 1.0], [0.0, 0.0]]), dim=1).numpy()
    array([ True, False])
    """
    dim, keepdim = pick_axis("any", dim, keepdim, axis, keepdims)
    return _truth("any", x, dim, keepdim, np.any, np.bool_)


def all(x: Any, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
        keepdims: bool | None = None) -> Tensor:
    """Whether every element over ``dim`` is nonzero: a bool Tensor (no gradient).

    >>> import pyautotape as pat
    >>> pat.all(pat.tensor([[1.0, 1.0], [0.0, 1.0]]), dim=1).numpy()
    array([ True, False])
    """
    dim, keepdim = pick_axis("all", dim, keepdim, axis, keepdims)
    return _truth("all", x, dim, keepdim, np.all, np.bool_)


def count_nonzero(x: Any, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
                  keepdims: bool | None = None) -> Tensor:
    """The number of nonzero elements over ``dim``: an int64 Tensor (no gradient).

    >>> import pyautotape as pat
    >>> pat.count_nonzero(pat.tensor([[0.0, 1.0], [2.0, 3.0]]), dim=1).numpy()
    array([1, 2])
    """
    dim, keepdim = pick_axis("count_nonzero", dim, keepdim, axis, keepdims)
    return _truth("count_nonzero", x, dim, keepdim, None, np.int64)


# the Tensor methods (x.sum(), x.max(1), x.std(), ...)
REDUCTIONS = (sum, mean, max, min, amax, amin, argmax, argmin, prod, var, std, norm,
              logsumexp, cumsum, cumprod, any, all, count_nonzero)

__all__ = ["argmax", "argmin", "prod", "var", "std", "norm", "logsumexp", "cumsum",
           "cumprod", "any", "all", "count_nonzero"]
