"""What the function transforms (transforms.py) run: f traced once, its tape packed once
(:class:`Program`), and batched C sweeps over it, each pushing K seeds in one call; and
streaming forward mode (:class:`Stream`), which keeps no tape at all.

* reverse sweeps run ``pat_tape_backward_batch`` with K cotangents;
* the tangent sweep walks the same tape from the first record to the last with
  ``pat_tape_tangent``. Each tangent rule reads exactly the values the tape already keeps
  for the reverse sweep: nothing extra is recorded, no reverse sweep runs and no adjoint
  buffer is allocated;
* second derivatives are forward-over-reverse: a tangent sweep, a reverse sweep, then
  ``pat_tape_hvp``, the reverse sweep differentiated along the K directions.

>>> import numpy as np, pyautotape as pat
>>> prog = program(lambda x: (x * x).sum(), [np.array([1.0, 2.0])], [0], "demo")
>>> prog.adjoints(np.ones((1,)))[0]
array([[2., 4.]])
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _ffi
from . import anomaly as _anomaly
from ._ffi import ffi, filled, lib
from ._state import ANOMALY_CHECK, ENGINE_COUNTS, seq, state
from .errors import ShapeError, TapeError
from .nesting import Closure, Nest, Readout
from .packing import collect, pack_records
from .record import OP_NAMES, Record
from .tensor import Tensor, enable_grad, tensor

__all__ = ["Program", "Stream", "program", "stream_trace", "local"]

local = threading.local()  # .stats: this thread's counters; .mode: its last Jacobian mode


def leaf(x: Any) -> Tensor:
    """A fresh leaf that requires grad, holding a copy of ``x``'s values."""
    return tensor(x._data if isinstance(x, Tensor) else x, requires_grad=True)


def check_out(out: Any, name: str) -> None:
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{name}: f must return a Tensor, got {type(out).__name__} (f receives "
            "Tensors and returns one; a transform called inside f returns a Tensor when "
            "its result depends on f's variables, an ndarray otherwise)"
        )


def _opaque(name: str) -> None:
    rec = state.recorder
    if rec is not None:  # pat.compile records kernel calls; these sweeps are not among them
        rec.opaque(f"pat.{name} runs its own sweeps")


def refuse_stream(name: str, shape: tuple[int, ...]) -> None:
    raise TapeError(
        f"pat.{name}(stream=True) uses a tensor of shape {shape} that requires grad (an "
        "argument, or a tensor f closes over: an outer transform's variable, a parameter) "
        "while grad mode is on, so its result would have to be differentiable with "
        "respect to it; stream mode keeps no tape to differentiate. Use stream=False (the "
        "default: the result is then recorded on the outer tape), or call it under "
        "pat.no_grad() to treat those tensors as constants"
    )


def _call(f: Callable[..., Any], call: list[Any], stream: Stream | None, name: str,
          watch: Closure | None = None) -> Tensor:
    """f(*call) with grad on and ``stream`` as the thread's stream (None: record a tape);
    ``watch`` notes the outer tensors f's ops read."""
    prev, state.stream = state.stream, stream
    try:
        with enable_grad():
            if watch is None:
                out = f(*call)
            else:
                with watch:
                    out = f(*call)
    finally:
        state.stream = prev
    check_out(out, name)
    return out


