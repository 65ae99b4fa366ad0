"""Activation functions as ``torch.nn.functional`` has them: ``gelu`` (exact and tanh),
``silu``, ``softplus``, ``elu``, ``selu``, ``celu``, ``mish``, ``hardsigmoid``,
``hardswish``, ``logsigmoid``, ``softsign`` (one C op each: a row in csrc/ops.def, a block
in csrc/rules_t.h), and ``clamp``/``clip``, ``hardtanh``, ``relu6``, built from
``maximum``/``minimum`` with the tie rule that gives PyTorch's gradient at the bounds.

>>> import pyautotape as pat
>>> pat.relu6(pat.tensor([-1.0, 3.0, 7.0])).numpy()
array([0., 3., 6.], dtype=float32)
"""

from __future__ import annotations

import math as _m
import numbers
from typing import Any

import numpy as np

from ..tensor import Tensor
from .core import tensor_arg
from .elementwise import _unary, div, maximum, minimum, mul
from .math import _at, _erf
from .spec import register, unary


def _number(v: Any, op: str, arg: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {arg} must be a number, got {v!r}")
    return float(v)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """GELU, ``x * Phi(x)``; ``approximate='tanh'`` uses
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, as PyTorch.

    >>> import pyautotape as pat
    >>> pat.gelu(pat.tensor([0.0, 1.0])).numpy().round(4)
    array([0.    , 0.8413], dtype=float32)
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _unary("gelu", x, alpha=0.0 if approximate == "none" else 1.0)


def silu(x: Any) -> Tensor:
    """SiLU (swish), ``x * sigmoid(x)``.

    >>> import pyautotape as pat
    >>> pat.silu(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("silu", x)


swish = silu


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + e^(beta x)) / beta``, and ``x`` itself where ``beta * x > threshold``, as
    ``torch.nn.functional.softplus``; never overflows.

    >>> import pyautotape as pat
    >>> round(pat.softplus(pat.tensor([0.0])).item(), 4)
    0.6931
    """
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    if beta == 0 or not _m.isfinite(beta):
        raise ValueError(f"softplus: beta must be a finite non-zero number, got {beta}")
    if beta == 1.0:
        return _unary("softplus", x, alpha=threshold)
    return div(_unary("softplus", mul(tensor_arg(x, "softplus"), beta), alpha=threshold), beta)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` above 0, ``alpha * (e^x - 1)`` at or below; the derivative at 0 is ``alpha``,
    as PyTorch.

    >>> import pyautotape as pat
    >>> pat.elu(pat.tensor([1.0, 0.0])).numpy()
    array([1., 0.], dtype=float32)
    """
    return _unary("elu", x, alpha=_number(alpha, "elu", "alpha"))


def selu(x: Any) -> Tensor:
    """``scale * elu(x, alpha)`` with PyTorch's constants (alpha 1.6733, scale 1.0507).

    >>> import pyautotape as pat
    >>> round(pat.selu(pat.tensor([1.0])).item(), 4)
    1.0507
    """
    return _unary("selu", x)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` above 0, ``alpha * (e^(x/alpha) - 1)`` at or below (alpha != 0).

    >>> import pyautotape as pat
    >>> pat.celu(pat.tensor([2.0, 0.0]), alpha=2.0).numpy()
    array([2., 0.], dtype=float32)
    """
    a = _number(alpha, "celu", "alpha")
    if a == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return _unary("celu", x, alpha=a)


def mish(x: Any) -> Tensor:
    """``x * tanh(softplus(x))``.

    >>> import pyautotape as pat
    >>> pat.mish(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("mish", x)


def hardsigmoid(x: Any) -> Tensor:
    """``clip(x / 6 + 1/2, 0, 1)``; the derivative is 1/6 inside (-3, 3) and 0 at and
    outside both ends, as PyTorch.

    >>> import pyautotape as pat
    >>> pat.hardsigmoid(pat.tensor([-4.0, 0.0, 4.0])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return _unary("hardsigmoid", x)


def hardswish(x: Any) -> Tensor:
    """``x * relu6(x + 3) / 6`` (-0 below -3, as PyTorch); the derivative is PyTorch's at
    the ends: 0 at -3, 1 at 3.

    >>> import pyautotape as pat
    >>> pat.hardswish(pat.tensor([-1.0, 0.0, 4.0])).numpy()
    array([-0.33333334,  0.        ,  4.        ], dtype=float32)
    """
    return _unary("hardswish", x)


def logsigmoid(x: Any) -> Tensor:
    """``log(sigmoid(x))`` without overflow or underflow.

    >>> import pyautotape as pat
    >>> round(pat.logsigmoid(pat.tensor([0.0])).item(), 4)
    -0.6931
    """
    return _unary("logsigmoid", x)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``.

    >>> import pyautotape as pat
    >>> pat.softsign(pat.tensor([1.0, -3.0])).numpy()
    array([ 0.5 , -0.75], dtype=float32)
    """
    return _unary("softsign", x)


def _bound(v: Any, op: str, arg: str) -> Any:
    if isinstance(v, (Tensor, np.ndarray, list, tuple)):
        return v
    return _number(v, op, arg)


def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """Limit ``x`` to ``[min, max]`` (numbers or tensors that broadcast; either may be
    None), as ``torch.clamp``: ``min(max(x, min), max)``, so ``max`` wins where
    ``min > max``. The gradient passes to x where ``min <= x <= max`` (bounds included, as
    PyTorch) and to a tensor bound where it is the output.

    >>> import pyautotape as pat
    >>> x = pat.tensor([-2.0, 0.5, 1.0, 3.0], requires_grad=True)
    >>> y = pat.clamp(x, -1.0, 1.0); y.sum().backward()
    >>> y.numpy(), x.grad.numpy()
    (array([-1. ,  0.5,  1. ,  1. ], dtype=float32), array([0., 1., 1., 0.], dtype=float32))
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    y = tensor_arg(x, "clamp")
    if min is not None:
        y = maximum(y, _bound(min, "clamp", "min"), subgradient=1.0)
    if max is not None:
        y = minimum(y, _bound(max, "clamp", "max"), subgradient=1.0)
    return y


def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:
    """Alias of :func:`clamp` (``torch.clip``).

    >>> import pyautotape as pat
    >>> pat.clip(pat.tensor([5.0]), max=1.0).numpy()
    array([1.], dtype=float32)
    """
    return clamp(x, min, max)


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``clamp(x, min_val, max_val)`` with the derivative 0 at both ends, as PyTorch's
    ``hardtanh``.

    >>> import pyautotape as pat
    >>> x = pat.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> pat.hardtanh(x).sum().backward(); x.grad.numpy()
    array([0., 1., 0.], dtype=float32)
    """
    lo, hi = _number(min_val, "hardtanh", "min_val"), _number(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) must not exceed max_val ({hi})")
    return minimum(maximum(tensor_arg(x, "hardtanh"), lo, subgradient=0.0), hi, subgradient=0.0)


def relu6(x: Any) -> Tensor:
    """``hardtanh(x, 0, 6)``: the derivative is 0 at 0 and at 6, as PyTorch.

    >>> import pyautotape as pat
    >>> pat.relu6(pat.tensor([8.0])).numpy()
    array([6.], dtype=float32)
    """
    return hardtanh(x, 0.0, 6.0)


# ---------------------------------------------------------------------------------------
# the specs


def _sig(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _gelu_ref(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2.0)))


def _softplus_ref(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


def _elu_ref(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)

register(unary(gelu, _gelu_ref, "real"))
register(unary(silu, lambda x: x * _sig(x), "real"))
register(unary(softplus, _softplus_ref, "real", kink=_at((20.0,)), kink_points=(20.0,)))
register(unary(elu, _elu_ref, "away", kwargs={"alpha": 0.7}, kink=_at((0.0,)),
               kink_points=(0.0,)))
register(unary(selu, lambda x: _SELU[1] * _elu_ref(x, _SELU[0]), "away", kink=_at((0.0,)),
               kink_points=(0.0,)))
register(unary(celu, lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(
    np.minimum(x, 0.0) / alpha)), "away", kwargs={"alpha": 1.5}, kink=_at((0.0,)),
    kink_points=(0.0,)))
register(unary(mish, lambda x: x * np.tanh(np.logaddexp(0.0, x)), "real"))
register(unary(hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0.0, 1.0), "away",
               kink=_at((-3.0, 3.0)), kink_points=(-3.0, 3.0)))
register(unary(hardswish, lambda x: x * np.clip(x + 3, 0.0, 6.0) / 6, "away",
               kink=_at((-3.0, 3.0)), kink_points=(-3.0, 3.0)))
register(unary(logsigmoid, lambda x: -np.logaddexp(0.0, -x), "real"))
register(unary(softsign, lambda x: x / (1 + np.abs(x)), "real"))

__all__ = ["gelu", "silu", "swish", "softplus", "elu", "selu", "celu", "mish", "hardsigmoid",
           "hardswish", "logsigmoid", "softsign", "clamp", "clip", "hardtanh", "relu6"]
