"""From recorded events to a program: the steps in order, and a plan that gives buffers
whose lifetimes do not overlap the same memory.

>>> _accesses(("zero", "g"), [])
([], ['g'])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .recorder import TracedFloat


def _result_arrays(value: Any) -> set[int]:
    """ids of the buffers a compiled function's result reads (they must stay put)."""
    if isinstance(value, Tensor):
        return {id(value._data)}
    if isinstance(value, TracedFloat):
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
            _, kind, dtype, datas, grads, bufs, sizes, counts, hyper, flag, refresh = ev
            opts.append((kind, dtype, datas, grads, bufs, sizes, counts, hyper, flag))
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
    if kind == "sgd_gemm":  # fuse_update: reads its record's dy and x (W is pinned)
        tape, _, vals, grads = sweeps[st[1]]
        row = tape[st[2]]
        return [grads[row["dst"]], vals[row["src"][0]]], []
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
