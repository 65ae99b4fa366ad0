"""Layers: Linear, Identity, Flatten, Unflatten, Bilinear, MLP, and the first activation
modules (more in activation.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from .. import random as _random
from ..errors import ShapeError
from ..ops.elementwise import _check_subgradient
from ..tensor import Tensor
from .container import Sequential
from .module import Module, Parameter, _dtype, _positive_int

__all__ = ["Linear", "Identity", "Flatten", "Unflatten", "Bilinear", "Embedding", "ReLU", "Tanh",
           "Sigmoid", "MLP"]


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features), as
    ``torch.nn.Linear``, initialised as PyTorch does: weight and bias uniform in
    ``[-1/sqrt(in_features), 1/sqrt(in_features)]`` (kaiming_uniform with a=sqrt(5)),
    drawn from the generator that :func:`pyautotape.manual_seed` seeds.

    >>> import numpy as np, pyautotape as pat
    >>> lin = pat.nn.Linear(4, 2)
    >>> lin.weight.shape, lin.bias.shape, bool(np.abs(lin.weight.numpy()).max() <= 0.5)
    ((2, 4), (2,), True)
    >>> lin(np.zeros((3, 4), np.float32)).shape
    (3, 2)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dt = _dtype(dtype, "Linear")
        bound = 1.0 / math.sqrt(self.in_features)
        rng = _random.default_generator()
        w = rng.uniform(-bound, bound, (self.out_features, self.in_features))
        self.weight = Parameter(w.astype(dt))
        self.bias: Tensor | None = None
        if bias:
            b = rng.uniform(-bound, bound, self.out_features)
            self.bias = Parameter(b.astype(dt))

    def forward(self, x: Any) -> Tensor:
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype}"
        )


class Identity(Module):
    """Returns its input (arguments are accepted and ignored, as in PyTorch).

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0]); pat.nn.Identity()(x) is x
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


def _dim(d: int, ndim: int, where: str) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise TypeError(f"{where}: dim must be an int, got {type(d).__name__}")
    if not -ndim <= d < ndim:
        raise ShapeError(f"{where}: dim {d} is out of range for a {ndim}-d input")
    return d % ndim


