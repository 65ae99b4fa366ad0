"""Elementwise math: trigonometric, hyperbolic, exponential and logarithmic functions,
rounding (zero gradient), ``erf``, and the binary ``atan2``, ``fmod``, ``remainder``,
``floor_divide`` (not differentiable) and ``lerp``. Each C op is a row in csrc/ops.def and
a block in csrc/rules_t.h; here are its function and its :class:`~.spec.OpSpec`.

>>> import pyautotape as pat
>>> x = pat.tensor([0.5], requires_grad=True)
>>> pat.sin(x).sum().backward()
>>> print(f"{x.grad.item():.4f}")
0.8776
"""

from __future__ import annotations

import math as _m
from typing import Any

import numpy as np

from ..tensor import Tensor, exact_guard
from .core import broadcast, operands
from .elementwise import (
    _binary,
    _binary_spec,
    _exact_operands,
    _unary,
    add,
    exact_binary,
    mul,
    sub,
)
from .spec import register, unary

# ---------------------------------------------------------------------------------------
# unary


def abs(x: Any) -> Tensor:
    """``|x|``; the gradient is sign(x), 0 at 0 (as PyTorch).

    >>> import pyautotape as pat
    >>> pat.abs(pat.tensor([-2.0, 3.0])).numpy()
    array([2., 3.], dtype=float32)
    """
    return _unary("abs", x)


def sign(x: Any) -> Tensor:
    """-1, 0 or 1 (NaN stays NaN); the gradient is 0.

    >>> import pyautotape as pat
    >>> pat.sign(pat.tensor([-2.0, 0.0, 3.0])).numpy()
    array([-1.,  0.,  1.], dtype=float32)
    """
    return _unary("sign", x)


