"""The recorder pat.compile installs on the thread while it runs a step eagerly once: it
notes every forward kernel call, reverse sweep, optimizer update and guard (a value Python
read), the events plan.py packs into a program.

>>> from pyautotape.replay.recorder import Recorder
>>> rec = Recorder({})
>>> rec.events, rec.why_opaque
([], None)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import anomaly as _anomaly
from .._ffi import ffi
from .._state import state as _state
from ..errors import RetapeRequired, TapeError
from ..tensor import Tensor

_CMP = {"<": 0, "<=": 1, ">": 2, ">=": 3, "==": 4, "!=": 5}


ANY = object()  # a leaf's .grad at the start of a call that the function clears itself


class Retape(Exception):
    """Internal: the recorded program no longer fits this call; record again."""


class Aliased(Exception):
    """Internal: fn read memory that an argument's array shares (a parameter passed as an
    argument, or a view of one): only an eager run is exact."""


def _owner(a: np.ndarray) -> int:
    b = a.base
    return id(a if b is None else b)


class TracedFloat:
    """What ``Tensor.item()`` returns while recording: a number that remembers which
    buffer it came from, so a compiled function may return it (replay hands back the new
    value), and that turns every read of its value into a guard: a condition or a
    comparison guards its outcome; ``float()``, arithmetic, ``math.isnan``, formatting and
    NumPy guard the exact value (the value becomes a constant of the recording). It is not
    a ``float`` subclass on purpose: C code reads a float subclass's value without asking
    it (``math.isnan``), so no guard could be recorded."""

    _rec: Recorder
    _arr: np.ndarray
    _v: Any

    __slots__ = ("_rec", "_arr", "_v")

    def _live(self) -> bool:
        return _state.recorder is self._rec

    def _exact(self) -> float:
        if self._live():
            self._rec.read(self._arr)
        return self._v

    def __float__(self) -> float:
        return self._exact()

    def __bool__(self) -> bool:
        value = self._v != 0.0
        if self._live():
            self._rec.compare(self._arr, 0, "!=", np.array(value))
        return value

    def _cmp(self, other: Any, how: str, result: bool) -> bool:
        if type(other) in (int, float) and self._live():
            self._rec.compare(self._arr, float(other), how, np.array(result))
        else:
            self._exact()
        return result

    def _o(self, o: Any) -> Any:
        return float(o) if isinstance(o, TracedFloat) else o

    def __lt__(self, o: Any) -> bool:
        return self._cmp(o, "<", self._v < self._o(o))

    def __le__(self, o: Any) -> bool:
        return self._cmp(o, "<=", self._v <= self._o(o))

    def __gt__(self, o: Any) -> bool:
        return self._cmp(o, ">", self._v > self._o(o))

    def __ge__(self, o: Any) -> bool:
        return self._cmp(o, ">=", self._v >= self._o(o))

    def __eq__(self, o: Any) -> bool:
        return self._cmp(o, "==", self._v == self._o(o))

    def __ne__(self, o: Any) -> bool:
        return self._cmp(o, "!=", self._v != self._o(o))

    def __hash__(self) -> int:
        return hash(self._exact())

    def __repr__(self) -> str:
        return repr(self._exact())

    def __str__(self) -> str:
        return str(self._exact())

    def __format__(self, spec: str) -> str:
        return format(self._exact(), spec)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self._exact(), dtype=dtype)

    def __reduce__(self) -> Any:
        return (float, (self._exact(),))

    @property
    def real(self) -> float:
        return self._exact()

    @property
    def imag(self) -> float:
        return 0.0

    def conjugate(self) -> float:
        return self._exact()

    def is_integer(self) -> bool:
        return self._exact().is_integer()


def _arith(name: str) -> Callable[..., float]:
    base = getattr(float, name)

    def method(self: TracedFloat, *args: Any) -> Any:
        args = tuple(float(a) if isinstance(a, TracedFloat) else a for a in args)
        return base(self._exact(), *args)  # the value becomes a constant: guard it

    method.__name__ = name
    return method


for _op in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__rpow__", "__neg__", "__pos__", "__int__", "__round__",
    "__floor__", "__ceil__", "__trunc__", "__abs__", "__floordiv__", "__rfloordiv__",
    "__mod__", "__rmod__", "__divmod__", "__rdivmod__",
):
    setattr(TracedFloat, _op, _arith(_op))
numbers.Real.register(TracedFloat)


class Recorder:
    """Watches one eager run of the compiled function (installed on this thread)."""

    def __init__(self, inputs: dict[int, int], strict: bool = False) -> None:
        self.inputs = inputs  # id(argument array) -> argument position
        self.strict = strict
        self.arg_owners: set[int] = set()  # owners of the caller's argument arrays
        self.bound: set[int] = set()  # ids of the input buffers
        self.made: set[int] = set()  # ids of arrays the step made (outputs, inputs)
        self.tensors: dict[int, tuple[Tensor, np.ndarray]] = {}  # see sources()
        self.host_guards: list[tuple[np.ndarray, bytes]] = []  # see read()
        self.consts: dict[int, tuple] = {}  # captured ndarrays copied into the recording
        self.events: list[tuple] = []
        self.keep: list[Any] = []  # everything an event refers to stays alive (stable ids)
        self.leaves: dict[int, Tensor] = {}
        self.grad_at_start: dict[int, np.ndarray | None] = {}
        self.leaf_grads: set[int] = set()  # ids of the buffers leaf gradients land in
        self.side_effect = False
        self.guard_after_effect = False
        self.why_opaque: str | None = None
        self.fwd_sites: list[Any] = []  # call site of each fwd event (pat.detect_anomaly)
        self.sweep_sites: list[Any] = []  # call sites of each sweep's records

    # -- hooks called by the core (tensor.py, record.py, engine.py, ops/) and optim/ -------
    def sources(self, sources: Any) -> None:
        """The source tensors of an op: a leaf made outside the step (a parameter, a frozen
        weight, a captured constant) is checked on replay for a replaced ``.data``."""
        for t in sources:
            if (t is not None and type(t) is not np.ndarray and t._node is None
                    and id(t) not in self.tensors and id(t._data) not in self.made):
                self.tensors[id(t)] = (t, t._data)

    def forward(self, op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha) -> None:
        self.made.add(id(y))
        owners = self.arg_owners
        if owners:
            for s in (s0, s1, s2):
                if s is not None and _owner(s) in owners and id(s) not in self.bound:
                    raise Aliased()
        self.events.append(("fwd", op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha))
        self.keep.append((y, aux, s0, s1, s2, it))
        self.fwd_sites.append(_anomaly.callsite())

    def converted(self, src: Any, out: np.ndarray) -> None:
        self.made.add(id(out))  # a tensor fn makes (a leaf of its own, see Plan)
        src = self.host(src)
        pos = self.inputs.get(id(src))
        if pos is not None:
            self.bind(pos, out)
        elif isinstance(src, np.ndarray) and id(src) not in self.made:
            # an array fn captured: a constant of the recording, checked on replay
            self.consts[id(src)] = (src, src.dtype, src.shape, src.tobytes())

    def bind(self, pos: int, out: np.ndarray) -> None:
        """Argument ``pos`` is copied into ``out`` on every replay. The writable pointer is
        taken now, while ``out`` is fresh: later a record may lock it read-only."""
        self.events.append(("input", pos, out, ffi.from_buffer(out, require_writable=True)))
        self.bound.add(id(out))
        self.made.add(id(out))
        self.keep.append(out)

    def cleared(self, leaf: Tensor) -> None:
        """fn set ``leaf.grad = None`` before using it: its gradient at the start of a
        call does not matter (zero_grad before backward, the PyTorch order)."""
        self._leaf_check(leaf)
        self._leaf(leaf, ANY)

    def _leaf(self, leaf: Tensor, grad_now: Any) -> None:
        self._leaf_check(leaf)
        if id(leaf) not in self.leaves:
            self.leaves[id(leaf)] = leaf
            self.grad_at_start[id(leaf)] = grad_now

    def _leaf_check(self, leaf: Tensor) -> None:
        owners = self.arg_owners
        if owners and _owner(leaf._data) in owners and id(leaf._data) not in self.bound:
            raise TapeError(
                "compile: an argument of the compiled function is (or shares memory with) a "
                "tensor whose gradient fn uses (a parameter); fn saw a private copy, so "
                "gradients and updates would differ from eager's: capture the parameter "
                "instead of passing it"
            )

    def sweep(self, tape, itab, vals, grads, leaf_slots, roots, root_slots, sites) -> None:
        self.sweep_sites.append(sites)
        kept = {s for _, s, fresh in leaf_slots if not fresh}
        for leaf, s, fresh in leaf_slots:
            self._leaf(leaf, None if fresh else grads[s])
            self.leaf_grads.add(id(grads[s]))
        fresh = [g for s, g in enumerate(grads) if g is not None and s not in kept]
        seeds = []
        for (_, seed), s in zip(roots, root_slots, strict=True):
            if s >= 0:
                seeds.append((grads[s], seed))
            else:
                self.opaque("backward() called on a leaf")
        self.events.append(
            ("sweep", tape.copy(), itab.copy(), list(vals), list(grads), fresh, seeds)
        )
        self.keep.append((vals, grads, seeds))
        self.side_effect = True

    def optimizer(
        self, kind: int, dtype, params, datas, grads, bufs, sizes, counts, hyper, flag, refresh
    ) -> None:
        """An optimizer update by kernel ``kind`` (a pat_optim_kind, whose state tables are
        ``bufs`` in the kernel's order); ``refresh`` is ``(optimizer, group, group state)``: a
        replay checks them (see optcheck.OptCheck) before it runs."""
        for p in params:
            self._leaf_check(p)
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                self._leaf(p, p._grad._data if p._grad is not None else None)
        self.events.append(
            (
                "optim",
                kind,
                dtype,
                list(datas),
                list(grads),
                [list(b) for b in bufs],
                sizes,
                counts,
                tuple(hyper),
                flag,
                refresh,
            )
        )
        self.keep.append((datas, grads, bufs, sizes, counts))
        self.side_effect = True

    def zero(self, arr: np.ndarray) -> None:
        self.events.append(("zero", arr))
        self.keep.append(arr)

    def compare(self, arr: np.ndarray, other: Any, how: str, result: np.ndarray) -> None:
        o = other if isinstance(other, np.ndarray) else np.array(other, arr.dtype)
        if o.dtype != arr.dtype:
            o = o.astype(arr.dtype)
        expect = np.ascontiguousarray(np.asarray(result, dtype=np.bool_)).view(np.uint8)
        self.events.append(("guard", arr, np.ascontiguousarray(o), expect, _CMP[how]))
        self.keep.append((o, expect))
        if self.side_effect:
            self.guard_after_effect = True
            if self.strict:
                raise RetapeRequired(
                    "compile: a value was read in Python after backward() or an optimizer "
                    "step; a replay cannot guard it there, and strict=True forbids running "
                    "eagerly instead: read it before backward(), or return it"
                )

    def read(self, arr: np.ndarray) -> None:
        if arr.dtype.kind == "f":
            self.compare(arr, arr.copy(), "==", np.ones(arr.shape, np.bool_))
        elif id(arr) in self.bound:  # an integer argument: checked in Python before replay
            self.host_guards.append((arr, arr.tobytes()))
        else:
            self.refuse(f"a {arr.dtype} array's values were read while recording")

    def scalar(self, arr: np.ndarray, value: float) -> TracedFloat:
        f = TracedFloat()
        f._rec = self
        f._arr = arr
        f._v = value
        return f

    def host(self, x: Any) -> Any:
        """The array behind a TracedArray argument (for ops that take integer arrays,
        which tell :meth:`converted` what they copied), else ``x`` itself."""
        buf = getattr(x, "_buf", None)
        return buf if buf is not None and type(x).__name__ == "TracedArray" else x

    def written(self, arr: np.ndarray, what: str) -> None:
        """The hook for a write into a tensor's buffer that is not a kernel call through
        ``ops.core.run`` (which the replay repeats): an in-place update done by NumPy
        cannot be replayed, so the step runs eagerly (strict: an error). An in-place op
        that runs its kernel through ``run`` with the tensor's buffer as output needs no
        call here."""
        self.refuse(f"{what} wrote a tensor in place outside a recorded kernel")

    def refuse(self, why: str) -> None:
        """A read the replay cannot guard: under ``strict=True`` an error now, otherwise
        the recording is opaque (every later call runs eagerly, which is exact)."""
        if self.strict:
            raise RetapeRequired(f"compile: {why}; strict=True forbids a step that cannot "
                                 "replay")
        self.opaque(why)

    def opaque(self, why: str) -> None:
        self.why_opaque = self.why_opaque or why
