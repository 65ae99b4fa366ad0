"""Derivatives that are themselves differentiable, to second order: a transform called
inside a function that is being differentiated, and ``create_graph=True``.

The rule. A transform (``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd``) whose result depends on a tensor that requires grad while grad mode is on
(an argument, or a tensor its function closes over: an outer transform's variable, a
parameter, anything reached by its tape that it did not create) returns Tensors recorded
as ONE op each on the current tape. The op's inputs are those outer tensors; its
derivative comes from the inner tape's second-order sweep (forward-over-reverse: a
tangent sweep, a reverse sweep and ``pat_tape_hvp``), so an outer ``grad``, ``jvp``,
``jacrev``/``jacfwd`` or ``.backward()`` differentiates it exactly, mixed terms included.

>>> import pyautotape as pat
>>> float(pat.grad(lambda x: x * pat.grad(lambda y: x * y)(2.0))(1.0))   # d/dx x*x
2.0

The limit is second order: differentiating such an op needs the second derivatives of
everything on its inner tape, so an inner tape holding another such op (a transform of a
transform of a transform, ``create_graph`` twice and differentiated again) or a custom
:class:`~pyautotape.Function` raises when that derivative is asked for, and so does the
derivative of a ``hessian`` or ``hvp`` result that depends on outer tensors (a Tensor on
the tape, like the others). Never a dropped term.

How the op is recorded: its inputs are grouped by dtype (one ``concatenate`` per dtype
when there are several), so it is one ``PAT_OP_CUSTOM`` record with at most two sources
(function.py's machinery), whose rules run the inner program's sweeps (:class:`Readout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._ffi import lib
from ._state import ENGINE_COUNTS, TapeScope, state
from .errors import TapeError
from .function import Function, FunctionCtx
from .record import Record
from .tensor import Tensor, _wrap

__all__ = ["Closure", "Nest", "Readout", "LIMIT"]

Table = list[Any]  # one buffer (or None) per slot of the inner program

LIMIT = ("pyautotape differentiates a derivative once: nested transforms and "
         "create_graph=True are supported to second order, not beyond")


class Closure(TapeScope):
    """Put on ``state.tapes`` while an inner function runs: remembers, for each record of
    an outer tape (sequence number below ``floor``) that an op reads, the Tensor it read,
    so the inner result can be recorded with that Tensor as an input."""

    __slots__ = ("floor", "seen")

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.seen: dict[int, Tensor] = {}

    def _note(self, r: Record, y: Tensor, sources: Sequence[Any]) -> None:
        for i, p in enumerate(r.parents):
            if type(p) is Record and p.seq < self.floor:
                self.seen[id(p)] = sources[i]

    def outside(self, records: Sequence[Record], own: Sequence[Tensor], out: Tensor
                ) -> tuple[list[Any], list[Tensor]]:
        """The tape nodes (records or leaves) the inner tape reads that it did not create,
        and the Tensor of each: what the inner result depends on besides its arguments."""
        mine = {id(t) for t in own}
        nodes: list[Any] = []
        tensors: list[Tensor] = []
        have: set[int] = set()

        def add(p: Any, t: Tensor) -> None:
            if id(p) not in have:
                have.add(id(p))
                nodes.append(p)
                tensors.append(t)

        for r in records:
            for p in r.parents:
                if type(p) is Record:
                    if p.seq < self.floor:
                        t = self.seen.get(id(p))
                        if t is None:
                            raise TapeError(f"internal: the outer tensor that '{r.name}' "
                                            "reads was not seen while f ran")
                        add(p, t)
                elif isinstance(p, Tensor) and id(p) not in mine:
                    add(p, p)
        if out.requires_grad:  # f returned an outer tensor itself
            node = out._node
            if node is None and id(out) not in mine:
                add(out, out)
            elif node is not None and node.seq < self.floor:
                add(node, out)
        return nodes, tensors


def _one(table: Table, k: int) -> Table:
    """Seed k of a K-seed table, as a one-seed table (views: the seed axis is first)."""
    return [a[k : k + 1] if a is not None else None for a in table]


class Nest:
    """An inner program (batched.Program, its leaf slots being the transform's own leaves
    and then the outer nodes it reads) as a function of the outer tensors: ``outer[j]``
    is the Tensor leaf slot j stands for, or None for a constant argument."""

    def __init__(self, prog: Any, name: str, outer: Sequence[Tensor | None],
                 own: bool = True) -> None:
        self.prog = prog
        self.own = own  # the inner tape is this nest's alone (not create_graph's tape)
        self.users = 0
        self.name = name
        self.outer = list(outer)
        self.slots = [j for j, t in enumerate(self.outer) if t is not None]
        self._sources: tuple[list[Tensor], list[tuple[int, int]]] | None = None

    # -- the sweeps the rules need, over the inner program ------------------------------
    def tangent(self, seeds: dict[int, np.ndarray], k: int) -> Table:
        """Tangents of every live slot for K seeds placed at the given slots (a leaf, or
        a record's output: a perturbation injected there)."""
        p = self.prog
        tans = p._zeros(k, "tangent_buffers")
        for s, a in seeds.items():
            if tans[s] is not None:
                tans[s] += a
        ENGINE_COUNTS["tangent_sweeps"] += 1
        p._run(lib.pat_tape_tangent, [tans], k)
        return tans

    def reverse(self, cot: np.ndarray) -> Table:
        return self.prog._adjoints(cot)

    def hvp(self, tans: Table, adjs: Table,
            seed: np.ndarray | None = None) -> Table:
        """One-seed second-order adjoints: the tangent (along ``tans``) of the adjoints
        the reverse sweep ``adjs`` computed, plus J^T ``seed`` (the output adjoint's own
        tangent)."""
        p = self.prog
        atans = p._zeros(1, "tangent_buffers")
        if seed is not None and p.out_slot >= 0:
            atans[p.out_slot] += seed
        ENGINE_COUNTS["hvp_sweeps"] += 1
        p._run(lib.pat_tape_hvp, [tans, adjs, atans], 1)
        return atans

    def leaf_tangents(self, tz: Sequence[np.ndarray | None]) -> Table:
        """One-seed tangents of every slot for outer tangents ``tz`` (aligned with
        :attr:`slots`)."""
        seeds = {s: t[None] for s, t in zip(self.slots, tz, strict=True) if t is not None}
        return self.tangent(seeds, 1)

    def at_leaves(self, table: Table, k: int = 0) -> Table:
        return [table[s][k] if table[s] is not None else None for s in self.slots]

    # -- recording a result -------------------------------------------------------------
    def sources(self) -> tuple[list[Tensor], list[tuple[int, int]]]:
        """The op's sources: the outer tensors grouped by dtype (one concatenate per
        dtype that has several), and where each outer tensor sits: (source, offset)."""
        if self._sources is None:
            from .ops import concatenate

            tensors = [self.outer[s] for s in self.slots]
            by_dtype: dict[Any, list[int]] = {}
            for n, t in enumerate(tensors):
                by_dtype.setdefault(t.dtype, []).append(n)  # type: ignore[union-attr]
            srcs: list[Tensor] = []
            where: list[tuple[int, int]] = [(0, 0)] * len(tensors)
            for idx in by_dtype.values():
                if len(idx) == 1:
                    where[idx[0]] = (len(srcs), 0)
                    srcs.append(tensors[idx[0]])  # type: ignore[arg-type]
                    continue
                off = 0
                for n in idx:
                    where[n] = (len(srcs), off)
                    off += tensors[n].size  # type: ignore[union-attr]
                srcs.append(concatenate([tensors[n].reshape(-1) for n in idx]))  # type: ignore[union-attr]
            self._sources = (srcs, where)
        return self._sources

    def record(self, readout: Readout) -> Tensor:
        srcs, _ = self.sources()
        y = _NestedOp.apply(readout, *srcs)
        r = y._node
        if self.own and r is not None:  # the inner tape lives as long as a result's record
            self.users += 1
            r.guards = (*r.guards, _Release(self))
            r.versions = (*r.versions, 0)
        return y

    def release(self) -> None:
        """A result's record was released (or freed): when it was the last, release the
        inner tape, which unlocks the arrays it saved (a closed-over parameter's)."""
        self.users -= 1
        if self.users == 0:
            for r in self.prog.records:
                r.release()

    def scatter(self, grads: Sequence[np.ndarray | None]) -> Table:
        """Per-outer-tensor gradients (aligned with :attr:`slots`) as source gradients."""
        srcs, where = self.sources()
        out: Table = [None] * len(srcs)
        for n, g in enumerate(grads):
            if g is None:
                continue
            si, off = where[n]
            src = srcs[si]
            if out[si] is None:
                out[si] = np.zeros(src.shape, src.dtype)
            buf = out[si]
            t = self.outer[self.slots[n]]
            if src is t:
                buf += g
            else:
                buf.reshape(-1)[off : off + g.size] += g.reshape(-1)
        return out

    def gather(self, tangents: Sequence[Any]) -> Table:
        """Source tangents as per-outer-tensor tangents (aligned with :attr:`slots`)."""
        srcs, where = self.sources()
        out: Table = []
        for n, (si, off) in enumerate(where):
            tan = tangents[si]
            t = self.outer[self.slots[n]]
            if tan is None:
                out.append(None)
                continue
            arr = tan._data if isinstance(tan, Tensor) else np.asarray(tan)
            if srcs[si] is t:
                out.append(arr.reshape(t.shape))
            else:
                out.append(arr.reshape(-1)[off : off + t.size].reshape(t.shape))  # type: ignore[union-attr]
        return out

    def refuse_third_order(self, what: str) -> None:
        raise NotImplementedError(
            f"{what} (a second derivative) depends on a tensor being differentiated, and "
            f"its derivative would need third derivatives; {LIMIT}. Compute it outside "
            "the differentiated function, or call it under pat.no_grad() to use it as a "
            "constant"
        )


class _Release:
    """Sits among a result record's guards: its unlock (when the record is released or
    freed) tells the nest. No array, version 0 forever."""

    __slots__ = ("nest",)
    version = 0
    writer = None

    def __init__(self, nest: Nest) -> None:
        self.nest = nest

    def lock(self) -> None:
        pass

    def unlock(self) -> None:
        self.nest.release()


class Readout:
    """One result of an inner program, as a function of the outer tensors: its value
    and its two derivative rules (``vjp``: an outer cotangent to a gradient per outer
    tensor; ``jvp``: outer tangents to the result's tangent).

    kinds: ``"value"`` f itself; ``"adjoint"`` (K, *slot) adjoints of slot ``slot`` for
    the K cotangents ``cot`` (grad, vjp, jacrev; create_graph); ``"tangent"`` (K, *out)
    output tangents for the K leaf seeds ``seeds`` (jvp, jacfwd); ``"second order"`` a
    hessian/hvp result, whose derivative (third order) raises."""

    def __init__(self, nest: Nest, kind: str, value: np.ndarray, slot: int = -1,
                 adjs: Table | None = None,
                 tans: Table | None = None,
                 seeds: dict[int, np.ndarray] | None = None) -> None:
        self.nest, self.kind, self.value, self.slot = nest, kind, value, slot
        self.adjs: Table = adjs or []
        self.tans: Table = tans or []
        self.seeds = seeds

    def vjp(self, w: np.ndarray) -> Table:
        nest = self.nest
        if self.kind == "second order":
            nest.refuse_third_order(f"{nest.name}'s result")
        if self.kind == "value":
            return nest.at_leaves(nest.reverse(w[None]))
        grads: Table = [None] * len(nest.slots)
        if self.kind == "adjoint":  # d/dz <w_k, J_slot(z)^T c_k> = H_{c_k}[z, slot] w_k
            k = w.shape[0]
            tans = nest.tangent({self.slot: w}, k)
            adjs = self.adjs
        else:  # "tangent": d/dz <w_k, J(z) s_k> = H_{w_k}[z, :] s_k
            k = w.shape[0]
            tans = self.tans
            adjs = nest.reverse(w)
        for j in range(k):
            at = nest.at_leaves(nest.hvp(_one(tans, j), _one(adjs, j)))
            for n, a in enumerate(at):
                if a is not None:
                    grads[n] = a.copy() if grads[n] is None else grads[n] + a
        return grads

    def jvp(self, tz: Sequence[np.ndarray | None]) -> np.ndarray:
        nest, p = self.nest, self.nest.prog
        if self.kind == "second order":
            nest.refuse_third_order(f"{nest.name}'s result")
        tt = nest.leaf_tangents(tz)
        if self.kind == "value":
            if p.out_slot < 0 or tt[p.out_slot] is None:
                return np.zeros_like(self.value)
            return tt[p.out_slot][0]
        out = np.zeros_like(self.value)
        if self.kind == "adjoint":  # the tangent of the adjoint at slot, per seed
            for j in range(out.shape[0]):
                at = nest.hvp(tt, _one(self.adjs, j))
                if at[self.slot] is not None:
                    out[j] = at[self.slot][0]
            return out
        # "tangent": d/dt [J(z + t v) s_k] = D2f[v, s_k]; one second-order sweep per
        # output element m gives H_m v, and s_k . (H_m v) is element m
        m = int(np.prod(p.out.shape))
        eye = np.eye(m, dtype=p.out.dtype).reshape(m, *p.out.shape)
        adjs = nest.reverse(eye)
        flat = out.reshape(out.shape[0], m)
        for e in range(m):
            at = nest.hvp(tt, _one(adjs, e))
            for s, seed in (self.seeds or {}).items():
                if at[s] is not None:
                    flat[:, e] += seed.reshape(seed.shape[0], -1) @ at[s][0].reshape(-1)
        return out


class _NestedOp(Function):
    """The op a nested result is recorded as (see the module docstring)."""

    @staticmethod
    def forward(ctx: FunctionCtx, readout: Readout, *sources: Tensor) -> Tensor:
        ctx.__dict__["readout"] = readout
        return _wrap(np.array(readout.value, order="C", copy=True))

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Any, ...]:
        ro: Readout = ctx.__dict__["readout"]
        return (None, *ro.nest.scatter(ro.vjp(g._data)))

    @staticmethod
    def jvp(ctx: FunctionCtx, *tangents: Any) -> Tensor:
        ro: Readout = ctx.__dict__["readout"]
        return _wrap(ro.jvp(ro.nest.gather(tangents[1:])))

    @staticmethod
    def second_order_refusal(ctx: FunctionCtx) -> str:
        name = ctx.__dict__["readout"].nest.name
        return (f"third derivatives needed: the result of {name} is a derivative recorded "
                f"as one op, whose own derivative is a second derivative of the function "
                f"{name} differentiated; a second-order sweep through it (hessian/hvp or a "
                "differentiated transform of a function using it, grad(grad(grad(f))), "
                f"create_graph=True twice then differentiated) is one order more. {LIMIT}")


def check_seed(t: Any, name: str, what: str) -> None:
    """A tangent or cotangent that requires grad would make the result depend on it: not
    modelled, so refused (use it detached, or make it an argument of the function)."""
    if isinstance(t, Tensor) and t.requires_grad and state.grad_enabled:
        raise TapeError(
            f"{name}: the {what} requires grad, but a derivative with respect to a "
            f"{what} is not recorded; pass {what}.detach(), or make it an argument of the "
            "function being differentiated"
        )
