"""The reverse sweep: ``Tensor.backward`` and ``pat.autograd.grad``.

``backward`` gathers the records reachable from the output with an explicit stack
(:func:`~pyautotape.packing.collect`), packs those on a path from the requested inputs
into ``pat_instr`` rows (:func:`~pyautotape.packing.pack_records`), gives each live slot an
adjoint buffer, and runs one C call, ``pat_tape_backward``, that walks them from the last
to the first. No recursion anywhere. While pat.compile records, the packed sweep is handed
to its recorder, which replays exactly these tables.

>>> import pyautotape as pat
>>> w = pat.tensor([3.0], requires_grad=True)
>>> run_backward([((w * w).sum(), seed_gradient((w * w).sum(), None, "demo"))], None, False)
>>> w.grad.numpy()
array([6.], dtype=float32)
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _ffi, tensor_hooks
from . import tensor as _tensor
from ._ffi import ffi, filled, lib
from ._state import ANOMALY_CHECK, ENGINE_COUNTS, engine_lock, hooks, state
from ._sweepcache import cached_backward
from .errors import ShapeError, TapeError
from .graphgrad import graph_grads
from .packing import Program, collect, every_leaf, pack_records
from .record import Record, release
from .tensor import Tensor, _float_array, _wrap, enable_grad
from .tensor_hooks import _leaves, _nodes

# tensor_hooks.active() without its WeakValueDictionary.__len__ (an entry whose tensor
# died but is not yet removed only sends the sweep the uncached way)
_HOOKED_LEAVES, _HOOKED_NODES = _leaves.data, _nodes.data  # type: ignore[attr-defined]

__all__ = ["backward", "graph_backward", "run_backward", "seed_gradient"]


def backward(t: Tensor, gradient: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """``Tensor.backward``: the sweep from ``t``; with ``create_graph`` each leaf's
    ``.grad`` becomes (or has added to it) a Tensor on the tape, differentiable once more
    (graphgrad.py), and the graph is kept (``retain_graph`` defaults to create_graph).

    >>> import pyautotape as pat
    >>> x = pat.tensor([3.0], requires_grad=True)
    >>> backward((x * x * x).sum(), create_graph=True)   # x.grad = 3x², on the tape
    >>> gx = x.grad
    >>> x.grad = None
    >>> gx.sum().backward()                             # d(3x²)/dx = 6x
    >>> x.grad.numpy()
    array([18.], dtype=float32)
    """
    if not t.requires_grad:
        raise TapeError(
            "backward: this tensor does not require grad (no input had "
            "requires_grad=True, or it was computed under no_grad())"
        )
    if not create_graph:
        if gradient is None and t._data.size == 1:
            seed = None  # ones, made only where the sweep needs the array
        else:
            seed = seed_gradient(t, gradient, "backward")
        run_backward([(t, seed)], None, bool(retain_graph))
        return
    seed = seed_gradient(t, gradient, "backward")
    seed_arg = gradient if isinstance(gradient, Tensor) and gradient.requires_grad else seed
    graph_backward([(t, seed_arg)], None)


def graph_backward(roots: Sequence[tuple[Tensor, Any]], inputs: Sequence[Tensor] | None) -> None:
    """``backward(create_graph=True)`` from ``roots`` ((tensor, seed) pairs; a seed may be
    a Tensor that requires grad): each leaf's ``.grad`` (or each of ``inputs``') gets a
    Tensor on the tape added to it, differentiable once more."""
    if tensor_hooks.active():
        tensor_hooks.refuse_graph(collect([r for r, _ in roots], "backward"))
    with enable_grad():
        for leaf, g in graph_grads(roots, inputs, "backward(create_graph=True)"):
            e = tensor_hooks.leaf_entry(leaf)
            if e is not None and g is not None:
                g = tensor_hooks.fire_graph(e, g)
            if g is not None:
                leaf._grad = g if leaf._grad is None else leaf._grad + g


tensor_hooks.install()
_tensor._ENGINE[0] = backward  # Tensor.backward calls it without importing per call


def seed_gradient(out: Tensor, gradient: Any, where: str) -> np.ndarray:
    """The cotangent a sweep from ``out`` starts with: ``gradient`` checked against out's
    shape and dtype, or ones for a one-element output."""
    if gradient is None:
        if out._data.size != 1:
            raise ShapeError(
                f"{where}: output has shape {out.shape}; a non-scalar output needs "
                "gradient= (a cotangent of the same shape), or call .sum() first"
            )
        return _ones(out)
    g = gradient._data if isinstance(gradient, Tensor) else gradient
    g = _float_array(g, out.dtype, where, "gradient")
    if g.shape != out.shape:
        raise ShapeError(
            f"{where}: gradient has shape {g.shape} but the output has shape {out.shape}; "
            "pass a cotangent of the output's shape"
        )
    return g


def run_backward(
    roots: Sequence[tuple[Tensor, np.ndarray | None]],
    targets: Sequence[Tensor] | None,
    retain_graph: bool,
    stats: Any = None,
) -> list[np.ndarray | None] | None:
    """Run the reverse sweep from ``roots`` (tensor, seed) pairs; a seed None is ones
    (a one-element root, backward() without gradient=).

    targets None: accumulate into ``.grad`` of every leaf that requires grad (backward).
    Otherwise return the gradient array of each target (None when it is not reached),
    leaving every ``.grad`` untouched (autograd.grad)."""
    with engine_lock:
        records = _collect_busy(roots)
    if stats is None:
        stats = _new("pat_stats *")
    state.last_stats = stats
    try:
        return _sweep(records, roots, targets, stats)
    finally:
        if retain_graph:
            for r in records:
                r.busy = False
        else:
            release(records)


_new = ffi.new
_SEQ = operator.attrgetter("seq")


def _collect_busy(roots: Sequence[tuple[Tensor, Any]]) -> list[Record]:
    """packing.collect(busy_ok=False), marking each record busy as it is met (its mark is
    what tells it seen); on a released or busy record packing.collect takes over."""
    mark = object()  # this sweep's, so a record another sweep holds is told apart
    out: list[Record] = []
    stack = [t._node for t, _ in roots if t._node is not None]
    pop, push, append = stack.pop, stack.append, out.append
    while stack:
        r = pop()
        b = r.busy
        if b is mark:
            continue
        if b or r.released:  # packing.collect raises (or, the other sweep having ended
            for q in out:     # since, collects: the busy flags are cleared unlocked)
                q.busy = False
            out = collect([t for t, _ in roots], "backward", busy_ok=False)
            for q in out:
                q.busy = True
            return out
        r.busy = mark
        append(r)
        for p in r.parents:
            if type(p) is Record and p.busy is not mark:
                push(p)
    out.sort(key=_SEQ)
    return out


def _sweep(records, roots, targets, stats):
    """Pack the records, give every live slot an adjoint buffer, run the C sweep and hand
    out the gradients."""
    accumulate = targets is None  # backward(): every leaf that requires grad
    if (accumulate and len(roots) == 1 and state.recorder is None
            and not (_HOOKED_LEAVES or _HOOKED_NODES)  # hooks, retain_grad: per-record adjoints
            and not (state.anomaly & ANOMALY_CHECK and hooks.backward is not None)
            and cached_backward(records, roots[0][0], roots[0][1], stats)):
        return None  # the same tape structure as an earlier backward: its tables kept
    roots = [(t, _ones(t) if seed is None else seed) for t, seed in roots]
    if accumulate:
        prog = pack_records(records, want_leaf=every_leaf)
    else:
        wanted = {id(t) for t in targets if t._node is None}
        prog = pack_records(records, want_leaf=lambda leaf: id(leaf) in wanted,
                            targets={id(t._node) for t in targets if t._node is not None})
    grads: list[np.ndarray | None] = [None] * len(prog.vals)
    leaf_slots: list[tuple[Tensor, int, bool]] = []  # (leaf, slot, fresh buffer?)
    hooked = tensor_hooks.active()
    leaf_hooks: list[tuple[Tensor, int, Any]] = []  # leaves whose hooks see their gradient
    for leaf, s in prog.leaf_slots:
        if prog.live[s]:
            e = tensor_hooks.leaf_entry(leaf) if hooked else None
            if e is not None:  # a buffer of its own: the hooks see this sweep's gradient
                grads[s] = np.zeros(leaf._data.shape, leaf._data.dtype)
                leaf_hooks.append((leaf, s, e))
                continue
            buf, fresh = _leaf_grad_buffer(leaf, accumulate)
            grads[s] = buf
            leaf_slots.append((leaf, s, fresh))
    for r, s in zip(prog.rows, prog.dst, strict=True):  # the live records
        grads[s] = np.zeros(r.shape, r.dtype)
    node_slot = prog.node_slot
    root_slots = []
    for t, seed in roots:
        if t._node is not None:
            s = node_slot[id(t._node)]
            if grads[s] is None:
                grads[s] = np.zeros(t.shape, t.dtype)
            grads[s] += seed
            root_slots.append(s)
        else:
            root_slots.append(-1)

    tape, itab = prog.tape(), prog.itab()
    vals = prog.vals
    stops = tensor_hooks.stops(prog.rows, prog.dst) if hooked else []
    rec = state.recorder
    if rec is not None and (stops or leaf_hooks):
        rec.opaque("a tensor hook (register_hook, retain_grad) runs Python during backward")
    elif rec is not None:
        rec.sweep(tape, itab, vals, grads, leaf_slots, roots, root_slots,
                  [r.where for r in prog.rows])
    ENGINE_COUNTS["reverse_sweeps"] += 1
    ENGINE_COUNTS["adjoint_buffers"] += sum(g is not None for g in grads)
    vptr, vkeep = _ffi.pointer_table(vals)
    gptr, gkeep = _ffi.pointer_table(grads)
    failed = ffi.new("int64_t *", -1)
    pre: dict[int, np.ndarray] = {}  # a target's gradient as it was before its hooks
    end = len(tape)
    rc = lib.PAT_OK
    for t, s, e in stops:  # hooks: sweep down to the record, hook its adjoint, go on
        rc = _rows(prog, tape, itab, grads, vptr, gptr, leaf_slots, stats, failed, t + 1, end)
        if rc != lib.PAT_OK:
            break
        if not accumulate:
            pre[s] = filled(grads[s]).copy()
        tensor_hooks.fire_node(e, filled(grads[s]), accumulate)
        end = t + 1
    if rc == lib.PAT_OK:
        rc = _rows(prog, tape, itab, grads, vptr, gptr, leaf_slots, stats, failed, 0, end)
    if rc != lib.PAT_OK:
        bad = prog.rows[failed[0]] if 0 <= failed[0] < len(prog.rows) else None
        _ffi.check(rc, f"backward of '{bad.name if bad is not None else '?'}'")

    # -- hand the results out -----------------------------------------------------------
    for leaf, s, e in leaf_hooks:
        g = tensor_hooks.fire_leaf(e, filled(grads[s]))
        if accumulate:
            _accumulate_leaf(leaf, g)
        else:
            grads[s] = g
    for s, g in pre.items():
        grads[s] = g
    if accumulate:
        for leaf, s, fresh in leaf_slots:
            if fresh:
                leaf._grad = _wrap(filled(grads[s]))
        for t, seed in roots:  # a leaf used as its own root: d t / d t = seed
            if t._node is None:
                _accumulate_leaf(t, seed)
        return None
    return [_target_grad(t, prog, grads, roots) for t in targets]


class _Rows:
    """Rows a..b of a packed program, as the checked sweep reads one."""

    def __init__(self, prog: Program, a: int, b: int) -> None:
        self.vals, self.rows, self.sizes = prog.vals, prog.rows[a:b], prog.sizes


def _rows(prog: Program, tape: np.ndarray, itab: np.ndarray, grads: list, vptr: Any,
          gptr: Any, leaf_slots: list, stats: Any, failed: Any, a: int, b: int) -> int:
    """The reverse sweep over rows a..b-1 (all of them unless hooks split the sweep)."""
    if a >= b:
        return lib.PAT_OK
    part = tape[a:b]
    if state.anomaly & ANOMALY_CHECK and hooks.backward is not None:  # the checked sweep
        sub = prog if (a, b) == (0, len(tape)) else _Rows(prog, a, b)
        rc = hooks.backward(sub, part, itab, grads, vptr, gptr, leaf_slots, stats, failed)
    else:
        rc = lib.pat_tape_backward(
            ffi.from_buffer("pat_instr *", part),
            len(part),
            ffi.from_buffer("pat_iter *", itab),
            len(itab),
            vptr,
            gptr,
            len(prog.vals),
            stats,
            failed,
        )
    if rc != lib.PAT_OK and failed[0] >= 0:
        failed[0] += a
    return rc


def _target_grad(t: Tensor, prog: Program, grads: list, roots) -> np.ndarray | None:
    s = prog.node_slot.get(id(t._node) if t._node is not None else id(t))
    g = grads[s] if s is not None else None
    for root, seed in roots:
        if root is t and t._node is None:
            g = seed.copy() if g is None else g + seed
    return g


def _ones(t: Tensor) -> np.ndarray:
    one = np.empty(t._data.shape, t._data.dtype)
    one.fill(1)
    return one


def _leaf_grad_buffer(leaf: Tensor, accumulate: bool) -> tuple[np.ndarray, bool]:
    """The buffer the sweep accumulates the leaf's gradient into: its existing ``.grad``
    (accumulation, as PyTorch) when that is writable, else a fresh zero array."""
    g = leaf._grad
    if (accumulate and g is not None and g._data.flags.writeable
            and (g._guard is None or g._guard.count == 0)):  # no record reads it
        return g._data, False
    buf = np.zeros(leaf._data.shape, leaf._data.dtype)
    if accumulate and g is not None:
        buf += g._data
        if state.recorder is not None:
            state.recorder.opaque("backward accumulated into a read-only .grad")
    return buf, True


def _accumulate_leaf(leaf: Tensor, g: np.ndarray) -> None:
    if leaf._grad is None:
        leaf._grad = _wrap(g.copy())
    else:
        leaf._grad = _wrap(leaf._grad._data + g)