class Program:
    """f's tape packed once, for any number of batched sweeps from the given leaves.

    Slots 0 .. len(leaves)-1 are the leaves; then one slot per record output, and one per
    constant or aux array a rule reads. Only live records (on a path from a leaf) are
    packed: the others have neither tangent nor adjoint. The program keeps the records
    alive, so the arrays they saved stay locked and can be swept again (vjp_fn)."""

    def __init__(self, out: Tensor, leaves: list[Tensor], floor: int, name: str,
                 outside: Sequence[Any] = (), records: list[Record] | None = None) -> None:
        self.name = name
        self.out = out
        self.leaves = leaves  # the transform's own leaves; ``outside`` nodes follow them
        self.nleaf = len(leaves) + len(outside)
        self.nest: Any = None  # a nesting.Nest when the results are recorded (nested)
        self.records = records if records is not None else collect([out], name, floor=floor)
        prog = pack_records(self.records, leaves=[*leaves, *outside], where=name,
                            fix="call f again")
        self.prog = prog
        self.vals, self.shapes, self.dtypes = prog.vals, prog.shapes, prog.dtypes
        self.live = prog.live
        self.rows = prog.rows
        self.tape, self.itab = prog.tape(), prog.itab()
        self.size_arr = prog.sizes()
        key = id(out._node) if out._node is not None else id(out)
        self.out_slot = prog.node_slot.get(key, -1)
        if self.out_slot >= 0 and not self.live[self.out_slot]:
            self.out_slot = -1  # the output does not depend on the leaves

    # -- buffers ------------------------------------------------------------------------
    def _zeros(self, k: int, which: str, skip: int = -1) -> list[np.ndarray | None]:
        """K-seed zero buffers for every live slot (leaves and live records) but the first
        ``skip`` + 1 leaves (the caller supplies those) and the output when skip is -2."""
        bufs: list[np.ndarray | None] = [None] * len(self.vals)
        for s, is_live in enumerate(self.live):
            if is_live and s > skip and not (skip == -2 and s == self.out_slot):
                bufs[s] = np.zeros((k, *self.shapes[s]), self.dtypes[s])
        ENGINE_COUNTS[which] += sum(b is not None for b in bufs)
        return bufs

    def _run(self, cfunc: Any, tables: list[list[np.ndarray | None]], k: int) -> None:
        if self.rows:
            sweep(cfunc, self.tape, self.itab, [self.vals] + tables, self.size_arr, k,
                  lambda t: f"{self.name}: sweep through '{self.rows[t].name}'",
                  lambda t: self.rows[t].where)

    # -- the three sweeps ---------------------------------------------------------------
    def tangents(self, seeds: list[np.ndarray], k: int) -> list[np.ndarray | None]:
        """Forward mode: seeds[i] (k, *leaf i shape) in, every live slot's tangent out."""
        tans = self._zeros(k, "tangent_buffers", skip=len(seeds) - 1)
        for i, s in enumerate(seeds):
            tans[i] = s
        ENGINE_COUNTS["tangent_sweeps"] += 1
        self._run(lib.pat_tape_tangent, [tans], k)
        return tans

    def out_tangent(self, tans: list[np.ndarray | None], k: int) -> np.ndarray:
        if self.out_slot < 0:
            return np.zeros((k, *self.out.shape), self.out.dtype)
        return filled(tans[self.out_slot])

    def value(self) -> Any:
        """f's value: an ndarray, or (nested) a Tensor recorded on the outer tape."""
        if self.nest is None:
            return self.out._data.copy()
        return self.nest.record(Readout(self.nest, "value", self.out._data))

    def adjoints(self, cot: np.ndarray) -> list[Any]:
        """Reverse mode: cotangents (k, *out shape) in, every live slot's adjoint out;
        nested, each leaf's adjoints are a Tensor recorded on the outer tape."""
        grads = self._adjoints(cot)
        if self.nest is not None:
            adjs = list(grads)
            for i in range(len(self.leaves)):
                grads[i] = self.nest.record(Readout(self.nest, "adjoint", filled(adjs[i]), i,
                                                    adjs=adjs))
        return grads

    def jvp(self, seeds: list[np.ndarray], k: int) -> Any:
        """The output's k tangents for seeds on the leaves; nested, a Tensor recorded on
        the outer tape."""
        tans = self.tangents(seeds, k)
        out = self.out_tangent(tans, k)
        if self.nest is None:
            return out
        return self.nest.record(Readout(self.nest, "tangent", out, tans=tans,
                                        seeds=dict(enumerate(seeds))))

    def second_order(self, result: Any) -> Any:
        """hessian/hvp results (ndarrays, nested tuples of them); nested, each becomes a
        Tensor on the outer tape whose derivative (a third derivative) raises."""
        if self.nest is None:
            return result
        if isinstance(result, tuple):
            return tuple(self.second_order(r) for r in result)
        return self.nest.record(Readout(self.nest, "second order", result))

    def _adjoints(self, cot: np.ndarray) -> list[np.ndarray | None]:
        k = cot.shape[0]
        grads = self._zeros(k, "adjoint_buffers", skip=-2)
        if self.out_slot >= 0:  # the sweep only reads the output's adjoint: use cot itself
            seed = np.ascontiguousarray(cot, self.dtypes[self.out_slot])
            if self.out_slot < self.nleaf:  # f returned a leaf: hand out a copy
                seed = seed.copy()
            grads[self.out_slot] = seed
        ENGINE_COUNTS["reverse_sweeps"] += 1
        self._run(lib.pat_tape_backward_batch, [grads], k)
        return grads

    def hvps(self, dirs: list[np.ndarray], k: int) -> list[np.ndarray]:
        """Forward-over-reverse: directions (k, *leaf shape) in, H u per leaf out."""
        if self.out.size != 1:
            raise ShapeError(
                f"{self.name}: f must return a scalar (one element), got shape "
                f"{self.out.shape}; reduce it first (e.g. .sum())"
            )
        tans = self.tangents(dirs, k)
        adjs = self._adjoints(np.ones((1, *self.out.shape), self.out.dtype))
        atans = self._zeros(k, "tangent_buffers")
        ENGINE_COUNTS["hvp_sweeps"] += 1
        self._run(lib.pat_tape_hvp, [tans, adjs, atans], k)
        return [filled(atans[i]) for i in range(len(self.leaves))]