class Flatten(Module):
    """Merge dims ``start_dim`` .. ``end_dim`` into one (default: all but the batch).

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.Flatten()(pat.tensor(np.zeros((2, 3, 4)))).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        t = ops.core.tensor_arg(x, "Flatten")
        nd = max(t.ndim, 1)
        a, b = _dim(self.start_dim, nd, "Flatten"), _dim(self.end_dim, nd, "Flatten")
        if a > b:
            raise ShapeError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for a {t.ndim}-d input")
        shape = t.shape[:a] + (math.prod(t.shape[a:b + 1]),) + t.shape[b + 1:]
        return ops.reshape(t, shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.nn.Unflatten(1, (3, 4))(pat.tensor(np.zeros((2, 12)))).shape
    (2, 3, 4)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Any) -> Tensor:
        t = ops.core.tensor_arg(x, "Unflatten")
        d = _dim(self.dim, t.ndim, "Unflatten")
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        if (-1 not in sizes and known != t.shape[d]) or (known and t.shape[d] % known):
            raise ShapeError(f"Unflatten: sizes {sizes} do not multiply to dim {d} of size "
                             f"{t.shape[d]} (input {t.shape})")
        return ops.reshape(t, t.shape[:d] + sizes + t.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """``y[n, k] = x1[n] @ weight[k] @ x2[n] + bias[k]``, weight (out, in1, in2), as
    ``torch.nn.Bilinear`` (initialised uniform in ±1/sqrt(in1_features)).

    >>> import numpy as np, pyautotape as pat
    >>> bl = pat.nn.Bilinear(3, 4, 2)
    >>> bl(np.ones((5, 3), np.float32), np.ones((5, 4), np.float32)).shape
    (5, 2)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = _positive_int(in1_features, "in1_features", "Bilinear")
        self.in2_features = _positive_int(in2_features, "in2_features", "Bilinear")
        self.out_features = _positive_int(out_features, "out_features", "Bilinear")
        dt = _dtype(dtype, "Bilinear")
        bound = 1.0 / math.sqrt(self.in1_features)
        rng = _random.default_generator()
        shape = (self.out_features, self.in1_features, self.in2_features)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dt))
        self.bias: Tensor | None = None
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, self.out_features).astype(dt))

    def forward(self, x1: Any, x2: Any) -> Tensor:
        (a, b), _ = ops.core.operands("Bilinear", x1, x2)
        i, j, k = self.in1_features, self.in2_features, self.out_features
        if a.shape[-1:] != (i,) or b.shape[-1:] != (j,) or a.shape[:-1] != b.shape[:-1]:
            raise ShapeError(f"Bilinear: inputs {a.shape} and {b.shape} must be (..., {i}) and "
                             f"(..., {j}) with the same leading dims")
        lead = a.shape[:-1]
        a2, b2 = ops.reshape(a, (-1, i)), ops.reshape(b, (-1, 1, j))
        w = ops.reshape(ops.transpose(self.weight, (1, 0, 2)), (i, k * j))
        y = ops.sum(ops.reshape(ops.matmul(a2, w), (-1, k, j)) * b2, axis=2)
        if self.bias is not None:
            y = y + self.bias
        return ops.reshape(y, lead + (k,))

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Embedding(Module):
    """``torch.nn.Embedding``: a (num_embeddings, embedding_dim) table initialised N(0, 1)
    (the ``padding_idx`` row zero, and left out of the gradient); called on an integer
    ndarray of indices, returns their rows.

    >>> import numpy as np, pyautotape as pat
    >>> emb = pat.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(np.array([[0, 4, 9]])).shape, float(np.abs(emb.weight.numpy()[0]).max())
    ((1, 3, 3), 0.0)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None, _weight: Any = None) -> None:
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings {self.num_embeddings}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dt = _dtype(dtype, "Embedding")
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is not None:
            w = np.asarray(_weight.numpy() if isinstance(_weight, Tensor) else _weight, dt)
            if w.shape != shape:
                raise ShapeError(f"Embedding: _weight has shape {w.shape}, expected {shape}")
        else:
            w = _random.default_generator().standard_normal(shape).astype(dt)
            if padding_idx is not None:
                w[padding_idx] = 0
        self.weight = Parameter(w)

    def forward(self, input: Any) -> Tensor:
        return ops.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class ReLU(Module):
    """``pat.relu`` as a module; ``subgradient`` is the derivative used at exactly 0
    (None: the global default, see :func:`pyautotape.set_relu_subgradient`).

    >>> import pyautotape as pat
    >>> pat.nn.ReLU()(pat.tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """

    def __init__(self, subgradient: float | None = None) -> None:
        super().__init__()
        if subgradient is not None:
            _check_subgradient(subgradient, "ReLU")
        self.subgradient = subgradient

    def forward(self, x: Any) -> Tensor:
        return ops.relu(x, subgradient=self.subgradient)

    def extra_repr(self) -> str:
        return "" if self.subgradient is None else f"subgradient={self.subgradient}"


class Tanh(Module):
    """``pat.tanh`` as a module.

    >>> import pyautotape as pat
    >>> pat.nn.Tanh()(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return ops.tanh(x)


class Sigmoid(Module):
    """``pat.sigmoid`` as a module.

    >>> import pyautotape as pat
    >>> pat.nn.Sigmoid()(pat.tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return ops.sigmoid(x)


_ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Module):
    """A multilayer perceptron: ``Linear(sizes[0], sizes[1])``, activation, ...,
    ``Linear(sizes[-2], sizes[-1])``, with no activation after the last layer (it returns
    logits or regression outputs). The layers live in ``self.layers`` (a Sequential).

    >>> import pyautotape as pat
    >>> mlp = pat.nn.MLP([64, 32, 10], activation="tanh")
    >>> [type(m).__name__ for m in mlp.layers]
    ['Linear', 'Tanh', 'Linear']
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dtype: Any = None) -> None:
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"MLP: sizes must list at least the input and output widths, got {sizes}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.sizes = [_positive_int(s, f"sizes[{i}]", "MLP") for i, s in enumerate(sizes)]
        self.activation = activation
        layers: list[Module] = []
        for i in range(len(sizes) - 1):
            if i:
                layers.append(_ACTIVATIONS[activation]())
            layers.append(Linear(sizes[i], sizes[i + 1], dtype=dtype))
        self.layers = Sequential(*layers)

    def forward(self, x: Any) -> Tensor:
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"
