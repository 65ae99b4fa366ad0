"""``pat.compile``: record a training step once, then run it again in one C call.

The first call of a compiled function for a given signature (the shapes and dtypes of its
array arguments) runs it eagerly while a recorder watches: every forward kernel call,
every reverse sweep (``backward()`` / ``autograd.grad``), every optimizer update, and every
place where Python read a tensor's value. The recording is packed once into a program of
C steps over the very buffers the eager run used. Later calls copy the new inputs into
their buffers and run the whole program -- forward, backward and update -- in one call of
``pat_replay``, with no Python per op and no NumPy allocation. Forward steps run the same
``pat_exec_fwd``, sweeps the same ``pat_tape_backward`` and updates the same optimizer
kernels as eager mode, in the same order, so the numbers are bitwise the same.

Guards: reading a value in Python while recording (``bool(t)``, a comparison such as
``t > 0``, ``t.numpy()``, or using ``t.item()`` in a condition or in arithmetic) records
the outcome; replay checks it in C, and if it changed the step is recorded again (or
``RetapeRequired`` is raised with ``strict=True``).
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _ffi
from . import anomaly as _anomaly
from ._ffi import DTYPE_CODE, NULL, ffi, lib
from ._state import state as _state
from .errors import RetapeRequired, TapeError
from .ops.core import bcast_iter
from .packing import Instr, Program
from .tensor import Tensor, _wrap, tensor

__all__ = ["compile", "Compiled"]

STEP_DTYPE = np.dtype(
    [
        ("kind", np.int32),
        ("dtype", np.int32),
        ("a", np.int32),
        ("b", np.int32),
        ("c", np.int32),
        ("d", np.int32),
        ("n", np.int64),
    ]
)
for _name in STEP_DTYPE.names:
    if STEP_DTYPE.fields[_name][1] != ffi.offsetof("pat_step", _name):  # pragma: no cover
        raise ImportError("pat_step layout differs from C; rebuild with pip install -e .")

_CMP = {"<": 0, "<=": 1, ">": 2, ">=": 3, "==": 4, "!=": 5}


_ANY = object()  # a leaf's .grad at the start of a call that the function clears itself


class _Retape(Exception):
    """Internal: the recorded program no longer fits this call; record again."""


class _TracedFloat(float):
    """What ``Tensor.item()`` returns while recording: a float that remembers which buffer
    it came from, so a compiled function may return it (replay hands back the new value),
    and that turns a condition or arithmetic on it into a guard."""

    __slots__ = ("_rec", "_arr")

    def _exact(self) -> None:
        rec = self._rec
        rec.compare(self._arr, self._arr.copy(), "==", np.ones(self._arr.shape, np.bool_))

    def __bool__(self) -> bool:
        value = float(self) != 0.0
        self._rec.compare(self._arr, 0, "!=", np.array(value))
        return value

    def _cmp(self, other: Any, how: str, result: bool) -> bool:
        if isinstance(other, (int, float)) and not isinstance(other, _TracedFloat):
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

    def method(self: _TracedFloat, *args: Any) -> Any:
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
    setattr(_TracedFloat, _op, _arith(_op))


class _Recorder:
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

    # -- hooks called from tensor.py, ops.py and optim.py -------------------------------
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
        self._leaf(leaf, _ANY)

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

    def scalar(self, arr: np.ndarray, value: float) -> _TracedFloat:
        f = _TracedFloat(value)
        f._rec = self
        f._arr = arr
        return f

    def opaque(self, why: str) -> None:
        self.why_opaque = self.why_opaque or why


def _result_arrays(value: Any) -> set[int]:
    """ids of the buffers a compiled function's result reads (they must stay put)."""
    if isinstance(value, Tensor):
        return {id(value._data)}
    if isinstance(value, _TracedFloat):
        return {id(value._arr)}
    if isinstance(value, (tuple, list)):
        return set().union(*(_result_arrays(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _result_arrays(list(value.values()))
    return set()


def _program(events: list[tuple], inputs: list, opt_groups: list) -> tuple[list, list, list]:
    """Turn the recorded events into program steps that name arrays (not yet slots).

    Each reverse sweep becomes one ``bwd`` step per record, last to first, and each fresh
    adjoint buffer is zeroed just before the step that first writes it (instead of all at
    the start), so the planner can give buffers with disjoint lifetimes the same memory."""
    program: list[tuple] = []
    sweeps: list[tuple] = []
    opts: list[tuple] = []
    for ev in events:
        kind = ev[0]
        if kind == "input":
            inputs.append((ev[1], ev[2], ev[3]))
        elif kind == "fwd":
            program.append(ev)
        elif kind == "sweep":
            _, tape, itab, vals, grads, fresh, seeds = ev
            w = len(sweeps)
            sweeps.append((tape, itab, vals, grads))
            pending = {id(g) for g in fresh}
            for g, seed in seeds:
                if id(g) in pending:
                    pending.discard(id(g))
                    program.append(("zero", g))
                program.append(("acc", g, seed))
            for t in range(len(tape) - 1, -1, -1):
                row = tape[t]
                for slot in (row["dst"], *row["src"]):
                    g = grads[slot] if slot >= 0 else None
                    if g is not None and id(g) in pending:
                        pending.discard(id(g))
                        program.append(("zero", g))
                program.append(("bwd", w, t))
        elif kind == "optim":
            _, adam, dtype, datas, grads, bufs, sizes, counts, hyper, flag, refresh = ev
            opts.append((adam, dtype, datas, grads, bufs, sizes, counts, hyper, flag))
            opt_groups.append((refresh, hyper, len(opts) - 1))
            program.append(("optim", len(opts) - 1))
        elif kind == "zero":
            program.append(("zero", ev[1]))
        elif kind == "guard":
            program.append(ev)
    return program, sweeps, opts


def _accesses(st: tuple, sweeps: list) -> tuple[list, list]:
    """(reads, writes) of one program step, as arrays."""
    kind = st[0]
    if kind == "fwd":
        _, op, dtype, y, aux, s0, s1, s2, *_ = st
        return [a for a in (s0, s1, s2) if a is not None], [a for a in (y, aux) if a is not None]
    if kind == "zero":
        return [], [st[1]]
    if kind == "acc":
        return [st[1], st[2]], [st[1]]
    if kind == "bwd":
        tape, _, vals, grads = sweeps[st[1]]
        row = tape[st[2]]
        slots = [row["dst"], row["aux"], *row["src"]]
        reads = [vals[s] for s in slots if s >= 0 and vals[s] is not None]
        reads += [grads[s] for s in slots if s >= 0 and grads[s] is not None]
        writes = [grads[s] for s in row["src"] if s >= 0 and grads[s] is not None]
        return reads, writes
    if kind == "guard":
        return [st[1], st[2], st[3]], []
    return [], []  # optim: its arrays are pinned


def _plan_buffers(program: list, sweeps: list, opts: list, pinned: set[int]) -> dict:
    """Give arrays whose lifetimes do not overlap the same memory.

    A plannable array is first written by a step (a forward output, a zeroed adjoint) and
    is not pinned (inputs, parameters, gradients of leaves, optimizer state, guard and
    seed constants, results). Walking the program, each such array takes a free block of
    its exact byte size, or a new one, when it is first written, and gives the block back
    after the step that last touches it (never within one step, so no kernel sees its
    output alias an input). Returns id(old array) -> array viewing its block."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    arrays: dict[int, np.ndarray] = {}
    for i, st in enumerate(program):
        reads, writes = _accesses(st, sweeps)
        for a in writes:
            arrays[id(a)] = a
            first.setdefault(id(a), i)
            last[id(a)] = i
        for a in reads:
            arrays[id(a)] = a
            if id(a) not in first:
                pinned.add(id(a))  # read before any write: made outside the program
            last[id(a)] = i
    plannable = {k for k in first if k not in pinned and arrays[k].nbytes > 0}
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for k in plannable:
        starts.setdefault(first[k], []).append(k)
        ends.setdefault(last[k], []).append(k)
    free: dict[int, list[np.ndarray]] = {}
    blocks: list[np.ndarray] = []
    block_of: dict[int, np.ndarray] = {}
    remap: dict[Any, Any] = {}
    for i in range(len(program)):
        for k in starts.get(i, ()):
            a = arrays[k]
            pool = free.get(a.nbytes)
            if pool:
                block = pool.pop()
            else:
                block = np.empty(a.nbytes, np.uint8)
                blocks.append(block)
            block_of[k] = block
            remap[k] = block.view(a.dtype).reshape(a.shape)
        for k in ends.get(i, ()):
            free.setdefault(arrays[k].nbytes, []).append(block_of[k])
    remap["_before"] = sum(arrays[k].nbytes for k in plannable)
    remap["_after"] = sum(b.nbytes for b in blocks)
    return remap


class _Plan:
    """One recorded signature, packed for pat_replay."""

    def __init__(self, rec: _Recorder, result: Any) -> None:
        self.leaves = list(rec.leaves.values())
        self.leaf_data = [p._data for p in self.leaves]
        self.grad_start = [rec.grad_at_start[id(p)] for p in self.leaves]
        self.grad_end = [p._grad._data if p._grad is not None else None for p in self.leaves]
        self.grad_wrappers = [_wrap(g) if g is not None else None for g in self.grad_end]
        self.replayable = rec.why_opaque is None and not rec.guard_after_effect
        self.why = rec.why_opaque or (
            "a guard (a value read in Python) follows backward() or an optimizer step"
            if rec.guard_after_effect
            else None
        )
        self.leaf_grads = rec.leaf_grads
        self.n_fwd = sum(1 for e in rec.events if e[0] == "fwd")
        self.fwd_sites = rec.fwd_sites  # per instr / per sweep record: anomaly reports
        self.sweep_sites = rec.sweep_sites
        self.result_arrays = _result_arrays(result)
        self._pack(rec.events)
        self.result_template = self._template(result)
        self.checks = list(zip(self.leaves, self.leaf_data, self.grad_start, strict=True))
        self.ends = list(zip(self.leaves, self.grad_wrappers, strict=True))

    # -- packing --------------------------------------------------------------------------
    def _pack(self, events: list[tuple]) -> None:
        self.inputs: list[tuple[int, np.ndarray, Any]] = []
        self.opt_groups: list[tuple[Callable[[], tuple], tuple, int]] = []
        program, sweeps, opts = _program(events, self.inputs, self.opt_groups)
        remap = _plan_buffers(program, sweeps, opts, self._pinned(events))
        self.bytes_before_planning = remap.pop("_before")
        self.bytes_after_planning = remap.pop("_after")

        def r(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else remap.get(id(a), a)

        # the forward kernel calls, packed as the tape is: one slot per buffer they touch
        prog = self.prog = Program()
        slot = prog.array_slot
        for _, b, _ in self.inputs:
            slot(b)
        steps = []
        for st in program:
            kind = st[0]
            if kind == "fwd":
                _, op, dtype, y, aux, s0, s1, s2, it, m, k, n, alpha = st
                steps.append((lib.PAT_STEP_FWD, DTYPE_CODE[dtype], len(prog.rows), 0, 0, 0, 0))
                prog.row(Instr(op, dtype, m, k, n, alpha), slot(r(y)),
                         [slot(r(s0)), slot(r(s1)), slot(r(s2))], slot(r(aux)),
                         prog.iter_index(it))
            elif kind == "zero":
                g = r(st[1])
                steps.append((lib.PAT_STEP_ZERO, DTYPE_CODE[g.dtype], slot(g), 0, 0, 0, g.size))
            elif kind == "acc":
                g, seed = r(st[1]), r(st[2])
                steps.append((lib.PAT_STEP_ACC, DTYPE_CODE[g.dtype], slot(g), slot(seed), 0, 0,
                              g.size))
            elif kind == "bwd":
                steps.append((lib.PAT_STEP_BWD, lib.PAT_F32, st[1], st[2], 0, 0, 0))
            elif kind == "optim":
                steps.append((lib.PAT_STEP_OPTIM, lib.PAT_F32, st[1], 0, 0, 0, 0))
            elif kind == "guard":
                _, arr, other, expect, how = st
                _, it = bcast_iter("compile", expect.shape, arr.shape, other.shape)
                steps.append((lib.PAT_STEP_GUARD, DTYPE_CODE[arr.dtype], slot(r(arr)),
                              slot(r(other)), slot(r(expect)), prog.iter_index(it), how))
        self.bufs = prog.vals
        sweeps = [(tape, itab, [r(v) for v in vals], [r(g) for g in grads])
                  for tape, itab, vals, grads in sweeps]
        # the program
        self.steps = np.zeros(len(steps), STEP_DTYPE)
        for i, st in enumerate(steps):
            self.steps[i] = st
        self.instrs = prog.tape()
        self.itab = prog.itab()
        self.buf_table, self.buf_keep = _ffi.pointer_table(self.bufs)
        self.sweep_src = sweeps
        self.opt_bufs = [o[4] for o in opts]
        # reverse sweeps, each over its own slot tables (exactly the eager ones)
        self.sweeps = ffi.new("pat_sweep[]", max(len(sweeps), 1))
        self.sweep_keep = []
        for i, (tape, itab, vals, grads) in enumerate(sweeps):
            vt, vk = _ffi.pointer_table(vals)
            gt, gk = _ffi.pointer_table(grads)
            w = self.sweeps[i]
            w.tape = ffi.from_buffer("pat_instr *", tape)
            w.ntape = len(tape)
            w.iters = ffi.from_buffer("pat_iter *", itab)
            w.niters = len(itab)
            w.vals = vt
            w.grads = gt
            w.nslots = len(vals)
            self.sweep_keep.append((tape, itab, vt, vk, gt, gk))
        # optimizer calls
        self.opts = ffi.new("pat_optcall[]", max(len(opts), 1))
        self.opt_keep = []
        for i, (adam, dtype, datas, grads, bufs, sizes, counts, hyper, flag) in enumerate(opts):
            o = self.opts[i]
            pt, pk = _ffi.pointer_table(datas)
            gt, gk = _ffi.pointer_table(grads)
            b0 = _ffi.pointer_table(bufs[0]) if len(bufs) > 0 else (NULL, [])
            b1 = _ffi.pointer_table(bufs[1]) if len(bufs) > 1 else (NULL, [])
            o.adam = 1 if adam else 0
            o.dtype = DTYPE_CODE[dtype]
            o.nparams = len(datas)
            o.params = pt
            o.grads = gt
            o.buf0 = b0[0]
            o.buf1 = b1[0]
            o.sizes = ffi.from_buffer("int64_t *", sizes)
            o.counts = ffi.from_buffer("int64_t *", counts, require_writable=True)
            for j, h in enumerate(hyper):
                o.hyper[j] = h
            o.flag = flag
            self.opt_keep.append((pt, pk, gt, gk, b0, b1, sizes, counts, bufs))
        self.stats = ffi.new("pat_stats *")
        self.failed = ffi.new("int64_t *", -1)
        self.args = (
            ffi.from_buffer("pat_step *", self.steps),
            len(self.steps),
            ffi.from_buffer("pat_instr *", self.instrs),
            len(self.instrs),
            ffi.from_buffer("pat_iter *", self.itab),
            len(self.itab),
            self.buf_table,
            len(self.bufs),
            self.sweeps,
            len(sweeps),
            self.opts,
            len(opts),
            self.stats,
            self.failed,
        )

    def _pinned(self, events: list[tuple]) -> set[int]:
        """Arrays the planner must leave alone: what Python or the optimizer sees between
        calls, and constants (see _plan_buffers)."""
        keep: set[int] = {id(d) for d in self.leaf_data} | set(self.leaf_grads)
        for ev in events:
            if ev[0] == "input":
                keep.add(id(ev[2]))
            elif ev[0] == "optim":
                _, _, _, datas, grads, bufs, sizes, counts, *_ = ev
                keep |= {id(a) for a in (*datas, *grads) if a is not None}
                keep |= {id(a) for lst in bufs for a in lst if a is not None}
            elif ev[0] == "guard":
                keep |= {id(ev[2]), id(ev[3])}
            elif ev[0] == "sweep":
                keep |= {id(seed) for _, seed in ev[6]}
        keep |= self.result_arrays
        return keep

    def _template(self, value: Any) -> Any:
        """The function's result with each Tensor / traced float replaced by its buffer."""
        if isinstance(value, Tensor):
            s = self.prog.find(value._data)
            if s is None:
                return ("const", value.numpy())
            return ("tensor", s)
        if isinstance(value, _TracedFloat):
            s = self.prog.find(value._arr)
            return ("float", s) if s is not None else ("value", float(value))
        if isinstance(value, (tuple, list)):
            return (type(value).__name__, [self._template(v) for v in value])
        if isinstance(value, dict):
            return ("dict", {k: self._template(v) for k, v in value.items()})
        return ("value", value)

    def _build(self, tpl: Any) -> Any:
        kind, body = tpl
        if kind == "tensor":
            return _wrap(self.bufs[body].copy())
        if kind == "float":
            return float(self.bufs[body].reshape(()))
        if kind == "const":
            return _wrap(body.copy())
        if kind == "tuple":
            return tuple(self._build(v) for v in body)
        if kind == "list":
            return [self._build(v) for v in body]
        if kind == "dict":
            return {k: self._build(v) for k, v in body.items()}
        return body

    # -- running --------------------------------------------------------------------------
    def run(self, arrays: list[np.ndarray]) -> Any:
        for p, data, g in self.checks:
            if p._data is not data:
                raise _Retape("a parameter's .data was replaced")
            if g is _ANY:
                continue
            cur = p._grad
            if cur is not None:
                if cur._data is not g:
                    raise _Retape("a parameter's .grad changed between calls")
            elif g is not None:
                raise _Retape("a parameter's .grad was cleared between calls")
        for refresh, hyper, i in self.opt_groups:
            now = refresh()
            if now != hyper:
                for j, h in enumerate(now):
                    self.opts[i].hyper[j] = h
        for pos, buf, cbuf in self.inputs:
            src = arrays[pos]
            if src.dtype == buf.dtype and src.flags.c_contiguous:
                ffi.memmove(cbuf, src, buf.nbytes)
            else:
                np.copyto(buf, src, casting="unsafe")
        if _state.anomaly & _anomaly.CHECK:  # pat.detect_anomaly: the checked program
            rc = _anomaly.replay(self)
        else:
            rc = lib.pat_replay(*self.args)
        if rc != 0:
            if rc == lib.PAT_EGUARD:
                raise _Retape("a guard failed")
            step = int(self.failed[0])
            kind = int(self.steps[step]["kind"]) if 0 <= step < len(self.steps) else -1
            if kind == lib.PAT_STEP_FWD and rc == lib.PAT_EINDEX:
                raise ValueError("cross_entropy: a label is outside [0, classes) in this batch")
            _ffi.check(rc, f"replay (step {step})")
        for p, w in self.ends:
            p._grad = w
            if p._guard is not None:
                p._guard.version += 1
        return self._build(self.result_template)

    # -- reporting ------------------------------------------------------------------------
    def memory_report(self) -> dict[str, int]:
        """Bytes of the memory the program runs over, by role: parameters, gradients (of
        the leaves), optimizer_state, inputs, saved_for_backward (blocks holding values a
        backward rule reads), scratch (other forward values and intermediate adjoints),
        total; and planned_reuse, the bytes saved by sharing blocks between buffers whose
        lifetimes do not overlap."""

        def owner(a: np.ndarray) -> np.ndarray:
            return a.base if a.base is not None else a

        arrays: list[np.ndarray] = list(self.bufs)
        saved: set[int] = set()
        for _, _, vals, grads in self.sweep_src:
            arrays += [a for a in vals + grads if a is not None]
            saved |= {id(owner(v)) for v in vals if v is not None}
        state: set[int] = set()
        for bufs in self.opt_bufs:
            for lst in bufs:
                arrays += [a for a in lst if a is not None]
                state |= {id(owner(a)) for a in lst if a is not None}
        roles = [
            ("parameters", {id(owner(d)) for d in self.leaf_data}),
            ("gradients", set(self.leaf_grads)),
            ("optimizer_state", state),
            ("inputs", {id(owner(b)) for _, b, _ in self.inputs}),
            ("saved_for_backward", saved),
        ]
        report = {name: 0 for name, _ in roles}
        report["scratch"] = 0
        owners = {id(owner(a)): owner(a) for a in arrays}
        for key, a in owners.items():
            for name, ids in roles:
                if key in ids:
                    report[name] += a.nbytes
                    break
            else:
                report["scratch"] += a.nbytes
        report["total"] = sum(a.nbytes for a in owners.values())
        report["planned_reuse"] = self.bytes_before_planning - self.bytes_after_planning
        return report


_ARRAYS = (np.ndarray, Tensor)


def _arg_sig(value: Any) -> tuple:
    """What must match for a positional argument to fit a recording (see _signature)."""
    t = type(value)
    if t is np.ndarray:
        return (t, value.shape, value.dtype)
    if t is Tensor:
        return (t, value._data.shape, value._data.dtype)
    return (None, value)


def _same_call(sig: tuple | None, args: tuple) -> bool:
    """Whether positional ``args`` have exactly the signature ``sig`` of a recording."""
    if sig is None or len(sig) != len(args):
        return False
    for (t, *rest), a in zip(sig, args, strict=True):
        ta = type(a)
        if t is np.ndarray:
            if ta is not np.ndarray or a.shape != rest[0] or a.dtype != rest[1]:
                return False
        elif t is Tensor:
            if ta is not Tensor or a._data.shape != rest[0] or a._data.dtype != rest[1]:
                return False
        elif ta in _ARRAYS or type(rest[0]) is not ta or rest[0] != a:
            return False
    return True


def _signature(args: tuple, kwargs: dict) -> tuple[tuple, list[np.ndarray]]:
    """The cache key of a call (array/Tensor arguments by shape and dtype, others by
    value) and the array arguments in order."""
    key: list[Any] = []
    arrays: list[np.ndarray] = []
    for value in args if not kwargs else [*args, *(kwargs[k] for k in sorted(kwargs))]:
        t = type(value)
        if t is np.ndarray or t is Tensor:
            arr = value if t is np.ndarray else value._data
            arrays.append(arr)
            key.append((t is Tensor, arr.shape, arr.dtype))
        else:
            key.append(value)
    if kwargs:
        key.append(tuple(sorted(kwargs)))
    return tuple(key), arrays


class Compiled:
    """A function recorded once per signature and replayed in one C call afterwards.

    Made by :func:`compile`; call it like the original. ``memory_report()`` gives the bytes
    of the most recently used recording, ``stats`` counts calls (``records``, ``replays``,
    ``retapes``, ``eager`` for functions that cannot replay).

    >>> import numpy as np, pyautotape as pat
    >>> step = pat.compile(lambda x: pat.tensor(x) * 2.0)
    >>> isinstance(step, pat.Compiled)
    True
    >>> _ = step(np.ones(3)); _ = step(np.ones(3))
    >>> step.stats["records"], step.stats["replays"]
    (1, 1)
    """

    def __init__(self, fn: Callable[..., Any], strict: bool = False, cache_size: int = 8) -> None:
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be >= 1, got {cache_size}")
        self.fn = fn
        self.strict = strict
        self.cache_size = cache_size
        self.plans: collections.OrderedDict[tuple, _Plan] = collections.OrderedDict()
        self.stats = {"records": 0, "replays": 0, "retapes": 0, "eager": 0}
        self.last: _Plan | None = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _state.recorder is not None:
            raise TapeError("compile: a compiled function cannot be called while recording")
        last = self.last
        if last is not None and not kwargs and _same_call(last.call_sig, args):
            # the common case: the same signature as the previous call, checked without
            # building and hashing the cache key
            key, plan = last.key, last
            arrays = [a if type(a) is np.ndarray else a._data for a in args if type(a) in _ARRAYS]
        else:
            key, arrays = _signature(args, kwargs)
            plan = None
        with self._lock:
            try:
                if plan is None:
                    plan = self.plans.get(key)
            except TypeError:
                raise TypeError(
                    "compile: an argument is neither an array nor hashable, so it cannot be "
                    "part of a replay signature; pass arrays/Tensors, or capture it in a closure"
                ) from None
            if plan is not None:
                if plan is not self.last:
                    self.plans.move_to_end(key)
                    self.last = plan
                if not plan.replayable:
                    self.stats["eager"] += 1
                    return self.fn(*args, **kwargs)
                try:
                    out = plan.run(arrays)
                    self.stats["replays"] += 1
                    return out
                except _Retape as why:
                    if self.strict:
                        raise RetapeRequired(
                            f"compile: the recorded step no longer applies ({why}); "
                            "strict=True forbids recording again"
                        ) from None
                    self.stats["retapes"] += 1
            return self._record(key, args, kwargs)

    def _record(self, key: tuple, args: tuple, kwargs: dict) -> Any:
        # Tensor arguments are handed to fn as private copies, so their buffers are the
        # replay's input buffers (the caller's tensors are never written).
        ids: dict[int, int] = {}
        pos = 0

        def private(value: Any) -> Any:
            nonlocal pos
            if type(value) is np.ndarray:
                ids[id(value)] = pos
                pos += 1
                return value
            if type(value) is Tensor:
                t = tensor(value._data, requires_grad=value.requires_grad)
                ids[id(t._data)] = pos
                inputs.append((pos, t._data))
                pos += 1
                return t
            return value

        inputs: list[tuple[int, np.ndarray]] = []
        if kwargs:
            names = sorted(kwargs)
            call_args = [private(a) for a in args]
            call_kwargs = {k: private(kwargs[k]) for k in names}
        else:
            call_args = [private(a) for a in args]
            call_kwargs = {}
        rec = _Recorder(ids)
        for p, arr in inputs:
            rec.bind(p, arr)
        _state.recorder = rec
        restore_sites = _anomaly.keep_sites()  # records keep their lines for anomaly reports
        try:
            result = self.fn(*call_args, **call_kwargs)
        finally:
            _state.recorder = None
            restore_sites()
        plan = _Plan(rec, result)
        plan.key = key
        plan.call_sig = None if kwargs else tuple(_arg_sig(a) for a in args)
        self.plans[key] = plan
        self.plans.move_to_end(key)
        while len(self.plans) > self.cache_size:
            self.plans.popitem(last=False)
        self.last = plan
        self.stats["records"] += 1
        # the recording call returns what a replay would: copies, cut from the tape
        return plan._build(plan.result_template)

    def memory_report(self) -> dict[str, int]:
        """Bytes held by the last used recording: parameters, gradients, optimizer state,
        inputs, activations saved for backward, scratch, total."""
        if self.last is None:
            raise TapeError("memory_report: call the compiled function once first")
        return self.last.memory_report()


def compile(fn: Callable[..., Any] | None = None, *, strict: bool = False, cache_size: int = 8):
    """Record ``fn`` once per signature and replay it in one C call afterwards.

    The first call with a given signature (shapes and dtypes of the array/Tensor
    arguments; other arguments by value) runs ``fn`` eagerly and records everything it
    does: forward ops, ``backward()``, optimizer ``step()`` and ``zero_grad()``. Later
    calls copy the new arrays in and run forward, backward and update in one C call, with
    the same kernels in the same order as eager mode (bitwise equal results).

    What is a constant of the recording: Python numbers and arrays that ``fn`` captures
    from its closure, and NumPy work ``fn`` does on its arguments before handing them to
    pyautotape (pass them to ``pat.tensor`` or an op directly). Parameters are buffers,
    not copies: in-place changes to ``p.data`` between calls are seen. Replacing
    ``p.data``, or the optimizer's hyperparameters other than the learning rate... are
    checked: a change records again. Results are returned as copies.

    Guards: ``bool(t)``, comparisons of tensors, ``t.numpy()`` and conditions or arithmetic
    on ``t.item()`` record what Python saw; on replay a different outcome records again
    (``strict=True``: raises :class:`pat.RetapeRequired`). A new signature records a new
    tape; ``cache_size`` recordings are kept (least recently used first out).

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.zeros(3), requires_grad=True)
    >>> opt = pat.optim.SGD([w], lr=0.1)
    >>> @pat.compile
    ... def step(x, y):
    ...     loss = pat.mse_loss(pat.tensor(x) @ w, pat.tensor(y))
    ...     loss.backward()
    ...     opt.step()
    ...     opt.zero_grad()
    ...     return loss
    >>> x, y = np.eye(3), np.ones(3)
    >>> [round(step(x, y).item(), 4) for _ in range(3)]
    [1.0, 0.8711, 0.7588]
    >>> step.stats["replays"]
    2
    """
    if fn is None:
        return lambda f: Compiled(f, strict=strict, cache_size=cache_size)
    return Compiled(fn, strict=strict, cache_size=cache_size)
