"""``pat.nn.functional``: the functional forms of the layers and losses, named and
defaulted as ``torch.nn.functional``. Everything here is built from ops whose gradients are
exact and that ``pat.compile`` replays in C.

>>> import numpy as np, pyautotape as pat
>>> F = pat.nn.functional
>>> x = pat.tensor([[1.0, 2.0, 3.0]])
>>> F.layer_norm(x, (3,)).numpy().round(3)
array([[-1.225,  0.   ,  1.225]], dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import ops
from .._ffi import lib
from ..errors import ShapeError
from ..ops.core import bcast_iter, run, tensor_arg
from ..ops.nn import dropout
from ..ops.nn import embedding as _embedding
from ..ops.shapes_join import pad
from ..tensor import Tensor, _writable, no_grad
from ._losses import *  # noqa: F403
from ._losses import __all__ as _losses
from ._losses import _softplus_neg

__all__ = [
    "linear", "relu", "leaky_relu", "hardtanh", "relu6", "elu", "selu", "celu", "tanh",
    "sigmoid", "silu", "logsigmoid", "softsign", "tanhshrink", "softmax", "log_softmax",
    "gelu", "softplus", "mish", "hardsigmoid", "hardswish", "dropout", "layer_norm",
    "batch_norm", "embedding", "pad", *_losses,
]


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weight.T + bias`` (``pat.linear``).

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.functional.linear(np.ones((1, 2)), np.ones((3, 2))).shape
    (1, 3)
    """
    return ops.linear(input, weight, bias)


def relu(input: Any, inplace: bool = False) -> Tensor:
    """``max(x, 0)`` (``pat.relu``; ``inplace`` is accepted and returns a new tensor).

    >>> import pyautotape as pat
    >>> pat.nn.functional.relu(pat.tensor([-1.0, 1.0])).numpy()
    array([0., 1.], dtype=float32)
    """
    return ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    >>> import pyautotape as pat
    >>> pat.nn.functional.leaky_relu(pat.tensor([-1.0]), 0.1).numpy()
    array([-0.1], dtype=float32)
    """
    return ops.leaky_relu(input, negative_slope)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` clamped into ``[min_val, max_val]``; its derivative is 1 strictly inside and
    0 at and beyond the bounds, as PyTorch's
    (``min_val + relu(x - min_val) - relu(x - max_val)`` with those subgradients).

    >>> import pyautotape as pat
    >>> pat.nn.functional.hardtanh(pat.tensor([-2.0, 0.5, 2.0])).numpy()
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    if not min_val < max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must be below max_val {max_val}")
    x = tensor_arg(input, "hardtanh")
    inner = ops.relu(x - min_val, subgradient=0.0) - ops.relu(x - max_val, subgradient=1.0)
    return inner if min_val == 0.0 else inner + min_val


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)`` (:func:`hardtanh` on [0, 6]).

    >>> import pyautotape as pat
    >>> pat.nn.functional.relu6(pat.tensor([-1.0, 7.0])).numpy()
    array([0., 6.], dtype=float32)
    """
    return hardtanh(input, 0.0, 6.0)


def _elu(x: Tensor, alpha: float, inv: float) -> Tensor:
    # relu(x) + alpha (exp(inv min(x, 0)) - 1): the derivative at 0 is alpha * inv, the
    # negative branch's, as PyTorch's (min(x, 0) = -relu(-x) with subgradient 1)
    neg = -ops.relu(-x, subgradient=1.0)
    return ops.relu(x, subgradient=0.0) + (ops.exp(neg * inv) - 1.0) * alpha


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``alpha (exp(x) - 1)`` elsewhere.

    >>> import pyautotape as pat
    >>> round(pat.nn.functional.elu(pat.tensor([-1.0])).item(), 4)
    -0.6321
    """
    return _elu(tensor_arg(input, "elu"), float(alpha), 1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with the self-normalising constants.

    >>> import pyautotape as pat
    >>> pat.nn.functional.selu(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _elu(tensor_arg(input, "selu"), _SELU_ALPHA, 1.0) * _SELU_SCALE


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``.

    >>> import pyautotape as pat
    >>> pat.nn.functional.celu(pat.tensor([2.0])).numpy()
    array([2.], dtype=float32)
    """
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _elu(tensor_arg(input, "celu"), float(alpha), 1.0 / float(alpha))


def tanh(input: Any) -> Tensor:
    """``pat.tanh``."""
    return ops.tanh(input)


