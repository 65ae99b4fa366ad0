"""``Tensor.register_hook`` and ``Tensor.retain_grad``, with PyTorch's semantics.

A hook ``fn(grad)`` runs when the gradient with respect to its tensor is complete during
``backward`` or ``pat.autograd.grad``; if it returns a value, that value replaces the
gradient (a leaf accumulates the replacement into ``.grad``; a non-leaf passes it on to
the ops that made it). Hooks run in the order they were registered, each seeing what the
previous one returned. ``retain_grad()`` makes a non-leaf tensor keep its gradient in
``.grad`` during ``backward`` (accumulating, as a leaf's; after the hooks).

>>> import numpy as np, pyautotape as pat
>>> x = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
>>> h = x * 3
>>> h.retain_grad()
>>> handle = h.register_hook(lambda g: g * 10)
>>> (h * h).sum().backward()
>>> h.grad.numpy().tolist(), x.grad.numpy().tolist()
([60.0, 120.0], [180.0, 360.0])
>>> handle.remove()

How it runs: the reverse sweep is one C call over the packed tape, so the engine splits
it at the records whose outputs have hooks: the adjoint of a record's output is complete
once every later record has run, so the sweep runs down to it, the hooks see (and may
rewrite) that adjoint buffer, and the sweep goes on. Leaves with hooks get a buffer of
their own, hooked before it is added to ``.grad``. Under pat.compile a hook makes the
step run eagerly (a replay cannot run Python between its kernels).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ShapeError, TapeError
from .record import Record
from .tensor import Tensor, _wrap

__all__ = ["RemovableHandle", "register_hook", "retain_grad", "retains_grad", "active"]

_ids = itertools.count()


class _Entry:
    """The hooks of one leaf tensor or one record (a non-leaf tensor's node)."""

    __slots__ = ("ref", "hooks", "retain", "table", "key", "__weakref__")

    def __init__(self, ref: weakref.ref, table: weakref.WeakValueDictionary[int, _Entry],
                 key: int) -> None:
        self.ref = ref
        self.table, self.key = table, key  # where it is registered (dropped when empty)
        self.hooks: dict[int, Callable[[Any], Any]] = {}
        self.retain: weakref.ref | None = None  # the tensor that keeps .grad


# id(leaf tensor) / id(record) -> entry. The tensor or record holds its entry (its
# `_hooked` / `hooked` slot) and the tables only weakly, so a hook that closes over its
# own tensor is a cycle the garbage collector frees, not a leak through a global.
_leaves: weakref.WeakValueDictionary[int, _Entry] = weakref.WeakValueDictionary()
_nodes: weakref.WeakValueDictionary[int, _Entry] = weakref.WeakValueDictionary()


def active() -> bool:
    """Whether any hook or retain_grad is registered (the sweep's one test)."""
    return bool(_leaves or _nodes)


def _entry(t: Tensor) -> _Entry:
    table, obj = (_leaves, t) if t._node is None else (_nodes, t._node)
    key = id(obj)
    e = table.get(key)
    if e is None or e.ref() is not obj:
        e = table[key] = _Entry(weakref.ref(obj), table, key)
        if obj is t:
            t._hooked = e  # type: ignore[attr-defined]
        else:
            obj.hooked = e  # type: ignore[union-attr]
    return e


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` unregisters the hook (idempotent)."""

    __slots__ = ("_entry", "_id")

    def __init__(self, entry: _Entry, hid: int) -> None:
        self._entry = weakref.ref(entry)
        self._id = hid

    def remove(self) -> None:
        e = self._entry()
        if e is not None:
            e.hooks.pop(self._id, None)
            if not e.hooks and e.retain is None and e.table.get(e.key) is e:
                del e.table[e.key]  # nothing left: the sweeps' fast paths apply again


def register_hook(self: Tensor, hook: Callable[[Tensor], Any]) -> RemovableHandle:
    """Register ``hook(grad) -> Tensor or None``, called with this tensor's gradient
    during backward; a returned value replaces the gradient. Returns a handle whose
    ``remove()`` unregisters it.

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0], requires_grad=True)
    >>> _ = x.register_hook(lambda g: g * 2)
    >>> (x * 5).sum().backward()
    >>> x.grad.numpy()
    array([10.], dtype=float32)
    """
    if not callable(hook):
        raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
    if not self.requires_grad:
        raise TapeError(
            "register_hook: cannot register a hook on a tensor that does not require grad "
            "(create it with requires_grad=True, or compute it from one)"
        )
    e = _entry(self)
    hid = next(_ids)
    e.hooks[hid] = hook
    return RemovableHandle(e, hid)


def retain_grad(self: Tensor) -> None:
    """Keep this non-leaf tensor's gradient in ``.grad`` during ``backward`` (a leaf's
    ``.grad`` is always kept: no-op).

    >>> import pyautotape as pat
    >>> x = pat.tensor([2.0], requires_grad=True)
    >>> y = x * x
    >>> y.retain_grad()
    >>> (y * 3).sum().backward()
    >>> y.grad.numpy(), y.retains_grad
    (array([3.], dtype=float32), True)
    """
    if not self.requires_grad:
        raise TapeError("retain_grad: the tensor does not require grad")
    if self._node is not None:
        _entry(self).retain = weakref.ref(self)


def retains_grad(self: Tensor) -> bool:
    """Whether ``retain_grad()`` was called on this non-leaf tensor."""
    e = _nodes.get(id(self._node)) if self._node is not None else None
    return bool(e is not None and e.retain is not None and e.retain() is self)


def _run(e: _Entry, g: np.ndarray, where: str) -> np.ndarray:
    """Call e's hooks in order on g; returns the (possibly replaced) gradient."""
    for fn in list(e.hooks.values()):
        new = fn(_wrap(g.copy()))
        if new is None:
            continue
        arr = new._data if isinstance(new, Tensor) else np.asarray(new)
        if arr.shape != g.shape:
            raise ShapeError(
                f"{where}: a hook returned a gradient of shape {arr.shape} for a tensor of "
                f"shape {g.shape}; return one of the same shape (or None to keep it)"
            )
        g = np.array(arr, dtype=g.dtype, order="C")
    return g


def leaf_entry(leaf: Tensor) -> _Entry | None:
    e = _leaves.get(id(leaf))
    return e if e is not None and e.ref() is leaf and e.hooks else None


def fire_leaf(e: _Entry, g: np.ndarray) -> np.ndarray:
    return _run(e, g, "backward")


def fire_graph(e: _Entry, g: Tensor) -> Tensor:
    """A leaf's hooks on a create_graph gradient (a Tensor on the tape)."""
    for fn in list(e.hooks.values()):
        new = fn(g)
        if new is not None:
            if not isinstance(new, Tensor) or new.shape != g.shape:
                raise ShapeError(
                    "backward(create_graph=True): a hook must return None or a Tensor of "
                    f"the gradient's shape {g.shape}, got {type(new).__name__}"
                )
            g = new
    return g


def stops(rows: list[Any], dst: list[int]) -> list[tuple[int, int, _Entry]]:
    """(row, slot, entry) of each packed record with hooks or retain_grad, last row first:
    where the reverse sweep pauses."""
    out = []
    for t, r in enumerate(rows):
        e = _nodes.get(id(r))
        if e is not None and e.ref() is r and (e.hooks or e.retain is not None):
            out.append((t, dst[t], e))
    out.reverse()
    return out


def fire_node(e: _Entry, buf: np.ndarray, accumulate: bool) -> None:
    """Run a record's hooks on its complete adjoint ``buf`` (rewritten in place, so the
    rest of the sweep reads the replacement) and, in backward, fill a retained .grad."""
    if e.hooks:
        buf[...] = _run(e, buf, "backward")
    t = e.retain() if e.retain is not None else None
    if accumulate and t is not None:
        t._grad = _wrap(buf.copy()) if t._grad is None else _wrap(t._grad._data + buf)


def refuse_graph(records: list[Record]) -> None:
    """create_graph=True records gradients as ops; a hook that rewrites an intermediate
    gradient mid-sweep, or a retained one, is not modelled there: refused."""
    for r in records:
        e = _nodes.get(id(r))
        if e is not None and e.ref() is r and (e.hooks or e.retain is not None):
            raise TapeError(
                f"backward(create_graph=True): the output of '{r.name}' has a hook or "
                "retain_grad(); with create_graph only leaf hooks run. Remove it, or take "
                "that gradient with pat.autograd.grad(out, [tensor], create_graph=True)"
            )


def install() -> None:
    """Set the methods on Tensor (called once at import by engine.py)."""
    for name, value in (("register_hook", register_hook), ("retain_grad", retain_grad),
                        ("retains_grad", property(retains_grad))):
        setattr(Tensor, name, value)
