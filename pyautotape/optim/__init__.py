"""``pat.optim``: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam and RAdam
with PyTorch's update formulas, one C call per step; ``lr_scheduler`` as torch's.

An optimizer holds parameter groups (``param_groups``: a list of dicts with ``"params"``
and the hyperparameters, as in PyTorch; a plain list of tensors makes one group). Its state
is plain NumPy arrays it owns: per group a counter array (int64, one entry per parameter)
and per parameter the state buffers (``momentum_buffer``; ``exp_avg``, ``exp_avg_sq``),
created when the parameter first has a gradient. ``step()`` packs pointers to parameters,
gradients and buffers into tables and makes a single C call per group
(``pat_sgd_step``, ``pat_adam_step``, ... in ``csrc/optim.c``) that updates every parameter
with a gradient; parameters whose ``.grad`` is None are skipped. The C functions keep no
state, so a recorded training step can replay them.

The arithmetic is PyTorch's single-tensor path (scalars in double, the elementwise order
of ATen), so trajectories match ``torch.optim`` to rounding.

>>> import numpy as np, pyautotape as pat
>>> w = pat.tensor(np.array([1.0, -2.0]), requires_grad=True)
>>> opt = pat.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step(); opt.zero_grad()
>>> w.numpy()
array([ 0.8, -1.6])
"""

from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "lr_scheduler"]
