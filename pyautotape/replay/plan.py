"""One recorded signature packed for ``pat_replay``: the steps, the forward instructions
and buffer table (packed with the one packer, packing.Program), the recorded reverse
sweeps and optimizer calls; and running it.

>>> import pyautotape.replay.plan as plan
>>> plan.STEP_DTYPE.itemsize
32
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .. import _ffi
from .. import anomaly as _anomaly
from .._ffi import DTYPE_CODE, NULL, ffi, lib
from .._state import state as _state
from ..ops.core import bcast_iter
from ..packing import Instr, Program
from ..tensor import Tensor, _wrap
from .fuse import fuse_updates
from .optcheck import OptCheck
from .program import _plan_buffers, _program, _result_arrays
from .recorder import ANY, Recorder, Retape, TracedFloat

_memmove = ffi.memmove
BIND_MIN = 1 << 15  # bytes: a larger input is bound for a replay, not copied in

STEP_DTYPE = _ffi.c_struct_dtype("pat_step", [
    ("kind", np.int32),
    ("dtype", np.int32),
    ("a", np.int32),
    ("b", np.int32),
    ("c", np.int32),
    ("d", np.int32),
    ("n", np.int64),
])


def _base(a: np.ndarray) -> np.ndarray:
    """The array owning ``a``'s memory (NumPy keeps a view's base the owner)."""
    b = a.base
    return a if b is None else b


def _owner(a: np.ndarray) -> int:
    b = a.base
    return id(a if b is None else b)


def _captured(events: list[tuple], leaf_data: list[np.ndarray]) -> frozenset[int]:
    """Owners of the memory the recording reads that it did not make (parameters,
    optimizer state, captured constants): a later call whose argument shares it runs
    eagerly."""
    out = {_owner(d) for d in leaf_data}
    made = {id(ev[2]) for ev in events if ev[0] == "input"}
    for ev in events:
        if ev[0] == "fwd":
            made.add(id(ev[3]))
            for s in ev[5:8]:
                if s is not None and id(s) not in made:
                    out.add(_owner(s))
        elif ev[0] == "optim":
            out |= {_owner(d) for d in ev[3] if d is not None}
    return frozenset(out)


class Plan:
    """One recorded signature, packed for pat_replay."""

    # set by Compiled when it caches the plan: its signature key, and the plain-argument
    # signature of the call it was recorded for (None when called with keywords)
    key: Any
    call_sig: tuple | None
    all_nd: bool  # every argument of that call is a plain ndarray
    fast: Any = False  # Compiled's fast call path for it: False until built, None: none

    def __init__(self, rec: Recorder, result: Any, fuse_update: bool = False) -> None:
        self.fuse_update = fuse_update
        self.leaves = list(rec.leaves.values())
        self.leaf_data = [p._data for p in self.leaves]
        # a leaf fn makes itself (x = pat.tensor(img, requires_grad=True) for a saliency
        # map) is new on every eager call: whatever .grad the recorded one holds between
        # calls does not matter (its gradient buffer is zeroed by the program)
        self.grad_start = [ANY if id(p._data) in rec.made else rec.grad_at_start[id(p)]
                           for p in self.leaves]
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
        leaf_ids = {id(p) for p in self.leaves}
        self.data_checks = [(t, d) for k, (t, d) in rec.tensors.items() if k not in leaf_ids]
        self.const_checks = list(rec.consts.values())
        self.host_guards = rec.host_guards
        self.opt_checks = [OptCheck(*probe, hyper, i, self.opt_counts[i]).check
                           for probe, hyper, i in self.opt_groups]
        self.captured = _captured(rec.events, self.leaf_data)
        self.settings: tuple = ()
        self.tensor_args: list = []
        self._fast_tables()
        self.run = self._runner()

    def _fast_tables(self) -> None:
        """What run() compares and writes, laid out for short loops: the same checks as
        the detailed ones of _check_leaves, which run only to name what failed."""
        start = zip(self.leaves, self.leaf_data, self.grad_start, strict=True)
        self.none_leaves = [(p, d) for p, d, g in start if g is None]
        self.other_leaves = [(p, d, g) for p, d, g in
                             zip(self.leaves, self.leaf_data, self.grad_start, strict=True)
                             if g is not None]
        # .grad as eager leaves it, set where it differs from how run() found it
        self.grad_sets = [(p, w) for p, w, g in
                          zip(self.leaves, self.grad_wrappers, self.grad_start, strict=True)
                          if not (g is None and w is None)]
        live = self._read_owners()
        self.copy_in = [(pos, buf, cbuf, buf.nbytes, self._binding(buf))
                        for pos, buf, cbuf in self.inputs if id(_base(buf)) in live]
        # an input buffer nothing reads after the recording (the traced argument when fn
        # copies it, pat.tensor(x)) is let go: its slot keeps a NULL pointer and size 0
        for buf in [b for _, b, _ in self.inputs if id(_base(b)) not in live]:
            s = self.prog.find(buf)
            if s is not None and self.bufs[s] is buf:
                self.bufs[s] = np.empty(0, buf.dtype)
                self.buf_table[s] = self.buf_keep[s] = NULL
                self.prog.like[s] = np.broadcast_to(np.empty((), buf.dtype), buf.shape)
        self.inputs[:] = [i for i in self.inputs if id(_base(i[1])) in live]
        tables = [*self.bufs, *(a for v in self.sweep_src for a in (*v[2], *v[3])),
                  *(a for lst in self.opt_arrays for a in lst), *self.grad_end]
        self.owned = frozenset(id(_base(a)) for a in tables if a is not None)
        tpl = self.result_template
        self.result_buf = self.bufs[tpl[1]] if tpl[0] == "tensor" else None

    def _binding(self, buf: np.ndarray) -> tuple | None:
        """Where the pointer tables hold input buffer ``buf``, as (table, index, its own
        pointer): a replay points them at the caller's array for the call instead of
        copying it in, when ``buf`` is large (a copy costs more than the pointer writes),
        the program only reads it, and nothing else sees it (no view of it in a table, no
        host guard, not the result). None: copy it in."""
        base = _base(buf)
        if buf.nbytes < BIND_MIN or {id(buf), id(base)} & self.result_arrays or any(
                _base(g) is base for g, _ in self.host_guards):
            return None
        written = {int(st["a"]) for st in self.steps
                   if int(st["kind"]) in (lib.PAT_STEP_ZERO, lib.PAT_STEP_ACC)}
        written.update(self.prog.dst)
        entries = []
        tables = [(self.buf_table, self.bufs, self.buf_keep, False)]
        for (_, _, vt, vk, gt, gk), (_, _, vals, grads) in zip(
                self.sweep_keep, self.sweep_src, strict=True):
            tables += [(vt, vals, vk, False), (gt, grads, gk, True)]
        for tab, arrays, keep, is_grad in tables:
            for i, a in enumerate(arrays):
                if a is None or _base(a) is not base:
                    continue
                if a is not buf or is_grad or (tab is self.buf_table and i in written):
                    return None  # a view of it, a gradient in it, or the program writes it
                entries.append((tab, i, keep[i]))
        if any(_base(a) is base for lst in self.opt_arrays for a in lst if a is not None):
            return None
        return tuple(entries)

    def _read_owners(self) -> set[int]:
        """ids of the memory blocks anything reads or writes after the inputs are copied
        in: the program's slots, the sweeps' and optimizer calls' tables, the host guards
        and the result. An input buffer outside them (the traced argument when fn only
        reads ``pat.tensor(x)``, a copy of it) needs no copy on a replay."""
        prog = self.prog
        slots: set[int] = set()
        for d, src, a in zip(prog.dst, prog.src, prog.aux, strict=True):
            slots.add(d)
            slots.add(a)
            slots.update(src)
        for st in self.steps:
            kind = int(st["kind"])
            if kind == lib.PAT_STEP_ZERO:
                slots.add(int(st["a"]))
            elif kind == lib.PAT_STEP_ACC:
                slots.update((int(st["a"]), int(st["b"])))
            elif kind == lib.PAT_STEP_GUARD:
                slots.update((int(st["a"]), int(st["b"]), int(st["c"])))

        def walk(tpl: Any) -> None:
            kind, body = tpl
            if kind in ("tensor", "float"):
                slots.add(body)
            elif kind in ("tuple", "list"):
                for v in body:
                    walk(v)
            elif kind == "dict":
                for v in body.values():
                    walk(v)

        walk(self.result_template)
        arrays = [prog.vals[i] for i in slots if i >= 0]
        for _, _, vals, grads in self.sweep_src:
            arrays += vals + grads
        for lst in self.opt_arrays:
            arrays += lst
        arrays += [b for b, _ in self.host_guards]
        return {id(_base(a)) for a in arrays if a is not None}

    # -- packing --------------------------------------------------------------------------
    def _pack(self, events: list[tuple]) -> None:
        self.inputs: list[tuple[int, np.ndarray, Any]] = []
        self.opt_groups: list[tuple[tuple[Any, dict, Any], tuple, int]] = []
        program, sweeps, opts = _program(events, self.inputs, self.opt_groups)
        self.fused = 0  # weights whose SGD update is folded into their dW GEMM
        if self.fuse_update:
            visible = {id(g) for g in self.grad_end if g is not None} | self.result_arrays
            self.fused = fuse_updates(program, sweeps, opts, visible)
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
                g = _ffi.filled(r(st[1]))
                steps.append((lib.PAT_STEP_ZERO, DTYPE_CODE[g.dtype], slot(g), 0, 0, 0, g.size))
            elif kind == "acc":
                g, seed = _ffi.filled(r(st[1])), r(st[2])
                steps.append((lib.PAT_STEP_ACC, DTYPE_CODE[g.dtype], slot(g), slot(seed), 0, 0,
                              g.size))
            elif kind == "bwd":
                steps.append((lib.PAT_STEP_BWD, lib.PAT_F32, st[1], st[2], 0, 0, 0))
            elif kind == "optim":
                steps.append((lib.PAT_STEP_OPTIM, lib.PAT_F32, st[1], 0, 0, 0, 0))
            elif kind == "sgd_gemm":
                _, w, t, oi, j = st
                steps.append((lib.PAT_STEP_SGD_GEMM, DTYPE_CODE[np.dtype(opts[oi][1])], w, t,
                              oi, j, 0))
            elif kind == "guard":
                _, arr, other, expect, how = st
                # operands [expect, arr, other], as the C guard walks them (expect has
                # the broadcast shape, so it is the iterator's output operand)
                _, it = bcast_iter("compile", arr.shape, other.shape)
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
        self.opt_counts = [o[6] for o in opts]  # the step counters each call advances
        self.opt_arrays = [[*o[2], *o[3], *(a for lst in o[4] for a in lst)] for o in opts]
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
        for i, (kind, dtype, datas, grads, bufs, sizes, counts, hyper, flag) in enumerate(opts):
            o = self.opts[i]
            pt, pk = _ffi.pointer_table(datas)
            gt, gk = _ffi.pointer_table(grads)
            if len(bufs) > len(o.bufs) or len(hyper) > len(o.hyper) or kind < 0:
                raise TypeError("an optimizer step that pat_replay cannot run was recorded")
            btabs = [_ffi.pointer_table(b) for b in bufs]
            o.kind = kind
            o.dtype = DTYPE_CODE[dtype]
            o.nparams = len(datas)
            o.params = pt
            o.grads = gt
            for j in range(len(o.bufs)):
                o.bufs[j] = btabs[j][0] if j < len(btabs) else NULL
            o.sizes = ffi.from_buffer("int64_t *", sizes)
            o.counts = ffi.from_buffer("int64_t *", counts, require_writable=True)
            for j, h in enumerate(hyper):
                o.hyper[j] = h
            o.flag = flag
            self.opt_keep.append((pt, pk, gt, gk, btabs, sizes, counts, bufs))
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
        if isinstance(value, TracedFloat):
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
    def _check_leaves(self) -> None:
        """The parameter checks one by one, raising Retape with what failed."""
        for p, data, g in self.checks:
            if p._data is not data:
                raise Retape("a parameter's .data was replaced")
            if g is ANY:
                continue
            cur = p._grad
            if cur is not None:
                if cur._data is not g:
                    raise Retape("a parameter's .grad changed between calls")
            elif g is not None:
                raise Retape("a parameter's .grad was cleared between calls")

    def _runner(self) -> Any:
        """``run(arrays)``: check that the recording still applies, copy the inputs in,
        make the one C call, and leave parameters, ``.grad`` and the result as eager does.
        A closure over this plan's tables, built once (every name it uses is a local, and
        a table that is empty for this recording costs nothing per call); it reaches the
        plan itself only weakly, on the rare paths, so a dropped plan is freed at once."""
        none_leaves, other_leaves = self.none_leaves, self.other_leaves
        const_checks, data_checks = self.const_checks, self.data_checks
        opt_checks, opts = self.opt_checks, self.opts
        copy_in, host_guards, grad_sets = self.copy_in, self.host_guards, self.grad_sets
        leaves, result_buf, result_template = self.leaves, self.result_buf, self.result_template
        args, replay = self.args, lib.pat_replay
        me: Any = weakref.ref(self)  # the closure is an attribute of self: no cycle
        st, check_mode, anomaly_replay = _state, _anomaly.CHECK, _anomaly.replay
        memmove, copyto, wrap, from_buffer = _memmove, np.copyto, _wrap, ffi.from_buffer
        owned = self.owned
        extra = bool(other_leaves or const_checks or data_checks)

        def run(arrays: list[np.ndarray] | tuple) -> Any:
            # parameters: the same .data arrays, .grad as recorded (None, or the same array)
            for p, d in none_leaves:
                if p._data is not d or p._grad is not None:
                    me()._check_leaves()
            if extra:
                for p, d, g in other_leaves:
                    if p._data is not d:
                        me()._check_leaves()
                    if g is not ANY:
                        cur = p._grad
                        if cur is None or cur._data is not g:
                            me()._check_leaves()
                for a, dt, shape, snap in const_checks:
                    if a.dtype != dt or a.shape != shape or a.tobytes() != snap:
                        raise Retape("an array the step captured changed")
                for t, d in data_checks:
                    if t._data is not d:
                        raise Retape("the .data of a tensor the step reads was replaced")
            for check in opt_checks:
                check(opts)
            bound = None
            for pos, buf, cbuf, nbytes, entries in copy_in:
                src = arrays[pos]
                if src.dtype is buf.dtype or src.dtype == buf.dtype:
                    if (entries is not None and src.flags.c_contiguous and src.flags.aligned
                            and id(_base(src)) not in owned and not st.anomaly & check_mode):
                        # bound for this call (its buffer object keeps src's memory)
                        cd = from_buffer(src)
                        for tab, i, _ in entries:
                            tab[i] = cd
                        bound = [*(bound or ()), (entries, cd)]
                        continue
                    try:  # a buffer of src exists when it is C-contiguous
                        memmove(cbuf, src, nbytes)
                        continue
                    except ValueError:
                        pass
                copyto(buf, src, casting="unsafe")
            try:
                for buf, snap in host_guards:
                    if buf.tobytes() != snap:
                        raise Retape("a guard failed")
                if st.anomaly & check_mode:  # pat.detect_anomaly: the checked program
                    rc = anomaly_replay(me())
                else:
                    rc = replay(*args)
            finally:
                for entries, _ in bound or ():  # the tables point at the plan's own again
                    for tab, i, own in entries:
                        tab[i] = own
            if rc:
                me()._failed(rc)
            # the gradients as eager leaves them; parameters written in place: new versions
            for p, w in grad_sets:
                p._grad = w
            for p in leaves:
                g = p._guard
                if g is not None:
                    g.version += 1
            if result_buf is not None:
                return wrap(result_buf.copy())
            return me()._build(result_template)

        return run

    def _failed(self, rc: int) -> None:
        """Raise what a nonzero status of pat_replay means."""
        if rc == lib.PAT_EGUARD:
            raise Retape("a guard failed")
        step = int(self.failed[0])
        kind = int(self.steps[step]["kind"]) if 0 <= step < len(self.steps) else -1
        if kind == lib.PAT_STEP_FWD and rc == lib.PAT_EINDEX:
            raise ValueError("cross_entropy: a label is outside [0, classes) in this batch")
        _ffi.check(rc, f"replay (step {step})")

    def grads_in(self, objs: list[Any]) -> None:
        """Tensor arguments that require grad and have one: eager accumulates into it, so
        the private leaf starts from a copy of it."""
        for pos, _, gbuf in self.tensor_args:
            if gbuf is not None:
                np.copyto(gbuf, objs[pos]._grad._data)

    def grads_out(self, objs: list[Any]) -> None:
        """Hand the private leaves' gradients to the caller's Tensor arguments (in place
        when the caller's .grad is there, as eager accumulation is), and reset the private
        leaves to their state at the start of a call."""
        for pos, t, gbuf in self.tensor_args:
            caller = objs[pos]
            g = t._grad
            if g is None:
                caller._grad = None
            else:
                cur = caller._grad
                if cur is not None and cur._data.flags.writeable and cur._guard is None:
                    np.copyto(cur._data, g._data)
                else:
                    caller._grad = _wrap(g._data.copy())
            t._grad = None if gbuf is None else _wrap(gbuf)

    # -- reporting ------------------------------------------------------------------------
    def memory_report(self) -> dict[str, int]:
        """Bytes of the memory the program runs over, by role: parameters, gradients (of
        the leaves), optimizer_state, inputs, saved_for_backward (blocks holding values a
        backward rule reads), scratch (other forward values and intermediate adjoints),
        total; and planned_reuse, the bytes saved by sharing blocks between buffers whose
        lifetimes do not overlap."""

        def owner(a: np.ndarray) -> np.ndarray:
            return a.base if a.base is not None else a

        arrays = [a for a in self.bufs if a is not None]
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
