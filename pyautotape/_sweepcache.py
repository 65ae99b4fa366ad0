"""The packed tape of ``backward()``, kept between calls with the same structure.

A training loop records the same graph every step: the same ops, shapes, iterators and
wiring, over new arrays. :func:`cached_backward` walks the records once, building the
structural key of the tape (per record: op, dtype, shape, m, k, n, alpha, iterator, which
of out/aux/its sources it keeps, and per source the slot it reads) together with this
call's value table, the leaves in first-met order and the checks
:func:`~pyautotape.packing.pack_records` makes. A key seen before reuses its entry: the
``pat_instr`` and ``pat_iter`` tables with their C pointers, and one arena that holds
every record's adjoint at a fixed address (zeroed in one call), so only the value
and leaf-gradient pointers are written for this call. The entry used last is compared
first, as a list (no hashing: a training loop sweeps one structure over and over). A new
key packs with ``pack_records`` (the one packer) and keeps what it built, after checking
that its slots are the ones the walk numbered.

The key holds everything the instruction rows and the iterator table are made of, so
two tapes with one key pack to the same bytes; the walk bails out (returns False: the
caller packs as before) on anything it does not cover: a custom op (its callback may keep
the adjoint it is handed), a writable iterator, a parent outside the tape, two records
that saved different arrays for one slot, a saved array written since it was recorded.
An entry is taken out of the cache while one sweep uses it (another thread, or a
backward nested in this one, packs its own) and put back afterwards.

>>> import pyautotape as pat
>>> w = pat.tensor([3.0], requires_grad=True)
>>> for _ in range(2):
...     w.grad = None
...     (w * w).sum().backward()
>>> w.grad.numpy(), stats()["hits"] >= 1
(array([6.], dtype=float32), True)
"""

from __future__ import annotations

from math import copysign as _copysign
from typing import Any

import numpy as np

from ._ffi import _from_buffer, ffi, lib
from ._state import ENGINE_COUNTS
from .packing import every_leaf, pack_records
from .record import Record
from .tensor import Tensor

__all__ = ["cached_backward", "clear", "stats", "ENABLED"]

ENABLED = [True]  # tests switch the cache off to compare against packing every call
_MAX_ENTRIES = 32
_MAX_HELD = 128 * 2**20  # bytes of adjoint arenas all entries together keep between calls
_ALIGN = 64
_CUSTOM = lib.PAT_OP_CUSTOM
_memmove = ffi.memmove
_SMALL = 1 << 16  # bytes of arena zeroed from a kept copy of zeros
_cache: dict[tuple, _Entry] = {}
_last: list[_Entry] = []  # the entry used last (taken out while a sweep runs it)
_stats = {"hits": 0, "misses": 0, "bypassed": 0}


def stats() -> dict[str, int]:
    """Hits, misses (packed and kept) and bypasses (packed as before) so far."""
    return dict(_stats)


def clear() -> None:
    """Drop every kept tape (and its adjoint arena)."""
    _cache.clear()
    _last.clear()


