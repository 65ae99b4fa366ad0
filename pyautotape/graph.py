"""Inspecting the recorded graph, as ``torch.autograd.graph``: ``x.grad_fn``.

A tensor made by a recorded op has a ``grad_fn``, a :class:`Node` naming that op (its
backward); a leaf, and a tensor that needs no gradient, has None. ``next_functions``
walks back towards the leaves, where an :class:`AccumulateGrad` holds the leaf:

>>> import pyautotape as pat
>>> x = pat.tensor([1.0, 2.0], requires_grad=True)
>>> y = (x * 3.0).sum()
>>> y.grad_fn, y.grad_fn.name()
(<SumBackward>, 'SumBackward')
>>> y.grad_fn.next_functions
((<MulBackward>, 0),)
>>> acc = y.grad_fn.next_functions[0][0].next_functions[0][0]
>>> acc, acc.variable is x, x.grad_fn
(<AccumulateGrad>, True, None)
"""

from __future__ import annotations

from typing import Any

from . import ops as _ops  # noqa: F401  (first: ops registers the custom op's spec)
from .function import _live
from .ops.spec import SPECS
from .record import OP_NAMES, Record
from .tensor import Tensor

__all__ = ["Node", "AccumulateGrad", "grad_fn"]


def _camel(op: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in op.split("_"))


class Node:
    """The recorded op that made a tensor (``grad_fn``): its backward, by name.

    ``name()`` is the op's name in torch's style (``"LinearBackward"``; a custom
    ``Function`` subclass ``F`` gives ``"FBackward"``), ``op`` is pyautotape's op name
    (``"linear"``), ``next_functions`` one ``(node, 0)`` pair per input: the Node of the op
    that made it, an :class:`AccumulateGrad` for a leaf that requires grad, or None for
    an input that needs no gradient.

    >>> import pyautotape as pat
    >>> w = pat.tensor([[1.0, 2.0]], requires_grad=True)
    >>> out = pat.linear(pat.tensor([[3.0, 4.0]]), w)
    >>> out.grad_fn.op, [n for n, _ in out.grad_fn.next_functions]
    ('linear', [None, <AccumulateGrad>, None])
    """

    __slots__ = ("_record",)

    def __init__(self, record: Record) -> None:
        self._record = record

    @property
    def op(self) -> str:
        """pyautotape's name of the op (``"mul"``, ``"cross_entropy"``, ...)."""
        return OP_NAMES[self._record.op]

    def name(self) -> str:
        """The backward's name, torch style: ``"MulBackward"``."""
        r = self._record
        if self.op == "custom":
            app = _live.get(r.m)
            if app is not None:
                return f"{app.fn.__name__}Backward"
        return f"{_camel(self.op)}Backward"

    @property
    def next_functions(self) -> tuple[tuple[Node | AccumulateGrad | None, int], ...]:
        """One ``(node, 0)`` per input of the op (torch's layout; the index is always 0:
        every op here has one output)."""
        r = self._record
        n = _arity(r)
        out: list[tuple[Node | AccumulateGrad | None, int]] = []
        for p in r.parents[:n]:
            if type(p) is Record:
                out.append((Node(p), 0))
            elif isinstance(p, Tensor):
                out.append((AccumulateGrad(p), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other._record is self._record

    def __hash__(self) -> int:
        return id(self._record)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def _arity(r: Record) -> int:
    """How many of the record's parent slots are inputs of its op (its OpSpec's inputs;
    a custom op's Tensor arguments)."""
    name = OP_NAMES[r.op]
    if name == "custom":
        app = _live.get(r.m)
        return len(app.positions) if app is not None else len(r.parents)
    spec = SPECS.get(name)
    return min(len(spec.inputs), len(r.parents)) if spec is not None else len(r.parents)


class AccumulateGrad:
    """The end of a path: the leaf whose ``.grad`` backward accumulates into
    (``variable``), as torch's ``AccumulateGrad``.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0], requires_grad=True)
    >>> (x * x).grad_fn.next_functions[0][0].name()
    'AccumulateGrad'
    """

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        """``"AccumulateGrad"``."""
        return "AccumulateGrad"

    @property
    def next_functions(self) -> tuple[()]:
        """Empty: a leaf has no inputs."""
        return ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self) -> int:
        return id(self.variable)

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def grad_fn(t: Tensor) -> Node | None:
    """``t.grad_fn``: the :class:`Node` of the op that made ``t``, None for a leaf or a
    tensor that needs no gradient.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0], requires_grad=True)
    >>> x.grad_fn, pat.exp(x).grad_fn
    (None, <ExpBackward>)
    """
    node: Any = t._node
    return Node(node) if type(node) is Record and t.requires_grad else None


Tensor.grad_fn = property(grad_fn, doc=grad_fn.__doc__)  # type: ignore[attr-defined]
