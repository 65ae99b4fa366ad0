"""Containers: Sequential (positional or OrderedDict), ModuleList, ModuleDict, ParameterList,
ParameterDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _module(m: Any, where: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{where} is a {type(m).__name__}, not a Module")
    return m


class Sequential(Module):
    """Modules applied one after the other; indexable, iterable, with ``len``. Children
    are named ``0``, ``1``, ... (or by the keys of an OrderedDict, reachable as
    attributes), so parameters read ``0.weight``, ``fc.bias``.

    >>> from collections import OrderedDict
    >>> import pyautotape as pat
    >>> seq = pat.nn.Sequential(pat.nn.Linear(2, 3), pat.nn.ReLU())
    >>> len(seq), type(seq[1]).__name__, [type(m).__name__ for m in seq]
    (2, 'ReLU', ['Linear', 'ReLU'])
    >>> named = pat.nn.Sequential(OrderedDict(fc=pat.nn.Linear(2, 1)))
    >>> [n for n, _ in named.named_parameters()], type(named.fc).__name__
    (['fc.weight', 'fc.bias'], 'Linear')
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items = [(str(k), _module(v, f"Sequential: entry {k!r}"))
                     for k, v in modules[0].items()]
        else:
            items = [(str(i), _module(m, f"Sequential: argument {i}"))
                     for i, m in enumerate(modules)]
        self._items: OrderedDict[str, Module] = OrderedDict(items)

    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        yield from self._items.items()

    def __getattr__(self, name: str) -> Any:
        items = self.__dict__.get("_items")
        if items is not None and name in items:
            return items[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def forward(self, x: Any) -> Any:
        for m in self._items.values():
            x = m(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        mods = list(self._items.values())
        if isinstance(index, slice):
            keys = list(self._items)[index]
            return Sequential(OrderedDict((k, self._items[k]) for k in keys))
        return mods[index]

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._items)[index]
        self._items[key] = _module(module, "Sequential[...] = value")

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._items)
        for k in keys[index] if isinstance(index, slice) else [keys[index]]:
            del self._items[k]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._items.values()))

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        _module(module, "Sequential.append: the argument")
        self._items[str(len(self._items))] = module
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (``0.weight``, ...); it has no
    forward: iterate over it.

    >>> import pyautotape as pat
    >>> layers = pat.nn.ModuleList([pat.nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters())), type(layers[-1]).__name__
    (3, 6, 'Linear')
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        self._items: list[Module] = []
        if modules is not None:
            self.extend(modules)

    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        for i, m in enumerate(self._items):
            yield str(i), m

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(self._items[index])
        return self._items[index]

    def __setitem__(self, index: int, module: Module) -> None:
        self._items[index] = _module(module, "ModuleList[...] = value")

    def __delitem__(self, index: int | slice) -> None:
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._items))

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        self._items.append(_module(module, "ModuleList.append: the argument"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add the modules at the end; returns self."""
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend: expected an iterable of modules, got a Module")
        for i, m in enumerate(list(modules)):
            self._items.append(_module(m, f"ModuleList: item {i}"))
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before ``index``."""
        self._items.insert(index, _module(module, "ModuleList.insert: the argument"))


class _Keyed(Module):
    """What ModuleDict and ParameterDict share: an ordered ``str -> member`` mapping whose
    members register under their keys; ``_convert`` checks (and converts) a new member."""

    _items: OrderedDict[str, Any]

    @staticmethod
    def _convert(value: Any, where: str, /) -> Any:
        return value

    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        yield from self._items.items()

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        name = type(self).__name__
        if not isinstance(key, str):
            raise TypeError(f"{name}: keys must be str, got {type(key).__name__}")
        self._items[key] = self._convert(value, f"{name}[{key!r}]")

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return list(self._items)

    def values(self) -> list[Any]:
        """The members, in insertion order."""
        return list(self._items.values())

    def items(self) -> list[tuple[str, Any]]:
        """``(key, member)`` pairs, in insertion order."""
        return list(self._items.items())


class ModuleDict(_Keyed):
    """An ordered dict of modules with str keys, registered as ``key.weight``, ...

    >>> import pyautotape as pat
    >>> heads = pat.nn.ModuleDict({"a": pat.nn.Linear(2, 1), "b": pat.nn.Linear(2, 3)})
    >>> list(heads), [n for n, _ in heads.named_parameters()][:2], "a" in heads
    (['a', 'b'], ['a.weight', 'a.bias'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[Any] | None = None) -> None:
        super().__init__()
        self._items: OrderedDict[str, Module] = OrderedDict()
        if modules is not None:
            self.update(modules)

    _convert = staticmethod(_module)

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        return self._items.pop(key)

    def clear(self) -> None:
        """Remove every module."""
        self._items.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[Any]) -> None:
        """Add or replace entries from a mapping or an iterable of (key, module) pairs."""
        pairs: Iterable[Any] = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            key, module = pair
            self[key] = module


def _param(p: Any, where: str) -> Tensor:
    if isinstance(p, Tensor):
        return p if isinstance(p, Parameter) else Parameter(p)
    raise TypeError(f"{where} is a {type(p).__name__}, not a Parameter or Tensor")


class ParameterList(Module):
    """A list of parameters, registered as ``0``, ``1``, ... (tensors become Parameters).

    >>> import pyautotape as pat
    >>> ps = pat.nn.ParameterList([pat.tensor([1.0]), pat.tensor([2.0, 3.0])])
    >>> [n for n, _ in ps.named_parameters()], len(ps)
    (['0', '1'], 2)
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._items: list[Tensor] = []
        for i, v in enumerate(values or ()):
            self._items.append(_param(v, f"ParameterList: item {i}"))

    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        for i, p in enumerate(self._items):
            yield str(i), p

    def __getitem__(self, index: int) -> Tensor:
        return self._items[index]

    def __setitem__(self, index: int, value: Any) -> None:
        self._items[index] = _param(value, "ParameterList[...] = value")

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Tensor]:
        return iter(list(self._items))

    def append(self, value: Any) -> ParameterList:
        """Add a parameter at the end; returns self."""
        self._items.append(_param(value, "ParameterList.append: the argument"))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Add the parameters at the end; returns self."""
        for v in values:
            self.append(v)
        return self


class ParameterDict(_Keyed):
    """An ordered dict of parameters with str keys.

    >>> import pyautotape as pat
    >>> pd = pat.nn.ParameterDict({"scale": pat.tensor([1.0])})
    >>> list(pd.state_dict()), "scale" in pd
    (['scale'], True)
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._items: OrderedDict[str, Tensor] = OrderedDict()
        for k, v in (values or {}).items():
            self[k] = v

    _convert = staticmethod(_param)
