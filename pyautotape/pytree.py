"""Pytrees, as ``jax.tree_util``: nested tuples, lists and dicts (and namedtuples,
``None`` and the node types you register) whose leaves are arrays, Tensors or numbers.
The function transforms take and return them: ``pat.grad`` of a dict of parameters is a
dict of gradients of the same structure.

A pytree flattens to its leaves, in a fixed order, and a :class:`PyTreeDef`, its
structure; the structure and any list of as many leaves build the tree again:

>>> import pyautotape as pat
>>> leaves, treedef = pat.tree_flatten({"b": (1, 2), "a": [3, None]})
>>> leaves, treedef
([3, 1, 2], PyTreeDef({'a': [*, None], 'b': (*, *)}))
>>> pat.tree_unflatten(treedef, [30, 10, 20])
{'a': [30, None], 'b': (10, 20)}
>>> pat.tree_map(lambda x, y: x + y, {"w": 1, "b": 2}, {"w": 10, "b": 20})
{'b': 22, 'w': 11}

As in JAX, dict keys are visited in sorted order (an ``OrderedDict`` keeps its own),
``None`` is an empty subtree (no leaves: a tree with a ``None`` in it comes back with
``None`` there), and every other object (ndarray, Tensor, number, string) is a leaf.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = [
    "PyTreeDef", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure",
    "tree_map", "register_pytree_node", "all_leaves",
]

# type -> (flatten: node -> (children, aux), unflatten: (aux, children) -> node)
_Flatten = Callable[[Any], tuple[Iterable[Any], Hashable]]
_Unflatten = Callable[[Hashable, list[Any]], Any]
_REGISTRY: dict[type, tuple[_Flatten, _Unflatten]] = {}


def register_pytree_node(nodetype: type, flatten: _Flatten, unflatten: _Unflatten) -> None:
    """Make ``nodetype`` a pytree node: ``flatten(node)`` returns ``(children, aux)``
    (aux: hashable data kept in the structure), ``unflatten(aux, children)`` rebuilds
    the node. As ``jax.tree_util.register_pytree_node``.

    >>> import pyautotape as pat
    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> pat.pytree.register_pytree_node(
    ...     Pair, lambda p: ((p.a, p.b), None), lambda _, ch: Pair(*ch))
    >>> pat.tree_map(lambda x: 2 * x, Pair(1, 2)).b
    4
    """
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: nodetype must be a class, got {nodetype!r}")
    if nodetype in _REGISTRY or nodetype in (tuple, list, dict, type(None)):
        raise ValueError(f"register_pytree_node: {nodetype.__name__} is already a pytree node")
    _REGISTRY[nodetype] = (flatten, unflatten)


def _sorted_keys(d: dict, where: str) -> list:
    try:
        return sorted(d)
    except TypeError:
        raise TypeError(
            f"{where}: a dict in a pytree needs keys that sort (JAX's order), got keys "
            f"{list(d)!r}; use one key type, or an OrderedDict to keep your own order"
        ) from None


def _node(x: Any, where: str) -> tuple[Hashable, list[Any]] | None:
    """(kind, children) when x is a node, None when it is a leaf. ``kind`` is what the
    structure keeps to rebuild it: compared by value, so two trees of one structure have
    equal PyTreeDefs."""
    t = type(x)
    if t is tuple or t is list:
        return (t, len(x)), list(x)
    if t is dict:
        keys = _sorted_keys(x, where)
        return (dict, tuple(keys)), [x[k] for k in keys]
    if x is None:
        return (None, 0), []
    if t in _REGISTRY:
        children, aux = _REGISTRY[t][0](x)
        return ("custom", t, aux), list(children)
    if issubclass(t, tuple) and hasattr(t, "_fields"):  # a namedtuple
        return ("namedtuple", t), list(x)
    if t is OrderedDict:
        return (OrderedDict, tuple(x)), list(x.values())
    if t is defaultdict:
        keys = _sorted_keys(x, where)
        return (defaultdict, x.default_factory, tuple(keys)), [x[k] for k in keys]
    return None


def _build(kind: Hashable, children: list[Any]) -> Any:
    tag = kind[0]  # type: ignore[index]
    if tag is tuple:
        return tuple(children)
    if tag is list:
        return list(children)
    if tag is dict:
        return dict(zip(kind[1], children, strict=True))  # type: ignore[index]
    if tag is None:
        return None
    if tag == "custom":
        return _REGISTRY[kind[1]][1](kind[2], children)  # type: ignore[index]
    if tag == "namedtuple":
        return kind[1](*children)  # type: ignore[index]
    if tag is OrderedDict:
        return OrderedDict(zip(kind[1], children, strict=True))  # type: ignore[index]
    d = defaultdict(kind[1], zip(kind[2], children, strict=True))  # type: ignore[index]
    return d


class PyTreeDef:
    """The structure of a pytree: what :func:`tree_flatten` returns beside the leaves.
    Equal for two trees of the same shape, whatever their leaves.

    >>> import pyautotape as pat
    >>> a = pat.tree_structure({"w": 1.0, "b": (2.0, None)})
    >>> a == pat.tree_structure({"w": "x", "b": ("y", None)}), a.num_leaves
    (True, 2)
    >>> a.unflatten([5, 6])
    {'b': (5, None), 'w': 6}
    """

    __slots__ = ("kind", "children", "num_leaves")
    num_leaves: int

    def __init__(self, kind: Hashable, children: tuple[PyTreeDef, ...]) -> None:
        self.kind = kind  # None for a leaf
        self.children = children
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in children)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PyTreeDef) and self.kind == other.kind
                and self.children == other.children)

    def __hash__(self) -> int:
        return hash((self.kind, self.children))

    @property
    def is_leaf(self) -> bool:
        """True for the structure of a single leaf (``*``)."""
        return self.kind is None

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """The tree of this structure holding ``leaves`` (as :func:`tree_unflatten`)."""
        return tree_unflatten(self, leaves)

    def __repr__(self) -> str:
        return f"PyTreeDef({self._show()})"

    def _show(self) -> str:
        if self.kind is None:
            return "*"
        parts = [c._show() for c in self.children]
        tag = self.kind[0]  # type: ignore[index]
        if tag is tuple:
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        if tag is list:
            return "[" + ", ".join(parts) + "]"
        if tag is None:
            return "None"
        if tag in (dict, OrderedDict, defaultdict):
            keys = self.kind[-1]  # type: ignore[index]
            body = "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(keys, parts, strict=True)) + "}"
            return body if tag is dict else f"{tag.__name__}({body})"
        name = self.kind[1].__name__  # type: ignore[index]
        return f"{name}(" + ", ".join(parts) + ")"


_LEAF = PyTreeDef(None, ())


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None,
                 ) -> tuple[list[Any], PyTreeDef]:
    """``(leaves, treedef)``: the leaves of ``tree`` left to right (dict keys sorted) and
    its structure. ``is_leaf(x)`` True stops the descent at ``x``. No recursion: an
    explicit stack, so depth is not limited by Python's.

    >>> import pyautotape as pat
    >>> pat.tree_flatten([1, (2, {"k": 3})])
    ([1, 2, 3], PyTreeDef([*, (*, {'k': *})]))
    """
    if _node(tree, "tree_flatten") is None or (is_leaf is not None and is_leaf(tree)):
        return [tree], _LEAF  # a single leaf: the transforms' common case, kept cheap
    leaves: list[Any] = []
    # post-order build: each frame is (kind, children iterator, built children)
    root: list[PyTreeDef] = []
    stack: list[tuple[Hashable, list[Any], int, list[PyTreeDef]]] = []

    def visit(x: Any, out: list[PyTreeDef]) -> None:
        node = None if is_leaf is not None and is_leaf(x) else _node(x, "tree_flatten")
        if node is None:
            leaves.append(x)
            out.append(_LEAF)
        else:
            stack.append((node[0], node[1], 0, out))

    visit(tree, root)
    built: list[list[PyTreeDef]] = []
    while stack:
        kind, children, i, out = stack[-1]
        if i == 0:
            built.append([])
        if i < len(children):
            stack[-1] = (kind, children, i + 1, out)
            visit(children[i], built[-1])
        else:
            stack.pop()
            out.append(PyTreeDef(kind, tuple(built.pop())))
    return leaves, root[0]


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """The tree of structure ``treedef`` with ``leaves`` in flatten order.

    >>> import pyautotape as pat
    >>> _, td = pat.tree_flatten((0, [0, 0]))
    >>> pat.tree_unflatten(td, "abc")
    ('a', ['b', 'c'])
    """
    if not isinstance(treedef, PyTreeDef):
        raise TypeError(f"tree_unflatten: treedef must be a PyTreeDef, got {treedef!r}")
    items = list(leaves)
    if treedef.kind is None and len(items) == 1:
        return items[0]
    if len(items) != treedef.num_leaves:
        raise ValueError(
            f"tree_unflatten: {treedef} has {treedef.num_leaves} leaves, got {len(items)}")
    pos = 0
    results: list[list[Any]] = [[]]
    stack: list[tuple[PyTreeDef, int]] = [(treedef, 0)]
    while stack:
        td, i = stack.pop()
        if td.kind is None:
            results[-1].append(items[pos])
            pos += 1
        elif i == 0 and not td.children:
            results[-1].append(_build(td.kind, []))
        elif i < len(td.children):
            if i == 0:
                results.append([])
            stack.append((td, i + 1))
            stack.append((td.children[i], 0))
        else:
            children = results.pop()
            results[-1].append(_build(td.kind, children))
    return results[0][0]


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree`` in flatten order.

    >>> import pyautotape as pat
    >>> pat.tree_leaves({"a": [1, 2], "b": None})
    [1, 2]
    """
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The structure of ``tree`` (its :class:`PyTreeDef`).

    >>> import pyautotape as pat
    >>> pat.tree_structure((1, [2]))
    PyTreeDef((*, [*]))
    """
    return tree_flatten(tree, is_leaf)[1]


def all_leaves(items: Iterable[Any]) -> bool:
    """True when no item of ``items`` is a pytree node.

    >>> import pyautotape as pat
    >>> pat.pytree.all_leaves([1, 2.0]), pat.pytree.all_leaves([1, (2,)])
    (True, False)
    """
    return all(_node(x, "all_leaves") is None for x in items)


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``f`` applied leaf by leaf: a tree of ``tree``'s structure whose leaves are
    ``f(leaf, *matching leaves of rest)``. Each of ``rest`` must have the structure of
    ``tree``.

    >>> import numpy as np, pyautotape as pat
    >>> params = {"w": np.ones(2), "b": np.zeros(1)}
    >>> grads = {"w": np.full(2, 0.5), "b": np.ones(1)}
    >>> pat.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    {'b': array([-0.1]), 'w': array([0.95, 0.95])}
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = []
    for i, r in enumerate(rest):
        r_leaves, r_def = tree_flatten(r, is_leaf)
        if r_def != treedef:
            raise ValueError(
                f"tree_map: argument {i + 1} has structure {r_def}, the first {treedef}; "
                "pass trees of one structure")
        others.append(r_leaves)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others, strict=True)])