def sin(x: Any) -> Tensor:
    """Sine.

    >>> import pyautotape as pat
    >>> pat.sin(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("sin", x)


def cos(x: Any) -> Tensor:
    """Cosine.

    >>> import pyautotape as pat
    >>> pat.cos(pat.tensor([0.0])).numpy()
    array([1.], dtype=float32)
    """
    return _unary("cos", x)


def tan(x: Any) -> Tensor:
    """Tangent; the backward reads the output (1 + y²).

    >>> import pyautotape as pat
    >>> pat.tan(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("tan", x)


def asin(x: Any) -> Tensor:
    """Inverse sine on [-1, 1]; the gradient at ±1 is +inf.

    >>> import pyautotape as pat
    >>> pat.asin(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("asin", x)


def acos(x: Any) -> Tensor:
    """Inverse cosine on [-1, 1]; the gradient at ±1 is -inf.

    >>> import pyautotape as pat
    >>> pat.acos(pat.tensor([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("acos", x)


def atan(x: Any) -> Tensor:
    """Inverse tangent.

    >>> import pyautotape as pat
    >>> pat.atan(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("atan", x)


def sinh(x: Any) -> Tensor:
    """Hyperbolic sine.

    >>> import pyautotape as pat
    >>> pat.sinh(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("sinh", x)


def cosh(x: Any) -> Tensor:
    """Hyperbolic cosine.

    >>> import pyautotape as pat
    >>> pat.cosh(pat.tensor([0.0])).numpy()
    array([1.], dtype=float32)
    """
    return _unary("cosh", x)


def asinh(x: Any) -> Tensor:
    """Inverse hyperbolic sine.

    >>> import pyautotape as pat
    >>> pat.asinh(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("asinh", x)


def acosh(x: Any) -> Tensor:
    """Inverse hyperbolic cosine on [1, inf); the gradient at 1 is +inf.

    >>> import pyautotape as pat
    >>> pat.acosh(pat.tensor([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("acosh", x)


def atanh(x: Any) -> Tensor:
    """Inverse hyperbolic tangent on (-1, 1).

    >>> import pyautotape as pat
    >>> pat.atanh(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("atanh", x)


def exp2(x: Any) -> Tensor:
    """``2 ** x``; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.exp2(pat.tensor([3.0])).numpy()
    array([8.], dtype=float32)
    """
    return _unary("exp2", x)


def expm1(x: Any) -> Tensor:
    """``e ** x - 1``, accurate near 0; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.expm1(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("expm1", x)


def log2(x: Any) -> Tensor:
    """Base-2 logarithm.

    >>> import pyautotape as pat
    >>> pat.log2(pat.tensor([8.0])).numpy()
    array([3.], dtype=float32)
    """
    return _unary("log2", x)


def log10(x: Any) -> Tensor:
    """Base-10 logarithm.

    >>> import pyautotape as pat
    >>> pat.log10(pat.tensor([100.0])).numpy()
    array([2.], dtype=float32)
    """
    return _unary("log10", x)


def log1p(x: Any) -> Tensor:
    """``log(1 + x)``, accurate near 0.

    >>> import pyautotape as pat
    >>> pat.log1p(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("log1p", x)


def square(x: Any) -> Tensor:
    """``x * x``.

    >>> import pyautotape as pat
    >>> pat.square(pat.tensor([3.0])).numpy()
    array([9.], dtype=float32)
    """
    return _unary("square", x)


def rsqrt(x: Any) -> Tensor:
    """``1 / sqrt(x)``; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.rsqrt(pat.tensor([4.0])).numpy()
    array([0.5], dtype=float32)
    """
    return _unary("rsqrt", x)


def reciprocal(x: Any) -> Tensor:
    """``1 / x``; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.reciprocal(pat.tensor([4.0])).numpy()
    array([0.25], dtype=float32)
    """
    return _unary("reciprocal", x)


def floor(x: Any) -> Tensor:
    """Largest integer <= x (as a float); the gradient is 0.

    >>> import pyautotape as pat
    >>> pat.floor(pat.tensor([1.5, -1.5])).numpy()
    array([ 1., -2.], dtype=float32)
    """
    return _unary("floor", x)


def ceil(x: Any) -> Tensor:
    """Smallest integer >= x (as a float); the gradient is 0.

    >>> import pyautotape as pat
    >>> pat.ceil(pat.tensor([1.5, -1.5])).numpy()
    array([ 2., -1.], dtype=float32)
    """
    return _unary("ceil", x)


def round(x: Any) -> Tensor:
    """Nearest integer, halves to even (as PyTorch and NumPy); the gradient is 0.

    >>> import pyautotape as pat
    >>> pat.round(pat.tensor([0.5, 1.5, 2.4])).numpy()
    array([0., 2., 2.], dtype=float32)
    """
    return _unary("round", x)


def trunc(x: Any) -> Tensor:
    """Integer part, towards 0; the gradient is 0.

    >>> import pyautotape as pat
    >>> pat.trunc(pat.tensor([1.5, -1.5])).numpy()
    array([ 1., -1.], dtype=float32)
    """
    return _unary("trunc", x)


def erf(x: Any) -> Tensor:
    """The error function; the gradient is 2/sqrt(pi) e^(-x²).

    >>> import pyautotape as pat
    >>> pat.erf(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("erf", x)

# ---------------------------------------------------------------------------------------
# binary


def atan2(a: Any, b: Any) -> Tensor:
    """The angle of the point (b, a), elementwise with broadcasting (``torch.atan2(a, b)``,
    ``np.arctan2``); the gradient at (0, 0) is NaN, as PyTorch.

    >>> import pyautotape as pat
    >>> print(f"{pat.atan2(pat.tensor([1.0]), 1.0).item():.4f}")
    0.7854
    """
    return _binary("atan2", a, b)


def fmod(a: Any, b: Any) -> Tensor:
    """C's ``fmod``: ``a - b * trunc(a / b)``, with the sign of ``a`` (``torch.fmod``).
    The gradient is 1 for a and ``-trunc(a / b)`` for b.

    >>> import pyautotape as pat
    >>> pat.fmod(pat.tensor([-3.0, 3.0]), 2).numpy()
    array([-1.,  1.], dtype=float32)
    """
    return _binary("fmod", a, b)


def remainder(a: Any, b: Any) -> Tensor:
    """Python's ``%``: ``a - b * floor(a / b)``, with the sign of ``b``
    (``torch.remainder``). The gradient is 1 for a and ``-floor(a / b)`` for b.

    >>> import pyautotape as pat
    >>> pat.remainder(pat.tensor([-3.0, 3.0]), 2).numpy()
    array([1., 1.], dtype=float32)
    """
    return _binary("remainder", a, b)


def floor_divide(a: Any, b: Any) -> Tensor:
    """``floor(a / b)`` elementwise with broadcasting (``torch.floor_divide``, ``a // b``).
    Not differentiable: the result never requires grad.

    >>> import pyautotape as pat
    >>> pat.floor_divide(pat.tensor([7.0, -7.0]), 2).numpy()
    array([ 3., -4.], dtype=float32)
    """
    if _exact_operands(a, b):
        return exact_binary("floor_divide", a, b)
    (ta, tb), dt = operands("floor_divide", a, b)
    exact_guard((ta._data, tb._data))  # computed outside the tape: replay retraces on change
    broadcast("floor_divide", ta.shape, tb.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.floor_divide(ta._data, tb._data).astype(dt, copy=False)
    t = Tensor.__new__(Tensor)
    t._data, t.requires_grad, t._grad, t._node, t._guard = (
        np.ascontiguousarray(y), False, None, None, None)
    return t


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """``start + weight * (end - start)`` (``torch.lerp``), differentiable in all three;
    ``weight`` is a number or a tensor, and everything broadcasts.

    >>> import pyautotape as pat
    >>> pat.lerp(pat.tensor([0.0, 1.0]), pat.tensor([10.0, 3.0]), 0.5).numpy()
    array([5., 2.], dtype=float32)
    """
    return add(start, mul(weight, sub(end, start)))


# ---------------------------------------------------------------------------------------
# the specs


_erf = np.vectorize(_m.erf, otypes=[np.float64])


def _at(points: tuple[float, ...]) -> Any:
    """The kink of an op whose derivative switches at ``points``: arguments exactly there;
    the pattern is on which side of each point x lies."""

    def kink(r: Any, sources: Any, want_pattern: bool) -> tuple[int, int, np.ndarray | None]:
        s = sources[0]
        x = s._data if isinstance(s, Tensor) else np.asarray(s)
        hits = int(sum(np.count_nonzero(x == p) for p in points))
        pattern = None
        if want_pattern:
            pattern = sum(np.sign(x - p).astype(np.int8) for p in points)
        return hits, x.size, pattern

    kink.__doc__ = f"arguments at {points}"
    return kink


def _remainder_pair(r: np.random.Generator) -> list[np.ndarray]:
    """a/b stays a step away from an integer: the quotient's floor and trunc are constant."""
    b = r.choice([-1.0, 1.0], size=(4,)) * r.uniform(0.5, 1.5, size=(4,))
    q = r.integers(-3, 3, size=(3, 4)) + r.uniform(0.2, 0.8, size=(3, 4))
    return [q * b, b]


register(unary(abs, np.abs, "away", method=True, kink=_at((0.0,)), kink_points=(0.0,)))
register(unary(sign, np.sign, "away", method=True))
register(unary(sin, np.sin, "real", method=True))
register(unary(cos, np.cos, "real", method=True))
register(unary(tan, np.tan, "unit", method=True))
register(unary(asin, np.arcsin, "unit", method=True))
register(unary(acos, np.arccos, "unit", method=True))
register(unary(atan, np.arctan, "real", method=True))
register(unary(sinh, np.sinh, "real", method=True))
register(unary(cosh, np.cosh, "real", method=True))
register(unary(asinh, np.arcsinh, "real", method=True))
register(unary(acosh, np.arccosh, "above1", method=True))
register(unary(atanh, np.arctanh, "unit", method=True))
register(unary(exp2, np.exp2, "real", method=True))
register(unary(expm1, np.expm1, "real", method=True))
register(unary(log2, np.log2, "positive", method=True))
register(unary(log10, np.log10, "positive", method=True))
register(unary(log1p, np.log1p, "positive", method=True))
register(unary(square, np.square, "real", method=True))
register(unary(rsqrt, lambda x: 1.0 / np.sqrt(x), "positive", method=True))
register(unary(reciprocal, np.reciprocal, "away", method=True))
register(unary(floor, np.floor, "offint", method=True))
register(unary(ceil, np.ceil, "offint", method=True))
register(unary(round, np.round, "offint", method=True))
register(unary(trunc, np.trunc, "offint", method=True))
register(unary(erf, _erf, "real", method=True))
register(_binary_spec(atan2, np.arctan2,
                      lambda r: [r.standard_normal((3, 4)), r.uniform(0.5, 1.5, (4,))]))
register(_binary_spec(fmod, np.fmod, _remainder_pair))
register(_binary_spec(remainder, np.remainder, _remainder_pair))

__all__ = ["abs", "sign", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
           "asinh", "acosh", "atanh", "exp2", "expm1", "log2", "log10", "log1p", "square",
           "rsqrt", "reciprocal", "floor", "ceil", "round", "trunc", "erf", "atan2", "fmod",
           "remainder", "floor_divide", "lerp"]
