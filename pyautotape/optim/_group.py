"""The per-group state of an optimizer and the checks of saved step counters and
parameter indices (used by optimizer.py)."""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import Any

import numpy as np

from .. import _ffi
from .._ffi import ffi
from ..tensor import Tensor

_META = operator.attrgetter("_data.shape", "_data.dtype")


@dataclasses.dataclass
class _GroupState:
    """The state of one parameter group: ``counts[i]`` is parameter i's counter (Adam:
    the step; SGD: updates folded into the momentum buffer, 0 = not started) and
    ``buffers[name][i]`` its state arrays (None until it first has a gradient).

    ``params`` are the tensors the state was built for (the group's list as last seen),
    ``shapes`` and ``dtype`` what they were then, and ``sizes`` their element counts;
    ``version`` counts rebuilds (a recorded step replays only against the version it
    saw). ``tables`` caches the pointer tables of parameters and state buffers with the
    arrays they point to, rebuilt only when one of those arrays changed; ``checked``
    holds the last hyperparameter values that passed validation."""

    counts: np.ndarray
    buffers: dict[str, list[np.ndarray | None]]
    sizes: np.ndarray
    params: list[Tensor] = dataclasses.field(default_factory=list)
    shapes: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    dtype: Any = None
    version: int = 0
    meta: list[tuple[Any, Any]] = dataclasses.field(default_factory=list)
    plist: Any = None  # the group's list object this state was checked against
    pversion: int = -1  # its version then (a ParamList), -1 for any other list
    tables: dict[str, tuple[list[np.ndarray | None], np.ndarray, Any]] = dataclasses.field(
        default_factory=dict
    )
    checked: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        self.meta = [(s, self.dtype) for s in self.shapes]

    def table(self, key: str, arrays: list[np.ndarray | None]) -> Any:
        """A ``void **`` to a table of the arrays' addresses; the table (and the arrays)
        stay referenced here until a later call with other arrays replaces it."""
        hit = self.tables.get(key)
        if hit is not None and len(hit[0]) == len(arrays) and all(
            map(operator.is_, hit[0], arrays)
        ):
            return hit[2]
        tab = _ffi.addresses(arrays)
        cptr = ffi.cast("void **", _ffi.ptr(tab))
        self.tables[key] = (list(arrays), tab, cptr)
        return cptr

    def int64_ptr(self, key: str, arr: np.ndarray) -> Any:
        """An ``int64_t *`` to ``arr`` (the sizes or the counters), kept while ``arr`` is
        the array this state holds under ``key`` (a rebuild replaces it)."""
        hit = self.tables.get(key)
        if hit is not None and hit[0] is arr:
            return hit[2]
        if arr.dtype != np.int64 or not arr.flags.writeable:
            raise TypeError(f"internal: {key} must be a writable int64 array")
        cptr = ffi.cast("int64_t *", _ffi.ptr(arr, writable=True))
        self.tables[key] = (arr, arr, cptr)  # type: ignore[assignment]
        return cptr

    def current(self, params: Any) -> bool:
        """Whether ``params`` (a group's "params" entry now) is still the list of tensors,
        shapes and dtype this state was built for: O(1) for the optimizer's own
        :class:`ParamList` unchanged since (its version stamp), else one C-level pass over
        the list (identities, then each tensor's buffer shape and dtype)."""
        if params is self.plist and self.pversion >= 0 and params.version == self.pversion:
            return True
        return (
            isinstance(params, list)
            and len(params) == len(self.params)
            and all(map(operator.is_, params, self.params))
            and list(map(_META, params)) == self.meta
        )


class ParamList(list):
    """A group's ``"params"`` list: a plain list whose every mutation bumps ``version``,
    so the optimizer's check before each step is O(1) while nothing changed."""

    __slots__ = ("version",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.version = 0


def _bumping(name: str) -> Any:
    method = getattr(list, name)

    def mutate(self: ParamList, *args: Any, **kwargs: Any) -> Any:
        self.version += 1
        out = method(self, *args, **kwargs)
        return self if out is self else out

    mutate.__name__ = name
    return mutate


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
              "insert", "pop", "remove", "clear", "sort", "reverse"):
    setattr(ParamList, _name, _bumping(_name))


_MAX_STEP = 2**62  # a step counter far beyond any run, far from int64's overflow


def _step(value: Any, where: str) -> int:
    """A saved step counter as an int: a non-negative whole number (int, integral float,
    or a one-element array of either, as PyTorch saves it), at most 2**62."""
    arr = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    x = arr.reshape(()).item() if arr.size == 1 and arr.dtype.kind in "iuf" else None
    if isinstance(x, float):
        x = int(x) if math.isfinite(x) and x.is_integer() else None
    if not isinstance(x, int) or not 0 <= x <= _MAX_STEP:
        raise ValueError(
            f"{where} must be a whole number in [0, 2**62], got {value!r:.60}; pass the "
            "value saved by state_dict()"
        )
    return x


def _index(value: Any, where: str, what: str) -> int:
    """A parameter index of a state dict: an int, or a string of one (after JSON)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{where}: {what} holds {value!r:.40}, not a parameter index")
