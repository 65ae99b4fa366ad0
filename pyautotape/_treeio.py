"""The transforms' argument and result boundary: pytrees in, pytrees out.

A transform's flat core (transforms.py) differentiates ``f(*leaves) -> Tensor``: one
Tensor per differentiated argument and one Tensor out. :class:`Transform` checks the
call (f callable, argnums, has_aux) and :class:`Call` adapts one call to that core:

* the differentiated arguments are flattened (:mod:`pyautotape.pytree`) into leaves, and
  the flat f rebuilds them (as Tensors) before calling the user's f with the other
  arguments and the keyword arguments unchanged;
* f's output pytree (after splitting off ``aux`` when ``has_aux``) becomes one Tensor: its
  only leaf as it is, or its leaves flattened and concatenated (two recorded ops, so every
  sweep sees one output);
* the core's flat results are split back: gradients into the arguments' structures,
  values and tangents into the output's, Jacobians into the output's structure with each
  leaf the arguments' structure (JAX's nesting).

>>> import numpy as np, pyautotape as pat
>>> t = Transform("grad", lambda p: (p["w"] * p["w"]).sum(), 0, False)
>>> call = t.call(({"w": np.array([1.0, 2.0])},), {})
>>> len(call.args), call.nums
(1, [0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DTypeError, ShapeError
from .pytree import PyTreeDef, tree_flatten, tree_map, tree_structure, tree_unflatten
from .tensor import Tensor

__all__ = ["Transform", "Call", "ScalarOutputError", "ArgnumsError", "check_callable",
           "aux_out"]


LEAF = tree_structure(0)


class ScalarOutputError(ShapeError, TypeError):
    """grad of a function whose output is not one scalar (a ShapeError, and a TypeError
    as in JAX)."""


class ArgnumsError(TypeError, ValueError):
    """argnums naming an argument the call does not have (a TypeError as in JAX, and a
    ValueError as before)."""


def check_callable(f: Any, name: str) -> None:
    if not callable(f):
        raise TypeError(
            f"{name}: f must be a callable (the function to differentiate), got "
            f"{type(f).__name__} {f!r:.60} (the function comes first, the arrays after it)")


def argnums(spec: Any, nargs: int, name: str) -> tuple[list[int], bool]:
    """argnums as a list of distinct non-negative positions, and whether it was one int."""
    if type(spec) is int and -nargs <= spec < nargs:  # the common case, kept cheap
        return [spec % nargs], True
    single = isinstance(spec, (int, np.integer)) and not isinstance(spec, bool)
    items = [spec] if single else (list(spec) if isinstance(spec, (tuple, list)) else None)
    if items is None or not items or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in items):
        raise TypeError(f"{name}: argnums must be an int or a tuple of ints, got {spec!r}")
    out = []
    for a in items:
        if not -nargs <= a < nargs:
            raise ArgnumsError(
                f"{name}: argnums {a} is out of range for {nargs} positional argument(s); "
                "differentiate a positional argument (keyword arguments are passed to f "
                "and not differentiated)")
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: argnums {spec!r} must name distinct arguments")
    return out, single


def aux_out(aux: Any) -> Any:
    """The aux pytree as a transform returns it: Tensor leaves as ndarrays."""
    return tree_map(lambda a: a._data.copy() if isinstance(a, Tensor) else a, aux)


def _check_leaf(x: Any, name: str, what: str) -> None:
    if isinstance(x, (Tensor, np.ndarray, int, float, np.number, np.bool_)):
        return
    raise TypeError(
        f"{name}: {what} has a leaf of type {type(x).__name__} ({x!r:.60}); the leaves of "
        "a differentiated argument must be arrays, Tensors or numbers (tuples, lists, dicts "
        "and None are pytree nodes)")


class Transform:
    """One transformed function's fixed parts: its name, f, argnums and has_aux, checked
    when the transform is made (f callable, argnums ints) and used by every call."""

    def __init__(self, name: str, f: Any, spec: Any, has_aux: bool) -> None:
        check_callable(f, name)
        if spec is not None:
            argnums(spec, 1 << 30, name)  # its type now; its range at the call
        if not isinstance(has_aux, (bool, np.bool_)):
            raise TypeError(f"{name}: has_aux must be True or False, got {has_aux!r}")
        self.name, self.f, self.spec, self.has_aux = name, f, spec, bool(has_aux)

    def call(self, args: Sequence[Any], kwargs: dict[str, Any]) -> Call:
        if self.spec is None:  # vjp, jvp, hvp: every primal
            nums, single = list(range(len(args))), False
        else:
            nums, single = argnums(self.spec, len(args), self.name)
        return Call(self, args, kwargs, nums, single)


class Call:
    """One call of a transformed f: ``f`` (the flat function the core differentiates),
    ``args`` (its arguments: the differentiated leaves) and ``nums`` (all of them); after
    the core has run f, the output's structure and ``aux``."""

    def __init__(self, tr: Transform, args: Sequence[Any], kwargs: dict[str, Any],
                 nums: list[int], single: bool) -> None:
        self.tr, self.single = tr, single
        self.defs: list[PyTreeDef] = []
        flat: list[Any] = []
        for i in nums:
            a = args[i]
            if type(a) is np.ndarray or isinstance(a, Tensor):  # a leaf: the common case
                self.defs.append(LEAF)
                flat.append(a)
                continue
            leaves, td = tree_flatten(a)
            for x in leaves:
                _check_leaf(x, tr.name, f"argument {i}")
            self.defs.append(td)
            flat.extend(leaves)
        self.args = flat
        self.nums = list(range(len(flat)))
        self.flat_in = all(td.kind is None for td in self.defs)  # every argument a leaf
        self.out_def: PyTreeDef | None = None
        self.out_shapes: list[tuple[int, ...]] = []
        self.aux: Any = None
        user_f, name, has_aux = tr.f, tr.name, tr.has_aux
        call_args = list(args)

        def f(*leaves: Any) -> Any:
            pos = 0
            for i, td in zip(nums, self.defs, strict=True):
                call_args[i] = (leaves[pos] if td.kind is None else
                                tree_unflatten(td, leaves[pos: pos + td.num_leaves]))
                pos += td.num_leaves
            out = user_f(*call_args, **kwargs)
            if has_aux:
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    size = f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""
                    raise TypeError(
                        f"{name}: with has_aux=True f must return a pair (output, aux), got "
                        f"{type(out).__name__}{size}")
                out, self.aux = out
            return self._combine(out)

        self.f = f

    # -- the output ---------------------------------------------------------------------
    def _combine(self, out: Any) -> Any:
        if isinstance(out, Tensor):  # one Tensor: the common case, kept cheap
            self.out_def, self.out_shapes = LEAF, [out.shape]
            return out
        leaves, td = tree_flatten(out)
        name = self.tr.name
        if not leaves or not all(isinstance(t, Tensor) for t in leaves):
            bad = next((t for t in leaves if not isinstance(t, Tensor)), out)
            raise TypeError(
                f"{name}: f must return a Tensor or a pytree (tuple, list, dict) of Tensors, "
                f"got {type(out).__name__}" + (f" with a {type(bad).__name__} leaf"
                                                 if bad is not out else "")
                + " (f receives Tensors: build its result from them with pat ops)")
        self.out_def, self.out_shapes = td, [t.shape for t in leaves]
        if len(leaves) == 1:
            return leaves[0]
        dtypes = {t.dtype for t in leaves}
        if len(dtypes) > 1:
            raise DTypeError(
                f"{name}: f's outputs mix dtypes {sorted(str(d) for d in dtypes)}; cast them "
                "to one (e.g. .double())")
        from .ops import concatenate  # ops import the core this module sits beside

        return concatenate([t.reshape((t.size,)) for t in leaves])

    @property
    def out_is_leaf(self) -> bool:
        return self.out_def is not None and self.out_def.is_leaf

    def _split(self, x: Any, trailing: int = 0) -> list[Any]:
        """x (combined output shape + ``trailing`` axes) split into one piece per output
        leaf, each shaped leaf shape + the trailing axes."""
        if len(self.out_shapes) == 1:
            return [x]
        rest = tuple(x.shape[1:]) if trailing else ()
        pieces, off = [], 0
        for s in self.out_shapes:
            n = int(np.prod(s, dtype=np.int64))
            pieces.append(x[off: off + n].reshape(s + rest))
            off += n
        return pieces

    def outputs(self, x: Any) -> Any:
        """A combined-output-shaped result (the value, a tangent) as f's output tree."""
        assert self.out_def is not None
        return x if self.out_def.kind is None else tree_unflatten(self.out_def, self._split(x))

    def with_aux(self, x: Any) -> Any:
        return (x, aux_out(self.aux)) if self.tr.has_aux else x

    # -- the arguments ------------------------------------------------------------------
    def arg_trees(self, per_leaf: Sequence[Any], single: bool | None = None) -> Any:
        """Results aligned with the flat leaves, as the differentiated arguments' trees:
        one tree (a single int argnums) or a tuple of them."""
        if self.flat_in:
            trees = list(per_leaf)
        else:
            trees, pos = [], 0
            for td in self.defs:
                trees.append(tree_unflatten(td, per_leaf[pos: pos + td.num_leaves]))
                pos += td.num_leaves
        return trees[0] if (self.single if single is None else single) else tuple(trees)

    def jacobian(self, per_leaf: Sequence[Any]) -> Any:
        """Jacobian blocks (combined output shape + leaf shape, one per flat leaf) nested
        as JAX does: the output's structure, each leaf the arguments' structure."""
        assert self.out_def is not None
        if self.out_def.kind is None:
            return self.arg_trees(per_leaf)
        pieces = [self._split(j, trailing=1) for j in per_leaf]  # [leaf][out leaf]
        n_out = len(self.out_shapes)
        return self.outputs_of([self.arg_trees([p[k] for p in pieces]) for k in range(n_out)])

    def outputs_of(self, per_out: list[Any]) -> Any:
        assert self.out_def is not None
        return tree_unflatten(self.out_def, per_out)

    def cotangent(self, ct: Any, dtype: np.dtype) -> Any:
        """A cotangent pytree of the output's structure as one combined-shaped array."""
        assert self.out_def is not None
        leaves, td = tree_flatten(ct)
        if td != self.out_def:
            raise TypeError(
                f"vjp_fn: the cotangent has structure {td}, the output {self.out_def}; pass "
                "one of the output's structure")
        if len(leaves) == 1:
            return leaves[0]
        parts = []
        for i, (u, s) in enumerate(zip(leaves, self.out_shapes, strict=True)):
            arr = np.asarray(u._data if isinstance(u, Tensor) else u)
            if arr.shape != s:
                raise ShapeError(
                    f"vjp_fn: cotangent leaf {i} has shape {arr.shape}, the output's {s}; "
                    "pass leaves shaped like the output's")
            parts.append(arr.astype(dtype, copy=False).reshape(-1))
        return np.concatenate(parts)

    def tangents(self, ts: Sequence[Any], name: str) -> list[Any]:
        """Tangents given per primal (pytrees of the primals' structures) as flat leaves."""
        flat: list[Any] = []
        for i, (t, td) in enumerate(zip(ts, self.defs, strict=True)):
            leaves, tdt = tree_flatten(t)
            if tdt != td:
                raise TypeError(
                    f"{name}: tangent {i} has structure {tdt}, its primal {td}; pass "
                    "tangents of the primals' structure")
            flat.extend(leaves)
        return flat


def as_args(x: Any) -> tuple[tuple, bool]:
    """primals given as a tuple/list of arguments, or one argument."""
    if isinstance(x, (tuple, list)):
        return tuple(x), True
    return (x,), False
