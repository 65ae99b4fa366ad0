"""``pat.compile(fn, fuse_update=True)``: plain SGD folded into the weight-gradient GEMM.

A linear layer's weight W whose update is plain SGD (no momentum, weight decay or
maximize) and whose gradient nothing else reads is updated by one GEMM,
``W += -lr * dy^T x``, right after that layer's backward has used the old W for dx:
no zero-fill of dW, no dW written and read back, no separate update pass. The result
differs from eager mode by rounding (the GEMM rounds ``-lr * (dy^T x) + W`` its own way),
which is why it is opt-in; every other step stays the recorded one.

>>> from pyautotape.replay.fuse import fuse_updates
>>> fuse_updates([], [], [], set())
0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ffi import lib
from .program import _accesses


def _base(a: np.ndarray) -> int:
    b = a.base
    return id(a if b is None else b)


def _touches(program: list, sweeps: list, opts: list) -> dict[int, set[int]]:
    """For each memory block (by its owner's id), the indices of the steps that read or
    write it (an optimizer step touches all its tables)."""
    out: dict[int, set[int]] = {}
    for i, st in enumerate(program):
        if st[0] == "optim":
            o = opts[st[1]]
            arrays = [*o[2], *o[3], *(a for lst in o[4] for a in lst)]
        else:
            reads, writes = _accesses(st, sweeps)
            arrays = reads + writes
        for a in arrays:
            if a is not None:
                out.setdefault(_base(a), set()).add(i)
    return out


def _plain_sgd(o: tuple) -> bool:
    kind, dtype, _, _, _, _, _, hyper, flag = o
    return (kind == lib.PAT_OPTIM_SGD and np.dtype(dtype) in (np.float32, np.float64)
            and hyper[1] == 0 and hyper[3] == 0 and not flag & lib.PAT_OPT_MAXIMIZE)


def fuse_updates(program: list, sweeps: list, opts: list, visible: set[int]) -> int:
    """Rewrite ``program`` in place where the fusion applies; ``visible`` holds the ids of
    arrays Python sees after a call (leaves' gradients, results), which stay as recorded.
    Returns how many weights were fused."""
    if not any(_plain_sgd(o) for o in opts):
        return 0
    touches = _touches(program, sweeps, opts)
    where = {("optim", st[1]): i for i, st in enumerate(program) if st[0] == "optim"}
    fused: list[tuple[int, tuple]] = []  # (after step index, new step)
    dropped: set[int] = set()
    for oi, o in enumerate(opts):
        if not _plain_sgd(o):
            continue
        datas, grads = o[2], o[3]
        oi_step = where.get(("optim", oi))
        for j, (W, g) in enumerate(zip(datas, grads, strict=True)):
            if g is None or id(g) in visible or g.base is not None:
                continue
            if sum(1 for x in grads if x is g) != 1 or sum(1 for x in datas if x is W) != 1:
                continue
            found = _pattern(program, sweeps, touches, W, g, oi_step)
            if found is None:
                continue
            zero_i, bwd_i = found
            _, w, t = program[bwd_i]
            tape, itab, vals, sgrads = sweeps[w]
            sgrads = list(sgrads)
            sgrads[int(tape[t]["src"][1])] = None  # the record computes dx and db only
            sweeps[w] = (tape, itab, vals, sgrads)
            o = opts[oi] = (*o[:3], [None if k == j else x for k, x in enumerate(o[3])],
                            *o[4:])
            dropped.add(zero_i)
            fused.append((bwd_i, ("sgd_gemm", w, t, oi, j)))
    if fused:
        after = dict(fused)
        out: list[Any] = []
        for i, st in enumerate(program):
            if i not in dropped:
                out.append(st)
            if i in after:
                out.append(after[i])
        program[:] = out
    return len(fused)


def _pattern(program: list, sweeps: list, touches: dict[int, set[int]], W: np.ndarray,
             g: np.ndarray, opt_step: int | None) -> tuple[int, int] | None:
    """(index of g's zero-fill, index of the linear backward writing it) when g is the
    weight gradient of exactly one linear record and nothing but that record, its
    zero-fill and the optimizer step touch g, and W is touched only by its forward, that
    record and the optimizer step, in that order; else None."""
    if opt_step is None:
        return None
    gs = sorted(touches.get(_base(g), ()))
    if len(gs) != 3 or gs[2] != opt_step:
        return None
    zero_i, bwd_i = gs[0], gs[1]
    zst, bst = program[zero_i], program[bwd_i]
    if zst[0] != "zero" or zst[1] is not g or bst[0] != "bwd":
        return None
    tape, _, vals, grads = sweeps[bst[1]]
    row = tape[bst[2]]
    dst, src0, src1 = int(row["dst"]), int(row["src"][0]), int(row["src"][1])
    if int(row["op"]) != lib.PAT_OP_LINEAR or src1 < 0 or grads[src1] is not g:
        return None
    if dst < 0 or src0 < 0 or grads[dst] is None or vals[src0] is None:
        return None
    others = [int(row["src"][2]), int(row["aux"]), dst, src0]
    if any(s >= 0 and grads[s] is g for s in others):
        return None
    if vals[src1] is not None and vals[src1] is not W:
        return None
    ws = sorted(touches.get(_base(W), ()))
    fwd = [i for i in ws if program[i][0] == "fwd"]
    if len(fwd) != 1 or not set(ws) <= {fwd[0], bwd_i, opt_step}:
        return None
    f = program[fwd[0]]
    if f[1] != lib.PAT_OP_LINEAR or f[6] is not W or not fwd[0] < bwd_i < opt_step:
        return None
    return zero_i, bwd_i