def sigmoid(input: Any) -> Tensor:
    """``pat.sigmoid``."""
    return ops.sigmoid(input)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish).

    >>> import pyautotape as pat
    >>> pat.nn.functional.silu(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    x = tensor_arg(input, "silu")
    return x * ops.sigmoid(x)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """``x * Phi(x)``, exact (``approximate='none'``) or its tanh form (``pat.gelu``).

    >>> import pyautotape as pat
    >>> pat.nn.functional.gelu(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return ops.gelu(input, approximate=approximate)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold`` (``pat.softplus``).

    >>> import pyautotape as pat
    >>> pat.nn.functional.softplus(pat.tensor([30.0])).numpy()
    array([30.], dtype=float32)
    """
    return ops.softplus(input, beta=beta, threshold=threshold)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))`` (``pat.mish``).

    >>> import pyautotape as pat
    >>> pat.nn.functional.mish(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return ops.mish(input)


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """``clamp(x / 6 + 1/2, 0, 1)`` (``pat.hardsigmoid``).

    >>> import pyautotape as pat
    >>> pat.nn.functional.hardsigmoid(pat.tensor([0.0, 9.0])).numpy()
    array([0.5, 1. ], dtype=float32)
    """
    return ops.hardsigmoid(input)


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """``x * hardsigmoid(x)`` (``pat.hardswish``).

    >>> import pyautotape as pat
    >>> pat.nn.functional.hardswish(pat.tensor([-4.0, 4.0])).numpy()
    array([-0.,  4.], dtype=float32)
    """
    return ops.hardswish(input)


def logsigmoid(input: Any) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``.

    >>> import pyautotape as pat
    >>> round(pat.nn.functional.logsigmoid(pat.tensor([0.0])).item(), 4)
    -0.6931
    """
    return -_softplus_neg(tensor_arg(input, "logsigmoid"))


def softsign(input: Any) -> Tensor:
    """``x / (1 + |x|)``.

    >>> import pyautotape as pat
    >>> pat.nn.functional.softsign(pat.tensor([1.0])).numpy()
    array([0.5], dtype=float32)
    """
    x = tensor_arg(input, "softsign")
    return x / (1.0 + ops.relu(x, subgradient=0.5) + ops.relu(-x, subgradient=0.5))


def tanhshrink(input: Any) -> Tensor:
    """``x - tanh(x)``."""
    x = tensor_arg(input, "tanhshrink")
    return x - ops.tanh(x)


def softmax(input: Any, dim: int | None = None) -> Tensor:
    """Softmax along ``dim`` (PyTorch's implicit choice when None: dim 0 for 0-, 1- and
    3-d inputs, else 1).

    >>> import pyautotape as pat
    >>> pat.nn.functional.softmax(pat.tensor([[0.0, 0.0]]), dim=1).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    x = tensor_arg(input, "softmax")
    return ops.softmax(x, axis=_implicit_dim(x, dim))


def log_softmax(input: Any, dim: int | None = None) -> Tensor:
    """Log-softmax along ``dim`` (see :func:`softmax`)."""
    x = tensor_arg(input, "log_softmax")
    return ops.log_softmax(x, axis=_implicit_dim(x, dim))


def _implicit_dim(x: Tensor, dim: int | None) -> int:
    if dim is not None:
        return dim
    return 0 if x.ndim in (0, 1, 3) else 1


def layer_norm(input: Any, normalized_shape: Sequence[int] | int, weight: Any = None,
               bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims to mean 0, variance 1 (the
    biased variance, plus ``eps``), then scale by ``weight`` and shift by ``bias``.

    >>> import pyautotape as pat
    >>> y = pat.nn.functional.layer_norm(pat.tensor([[2.0, 4.0]]), 2)
    >>> y.numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """
    x = tensor_arg(input, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k:] != shape or x.ndim < k:
        raise ShapeError(f"layer_norm: input {x.shape} does not end in normalized_shape "
                         f"{shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    d = x - ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(d * d, axis=axes, keepdims=True)
    y = d / ops.sqrt(var + float(eps))
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, dim) at the integer ndarray ``input``;
    the ``padding_idx`` row gets no gradient.

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.functional.embedding(np.array([1]), pat.tensor([[0.0], [5.0]])).numpy()
    array([[5.]], dtype=float32)
    """
    return _embedding(input, weight, padding_idx)


def _update(buf: Tensor, keep: float, new: Tensor, scale: float) -> None:
    """``buf = keep * buf + scale * new``, written into buf's own array by a recorded op,
    so a replayed step updates the buffer too."""
    with no_grad():
        a = buf * keep
        b = new * scale
    dt = buf.dtype
    it = bcast_iter("add", a.shape, b.shape)[1]
    with _writable(buf) as arr:
        run(lib.PAT_OP_ADD, "add", dt, arr, s0=a._data, s1=b._data, it=it)


def batch_norm(input: Any, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Any = None, bias: Any = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over the channel dim 1 of (N, C) or (N, C, L), as
    ``torch.nn.functional.batch_norm``: in training, normalise with the batch statistics
    and update the running ones in place (``running = (1 - momentum) running + momentum
    batch``, the variance unbiased); otherwise normalise with the running statistics.

    >>> import numpy as np, pyautotape as pat
    >>> rm, rv = pat.tensor(np.zeros(2)), pat.tensor(np.ones(2))
    >>> x = pat.tensor(np.array([[1.0, 2.0], [3.0, 6.0]]))
    >>> pat.nn.functional.batch_norm(x, rm, rv, training=True).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> rm.numpy()
    array([0.2, 0.4])
    """
    x = tensor_arg(input, "batch_norm")
    if x.ndim not in (2, 3):
        raise ShapeError(f"batch_norm: input must be (N, C) or (N, C, L), got {x.shape}")
    c = x.shape[1]
    axes = (0,) if x.ndim == 2 else (0, 2)
    view = (1, c) if x.ndim == 2 else (1, c, 1)
    for name, buf in (("running_mean", running_mean), ("running_var", running_var)):
        if buf is not None and buf.shape != (c,):
            raise ShapeError(f"batch_norm: {name} must have shape ({c},), got {buf.shape}")
    if training:
        count = math.prod(x.shape[a] for a in axes)
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input {x.shape}")
        mean = ops.mean(x, axis=axes, keepdims=True)
        d = x - mean
        var = ops.mean(d * d, axis=axes, keepdims=True)
        if running_mean is not None:
            _update(running_mean, 1.0 - momentum, ops.reshape(mean, (c,)), momentum)
        if running_var is not None:
            _update(running_var, 1.0 - momentum, ops.reshape(var, (c,)),
                    momentum * count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not "
                             "training (or pass training=True)")
        d = x - ops.reshape(running_mean, view)
        var = ops.reshape(running_var, view)
    y = d / ops.sqrt(var + float(eps))
    if weight is not None:
        y = y * ops.reshape(weight, view)
    if bias is not None:
        y = y + ops.reshape(bias, view)
    return y

