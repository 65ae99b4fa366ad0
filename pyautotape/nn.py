"""``pat.nn``: modules for building and training small networks, shaped like ``torch.nn``.

A :class:`Module` finds its parameters by looking at its attributes, in the order they
were assigned: a leaf :class:`~pyautotape.Tensor` with ``requires_grad=True`` is a
parameter, a Module is a child whose parameters are named ``child.name``, and a list or
tuple of Modules/Tensors contributes ``attr.0``, ``attr.1``, ... A tensor or module reached
twice (weight tying) is listed once, under its first name. There is no Parameter class and
no registration call: assigning the attribute is enough.

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

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import ops
from . import random as _random
from ._ffi import F32, F64
from .errors import DTypeError, ShapeError
from .ops.elementwise import _check_subgradient
from .ops.loss import _reduction
from .tensor import Tensor, _writable, clear_grad, get_default_dtype, tensor

__all__ = [
    "Module",
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Sequential",
    "MLP",
    "MSELoss",
    "CrossEntropyLoss",
    "IncompatibleKeys",
]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` did not match.

    >>> import pyautotape as pat
    >>> m = pat.nn.Linear(2, 1)
    >>> m.load_state_dict({"weight": m.weight.numpy()}, strict=False)
    IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
    """

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: subclasses assign parameters and submodules as attributes in
    ``__init__`` (after ``super().__init__()``) and define ``forward``.

    >>> import numpy as np, pyautotape as pat
    >>> class Affine(pat.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = pat.tensor([2.0], requires_grad=True)
    ...         self.shift = pat.tensor([1.0], requires_grad=True)
    ...     def forward(self, x):
    ...         return x * self.scale + self.shift
    >>> m = Affine()
    >>> m(pat.tensor([3.0])).numpy()
    array([7.], dtype=float32)
    >>> sorted(m.state_dict())
    ['scale', 'shift']
    """

    training: bool

    def __init__(self) -> None:
        self.training = True

    # -- what a subclass provides ------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    # -- discovery -----------------------------------------------------------------------
    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        """Direct children and leaf tensors, in attribute order (Sequential overrides)."""
        for name, value in vars(self).items():
            if isinstance(value, (Module, Tensor)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Module, Tensor)):
                        yield f"{name}.{i}", item

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules with their attribute names.

        >>> import pyautotape as pat
        >>> [n for n, _ in pat.nn.MLP([2, 3, 1]).layers.named_children()]
        ['0', '1', '2']
        """
        for name, value in self._members():
            if isinstance(value, Module):
                yield name, value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule, depth first, each once (iterative walk).

        >>> import pyautotape as pat
        >>> [n for n, _ in pat.nn.MLP([2, 3, 1]).named_modules()]
        ['', 'layers', 'layers.0', 'layers.1', 'layers.2']
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule (see :meth:`named_modules`)."""
        for _, mod in self.named_modules():
            yield mod

    def _named_tensors(self) -> Iterator[tuple[str, Tensor]]:
        """Every leaf tensor held by this module tree, once, in definition order: a
        depth-first walk over the members (an explicit stack, no recursion)."""
        seen: set[int] = {id(self)}
        stack: list[tuple[str, Iterator[tuple[str, Module | Tensor]]]] = [("", self._members())]
        while stack:
            prefix, members = stack[-1]
            item = next(members, None)
            if item is None:
                stack.pop()
                continue
            name, value = item
            if id(value) in seen:
                continue
            if isinstance(value, Module):
                seen.add(id(value))
                stack.append((f"{prefix}{name}.", value._members()))
            elif value.is_leaf:
                seen.add(id(value))
                yield prefix + name, value

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` for every parameter (a leaf tensor that requires grad).

        >>> import pyautotape as pat
        >>> [n for n, _ in pat.nn.Linear(2, 3).named_parameters()]
        ['weight', 'bias']
        """
        for name, t in self._named_tensors():
            if t.requires_grad:
                yield name, t

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter, in definition order, each once (pass it to an optimizer).

        >>> import pyautotape as pat
        >>> sum(p.size for p in pat.nn.Linear(2, 3).parameters())
        9
        """
        for _, t in self.named_parameters():
            yield t

    # -- training helpers ----------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter: ``None`` by default, else zeros in place.

        >>> import pyautotape as pat
        >>> lin = pat.nn.Linear(2, 1)
        >>> lin(pat.tensor([[1.0, 2.0]])).sum().backward()
        >>> lin.zero_grad(); lin.weight.grad is None
        True
        """
        for p in self.parameters():
            clear_grad(p, set_to_none)

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every submodule; returns self.

        >>> import pyautotape as pat
        >>> pat.nn.MLP([2, 2]).eval().training
        False
        """
        for mod in self.modules():
            mod.training = bool(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``."""
        return self.train(False)

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every leaf tensor's value (parameters, and tensors kept frozen with
        ``requires_grad=False``), keyed by dotted name.

        >>> import pyautotape as pat
        >>> sd = pat.nn.Linear(2, 3).state_dict()
        >>> {k: v.shape for k, v in sd.items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        return {name: t.numpy() for name, t in self._named_tensors()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's tensors, in place (so an
        optimizer built on them keeps working). Everything is checked before anything is
        written: with ``strict=True`` missing or unexpected keys raise ValueError; a shape
        or dtype that differs raises ShapeError / DTypeError.

        >>> import pyautotape as pat
        >>> a, b = pat.nn.Linear(2, 3), pat.nn.Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.numpy() == b.weight.numpy()).all())
        True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}"
            )
        own = dict(self._named_tensors())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(
                f"load_state_dict into {type(self).__name__}: {' and '.join(parts)}; the "
                f"module has {list(own)} (pass strict=False to load the keys that match)"
            )
        values = {}
        for name, t in own.items():
            if name not in state_dict:
                continue
            raw = state_dict[name]
            value = raw.numpy() if isinstance(raw, Tensor) else np.asarray(raw)
            if value.shape != t.shape:
                raise ShapeError(
                    f"load_state_dict: '{name}' has shape {value.shape} in the state dict "
                    f"but {t.shape} in the module"
                )
            if value.dtype != t.dtype:
                raise DTypeError(
                    f"load_state_dict: '{name}' has dtype {value.dtype} in the state dict "
                    f"but {t.dtype} in the module; cast the state dict (v.astype(...)) or "
                    "build the module with the matching dtype"
                )
            values[name] = value
        for name, value in values.items():
            with _writable(own[name]) as buf:
                np.copyto(buf, value)
        return IncompatibleKeys(missing, unexpected)

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, mod in kids:
            body = repr(mod).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _dtype(dtype: Any, where: str) -> np.dtype:
    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt not in (F32, F64):
        raise DTypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


def _positive_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {value}")
    return int(value)


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
