"""Loss modules: MSELoss and CrossEntropyLoss."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..ops.loss import _reduction
from ..tensor import Tensor
from .module import Module

__all__ = ["MSELoss", "CrossEntropyLoss"]


class MSELoss(Module):
    """Mean squared error as a module: ``loss(pred, target)`` = ``pat.mse_loss``.

    >>> import pyautotape as pat
    >>> pat.nn.MSELoss()(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item()
    2.0
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        _reduction("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Tensor:
        return ops.mse_loss(pred, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) given as an
    ndarray: ``pat.cross_entropy`` as a module.

    >>> import numpy as np, pyautotape as pat
    >>> loss = pat.nn.CrossEntropyLoss()(pat.tensor(np.zeros((2, 2))), np.array([0, 1]))
    >>> round(loss.item(), 4)
    0.6931
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        _reduction("CrossEntropyLoss", reduction)
        self.reduction = reduction

    def forward(self, logits: Any, labels: Any) -> Tensor:
        return ops.cross_entropy(logits, labels, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
