"""Activation modules beyond ReLU/Tanh/Sigmoid (layers.py): each is its
``nn.functional`` form as a module, with PyTorch's arguments.

>>> import pyautotape as pat
>>> pat.nn.LeakyReLU(0.2)(pat.tensor([-1.0, 1.0])).numpy()
array([-0.2,  1. ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["LeakyReLU", "SiLU", "LogSigmoid", "Softsign", "Tanhshrink", "Softmax",
           "LogSoftmax"]


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
