"""``pat.optim.lr_scheduler``: PyTorch's learning-rate schedulers, same names, arguments,
``step()`` / ``get_last_lr()`` / ``last_epoch`` / ``state_dict()`` semantics and values.

A scheduler only writes ``group["lr"]`` (and, for CyclicLR / OneCycleLR, ``momentum`` or
``betas``); a ``pat.compile``d training step reads the group's hyperparameters again at
every call, so a schedule needs no re-recording.

>>> import numpy as np, pyautotape as pat
>>> w = pat.tensor(np.ones(2), requires_grad=True)
>>> opt = pat.optim.SGD([w], lr=0.1)
>>> sched = pat.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
>>> opt.step(); sched.step(); sched.get_last_lr(), sched.last_epoch
([0.05], 1)
"""

from __future__ import annotations

from ._base import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ._compose import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from ._cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR",
           "ConstantLR", "LinearLR", "ExponentialLR", "CosineAnnealingLR", "PolynomialLR",
           "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR", "OneCycleLR",
           "CosineAnnealingWarmRestarts"]
