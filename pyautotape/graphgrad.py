"""``create_graph=True``: gradients that are Tensors on the tape, differentiable once more.

``backward(create_graph=True)`` and ``pat.autograd.grad(..., create_graph=True)`` run the
reverse sweep as usual, then record each gradient as one op on the tape (nesting.py's
:class:`~pyautotape.nesting.Readout`): its inputs are every leaf the outputs depend on,
and its derivative is the tape's forward-over-reverse sweep. A gradient penalty works:

>>> import numpy as np, pyautotape as pat
>>> w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
>>> x = pat.tensor(np.array([0.5, -1.0]), requires_grad=True)
>>> (gx,) = pat.autograd.grad((w * x * x).sum(), [x], create_graph=True)   # 2 w x
>>> (gx * gx).sum().backward()                                             # d/dw 4 w² x²
>>> w.grad.numpy().tolist()
[2.0, 16.0]

To second order: differentiating such a gradient again where that needs third
derivatives raises (see nesting.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._state import state
from .batched import Program
from .nesting import Nest, Readout
from .packing import collect
from .tensor import Tensor, _wrap, enable_grad

__all__ = ["graph_grads"]


def _objective(roots: Sequence[tuple[Tensor, Any]]) -> Tensor:
    """sum_i <seed_i, out_i> as one scalar on the tape (a seed that requires grad stays a
    tensor of the tape, so the gradients depend on it too)."""
    total: Tensor | None = None
    with enable_grad():
        for t, seed in roots:
            s = seed if isinstance(seed, Tensor) else _wrap(np.asarray(seed, t.dtype))
            term = (t * s).sum()
            total = term if total is None else total + term
    if total is None:
        raise ValueError("create_graph: no outputs to differentiate")
    return total


def graph_grads(roots: Sequence[tuple[Tensor, Any]], targets: Sequence[Tensor] | None,
                where: str) -> list[tuple[Tensor, Tensor | None]]:
    """(target, gradient) pairs, each gradient a Tensor recorded on the tape (None: the
    outputs do not depend on the target). ``targets`` None: every leaf that requires
    grad (backward)."""
    rec = state.recorder
    if rec is not None:
        rec.opaque(f"{where} with create_graph=True runs its own sweeps")
    obj = _objective(roots)
    records = collect([obj], where)
    leaves: dict[int, Tensor] = {}
    for r in records:
        for p in r.parents:
            if isinstance(p, Tensor):
                leaves.setdefault(id(p), p)
    prog = Program(obj, list(leaves.values()), 0, where, records=records)
    nest = Nest(prog, where, prog.leaves, own=False)
    adjs = prog._adjoints(np.ones((1, *obj.shape), obj.dtype))
    out: list[tuple[Tensor, Tensor | None]] = []
    for t in (targets if targets is not None else prog.leaves):
        s = prog.prog.node_slot.get(id(t._node) if t._node is not None else id(t))
        a = adjs[s] if s is not None and prog.live[s] else None
        if a is None:
            out.append((t, None))
            continue
        g = nest.record(Readout(nest, "adjoint", a, s, adjs=adjs))  # type: ignore[arg-type]
        out.append((t, g.reshape(t.shape)))
    return out
