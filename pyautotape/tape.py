"""Looking at the tape: ``with pat.Tape() as tape:`` notes every record made in scope.

The reverse sweep never needs a picture of the tape, but people learning (or debugging)
backpropagation do. A :class:`Tape` scope asks :func:`~pyautotape.tensor.record` to hand
it each record as it is made (in execution order, so the tape order), and keeps a small
description of it: the op, the shapes in and out, the forward FLOPs, the bytes the record
keeps for its backward rule, and, for the non-differentiable ops (``relu``,
``leaky_relu``, ``maximum``, ``minimum``, ``max``), how many arguments sat exactly on the
kink. It keeps no array of the computation itself, so a scope around a training loop
does not hold activations alive; outside a scope ``record()`` pays one attribute check.

* :meth:`Tape.summary` is a table, one row per record, with totals; ``wrt=[x]`` marks
  which records the reverse sweep would run for the gradient with respect to x only
  (and the backward FLOPs that costs: no weight-gradient GEMM when no weight is asked);
* :meth:`Tape.to_dot` is Graphviz DOT text of the graph (op and value nodes, with shapes;
  the path from the requested inputs to the output highlighted); :meth:`Tape.render`
  draws it with the ``graphviz`` package;
* :meth:`Tape.kinks` counts the arguments exactly at a kink in each such record.

>>> import numpy as np, pyautotape as pat
>>> x = pat.tensor(np.array([[1.0, -2.0, 0.0]]), requires_grad=True)
>>> w = pat.tensor(np.eye(3), requires_grad=True)
>>> with pat.Tape() as tape:
...     loss = pat.relu(pat.linear(x, w)).sum()
>>> [e.op for e in tape]
['linear', 'relu', 'sum']
>>> tape.kinks()[0].at_kink  # relu's argument was exactly 0 once
1
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._state import TapeScope
from .ops.spec import SPECS, Cost
from .record import OP_NAMES, Record
from .tensor import Tensor

__all__ = ["Tape", "TapeEntry", "KinkCount"]

@dataclasses.dataclass
class TapeEntry:
    """What a :class:`Tape` keeps of one record (no arrays of the computation).

    ``inputs`` are the shapes of the op's operands, ``parents`` where each came from:
    ``("record", i)`` the output of entry i of this tape, ``("leaf", j)`` leaf j (a tensor
    that requires grad), ``("outside", seq)`` a record made before the scope opened,
    ``("const", None)`` a value that needs no gradient. ``flops`` counts the forward pass
    (a multiply-add is 2; 0 for data movement, None for a custom op); ``saved_bytes`` is
    what the record keeps for its backward rule. ``at_kink`` (kink ops only) counts the
    arguments exactly at the kink: relu/leaky_relu inputs equal to 0, maximum/minimum
    ties, and max outputs attained by more than one element.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0, 0.0], requires_grad=True)
    >>> with pat.Tape() as tape:
    ...     y = pat.relu(x)
    >>> e = tape[0]
    >>> e.op, e.inputs, e.output, e.at_kink
    ('relu', ((2,),), (2,), 1)
    """

    index: int
    seq: int
    op: str
    dtype: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    parents: tuple[tuple[str, int | None], ...]
    flops: int | None
    saved_bytes: int
    at_kink: int | None = None
    size: int = 0
    m: int = 0
    k: int = 0
    n: int = 0
    saved_ids: tuple[tuple[int, int], ...] = dataclasses.field(default=(), repr=False)
    pattern: np.ndarray | None = dataclasses.field(default=None, repr=False)
    cost: Cost | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class KinkCount:
    """One row of :meth:`Tape.kinks`: entry ``index`` (op ``op``, output ``shape``) had
    ``at_kink`` of its ``size`` arguments exactly at the kink.

    >>> import pyautotape as pat
    >>> KinkCount(0, "relu", (3,), 1, 3).fraction
    0.3333333333333333
    """

    index: int
    op: str
    shape: tuple[int, ...]
    at_kink: int
    size: int

    @property
    def fraction(self) -> float:
        """``at_kink / size`` (0 for an empty argument)."""
        return self.at_kink / self.size if self.size else 0.0


def _backward_flops(e: TapeEntry, need: Sequence[bool]) -> int:
    """FLOPs of e's backward rule when only the inputs flagged in ``need`` get adjoints
    (what the C sweep skips: e.g. linear computes dW = dYᵀX only when W is needed)."""
    if e.cost is None:  # entries a Tape makes always carry one
        raise ValueError(f"tape entry #{e.index} ({e.op}) has no cost to count FLOPs from")
    return SPECS[e.op].backward_flops(e.cost, need)


def _fmt_int(v: int | None) -> str:
    if v is None:
        return "?"
    for unit, scale in (("G", 10**9), ("M", 10**6)):
        if abs(v) >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v / 1e3:.1f}k" if abs(v) >= 10**4 else str(v)


def _fmt_bytes(v: int) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if v >= scale:
            return f"{v / scale:.1f} {unit}"
    return f"{v} B"


def _shape(s: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, s)) + ")"


class Tape(TapeScope):
    """A scope that notes every record made in it, in tape order.

    Use it as a context manager (scopes nest; each notes the records of its own thread).
    Iterating, ``len()`` and indexing give :class:`TapeEntry` rows.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.ones((4, 3)), requires_grad=True)
    >>> w = pat.tensor(np.ones((2, 3)), requires_grad=True)
    >>> with pat.Tape() as tape:
    ...     loss = pat.linear(x, w).sum()
    >>> len(tape), tape[0].op, tape[0].flops
    (2, 'linear', 48)
    """

    def __init__(self) -> None:
        self.entries: list[TapeEntry] = []
        self._by_seq: dict[int, int] = {}
        self._leaves: list[weakref.ref] = []
        self._leaf_info: list[tuple[tuple[int, ...], str]] = []
        self._leaf_key: dict[int, int] = {}
        self._patterns = False  # gradcheck turns this on to compare switch patterns
        self._arrays: dict[int, tuple[weakref.ref, int]] = {}
        self._arrays_seen: list[int] = []

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[TapeEntry]:
        return iter(self.entries)

    def __getitem__(self, i: int) -> TapeEntry:
        return self.entries[i]

    def clear(self) -> None:
        """Forget every entry (the scope stays open).

        >>> import pyautotape as pat
        >>> with pat.Tape() as tape:
        ...     _ = pat.tensor([1.0], requires_grad=True) * 2
        ...     tape.clear()
        >>> len(tape)
        0
        """
        self.__init__()  # type: ignore[misc]

    # -- noting (called by tensor.record) -------------------------------------------------
    def _token(self, a: np.ndarray) -> int:
        """A number per distinct saved array (the same object saved by two records, such
        as a ReLU output the next linear reads, gets one number)."""
        hit = self._arrays.get(id(a))
        if hit is not None and hit[0]() is a:
            return hit[1]
        token = len(self._arrays_seen)
        self._arrays_seen.append(token)
        try:
            self._arrays[id(a)] = (weakref.ref(a), token)
        except TypeError:  # not weak-referenceable: count it on its own
            pass
        return token

    def _leaf(self, t: Tensor) -> int:
        j = self._leaf_key.get(id(t))
        if j is not None and self._leaves[j]() is t:
            return j
        j = len(self._leaves)
        self._leaves.append(weakref.ref(t))
        self._leaf_info.append((t.shape, str(t.dtype)))
        self._leaf_key[id(t)] = j
        return j

    def _note(self, r: Record, y: Tensor, sources: Sequence[Any]) -> None:
        op = OP_NAMES[r.op]
        spec = SPECS[op]
        ins: list[tuple[int, ...]] = []
        parents: list[tuple[str, int | None]] = []
        for i, src in enumerate(sources):
            if src is None:
                continue
            ins.append((src._data if isinstance(src, Tensor) else src).shape)
            p = r.parents[i] if i < len(r.parents) else None
            if p is None:
                parents.append(("const", None))
            elif isinstance(p, Record):
                idx = self._by_seq.get(p.seq)
                parents.append(("record", idx) if idx is not None else ("outside", p.seq))
            else:
                parents.append(("leaf", self._leaf(p)))
        has_bias = (op in ("linear", "stacked_linear") and len(sources) > 2
                    and sources[2] is not None)
        cost = Cost(tuple(ins), tuple(r.shape), r.m, r.k, r.n, has_bias)
        held = [a for a in (*r.saved, r.out, r.aux) if a is not None]
        ids = tuple((self._token(a), a.nbytes) for a in held)
        e = TapeEntry(
            index=len(self.entries), seq=r.seq, op=op, dtype=str(r.dtype),
            inputs=tuple(ins), output=tuple(r.shape), parents=tuple(parents),
            flops=spec.flops(cost) if spec.flops is not None else None,
            saved_bytes=sum(a.nbytes for a in held), m=r.m, k=r.k, n=r.n, saved_ids=ids,
            cost=cost,
        )
        if spec.kink is not None:
            e.at_kink, e.size, e.pattern = spec.kink(r, sources, self._patterns)
        self._by_seq[r.seq] = e.index
        self.entries.append(e)

    # -- which records a gradient needs ---------------------------------------------------
    def _targets(self, wrt: Sequence[Tensor] | None) -> tuple[set[int] | None, set[int]]:
        """(leaf numbers, entry indices) named by ``wrt``; None leaves means every leaf."""
        if wrt is None:
            return None, set()
        leaves, recs = set(), set()
        for t in wrt:
            if not isinstance(t, Tensor):
                raise TypeError(f"Tape: wrt must hold Tensors, got {type(t).__name__}")
            node = t._node
            if node is not None and node.seq in self._by_seq:
                recs.add(self._by_seq[node.seq])
                continue
            j = self._leaf_key.get(id(t))
            if j is not None and self._leaves[j]() is t:
                leaves.add(j)
        return leaves, recs

    def needed(self, wrt: Sequence[Tensor] | None = None,
               output: Tensor | None = None) -> list[bool]:
        """Per entry, whether the reverse sweep from ``output`` (default: the last record)
        runs its backward rule for the gradients with respect to ``wrt`` (default: every
        leaf that requires grad): the entry lies on a path from a requested input to the
        output.

        >>> import numpy as np, pyautotape as pat
        >>> x = pat.tensor(np.ones(3), requires_grad=True)
        >>> w = pat.tensor(np.ones(3), requires_grad=True)
        >>> with pat.Tape() as tape:
        ...     a = pat.tanh(w)       # depends on w only
        ...     loss = (a * x).sum()
        >>> tape.needed(wrt=[x])
        [False, True, True]
        """
        live = self._live(wrt)
        anc = self._ancestors(output)
        return [lv and an for lv, an in zip(live, anc, strict=True)]

    def _live(self, wrt: Sequence[Tensor] | None) -> list[bool]:
        leaves, recs = self._targets(wrt)
        live: list[bool] = []
        for e in self.entries:
            on = False
            for kind, key in e.parents:
                if kind == "leaf":
                    on = on or leaves is None or key in leaves
                elif kind == "record" and key is not None:
                    on = on or live[key] or key in recs
                elif kind == "outside":
                    on = on or leaves is None
            live.append(on)
        return live

    def _input_needs(self, e: TapeEntry, live: list[bool], wrt: Sequence[Tensor] | None
                     ) -> list[bool]:
        leaves, recs = self._targets(wrt)
        need = []
        for kind, key in e.parents:
            if kind == "leaf":
                need.append(leaves is None or key in leaves)
            elif kind == "record" and key is not None:
                need.append(live[key] or key in recs)
            else:
                need.append(kind == "outside" and leaves is None)
        return need

    def _ancestors(self, output: Tensor | None) -> list[bool]:
        n = len(self.entries)
        if n == 0:
            return []
        if output is None:
            start = n - 1
        else:
            node = output._node
            start = self._by_seq.get(node.seq, -1) if node is not None else -1
        anc = [False] * n
        if start < 0:
            return anc
        anc[start] = True
        for i in range(start, -1, -1):  # parents always come first: one backward pass
            if anc[i]:
                for kind, key in self.entries[i].parents:
                    if kind == "record" and key is not None:
                        anc[key] = True
        return anc

    # -- views ----------------------------------------------------------------------------
    def summary(self, wrt: Sequence[Tensor] | None = None, output: Tensor | None = None,
                names: Mapping[str, Tensor] | None = None) -> str:
        """The tape as a table (returned as a str; ``print`` it): per record its index,
        op, input and output shapes, forward FLOPs, the FLOPs of its backward rule for
        the gradient with respect to ``wrt`` (default: every leaf that requires grad),
        the bytes it keeps for backward, and whether the sweep from ``output`` (default:
        the last record) needs it for ``wrt``; totals at the bottom (saved arrays shared
        by two records, such as a ReLU output the next layer reads, are counted once).
        ``names`` maps names to leaf tensors for the leaf list (e.g.
        ``dict(model.named_parameters())``).

        >>> import numpy as np, pyautotape as pat
        >>> x = pat.tensor(np.ones((8, 4)), requires_grad=True)
        >>> w = pat.tensor(np.ones((3, 4)), requires_grad=True)
        >>> with pat.Tape() as tape:
        ...     loss = pat.relu(pat.linear(x, w)).sum()
        >>> print(tape.summary(wrt=[x]))
        #  op      inputs       output  fwd FLOPs  bwd FLOPs  saved  needed
        0  linear  (8,4) (3,4)  (8,3)         192        192  352 B  yes
        1  relu    (8,3)        (8,3)          24         48  192 B  yes
        2  sum     (8,3)        ()             24         24    0 B  yes
        total: 3 records; forward 240 FLOPs; backward 264 FLOPs for wrt (456 for every input)
        saved for backward: 544 B (arrays shared by records counted once)
        leaves: x0 (8,4) float64 [wrt], x1 (3,4) float64
        """
        live = self._live(wrt)
        anc = self._ancestors(output)
        all_live = self._live(None)
        label = self._leaf_names(names)
        leaves, _ = self._targets(wrt)
        rows = [("#", "op", "inputs", "output", "fwd FLOPs", "bwd FLOPs", "saved", "needed")]
        fwd = bwd = bwd_all = 0
        seen: dict[int, int] = {}
        for e, lv, an in zip(self.entries, live, anc, strict=True):
            need = lv and an
            b = _backward_flops(e, self._input_needs(e, live, wrt)) if need else 0
            ball = _backward_flops(e, self._input_needs(e, all_live, None)) if an else 0
            fwd += e.flops or 0
            bwd += b
            bwd_all += ball
            for token, nb in e.saved_ids:
                seen[token] = nb
            rows.append((str(e.index), e.op, " ".join(_shape(s) for s in e.inputs),
                         _shape(e.output), _fmt_int(e.flops), _fmt_int(b),
                         _fmt_bytes(e.saved_bytes), "yes" if need else "-"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        right = {0, 4, 5, 6}
        lines = []
        for r in rows:
            cells = [c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths, strict=True))]
            lines.append("  ".join(cells).rstrip())
        what = "wrt" if wrt is not None else "every input"
        tail = f" ({_fmt_int(bwd_all)} for every input)" if wrt is not None else ""
        lines.append(
            f"total: {len(self.entries)} records; forward {_fmt_int(fwd)} FLOPs; "
            f"backward {_fmt_int(bwd)} FLOPs for {what}{tail}"
        )
        lines.append(f"saved for backward: {_fmt_bytes(sum(seen.values()))} (arrays shared "
                     "by records counted once)")
        if self._leaves:
            descr = []
            for j, (shape, dt) in enumerate(self._leaf_info):
                mark = " [wrt]" if wrt is not None and leaves is not None and j in leaves else ""
                descr.append(f"{label[j]} {_shape(shape)} {dt}{mark}")
            lines.append("leaves: " + ", ".join(descr))
        return "\n".join(lines)

    def _leaf_names(self, names: Mapping[str, Tensor] | None) -> list[str]:
        label = [f"x{j}" for j in range(len(self._leaves))]
        for name, t in (names or {}).items():
            j = self._leaf_key.get(id(t))
            if j is not None and self._leaves[j]() is t:
                label[j] = name
        return label

    def kinks(self) -> list[KinkCount]:
        """Per ``relu``/``leaky_relu``/``maximum``/``minimum``/``max`` record, how many of
        its arguments were exactly at the kink when it ran (where the derivative is a
        choice: the subgradient). Sum ``at_kink`` over the list for a total.

        >>> import numpy as np, pyautotape as pat
        >>> x = pat.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
        >>> with pat.Tape() as tape:
        ...     y = pat.maximum(pat.relu(x), 0.5).max()   # two maxima tie at 1
        >>> [(k.op, k.at_kink, k.size) for k in tape.kinks()]
        [('relu', 2, 4), ('maximum', 0, 4), ('max', 1, 1)]
        """
        return [KinkCount(e.index, e.op, e.output, e.at_kink, e.size)
                for e in self.entries if e.at_kink is not None]

    def to_dot(self, wrt: Sequence[Tensor] | None = None, output: Tensor | None = None,
               names: Mapping[str, Tensor] | None = None) -> str:
        """Graphviz DOT text of the tape (no graphviz needed to make it): boxes for ops
        (index, name, FLOPs), ellipses for values (shape), leaves filled. Nodes and edges
        on a path from ``wrt`` (default: every leaf that requires grad) to ``output``
        (default: the last record) are drawn red: what the reverse sweep runs.

        >>> import numpy as np, pyautotape as pat
        >>> x = pat.tensor(np.ones(3), requires_grad=True)
        >>> with pat.Tape() as tape:
        ...     y = pat.exp(x).sum()
        >>> dot = tape.to_dot(names={"x": x})
        >>> dot.splitlines()[0], "op0 -> v0" in dot, 'label="x\\\\n(3)' in dot
        ('digraph tape {', True, True)
        """
        live = self._live(wrt)
        anc = self._ancestors(output)
        label = self._leaf_names(names)
        leaves, _ = self._targets(wrt)
        hot = 'color="#d62728", penwidth=2'
        lines = [
            "digraph tape {",
            "  rankdir=TB;",
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [color="#555555"];',
        ]
        used_leaves = sorted({key for e in self.entries for kind, key in e.parents
                              if kind == "leaf" and key is not None})
        for j in used_leaves:
            shape, dt = self._leaf_info[j]
            on = leaves is None or j in leaves
            style = f'style=filled, fillcolor="#ffe08a"{", " + hot if on else ""}'
            lines.append(f'  leaf{j} [shape=ellipse, {style}, '
                         f'label="{label[j]}\\n{_shape(shape)} {dt}"];')
        extras = []
        for e, lv, an in zip(self.entries, live, anc, strict=True):
            on = lv and an
            flops = "" if e.flops is None else f"\\n{_fmt_int(e.flops)} FLOPs"
            mark = ", " + hot if on else ""
            lines.append(f'  op{e.index} [shape=box, style=rounded, '
                         f'label="#{e.index} {e.op}{flops}"{mark}];')
            lines.append(f'  v{e.index} [shape=ellipse, label="{_shape(e.output)}"'
                         f'{", " + hot if on else ""}];')
            lines.append(f"  op{e.index} -> v{e.index}{' [' + hot + ']' if on else ''};")
            for i, (kind, key) in enumerate(e.parents):
                if kind == "record" and key is not None:
                    src, edge_on = f"v{key}", on and live[key]
                elif kind == "leaf":
                    src, edge_on = f"leaf{key}", on and (leaves is None or key in leaves)
                elif kind == "outside":
                    src, edge_on = f"out{key}", False
                    extras.append(f'  out{key} [shape=note, label="record {key}\\n'
                                  f'(before the scope)"];')
                else:
                    src, edge_on = f"c{e.index}_{i}", False
                    extras.append(f'  c{e.index}_{i} [shape=plaintext, fontcolor="#888888", '
                                  f'label="const {_shape(e.inputs[i])}"];')
                lines.append(f"  {src} -> op{e.index}{' [' + hot + ']' if edge_on else ''};")
        lines[4:4] = sorted(set(extras))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path: str, wrt: Sequence[Tensor] | None = None,
               output: Tensor | None = None,
               names: Mapping[str, Tensor] | None = None) -> str:
        """Draw :meth:`to_dot` into ``path`` (format from its suffix: .png, .svg, .pdf)
        with the ``graphviz`` Python package and the Graphviz ``dot`` program; returns
        the path. Without them this raises ImportError / RuntimeError saying what to
        install; :meth:`to_dot` alone needs neither.

        >>> import pyautotape as pat
        >>> try:
        ...     import graphviz
        ... except ImportError:
        ...     graphviz = None
        >>> tape = pat.Tape()
        >>> if graphviz is None:
        ...     try:
        ...         tape.render("tape.png")
        ...     except ImportError as exc:
        ...         print("pip install graphviz" in str(exc))
        ... else:
        ...     print(True)
        True
        """
        try:
            import graphviz
        except ImportError:
            raise ImportError(
                "Tape.render needs the graphviz package (and the Graphviz 'dot' program): "
                "pip install graphviz, and e.g. apt-get install graphviz; Tape.to_dot() "
                "returns the DOT text without either"
            ) from None
        import pathlib

        p = pathlib.Path(path)
        fmt = p.suffix.lstrip(".") or "png"
        src = graphviz.Source(self.to_dot(wrt=wrt, output=output, names=names))
        try:
            return str(src.render(outfile=str(p), format=fmt, cleanup=True))
        except graphviz.ExecutableNotFound as exc:
            raise RuntimeError(
                "Tape.render: the Graphviz 'dot' program is not installed (e.g. apt-get "
                f"install graphviz); Tape.to_dot() returns the DOT text ({exc})"
            ) from None
