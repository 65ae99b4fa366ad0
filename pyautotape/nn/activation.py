"""Activation modules beyond ReLU/Tanh/Sigmoid (layers.py): each is its
``nn.functional`` form as a module, with PyTorch's arguments.

>>> import pyautotape as pat
>>> pat.nn.LeakyReLU(0.2)(pat.tensor([-1.0, 1.0])).numpy()
array([-0.2,  1. ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import pyautotape.nn.functional as F  # the module, not the package: no import cycle

from ..tensor import Tensor
from .module import Module

__all__ = [
    "LeakyReLU", "Hardtanh", "ReLU6", "ELU", "SELU", "CELU", "SiLU", "LogSigmoid", "Softsign",
    "Tanhshrink", "Softmax", "LogSoftmax", "GELU", "Softplus", "Mish", "Hardsigmoid",
    "Hardswish",
]


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    >>> import pyautotape as pat
    >>> pat.nn.LeakyReLU()
    LeakyReLU(negative_slope=0.01)
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Hardtanh(Module):
    """Clamp into ``[min_val, max_val]``.

    >>> import pyautotape as pat
    >>> pat.nn.Hardtanh()(pat.tensor([3.0])).numpy()
    array([1.], dtype=float32)
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Any) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """Clamp into ``[0, 6]``.

    >>> import pyautotape as pat
    >>> pat.nn.ReLU6()(pat.tensor([9.0])).numpy()
    array([6.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0)


class ELU(Module):
    """``x`` where positive, ``alpha (exp(x) - 1)`` elsewhere.

    >>> import pyautotape as pat
    >>> pat.nn.ELU(alpha=2.0)(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SELU(Module):
    """Scaled ELU with the self-normalising constants.

    >>> import pyautotape as pat
    >>> pat.nn.SELU()(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return F.selu(x)


class CELU(Module):
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``.

    >>> import pyautotape as pat
    >>> pat.nn.CELU()(pat.tensor([1.0])).numpy()
    array([1.], dtype=float32)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return F.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SiLU(Module):
    """``x * sigmoid(x)``.

    >>> import pyautotape as pat
    >>> pat.nn.SiLU()(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return F.silu(x)


class LogSigmoid(Module):
    """``log(sigmoid(x))``.

    >>> import pyautotape as pat
    >>> round(pat.nn.LogSigmoid()(pat.tensor([0.0])).item(), 4)
    -0.6931
    """

    def forward(self, x: Any) -> Tensor:
        return F.logsigmoid(x)


class Softsign(Module):
    """``x / (1 + |x|)``.

    >>> import pyautotape as pat
    >>> pat.nn.Softsign()(pat.tensor([-1.0])).numpy()
    array([-0.5], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return F.softsign(x)


class Tanhshrink(Module):
    """``x - tanh(x)``.

    >>> import pyautotape as pat
    >>> pat.nn.Tanhshrink()(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return F.tanhshrink(x)


class Softmax(Module):
    """Softmax along ``dim``.

    >>> import pyautotape as pat
    >>> pat.nn.Softmax(dim=1)(pat.tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``.

    >>> import pyautotape as pat
    >>> round(pat.nn.LogSoftmax(dim=1)(pat.tensor([[0.0, 0.0]]))[0, 0].item(), 4)
    -0.6931
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Module):
    """``x * Phi(x)``; ``approximate='tanh'`` for the tanh form.

    >>> import pyautotape as pat
    >>> pat.nn.GELU(approximate="tanh")
    GELU(approximate='tanh')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        F.gelu(Tensor(np.zeros(1)), approximate)  # refuse a bad approximate= now
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``.

    >>> import pyautotape as pat
    >>> pat.nn.Softplus(beta=2.0)
    Softplus(beta=2.0, threshold=20.0)
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Mish(Module):
    """``x * tanh(softplus(x))``.

    >>> import pyautotape as pat
    >>> pat.nn.Mish()(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return F.mish(x)


class Hardsigmoid(Module):
    """``clamp(x / 6 + 1/2, 0, 1)``.

    >>> import pyautotape as pat
    >>> pat.nn.Hardsigmoid()(pat.tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return F.hardsigmoid(x)


class Hardswish(Module):
    """``x * hardsigmoid(x)``.

    >>> import pyautotape as pat
    >>> pat.nn.Hardswish()(pat.tensor([4.0])).numpy()
    array([4.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return F.hardswish(x)

