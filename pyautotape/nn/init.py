"""``pat.nn.init``: in-place initialisers with ``torch.nn.init``'s names, formulas and
defaults, drawing from the generator :func:`pyautotape.manual_seed` seeds.

>>> import numpy as np, pyautotape as pat
>>> _ = pat.manual_seed(0)
>>> w = pat.nn.Linear(4, 3).weight
>>> _ = pat.nn.init.xavier_uniform_(w)
>>> bool(np.abs(w.numpy()).max() <= np.sqrt(6 / 7))
True
"""

from __future__ import annotations

import math

import numpy as np

from .. import random as _random
from ..errors import ShapeError
from ..tensor import Tensor, _writable

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_", "trunc_normal_"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    >>> import pyautotape as pat
    >>> pat.nn.init.calculate_gain("relu"), round(pat.nn.init.calculate_gain("tanh"), 4)
    (1.4142135623730951, 1.6667)
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(t: Tensor, values: np.ndarray, where: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(t).__name__}")
    if not t.is_leaf:
        raise ValueError(f"{where}: can only initialise a leaf tensor (a parameter)")
    with _writable(t) as buf:
        np.copyto(buf, np.asarray(values).astype(t.dtype, copy=False))
    return t


def _fans(t: Tensor, where: str) -> tuple[int, int]:
    if t.ndim < 2:
        raise ShapeError(f"{where}: fan in and fan out can not be computed for a tensor with "
                         f"fewer than 2 dimensions (shape {t.shape})")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b).

    >>> import numpy as np, pyautotape as pat
    >>> t = pat.nn.init.uniform_(pat.tensor(np.zeros(5)), -1, 1)
    >>> bool((np.abs(t.numpy()) <= 1).all())
    True
    """
    return _fill(tensor, _random.default_generator().uniform(a, b, tensor.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std²)."""
    return _fill(tensor, _random.default_generator().normal(mean, std, tensor.shape), "normal_")


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """Fill with N(mean, std²) truncated to [a, b] (redrawing the values outside).

    >>> import numpy as np, pyautotape as pat
    >>> t = pat.nn.init.trunc_normal_(pat.tensor(np.zeros(1000)), std=1.0, a=-0.5, b=0.5)
    >>> bool((np.abs(t.numpy()) <= 0.5).all())
    True
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    rng = _random.default_generator()
    out = rng.normal(mean, std, tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out, "trunc_normal_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val), "constant_")


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """The identity on a 2-D tensor.

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.init.eye_(pat.tensor(np.zeros((2, 3)))).numpy()
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """
    if tensor.ndim != 2:
        raise ShapeError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    rows, cols = tensor.shape
    return _fill(tensor, np.eye(rows, cols), "eye_")


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with ``a = gain sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std²) with ``std = gain sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, where: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, where)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b) with ``b = gain sqrt(3 / fan)`` (He et al.); Linear's default init is
    ``kaiming_uniform_(w, a=sqrt(5))``.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.nn.init.kaiming_uniform_(pat.tensor(np.zeros((3, 4))), a=np.sqrt(5))
    >>> bool(np.abs(w.numpy()).max() <= 0.5)
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """N(0, std²) with ``std = gain / sqrt(fan)``."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix (QR of a Gaussian, signs fixed as PyTorch), times gain;
    dims after the first are flattened.

    >>> import numpy as np, pyautotape as pat
    >>> q = pat.nn.init.orthogonal_(pat.tensor(np.zeros((3, 3)))).numpy()
    >>> bool(np.allclose(q @ q.T, np.eye(3)))
    True
    """
    if tensor.ndim < 2:
        raise ShapeError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows if hasattr(tensor, "numel") else tensor.size // rows
    flat = _random.default_generator().normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape), "orthogonal_")
