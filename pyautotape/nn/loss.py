"""Loss modules, each its ``nn.functional`` form with PyTorch's arguments and defaults; a
``weight`` / ``pos_weight`` is a buffer (in the state_dict, as PyTorch's)."""

from __future__ import annotations

from typing import Any

import numpy as np

import pyautotape.nn._losses as F  # the module, not the package: no import cycle

from ..tensor import Tensor, tensor
from .module import Module

__all__ = ["MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "CosineEmbeddingLoss",
           "MarginRankingLoss"]


class _Loss(Module):
    _name = "loss"
    _extra: tuple[str, ...] = ()

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_red(type(self).__name__, reduction, self._extra)
        self.reduction = reduction

    def _buffer(self, name: str, value: Any) -> None:
        if value is not None and not isinstance(value, Tensor):
            value = tensor(np.asarray(value))
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error: ``loss(pred, target)``.

    >>> import pyautotape as pat
    >>> pat.nn.MSELoss()(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item()
    2.0
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    >>> import pyautotape as pat
    >>> pat.nn.L1Loss()(pat.tensor([1.0, 3.0]), pat.tensor([1.0, 1.0])).item()
    1.0
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices (an integer ndarray) or
    class probabilities, with weight, ignore_index and label_smoothing.

    >>> import numpy as np, pyautotape as pat
    >>> loss = pat.nn.CrossEntropyLoss()(pat.tensor(np.zeros((2, 2))), np.array([0, 1]))
    >>> round(loss.item(), 4)
    0.6931
    """

    weight: Tensor | None  # a buffer (register_buffer)

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities at class indices.

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.NLLLoss()(pat.tensor([[-1.0, -2.0]]), np.array([1])).item()
    2.0
    """

    weight: Tensor | None  # a buffer (register_buffer)

    def __init__(self, weight: Any = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities.

    >>> import pyautotape as pat
    >>> round(pat.nn.BCELoss()(pat.tensor([0.5]), pat.tensor([0.0])).item(), 4)
    0.6931
    """

    weight: Tensor | None  # a buffer (register_buffer)

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, stably, with ``pos_weight``.

    >>> import pyautotape as pat
    >>> loss = pat.nn.BCEWithLogitsLoss(pos_weight=pat.tensor([2.0]))
    >>> round(loss(pat.tensor([0.0]), pat.tensor([1.0])).item(), 4)
    1.3863
    """

    weight: Tensor | None  # a buffer (register_buffer)
    pos_weight: Tensor | None  # a buffer (register_buffer)

    def __init__(self, weight: Any = None, reduction: str = "mean",
                 pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above.

    >>> import pyautotape as pat
    >>> pat.nn.SmoothL1Loss()(pat.tensor([0.5]), pat.tensor([0.0])).item()
    0.125
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, ``delta``-sloped above.

    >>> import pyautotape as pat
    >>> pat.nn.HuberLoss()(pat.tensor([3.0]), pat.tensor([0.0])).item()
    2.5
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities ``input`` from ``target``.

    >>> import pyautotape as pat
    >>> p = pat.tensor([[0.5, 0.5]])
    >>> pat.nn.KLDivLoss(reduction="batchmean")(pat.log(p), p).item()
    0.0
    """

    _extra = ("batchmean",)

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.kl_div(input, target, self.reduction, self.log_target)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos`` for similar pairs (target 1), ``max(0, cos - margin)`` for others.

    >>> import numpy as np, pyautotape as pat
    >>> a = pat.tensor([[1.0, 0.0]])
    >>> pat.nn.CosineEmbeddingLoss()(a, a, np.array([-1.0])).item()
    1.0
    """

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class MarginRankingLoss(_Loss):
    """``max(0, -target (x1 - x2) + margin)``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.MarginRankingLoss(margin=1.0)(pat.tensor([2.0]), pat.tensor([0.0]),
    ...                                      np.array([1.0])).item()
    0.0
    """

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)