def sweep(cfunc: Any, tape: np.ndarray, itab: np.ndarray, tables: list[list[Any]],
          sizes: np.ndarray, k: int, where: Callable[[int], str],
          site: Callable[[int], Any] = lambda t: None) -> None:
    """One batched C sweep over ``tape``: a dry run for the scratch size, then the real
    one; an error status becomes an exception (a custom op's own exception as it was).
    With pat.detect_anomaly on the real one is checked; ``site(t)`` is record t's line."""
    keep = [_ffi.pointer_table(table) for table in tables]
    head = (
        ffi.from_buffer("pat_instr *", tape),
        len(tape),
        ffi.from_buffer("pat_iter *", itab),
        len(itab),
        *[p for p, _ in keep],
        ffi.from_buffer("int64_t *", sizes),
        len(sizes),
        k,
    )
    failed = ffi.new("int64_t *", -1)
    need = ffi.new("int64_t *", 0)
    rc = cfunc(*head, ffi.NULL, 0, need, ffi.NULL, failed)
    if rc == lib.PAT_OK:
        scratch = np.empty(max(1, (need[0] + 7) // 8), np.float64)
        stats = getattr(local, "stats", None)
        stats = stats if stats is not None else ffi.NULL
        if state.anomaly & ANOMALY_CHECK:
            rc = _anomaly.checked_sweep(cfunc, tape, tables, head, scratch, stats, failed, site)
        else:
            rc = cfunc(*head, ffi.from_buffer(scratch, require_writable=True), scratch.nbytes,
                       ffi.NULL, stats, failed)
    _ffi.check(rc, where(failed[0]) if 0 <= failed[0] < len(tape) else "sweep")


class Stream:
    """Forward mode without a tape (``stream=True``). While f runs, record() hands every
    op to :meth:`push`, which runs the op's tangent rule at once (pat_tape_tangent over a
    one-record tape: the same C switch as the tape sweep) and keeps no record and no
    saved value. Outputs become leaves that require grad; their tangents live here only
    as long as the tensors do, so memory is that of f's live tensors, whatever its depth:
    forward mode needs no stored activations."""

    def __init__(self, k: int, name: str = "jvp", nestable: bool = False) -> None:
        self.k, self.name = k, name
        self.nestable = nestable  # grad mode was on: an outer tape may differentiate
        self.tans: dict[int, tuple[weakref.ref, np.ndarray]] = {}

    def set(self, t: Tensor, tan: np.ndarray) -> None:
        key = id(t)
        tans = self.tans

        def forget(_ref: weakref.ref, key: int = key) -> None:
            tans.pop(key, None)

        tans[key] = (weakref.ref(t, forget), tan)

    def get(self, t: Tensor) -> np.ndarray | None:
        hit = self.tans.get(id(t))
        return hit[1] if hit is not None and hit[0]() is t else None

    def push(self, r: Record, y: Tensor) -> Tensor:
        """Run the tangent rule of the record just made for y (record() calls this)."""
        y.requires_grad = True
        leaves = list({id(p): p for p in r.parents
                       if isinstance(p, Tensor) and self.get(p) is not None}.values())
        if self.nestable and any(p is not None and (not isinstance(p, Tensor)
                                                    or self.get(p) is None)
                                 for p in r.parents):
            refuse_stream(self.name, y.shape)  # an input requires grad but has no tangent
        if not leaves:
            return y  # no input carries a tangent: the output's is zero
        prog = pack_records([r], leaves=leaves, where="jvp")
        tans: list[Any] = [None] * len(prog.vals)
        for i, t in enumerate(leaves):
            tans[i] = self.get(t)
        ty = tans[prog.node_slot[id(r)]] = np.zeros((self.k, *y.shape), y.dtype)
        ENGINE_COUNTS["tangent_buffers"] += 1
        name = OP_NAMES[r.op]
        sweep(lib.pat_tape_tangent, prog.tape(), prog.itab(), [prog.vals, tans], prog.sizes(),
              self.k, lambda _t: f"jvp: tangent of '{name}'", lambda _t: r.where)
        self.set(y, ty)
        return y


def stream_trace(
    f: Callable[..., Any], args: Sequence[Any], nums: Sequence[int], seeds: list[np.ndarray],
    k: int, name: str,
) -> tuple[Tensor, np.ndarray]:
    """Run f once, pushing k tangents per op as it goes; return (out, out's tangents)."""
    local.stats = ffi.new("pat_stats *")
    _opaque(name)
    stream = Stream(k, name, state.grad_enabled)
    call = list(args)
    leaves = []
    for i, seed in zip(nums, seeds, strict=True):
        if stream.nestable and isinstance(args[i], Tensor) and args[i].requires_grad:
            refuse_stream(name, args[i].shape)
        t = leaf(args[i])
        stream.set(t, np.array(seed, dtype=t.dtype, order="C").reshape(k, *t.shape))
        call[i] = t
        leaves.append(t)
    ENGINE_COUNTS["tangent_sweeps"] += 1
    out = _call(f, call, stream, name)
    tan = stream.get(out)
    return out, tan if tan is not None else np.zeros((k, *out.shape), out.dtype)


def program(f: Callable[..., Any], args: Sequence[Any], nums: Sequence[int],
            name: str) -> Program:
    """Call f once on fresh leaves in the positions ``nums`` and pack its tape. When grad
    mode is on and the result depends on tensors that require grad (arguments, or outer
    tensors f's ops read), the program is nested: its results are recorded on the outer
    tape as ops differentiable to second order (nesting.py)."""
    local.stats = ffi.new("pat_stats *")
    _opaque(name)
    call = list(args)
    leaves = []
    nestable = state.grad_enabled
    floor = next(seq)  # records with seq >= floor are this call's
    outer: list[Tensor | None] = []
    for i in nums:
        a = args[i]
        outer.append(a if nestable and isinstance(a, Tensor) and a.requires_grad else None)
        call[i] = t = leaf(a)
        leaves.append(t)
    watch = Closure(floor) if nestable else None
    out = _call(f, call, None, name, watch)
    if watch is None:
        return Program(out, leaves, floor, name)
    records = collect([out], name, floor=floor)
    nodes, tensors = watch.outside(records, leaves, out)
    if not nodes and not any(t is not None for t in outer):
        return Program(out, leaves, floor, name, records=records)
    prog = Program(out, leaves, floor, name, outside=nodes, records=records)
    prog.nest = Nest(prog, f"pat.{name}", [*outer, *tensors])
    return prog
