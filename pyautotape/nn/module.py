"""The Module base class: parameters found by attribute, state_dict, train/eval."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._ffi import F32, F64
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, _writable, clear_grad, get_default_dtype

__all__ = ["Module", "IncompatibleKeys"]


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
            try:
                value = raw.numpy() if isinstance(raw, Tensor) else np.asarray(raw)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"load_state_dict: '{name}' is not an array ({type(raw).__name__}: {exc})"
                ) from None
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
        # every destination writable before the first write: all of it lands, or nothing
        for name in values:
            t = own[name]
            g = t._guard
            locked = g is not None and g.count > 0 and g.arr is t._data  # lifted for writes
            if not (t._data.flags.writeable or locked):
                raise ValueError(
                    f"load_state_dict: '{name}' is a read-only array in the module; give the "
                    "tensor a writable .data first"
                )
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
