"""The Module base class: parameters found by attribute, state_dict, train/eval, hooks;
and :class:`Parameter`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._ffi import F32, F64
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, _writable, clear_grad, get_default_dtype
from .parameter import Parameter, RemovableHandle

__all__ = ["Module", "IncompatibleKeys", "Parameter", "RemovableHandle"]


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
        pre = self.__dict__.get("_forward_pre_hooks")
        if pre:
            for hook in list(pre.values()):
                out = hook(self, args)
                if out is not None:
                    args = out if isinstance(out, tuple) else (out,)
        result = self.forward(*args, **kwargs)
        post = self.__dict__.get("_forward_hooks")
        if post:
            for hook in list(post.values()):
                out = hook(self, args, result)
                if out is not None:
                    result = out
        return result

    def _hooks(self, attr: str, hook: Callable[..., Any], where: str) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{where}: hook must be callable, got {type(hook).__name__}")
        hooks = self.__dict__.setdefault(attr, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces the
        positional arguments. Hooks are Python: under ``pat.compile`` they run while a step
        records, not in its replays.

        >>> import pyautotape as pat
        >>> lin = pat.nn.Linear(2, 1)
        >>> h = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
        >>> float(lin(pat.tensor([[1.0, 1.0]])).item()) == float(lin.bias.item())
        True
        >>> h.remove()
        """
        return self._hooks("_forward_pre_hooks", hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result
        replaces the output (see :meth:`register_forward_pre_hook` about compile).

        >>> import pyautotape as pat
        >>> seen = []
        >>> lin = pat.nn.Linear(2, 3)
        >>> h = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape))
        >>> _ = lin(pat.tensor([[1.0, 2.0]])); seen
        [(1, 3)]
        """
        return self._hooks("_forward_hooks", hook, "register_forward_hook")

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    # -- discovery -----------------------------------------------------------------------
    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        """Direct children and leaf tensors, in attribute order: attributes, items of
        list/tuple attributes (``attr.0``) and values of dict attributes (``attr.key``);
        a set holding modules or tensors is refused (it has no order to name them by).
        The containers (Sequential, ModuleList, ModuleDict) override this."""
        for name, value in vars(self).items():
            if isinstance(value, (Module, Tensor)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Module, Tensor)):
                        yield f"{name}.{i}", item
            elif isinstance(value, dict) and not name.startswith("_"):
                for key, item in value.items():
                    if isinstance(item, (Module, Tensor)):
                        yield f"{name}.{key}", item
            elif isinstance(value, (set, frozenset)) and any(
                isinstance(v, (Module, Tensor)) for v in value
            ):
                raise TypeError(
                    f"{type(self).__name__}.{name} is a set holding modules or tensors: a "
                    "set has no order, so its parameters cannot be named; use a list, "
                    "nn.ModuleList or nn.ModuleDict"
                )

    def children(self) -> Iterator[Module]:
        """Direct submodules (see :meth:`named_children`)."""
        for _, mod in self.named_children():
            yield mod

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on self; returns self.

        >>> import pyautotape as pat
        >>> names = []
        >>> _ = pat.nn.MLP([2, 3, 1]).apply(lambda m: names.append(type(m).__name__))
        >>> names
        ['Linear', 'ReLU', 'Linear', 'Sequential', 'MLP']
        """
        # post-order of the depth-first walk: a module after all of its descendants
        post: list[Module] = []
        stack: list[tuple[Module, bool]] = [(self, False)]
        seen: set[int] = set()
        while stack:
            mod, done = stack.pop()
            if done:
                post.append(mod)
                continue
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            stack.append((mod, True))
            stack.extend((c, False) for c in reversed(list(mod.children())))
        for mod in post:
            fn(mod)
        return self

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

    def _buffer_ids(self) -> tuple[set[int], set[int]]:
        """ids of the registered buffers of the tree, and of the non-persistent ones."""
        every: set[int] = set()
        hidden: set[int] = set()
        for mod in self.modules():
            for name in mod.__dict__.get("_buffer_names", ()):
                value = mod.__dict__.get(name)
                if isinstance(value, Tensor):
                    every.add(id(value))
                    if name in mod.__dict__.get("_non_persistent", ()):
                        hidden.add(id(value))
        return every, hidden

    def _tensors(self, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        if recurse:
            yield from self._named_tensors()
            return
        seen: set[int] = set()
        for name, value in self._members():
            if isinstance(value, Tensor) and value.is_leaf and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` for every parameter: a :class:`Parameter`, or a leaf
        tensor attribute that requires grad, that is not a registered buffer. With
        ``recurse=False`` only this module's own.

        >>> import pyautotape as pat
        >>> [n for n, _ in pat.nn.Linear(2, 3).named_parameters()]
        ['weight', 'bias']
        """
        buffers, _ = self._buffer_ids()
        pre = f"{prefix}." if prefix else ""
        for name, t in self._tensors(recurse):
            if id(t) not in buffers and (isinstance(t, Parameter) or t.requires_grad):
                yield pre + name, t

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every parameter, in definition order, each once (pass it to an optimizer).

        >>> import pyautotape as pat
        >>> sum(p.size for p in pat.nn.Linear(2, 3).parameters())
        9
        """
        for _, t in self.named_parameters(recurse=recurse):
            yield t

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Keep ``tensor`` (or None) as state that is not a parameter: it is in
        ``state_dict`` (unless ``persistent=False``), in :meth:`named_buffers`, converted
        by :meth:`to`, and never given to an optimizer.

        >>> import numpy as np, pyautotape as pat
        >>> m = pat.nn.Module()
        >>> m.register_buffer("count", pat.tensor([0.0]))
        >>> list(m.state_dict()), list(m.parameters())
        (['count'], [])
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: name must be a non-empty str without '.', got "
                           f"{name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray):
                from ..tensor import tensor as _tensor

                tensor = _tensor(tensor)
            else:
                raise TypeError(f"register_buffer: '{name}' must be a Tensor, ndarray or None, "
                                f"got {type(tensor).__name__}")
        if tensor is not None and tensor.requires_grad:
            tensor = tensor.detach()
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        hidden = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            hidden.discard(name)
        else:
            hidden.add(name)
        setattr(self, name, tensor)

    def register_parameter(self, name: str, param: Tensor | None) -> None:
        """Set attribute ``name`` to ``param`` (a Parameter or tensor, or None)."""
        if param is not None and not isinstance(param, Tensor):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got "
                            f"{type(param).__name__}")
        setattr(self, name, param)

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` for every registered buffer."""
        buffers, _ = self._buffer_ids()
        pre = f"{prefix}." if prefix else ""
        for name, t in self._tensors(recurse):
            if id(t) in buffers:
                yield pre + name, t

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every registered buffer (see :meth:`register_buffer`)."""
        for _, t in self.named_buffers(recurse=recurse):
            yield t

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (freeze with False); returns self.

        >>> import pyautotape as pat
        >>> lin = pat.nn.Linear(2, 1).requires_grad_(False)
        >>> [p.requires_grad for p in lin.parameters()]
        [False, False]
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert every parameter and buffer to a dtype, in place (``to(np.float64)``,
        ``to(dtype=...)``, ``to("cpu")``; CPU is the only device). Gradients are dropped;
        build optimizers after converting. Returns self.

        >>> import numpy as np, pyautotape as pat
        >>> pat.nn.Linear(2, 1).to(np.float64).weight.dtype
        dtype('float64')
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        if device is not None and str(device) != "cpu":
            raise ValueError(f"to: pyautotape runs on the CPU only, got device {device!r}")
        if dtype is None:
            return self
        dt = _dtype(dtype, "to")
        for _, t in self._named_tensors():
            if t.dtype != dt:
                t._data = t._data.astype(dt)
                t._grad = None
                t._guard = None
        return self

    def float(self) -> Module:
        """``to(np.float32)``."""
        return self.to(F32)

    def double(self) -> Module:
        """``to(np.float64)``."""
        return self.to(F64)

    def cpu(self) -> Module:
        """Returns self (everything lives on the CPU)."""
        return self

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
            flag = mod.__dict__.get("_mode_flag")
            if flag is not None:  # what a compiled step's guard reads (see _guard_mode)
                flag[0] = float(bool(mode))
        return self

    def _guard_mode(self) -> None:
        """For a layer whose forward depends on train/eval (Dropout, BatchNorm1d): under
        ``pat.compile`` a guard on the mode, so a recorded step replays only in the mode
        it was recorded in (switching to eval() records again)."""
        from .. import _state

        rec = _state.state.recorder
        if rec is None:
            return
        flag = self.__dict__.get("_mode_flag")
        if flag is None:
            flag = self.__dict__["_mode_flag"] = np.array([float(self.training)])
        flag[0] = float(self.training)
        rec.compare(flag, float(self.training), "==", np.array([True]))

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
        _, hidden = self._buffer_ids()
        return {name: t.numpy() for name, t in self._named_tensors() if id(t) not in hidden}

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
        _, hidden = self._buffer_ids()
        own = {n: t for n, t in self._named_tensors() if id(t) not in hidden}
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
            if value.dtype.kind in "iub" and name.endswith("num_batches_tracked"):
                value = value.astype(t.dtype)  # PyTorch keeps this counter as int64
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
