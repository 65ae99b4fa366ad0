"""pyautotape: tape-based automatic differentiation with a C core.

A Wengert tape records every op of the forward pass; a C kernel library, compiled
through cffi, walks it in reverse to accumulate gradients.

>>> import pyautotape as pat
>>> x = pat.tensor([1.0, -2.0, 3.0], requires_grad=True)
>>> loss = (pat.relu(x) ** 2).sum()
>>> loss.backward()
>>> x.grad.numpy()
array([2., 0., 6.], dtype=float32)
"""

from __future__ import annotations

from . import autograd, creation, data, nn, ops, optim, pytree, random
from . import transforms as transforms
from . import utils as utils
from ._ffi import build_info
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .checking import GradcheckReport, gradcheck, numerical_grad
from .creation import *  # noqa: F403  (zeros, ones, ..., and the dtype names)
from .creation import __all__ as _creation
from .creation import bool as bool  # noqa: A004  (torch's dtype names)
from .creation import double as double
from .creation import float as float  # noqa: A004
from .creation import int as int  # noqa: A004
from .creation import long as long
from .errors import DTypeError, GradcheckError, RetapeRequired, ShapeError, TapeError
from .function import Function, FunctionCtx
from .ops import *  # noqa: F403  (every op; the list is ops.__all__)
from .ops import __all__ as _ops
from .pytree import tree_flatten, tree_leaves, tree_map, tree_structure, tree_unflatten
from .random import manual_seed
from .replay import Compiled, compile
from .runtime import get_num_threads, set_num_threads
from .serialization import load, save
from .tape import Tape
from .tensor import (
    Tensor,
    enable_grad,
    get_default_dtype,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_default_dtype,
    set_grad_enabled,
    tensor,
)
from .transforms import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "autograd", "no_grad", "enable_grad", "is_grad_enabled",
    "set_grad_enabled", "inference_mode", "is_inference_mode_enabled",
    "get_default_dtype", "set_default_dtype",
    *_ops, *(n for n in _creation if n != "check_device"),
    "numerical_grad", "gradcheck", "GradcheckReport",
    "ShapeError", "DTypeError", "TapeError", "RetapeRequired", "GradcheckError",
    "set_num_threads", "get_num_threads", "compile", "Compiled", "build_info", "__version__",
    "creation", "data", "nn", "ops", "optim", "random", "manual_seed", "save", "load",
    "transforms", "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian",
    "hessian", "hvp", "Function", "FunctionCtx",
    "pytree", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure", "tree_map",
    "Tape",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError",
]
