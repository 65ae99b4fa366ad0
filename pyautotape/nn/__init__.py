"""``pat.nn``: modules for building and training small networks, shaped like ``torch.nn``.

A :class:`Module` finds its parameters by looking at its attributes, in the order they
were assigned: a leaf :class:`~pyautotape.Tensor` with ``requires_grad=True`` is a
parameter, a Module is a child whose parameters are named ``child.name``, and a list or
tuple of Modules/Tensors contributes ``attr.0``, ``attr.1``, ... A tensor or module reached
twice (weight tying) is listed once, under its first name; dict attributes contribute
``attr.key``. Assigning the attribute is enough; :class:`Parameter` marks a tensor as a
parameter explicitly (it stays one when frozen), ``register_buffer`` keeps non-parameter
state in the state_dict.

>>> import numpy as np, pyautotape as pat
>>> _ = pat.manual_seed(0)
>>> model = pat.nn.MLP([4, 8, 3])
>>> [name for name, _ in model.named_parameters()]
['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
>>> loss = pat.nn.CrossEntropyLoss()(model(np.ones((2, 4), np.float32)), np.array([0, 2]))
>>> loss.backward()
>>> model.layers[0].weight.grad.shape
(8, 4)
"""

from __future__ import annotations

from . import functional, init, utils
from .activation import (
    CELU,
    ELU,
    SELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    ReLU6,
    SiLU,
    Softmax,
    Softsign,
    Tanhshrink,
)
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .ensemble import Ensemble
from .layers import (
    MLP,
    Bilinear,
    Embedding,
    Flatten,
    Identity,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    Unflatten,
)
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle
from .normalization import BatchNorm1d, Dropout, LayerNorm

__all__ = [
    "Module", "Parameter", "RemovableHandle", "IncompatibleKeys", "Sequential", "ModuleList",
    "ModuleDict", "ParameterList", "ParameterDict", "Linear", "Identity", "Flatten",
    "Unflatten", "Bilinear", "Embedding",
    "MLP", "Dropout", "LayerNorm", "BatchNorm1d", "ReLU", "Tanh", "Sigmoid", "LeakyReLU",
    "Hardtanh", "ReLU6", "ELU", "SELU", "CELU", "SiLU", "LogSigmoid", "Softsign",
    "Tanhshrink", "Softmax", "LogSoftmax", "MSELoss", "CrossEntropyLoss", "NLLLoss",
    "BCELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
    "CosineEmbeddingLoss", "MarginRankingLoss", "functional", "init", "utils",
    "Ensemble",
]
