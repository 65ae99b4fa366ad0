"""The recorder pat.compile installs on the thread while it runs a step eagerly once: it
notes every forward kernel call, reverse sweep, optimizer update and guard (a value Python
read), the events plan.py packs into a program.

>>> from pyautotape.replay.recorder import Recorder
>>> rec = Recorder({})
>>> rec.events, rec.why_opaque
([], None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import anomaly as _anomaly
from .._ffi import ffi
from ..tensor import Tensor

_CMP = {"<": 0, "<=": 1, ">": 2, ">=": 3, "==": 4, "!=": 5}


ANY = object()  # a leaf's .grad at the start of a call that the function clears itself


class Retape(Exception):
    """Internal: the recorded program no longer fits this call; record again."""


class TracedFloat(float):
    """What ``Tensor.item()`` returns while recording: a float that remembers which buffer
    it came from, so a compiled function may return it (replay hands back the new value),
    and that turns a condition or arithmetic on it into a guard."""

    _rec: Recorder
    _arr: np.ndarray

    __slots__ = ("_rec", "_arr")

    def _exact(self) -> None:
        rec = self._rec
        rec.compare(self._arr, self._arr.copy(), "==", np.ones(self._arr.shape, np.bool_))

    def __bool__(self) -> bool:
        value = float(self) != 0.0
        self._rec.compare(self._arr, 0, "!=", np.array(value))
        return value

    def _cmp(self, other: Any, how: str, result: bool) -> bool:
        if isinstance(other, (int, float)) and not isinstance(other, TracedFloat):
            self._rec.compare(self._arr, float(other), how, np.array(result))
        else:
            self._exact()
        return result

    def __lt__(self, o: Any) -> bool:
        return self._cmp(o, "<", float(self) < o)

    def __le__(self, o: Any) -> bool:
        return self._cmp(o, "<=", float(self) <= o)

    def __gt__(self, o: Any) -> bool:
        return self._cmp(o, ">", float(self) > o)

    def __ge__(self, o: Any) -> bool:
        return self._cmp(o, ">=", float(self) >= o)

    def __eq__(self, o: Any) -> bool:
        return self._cmp(o, "==", float(self) == o)

    def __ne__(self, o: Any) -> bool:
        return self._cmp(o, "!=", float(self) != o)

    __hash__ = float.__hash__


def _arith(name: str) -> Callable[..., float]:
    base = getattr(float, name)

    def method(self: TracedFloat, *args: Any) -> Any:
        self._exact()  # the value becomes a constant of the recording: guard it
        return base(float(self), *args)

    method.__name__ = name
    return method


for _op in (
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__pow__",
    "__rpow__",
    "__neg__",
    "__int__",
    "__round__",
    "__floor__",
    "__ceil__",
    "__abs__",
    "__floordiv__",
    "__mod__",
):
    setattr(TracedFloat, _op, _arith(_op))


class Recorder:
    """Watches one eager run of the compiled function (installed on this thread)."""

    def __init__(self, inputs: dict[int, int]) -> None:
        self.inputs = inputs  # id(argument array) -> argument position
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
    def forward(self, op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha) -> None:
        self.events.append(("fwd", op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha))
        self.keep.append((y, aux, s0, s1, s2, it))
        self.fwd_sites.append(_anomaly.callsite())

    def converted(self, src: Any, out: np.ndarray) -> None:
        pos = self.inputs.get(id(src))
        if pos is not None:
            self.bind(pos, out)

    def bind(self, pos: int, out: np.ndarray) -> None:
        """Argument ``pos`` is copied into ``out`` on every replay. The writable pointer is
        taken now, while ``out`` is fresh: later a record may lock it read-only."""
        self.events.append(("input", pos, out, ffi.from_buffer(out, require_writable=True)))
        self.keep.append(out)

    def cleared(self, leaf: Tensor) -> None:
        """fn set ``leaf.grad = None`` before using it: its gradient at the start of a
        call does not matter (zero_grad before backward, the PyTorch order)."""
        self._leaf(leaf, ANY)

    def _leaf(self, leaf: Tensor, grad_now: Any) -> None:
        if id(leaf) not in self.leaves:
            self.leaves[id(leaf)] = leaf
            self.grad_at_start[id(leaf)] = grad_now

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
        self, adam: bool, dtype, params, datas, grads, bufs, sizes, counts, hyper, flag, refresh
    ) -> None:
        """An optimizer update; ``refresh()`` returns the group's hyperparameters now (a
        changed learning rate is patched into the replay, not re-recorded)."""
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                self._leaf(p, p._grad._data if p._grad is not None else None)
        self.events.append(
            (
                "optim",
                adam,
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

    def read(self, arr: np.ndarray) -> None:
        self.compare(arr, arr.copy(), "==", np.ones(arr.shape, np.bool_))

    def scalar(self, arr: np.ndarray, value: float) -> TracedFloat:
        f = TracedFloat(value)
        f._rec = self
        f._arr = arr
        return f

    def opaque(self, why: str) -> None:
        self.why_opaque = self.why_opaque or why
