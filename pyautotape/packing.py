"""The one packer: records (or recorded kernel calls) into ``pat_instr`` rows over a table of
slots, and the ``pat_iter`` table they index.

Every C sweep reads the same three tables: the instructions, the iterators, and per slot
a value (what the rules read) and the buffer the sweep writes (an adjoint, a tangent).
:class:`Program` builds the first two and the value table; the caller adds the buffers
its sweep needs, sized from :attr:`Program.shapes`. :func:`pack_records` is how the reverse
sweep (engine.py), the transforms' batched sweeps and streaming forward mode
(batched.py) pack the tape; replay (replay/plan.py) packs its recorded forward kernel
calls with :meth:`Program.array_slot` and :meth:`Program.row`.

>>> import numpy as np, pyautotape as pat
>>> x = pat.tensor(np.ones(3), requires_grad=True)
>>> y = pat.exp(x).sum()
>>> prog = pack_records(collect([y], "demo"), leaves=[x])
>>> [pat.ops.OP_NAMES[op] for op in prog.tape()["op"]], prog.live
(['exp', 'sum'], [True, True, True])
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _ffi
from .errors import TapeError
from .record import Record
from .tensor import Tensor

__all__ = ["Program", "Instr", "collect", "pack_records", "every_leaf"]

# one pat_instr: op, dtype, dst, src[3], aux, iter (int32); m, k, n (int64); alpha (double)
_ROW = struct.Struct("=8i3qd")
if _ROW.size != _ffi.INSTR_DTYPE.itemsize:  # pragma: no cover - the layout is checked in _ffi
    raise ImportError("packing: the pat_instr row format differs from INSTR_DTYPE")

class Instr:
    """The fields of a pat_instr that come from the op, for a row with no Record (replay
    packs its recorded forward kernel calls with these)."""

    __slots__ = ("op", "dtype", "m", "k", "n", "alpha", "where")

    def __init__(self, op: int, dtype: np.dtype, m: int, k: int, n: int, alpha: float) -> None:
        self.op, self.dtype, self.m, self.k, self.n, self.alpha = op, dtype, m, k, n, alpha
        self.where = None


class Program:
    """Slots, iterators and instruction rows of one C program.

    ``vals[s]`` is the array the rules read for slot s (None when no rule reads it),
    ``like[s]`` something with its ``shape`` and ``dtype`` (the Record, leaf or array),
    ``live[s]`` whether it lies on a path from a requested input (only live slots get
    adjoints or tangents). ``rows[t]`` is the Record
    (or :class:`Instr`) of instruction t, and ``dst``, ``src``, ``aux``, ``iter`` its slots
    and iterator."""

    def __init__(self) -> None:
        self.vals: list[np.ndarray | None] = []
        self.like: list[Any] = []
        self.live: list[bool] = []
        self.rows: list[Any] = []
        self.dst: list[int] = []
        self.src: list[list[int]] = []
        self.aux: list[int] = []
        self.iter: list[int] = []
        self.iters: list[np.ndarray] = []
        self.node_slot: dict[int, int] = {}  # id(record or leaf) -> its slot
        self.leaf_slots: list[tuple[Tensor, int]] = []  # leaves met while packing
        self._iter_of: dict[int, int] = {}
        self._array_slot: dict[int, int] = {}

    def new_slot(self, val: np.ndarray | None, like: Any, live: bool = False) -> int:
        """A slot reading ``val``, shaped like ``like`` (anything with shape and dtype)."""
        self.vals.append(val)
        self.like.append(like)
        self.live.append(live)
        return len(self.vals) - 1

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [o.shape for o in self.like]

    @property
    def dtypes(self) -> list[np.dtype]:
        return [o.dtype for o in self.like]

    def array_slot(self, arr: np.ndarray | None) -> int:
        """The slot holding ``arr`` itself (-1 for None), made on first use."""
        if arr is None:
            return -1
        s = self._array_slot.get(id(arr))
        if s is None:
            s = self._array_slot[id(arr)] = self.new_slot(arr, arr)
        return s

    def find(self, arr: np.ndarray) -> int | None:
        """The slot :meth:`array_slot` gave ``arr``, or None."""
        return self._array_slot.get(id(arr))

    def iter_index(self, it: np.ndarray | None) -> int:
        """The index of ``it`` in the iterator table (-1 for None); equal arrays made once
        (ops cache them) are stored once."""
        if it is None:
            return -1
        i = self._iter_of.get(id(it))
        if i is None:
            i = self._iter_of[id(it)] = len(self.iters)
            self.iters.append(it)
        return i

    def row(self, source: Any, dst: int, src: list[int], aux: int, it: int) -> None:
        """Append one instruction: ``source`` (a Record or an Instr) gives its op, dtype,
        m, k, n and alpha."""
        self.rows.append(source)
        self.dst.append(dst)
        self.src.append(src)
        self.aux.append(aux)
        self.iter.append(it)

    def tape(self) -> np.ndarray:
        """The rows as a pat_instr array: each row packed to its 64 bytes by one struct
        call (faster than filling the fields column by column, at every tape length)."""
        code, pack = _ffi.DTYPE_CODE, _ROW.pack
        rows = [pack(r.op, code[r.dtype], d, s[0], s[1], s[2], a, i, r.m, r.k, r.n, r.alpha)
                for r, d, s, a, i in zip(self.rows, self.dst, self.src, self.aux, self.iter,
                                         strict=True)]
        tape = np.frombuffer(bytearray(b"".join(rows)), dtype=_ffi.INSTR_DTYPE)
        return tape if tape.flags.aligned else tape.copy()  # C reads int64 fields

    def itab(self) -> np.ndarray:
        """The pat_iter table as int64 words, one row per iterator."""
        if not self.iters:
            return np.zeros((0, _ffi.ITER_WORDS), dtype=np.int64)
        return np.ascontiguousarray(np.stack(self.iters))

    def sizes(self) -> np.ndarray:
        """Elements per slot (one seed), for the sweeps that take them."""
        return np.array([math.prod(o.shape) for o in self.like], dtype=np.int64)


def collect(roots: Sequence[Tensor], where: str, floor: int = 0,
            busy_ok: bool = True) -> list[Record]:
    """The records reachable from ``roots`` with sequence number >= ``floor``, in tape
    order. Iterative, never recursive. A released record is an error that says how to keep
    it; with ``busy_ok`` False so is one in use by another sweep."""
    seen: dict[int, Record] = {}
    stack = [t._node for t in roots if t._node is not None]
    pop, push = stack.pop, stack.append
    while stack:
        r = pop()
        if id(r) in seen or r.seq < floor:
            continue
        if r.released:
            raise TapeError(
                f"{where}: the tape through '{r.name}' (record {r.seq}) was already "
                "released by an earlier backward; pass retain_graph=True to the first "
                "backward to run it again (and do not call backward inside a transformed "
                "function)"
            )
        if r.busy and not busy_ok:
            raise TapeError(
                f"{where}: the tape through '{r.name}' is in use by another backward "
                "(another thread); run backward once, or give each thread its own graph"
            )
        seen[id(r)] = r
        for p in r.parents:
            if type(p) is Record and id(p) not in seen:
                push(p)
    out = list(seen.values())
    out.sort(key=_SEQ)
    return out


_SEQ = operator.attrgetter("seq")


def every_leaf(leaf: Tensor) -> bool:
    """``want_leaf`` for backward(): every leaf that requires grad gets its gradient."""
    return True


def pack_records(
    records: Sequence[Record],
    leaves: Sequence[Tensor] = (),
    want_leaf: Callable[[Tensor], bool] | None = None,
    targets: set[int] = frozenset(),  # type: ignore[assignment]
    where: str = "backward",
    fix: str = "run backward before updating, or recompute the forward pass",
) -> Program:
    """Pack ``records`` (in tape order) into a :class:`Program`.

    ``leaves`` take slots 0 .. len(leaves) - 1 and are live. Another leaf that requires
    grad gets a slot when first met, live when ``want_leaf(leaf)`` says so; with
    ``want_leaf`` None it is read as a constant instead (a transform differentiates only
    its arguments). ``targets`` are ids of records that count as requested inputs
    (autograd.grad with respect to an intermediate). A record is live when a source is;
    only live records are packed, after checking that what they saved was not written
    since (``where`` and ``fix`` word the error). Parents outside ``records`` are
    constants. ``program.node_slot[id(record or leaf)]`` is each one's slot."""
    prog = Program()
    slot_of, leaf_slots = prog.node_slot, prog.leaf_slots
    vals, like, live = prog.vals, prog.like, prog.live
    rows, dsts, srcs, auxs, its = prog.rows, prog.dst, prog.src, prog.aux, prog.iter
    all_leaves = want_leaf is every_leaf
    for t in leaves:
        slot_of[id(t)] = prog.new_slot(None, t, True)
    for r in records:
        src = [-1, -1, -1]
        is_live = bool(targets) and id(r) in targets
        parents, saved = r.parents, r.saved
        for i in (0, 1, 2):
            p, sv = parents[i], saved[i]
            s = slot_of.get(id(p)) if p is not None else None
            if s is not None:  # a record of this tape, or a known leaf
                is_live = is_live or live[s]
                if sv is not None and vals[s] is None:
                    vals[s] = sv
                elif sv is not None and sv is not vals[s] and not _same_bits(sv, vals[s]):
                    raise TapeError(
                        f"{where}: '{r.name}' (record {r.seq}) read a value that changed "
                        "since an earlier op read it (written through a view of `.data` "
                        f"taken before recording?); {fix}"
                    )
            elif p is not None and want_leaf is not None and not isinstance(p, Record):
                s = slot_of[id(p)] = len(vals)  # a leaf met for the first time
                vals.append(sv)
                like.append(p)
                wanted = all_leaves or want_leaf(p)
                live.append(wanted)
                is_live = is_live or wanted
                leaf_slots.append((p, s))
            elif sv is not None:  # a constant the rule reads (or a value from outside)
                s = len(vals)
                vals.append(sv)
                like.append(sv)
                live.append(False)
            else:
                continue
            src[i] = s
        dst = slot_of[id(r)] = len(vals)
        vals.append(r.out)
        like.append(r)
        live.append(is_live)
        if not is_live:
            continue
        for g, v in zip(r.guards, r.versions, strict=True):
            if g.version != v:
                by = f"by '{g.writer}'" if g.writer else "(e.g. by an optimizer step)"
                raise TapeError(
                    f"{where}: an array saved by '{r.name}' (record {r.seq}) was modified in "
                    f"place {by} after it was recorded (version {v} -> {g.version}); {fix}"
                )
        rows.append(r)
        dsts.append(dst)
        srcs.append(src)
        auxs.append(prog.new_slot(r.aux, r.aux) if r.aux is not None else -1)
        its.append(prog.iter_index(r.it) if r.it is not None else -1)
    return prog


def _same_bits(a: np.ndarray, b: np.ndarray | None) -> bool:
    """Two saved copies of one tensor hold the same value (bits, so NaN equals NaN)."""
    if b is None or a.shape != b.shape or a.dtype != b.dtype:
        return False
    return a.tobytes() == b.tobytes()

