"""Layers: Linear, the activation modules, Sequential and MLP."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from .. import ops
from .. import random as _random
from ..ops.elementwise import _check_subgradient
from ..tensor import Tensor, tensor
from .module import Module, _dtype, _positive_int

__all__ = ["Linear", "ReLU", "Tanh", "Sigmoid", "Sequential", "MLP"]


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
        self.weight = tensor(w.astype(dt), requires_grad=True)
        self.bias: Tensor | None = None
        if bias:
            b = rng.uniform(-bound, bound, self.out_features)
            self.bias = tensor(b.astype(dt), requires_grad=True)

    def forward(self, x: Any) -> Tensor:
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype}"
        )


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


class Sequential(Module):
    """Modules applied one after the other; indexable, iterable, with ``len``. Children
    are named ``0``, ``1``, ... so parameters read ``0.weight``, ``2.bias``.

    >>> import pyautotape as pat
    >>> seq = pat.nn.Sequential(pat.nn.Linear(2, 3), pat.nn.ReLU())
    >>> len(seq), type(seq[1]).__name__, [type(m).__name__ for m in seq]
    (2, 'ReLU', ['Linear', 'ReLU'])
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
        self._items: list[Module] = list(modules)

    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        for i, m in enumerate(self._items):
            yield str(i), m

    def forward(self, x: Any) -> Any:
        for m in self._items:
            x = m(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self._items.append(module)
        return self


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