class _Entry:
    """What one tape structure packs to, with its C pointers; ``adj[s]`` is record slot
    s's adjoint (a view of ``arena``), None for the other slots."""

    __slots__ = ("key", "klist", "tape", "itab", "tptr", "iptr", "ntape", "nitab", "nslots",
                 "arena", "adj", "gptr", "vptr", "leaf_slots", "iters", "root", "failed", "vidx",
                 "aptr", "zeros", "ones")
    key: tuple  # its key in the cache, and the same as a list (compared without hashing)
    klist: list

    def __init__(self, prog: Any, records: list[Record]) -> None:
        self.tape = prog.tape()
        self.itab = prog.itab()
        self.tptr = ffi.from_buffer("pat_instr *", self.tape)
        self.iptr = ffi.from_buffer("pat_iter *", self.itab)
        self.ntape, self.nitab, self.nslots = len(self.tape), len(self.itab), len(prog.vals)
        self.iters = [r.it for r in records]  # their ids are in the key: keep them alive
        offsets, size = [], 0
        for r in records:
            offsets.append(size)
            size += -(-r.dtype.itemsize * _count(r.shape) // _ALIGN) * _ALIGN
        self.arena = np.zeros(size + _ALIGN, np.uint8)
        self.aptr = _from_buffer(self.arena, require_writable=True)
        # zeroed by one memmove from zero bytes kept beside it while small (the bytes
        # would double what a big arena holds; there the fill is a small part anyway)
        self.zeros = bytes(self.arena.nbytes) if self.arena.nbytes <= _SMALL else None
        base = -self.arena.ctypes.data % _ALIGN
        self.adj: list[np.ndarray | None] = [None] * self.nslots
        self.gptr = ffi.new("void *[]", max(self.nslots, 1))
        self.vptr = ffi.new("void *[]", max(self.nslots, 1))
        for r, off, s in zip(records, offsets, prog.dst, strict=True):
            nbytes = r.dtype.itemsize * _count(r.shape)
            view = self.arena[base + off: base + off + nbytes].view(r.dtype).reshape(r.shape)
            self.adj[s] = view
            self.gptr[s] = _from_buffer(view)
        self.leaf_slots = [s for _, s in prog.leaf_slots]
        # the slots that hold a value: which do follows from the key (the others stay NULL)
        self.vidx = [s for s, v in enumerate(prog.vals) if v is not None]
        self.failed = ffi.new("int64_t *", -1)
        self.root = prog.dst[-1]  # the root's record is the last one (collect's order)
        self.ones = np.ones(records[-1].shape, records[-1].dtype).tobytes()


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def cached_backward(records: list[Record], root: Tensor, seed: np.ndarray | None,
                    stats_ptr: Any) -> bool:
    """``backward()`` from ``root`` over ``records`` (every leaf that requires grad gets
    its gradient; ``seed`` None seeds a one-element root with 1) with a kept tape; False,
    having changed nothing, when this tape is not one the cache covers (the caller packs
    it instead)."""
    if not ENABLED[0] or root._node is None or not records:
        return False
    walked = _walk(records)
    if walked is None:
        _stats["bypassed"] += 1
        return False
    key, vals, leaves = walked
    try:  # the last entry used, compared as a list (no hashing): a training loop's tape
        entry: _Entry | None = _last.pop()
    except IndexError:
        entry = None
    if entry is not None and entry.klist != key:
        _keep(entry)
        entry = None
    if entry is None:
        tkey = tuple(key)
        entry = _cache.pop(tkey, None)
        if entry is None:
            entry = _build(records, vals, leaves)
            if entry is None:
                _stats["bypassed"] += 1
                return False
            entry.key, entry.klist = tkey, key
            _stats["misses"] += 1
        else:
            _stats["hits"] += 1
    else:
        _stats["hits"] += 1
    try:
        _run(entry, records, root, seed, vals, leaves, stats_ptr)
    finally:
        while _last:  # another thread's entry (or a nested backward's): into the dict
            try:
                _keep(_last.pop())
            except IndexError:
                break
        _last.append(entry)
    return True


def _keep(entry: _Entry) -> None:
    if len(_cache) >= _MAX_ENTRIES:  # many structures: start again (atomic)
        _cache.clear()
    _cache[entry.key] = entry


def _walk(records: list[Record]) -> tuple[list, list, list] | None:
    """The key, the value table and the leaves of ``records``, numbered as pack_records
    numbers them for backward(); None when the tape is one this cache does not cover.

    Per record the key holds the fields of its row (op, dtype, shape, m, k, n, alpha,
    iterator) and which of out, aux and its three sources it keeps, then per source its
    slot, -1 for none: the slot says which record or leaf it reads, since slots are
    numbered in the order pack_records numbers them (a constant's slot follows from the
    rest)."""
    key: list[Any] = []
    vals: list[np.ndarray | None] = []
    leaves: list[Tensor] = []
    slot_of: dict[int, int] = {}
    append, get, sign = key.append, slot_of.get, _copysign
    for r in records:
        op, it, alpha, saved = r.op, r.it, r.alpha, r.saved
        if op == _CUSTOM or (it is not None and it.flags.writeable):
            return None
        if r.guards:
            for g, v in zip(r.guards, r.versions):  # noqa: B905 (built together)
                if g.version != v:
                    return None  # pack_records raises the error that names it
        # alpha 0.0 and -0.0 are equal keys but different rows: a zero keys by its sign
        append((op, r.dtype, r.shape, r.m, r.k, r.n, alpha or sign(1.0, alpha) * 1j,
                it if it is None else id(it), r.out is None, r.aux is None,
                saved[0] is None, saved[1] is None, saved[2] is None))
        for p, sv in zip(r.parents, saved):  # noqa: B905 (both of three)
            if p is not None:
                s = get(id(p))
                if s is None:  # a leaf met for the first time (or a record not taped)
                    if type(p) is Record:
                        return None
                    s = slot_of[id(p)] = len(vals)
                    vals.append(sv)
                    leaves.append(p)  # type: ignore[arg-type]  # a Tensor here
                elif sv is not None:
                    known = vals[s]
                    if known is None:
                        vals[s] = sv
                    elif sv is not known:
                        return None  # pack_records compares the bits
                append(s)
            else:
                if sv is not None:  # a constant the rule reads
                    vals.append(sv)
                append(-1)
        slot_of[id(r)] = len(vals)
        vals.append(r.out)
        if r.aux is not None:
            vals.append(r.aux)
    return key, vals, leaves


def _build(records: list[Record], vals: list, leaves: list[Tensor]) -> _Entry | None:
    """Pack with the one packer and keep what it made, when its slots are the walk's."""
    prog = pack_records(records, want_leaf=every_leaf)
    if (len(prog.rows) != len(records) or len(prog.vals) != len(vals)
            or not all(map(_same, prog.vals, vals))
            or [t for t, _ in prog.leaf_slots] != leaves):  # pragma: no cover - a bug
        return None
    size = sum(r.dtype.itemsize * _count(r.shape) for r in records)
    if size > _MAX_HELD // 4:  # one big tape: allocate per call, as before
        return None
    if size + sum(e.arena.nbytes for e in list(_cache.values()) + _last) > _MAX_HELD:
        clear()  # many structures (varying shapes): start again
    return _Entry(prog, records)


def _same(a: Any, b: Any) -> bool:
    return a is b


def _run(entry: _Entry, records: list[Record], root: Tensor, seed: np.ndarray | None,
         vals: list, leaves: list[Tensor], stats_ptr: Any) -> None:
    """Fill this call's pointers, run the sweep, hand out the leaves' gradients."""
    fb = _from_buffer
    root_adj = entry.adj[entry.root]
    if records[-1] is not root._node or root_adj is None:  # pragma: no cover - a bug
        raise RuntimeError("internal: the root of backward is not the last record")
    zeros = entry.zeros
    if zeros is not None:
        _memmove(entry.aptr, zeros, len(zeros))
    else:
        entry.arena.fill(0)
    if seed is None:  # ones (a one-element root), as bytes made once
        _memmove(entry.gptr[entry.root], entry.ones, len(entry.ones))
    elif seed.size == 1:
        root_adj.fill(seed.item() + 0.0)  # what 0 + seed is (-0.0 becomes 0.0)
    else:
        np.add(root_adj, seed, out=root_adj)
    vptr, gptr = entry.vptr, entry.gptr
    # a pointer stays valid while its array lives (``vals``, the leaves hold them), not
    # only while the cdata that from_buffer returned does
    for s in entry.vidx:
        vptr[s] = fb(vals[s])
    fresh = []
    for leaf, s in zip(leaves, entry.leaf_slots, strict=True):
        g = leaf._grad
        if g is not None and g._data.flags.writeable and (
                g._guard is None or g._guard.count == 0):
            buf = g._data
        else:
            data = leaf._data
            buf = np.zeros(data.shape, data.dtype)
            if g is not None:
                buf += g._data
            fresh.append((leaf, buf))
        gptr[s] = fb(buf)
    ENGINE_COUNTS["reverse_sweeps"] += 1
    ENGINE_COUNTS["adjoint_buffers"] += len(records) + len(leaves)
    failed = entry.failed
    failed[0] = -1
    rc = lib.pat_tape_backward(entry.tptr, entry.ntape, entry.iptr, entry.nitab, vptr, gptr,
                               entry.nslots, stats_ptr, failed)
    if rc != lib.PAT_OK:
        from ._ffi import check

        bad = records[failed[0]] if 0 <= failed[0] < len(records) else None
        check(rc, f"backward of '{bad.name if bad is not None else '?'}'")
    for leaf, buf in fresh:
        t = Tensor.__new__(Tensor)  # _wrap(buf), inline
        t._data, t.requires_grad, t._grad, t._node, t._guard = buf, False, None, None, None
        leaf._grad = t
