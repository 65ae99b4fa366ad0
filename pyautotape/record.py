"""The tape's records, and :func:`record`, which every op calls after its forward kernel.

How the tape works (the Wengert list):

* Every op run while grad mode is on, with at least one input that requires a gradient,
  makes a :class:`Record` with the next sequence number (``_state.seq``). The sequence
  number is the tape order.
* A record points to the records (or leaf tensors) that produced its differentiable
  inputs, and keeps only the arrays its rules read: its op's READS in ``csrc/ops.def``,
  read back as ``_ffi.OP_READS``. The tape of a thread is therefore exactly the records
  still reachable from live tensors: a forward pass whose outputs are dropped is freed by
  reference counting, so loops of forward passes without backward never grow memory.
* Arrays a record keeps are made read-only while it is alive, so an in-place write that
  would corrupt a gradient fails at the write. Writes pyautotape itself makes (optimizer
  steps) bump a version counter instead; a sweep refuses a record whose saved arrays
  changed version.

>>> import pyautotape as pat
>>> x = pat.tensor([1.0, 2.0], requires_grad=True)
>>> y = pat.exp(x)
>>> y._node.name, y._node.out is y.data  # exp's rule reads its output
('exp', True)
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from . import _ffi
from ._guard import set_writeable
from ._state import hooks, seq, state
from .tensor import Tensor, _Guard

__all__ = ["Record", "record"]

OP_NAMES = _ffi.OP_NAMES


def _policy(reads: int) -> tuple[bool, bool, bool, bool, bool] | None:
    """An op's pat_reads bits as (keep source 0, keep source 1, cross, out or source 0,
    keep the output); None when its rules read nothing."""
    if not reads:
        return None
    lib = _ffi.lib
    return (bool(reads & lib.PAT_READS_S0), bool(reads & lib.PAT_READS_S1),
            bool(reads & lib.PAT_READS_CROSS), bool(reads & lib.PAT_READS_OUT_OR_S0),
            bool(reads & lib.PAT_READS_OUT))


_POLICY = [_policy(reads) for reads in _ffi.OP_READS]
_NOTHING_SAVED = (None, None, None)  # what a released record keeps
_VERSION = operator.attrgetter("version")


class Record:
    """One entry of the tape: an op, its sizes, the edges to its differentiable inputs and
    the arrays its rules read.

    ``parents[i]`` is the Record that produced input i, the leaf Tensor itself, or None
    when input i needs no gradient. ``saved[i]`` is input i's value when a rule reads it.
    ``out`` is the output's value when a rule reads it, ``aux`` an extra array (tie
    counts, probabilities, differences). ``where`` is the caller's (file, line, function)
    while anomaly detection keeps call sites."""

    # filled in by record(), which builds a Record field by field (no __init__: it is the
    # hottest constructor of the package)
    seq: int
    op: int
    dtype: np.dtype
    shape: tuple[int, ...]
    parents: list[Record | Tensor | None]
    saved: Sequence[np.ndarray | None]  # a list of three (a shared tuple once released)
    out: np.ndarray | None
    aux: np.ndarray | None
    it: np.ndarray | None
    m: int
    k: int
    n: int
    alpha: float
    guards: tuple[_Guard, ...]
    versions: tuple[int, ...]
    released: bool
    busy: object  # truthy while a sweep uses it (engine: that sweep's mark)
    where: tuple[str, int, str] | None

    __slots__ = (
        "seq",
        "op",
        "dtype",
        "shape",
        "parents",
        "saved",
        "out",
        "aux",
        "it",
        "m",
        "k",
        "n",
        "alpha",
        "guards",
        "versions",
        "released",
        "busy",
        "where",
        "hooked",  # its tensor hooks (tensor_hooks.py), alive as long as the record
        "__weakref__",
    )

    def __del__(self) -> None:
        if not self.released:
            _unlock(self.guards)

    def release(self) -> None:
        """Drop what the rules would read; a later sweep raises TapeError."""
        release((self,))

    @property
    def name(self) -> str:
        return OP_NAMES[self.op]


def _unlock(guards: Sequence[_Guard]) -> None:
    """Lift the locks of a record's saved arrays (_Guard.unlock, inline: this runs for
    every record freed, swept or not)."""
    for g in guards:
        if type(g) is not _Guard:  # a nested transform's release marker (nesting.py)
            g.unlock()
            continue
        g.count -= 1
        if g.count == 0:
            set_writeable(g.arr, True)


def release(records: Sequence[Record]) -> None:
    """:meth:`Record.release` of each record, in one loop (a sweep frees every record it
    ran), clearing its busy mark too."""
    for r in records:
        r.busy = False
        if r.released:
            continue
        r.released = True
        _unlock(r.guards)
        r.guards = ()
        r.saved = _NOTHING_SAVED
        r.out = None
        r.aux = None


def _value(sources: Sequence[Tensor | np.ndarray | None], i: int,
           guards: list[_Guard]) -> np.ndarray:
    """What a record keeps of source i, which its rules read: a Tensor's buffer (locked
    while the record lives) or a constant array."""
    s = sources[i]
    if s is None:
        raise RuntimeError(f"internal: a rule reads source {i}, which the op did not pass")
    if isinstance(s, np.ndarray):
        return s
    g = s._guard
    if g is None:
        g = s._guard = _Guard(s._data)
    elif g.exposed and g.count == 0 and state.recorder is None:
        # .data was handed out writable: views may write, so keep a copy. Not while
        # pat.compile records: the replay binds live buffers and checks them itself.
        return s._data.copy()
    guards.append(g)
    return s._data


def record(
    op: int,
    out: np.ndarray,
    sources: Sequence[Tensor | np.ndarray | None],
    aux: np.ndarray | None = None,
    it: np.ndarray | None = None,
    m: int = 0,
    k: int = 0,
    n: int = 0,
    alpha: float = 0.0,
) -> Tensor:
    """Wrap ``out`` in a Tensor and, if grad mode is on and a source requires a gradient,
    append a record for it. ``sources[i]`` is op's source i: a Tensor (a parent when it
    requires grad), a constant ndarray, or None. What the record keeps follows the op's
    READS; ``aux`` is always kept."""
    y = Tensor.__new__(Tensor)  # _wrap(out), inline: every op comes through here
    y._data = out
    y.requires_grad = False
    y._grad = None
    y._node = None
    y._guard = None
    st = state
    rec = st.recorder
    if rec is not None:  # pat.compile: which tensors the step reads (their .data is checked)
        rec.sources(sources)
    if not st.grad_enabled:
        return y
    parents: list[Record | Tensor | None] = [None, None, None]
    any_grad = False
    i = 0
    for t in sources:
        if t is not None and not isinstance(t, np.ndarray) and t.requires_grad:
            node = t._node
            parents[i] = node if node is not None else t
            any_grad = True
        i += 1
    if not any_grad:
        return y
    r = Record.__new__(Record)
    r.released = True  # until fully built, so __del__ never unlocks what it did not lock
    r.seq = next(seq)
    r.op = op
    r.dtype = out.dtype
    r.shape = out.shape
    r.parents = parents
    r.it = it
    r.m = m
    r.k = k
    r.n = n
    r.alpha = alpha
    r.busy = False
    r.aux = aux
    # (file, line, function) of the caller, kept while pat.detect_anomaly is on
    r.where = hooks.record_site(op, out) if st.anomaly and hooks.record_site else None
    guards: list[_Guard] = []
    values: list[np.ndarray | None] = [None, None, None]
    save_out = False
    policy = _POLICY[op]
    if policy is not None:
        keep0, keep1, cross, out_or_s0, save_out = policy
        if cross:  # each of the two reads the other: d(ab) = b da + a db
            keep0 = keep0 or parents[1] is not None
            keep1 = keep1 or parents[0] is not None
        if out_or_s0:  # relu: the sign is in the output unless 0 needs telling apart
            keep0 = alpha != 0.0
            save_out = alpha == 0.0
        if keep0:
            values[0] = _value(sources, 0, guards)
        if keep1:
            values[1] = _value(sources, 1, guards)
    r.saved = values
    if save_out:
        g = y._guard = _Guard(out)
        guards.append(g)
        r.out = out
    else:
        r.out = None
    if st.stream is not None:  # forward mode without a tape: push the tangent now
        r.guards = ()
        r.versions = ()
        return st.stream.push(r, y)
    if guards:
        for g in guards:  # _Guard.lock, inline
            g.count += 1
            if g.count == 1:
                set_writeable(g.arr, False)
        r.guards = tuple(guards)
        r.versions = tuple(map(_VERSION, guards))
    else:
        r.guards = r.versions = ()
    r.released = False
    y.requires_grad = True
    y._node = r
    tapes = st.tapes
    if tapes is not None:  # a pat.Tape scope is open: it notes what it shows
        for tp in tapes:
            tp._note(r, y, sources)
    return y
