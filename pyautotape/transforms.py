"""Function transforms (JAX / torch.func names): grad, value_and_grad, vjp, jvp, jacfwd,
jacrev, jacobian, hessian, hvp.

>>> import numpy as np, pyautotape as pat
>>> f = lambda x: (x * x).sum()
>>> pat.grad(f)(np.array([1.0, 2.0]))
array([2., 4.])

Every transform calls ``f`` once, on fresh leaf tensors, so the tape holds exactly f's
ops; then it packs that tape once and runs sweeps over it in C (batched.py), each pushing
a batch of K seeds in one call (dense ops stack the seeds into one GEMM):

* reverse sweeps (``grad``, ``vjp``, ``jacrev``) run ``pat_tape_backward_batch`` with K
  cotangents: the Jacobian of f: R^n -> R^m is one sweep with K = m;
* the tangent sweep (``jvp``, ``jacfwd``) walks the same tape from the first record to
  the last with ``pat_tape_tangent``, K tangents at once. Each tangent rule uses the same
  partial derivatives as its op's backward rule, so it reads exactly the values the tape
  already keeps for the reverse sweep: nothing extra is recorded, no reverse sweep runs
  and no adjoint buffer is allocated (see :func:`engine_counts`);
* second derivatives (``hessian``, ``hvp``) are forward-over-reverse: a tangent sweep for
  K directions, a reverse sweep for the gradient, then ``pat_tape_hvp``, the reverse
  sweep differentiated along the K directions. They are exact (no finite differences).

``f`` receives Tensors and returns a Tensor, or a pytree of them (nested tuples, lists,
dicts: :mod:`pyautotape.pytree`); the transforms accept ndarrays, Tensors or numbers, or
pytrees of them, and return ndarrays in the same structures, nested as JAX nests them
(``_treeio.py`` flattens them in and builds them out, around the flat sweeps below).
Arguments not selected by ``argnums``, and keyword arguments, are passed to ``f``
unchanged; ``has_aux=True`` lets f return ``(output, aux)``. Transforms do not nest
(``f`` sees Tensors, and a transform returns ndarrays); use :func:`hessian` and
:func:`hvp` for second derivatives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _treeio as _io
from ._ffi import ffi, filled
from ._state import ENGINE_COUNTS
from .batched import leaf as _leaf
from .batched import local as _local
from .batched import program as _program
from .batched import stream_trace as _stream_trace
from .errors import ShapeError
from .tensor import Tensor

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian", "hessian",
    "hvp", "auto_mode", "last_jacobian_mode", "engine_counts", "last_sweep_stats",
]

def engine_counts() -> dict[str, int]:
    """How many sweeps of each kind ran and how many adjoint / tangent buffers were
    allocated, by every part of the engine, since the process started. Tests diff it.

    >>> import numpy as np, pyautotape as pat
    >>> before = pat.transforms.engine_counts()
    >>> _ = pat.jvp(lambda x: pat.tanh(x).sum(), (np.ones(3),), (np.ones(3),))
    >>> after = pat.transforms.engine_counts()
    >>> after["adjoint_buffers"] - before["adjoint_buffers"]
    0
    """
    return dict(ENGINE_COUNTS)


def last_sweep_stats() -> dict[str, int]:
    """This thread's C counters (``gemm_calls``, ``gemm_flops``, ``instrs``) summed over
    the sweeps of the last transform call.

    >>> import numpy as np, pyautotape as pat
    >>> w = np.ones((4, 3))
    >>> _ = pat.jacfwd(lambda x: pat.linear(x, pat.tensor(w)))(np.ones(3))
    >>> pat.transforms.last_sweep_stats()["gemm_calls"]  # 3 seeds, one GEMM
    1
    """
    st = getattr(_local, "stats", None)
    if st is None:
        return {"gemm_calls": 0, "gemm_flops": 0, "instrs": 0}
    return {"gemm_calls": st.gemm_calls, "gemm_flops": st.gemm_flops, "instrs": st.instrs}


def last_jacobian_mode() -> str | None:
    """The mode (``"fwd"`` or ``"rev"``) this thread's last Jacobian was computed in.

    >>> import numpy as np, pyautotape as pat
    >>> _ = pat.jacobian(lambda x: pat.exp(x).sum())(np.ones(3))
    >>> pat.transforms.last_jacobian_mode()
    'rev'
    """
    return getattr(_local, "mode", None)


def auto_mode(n_in: int, n_out: int) -> str:
    """The mode ``jacobian(mode="auto")`` picks: one sweep per seed, so ``"fwd"`` (n_in
    tangents) when the inputs have fewer elements than the output, else ``"rev"``.

    >>> import pyautotape as pat
    >>> pat.transforms.auto_mode(10, 784), pat.transforms.auto_mode(784, 10)
    ('fwd', 'rev')
    """
    return "fwd" if n_in < n_out else "rev"


# ---------------------------------------------------------------------------------------
# calling f, and packing its tape for the batched sweeps


def _wrapped(f: Callable[..., Any], transform: Callable[..., Any]) -> Callable[..., Any]:
    try:
        return functools.wraps(f)(transform)
    except (AttributeError, TypeError):  # callables without __name__ etc.
        return transform


# ---------------------------------------------------------------------------------------
# reverse mode


def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """A function returning ``(f(*args), gradient)`` for scalar-valued ``f``; the gradient
    has the structure of ``args[argnums]`` (an ndarray for an array, a dict of them for a
    dict, ...), or is a tuple of those for a tuple ``argnums``. One reverse sweep. With
    ``has_aux=True`` f returns ``(output, aux)`` and the result is ``((value, aux),
    gradient)``, as ``jax.value_and_grad``. Keyword arguments go to f undifferentiated.

    >>> import numpy as np, pyautotape as pat
    >>> value, g = pat.value_and_grad(lambda x: (x * x).sum())(np.array([3.0]))
    >>> float(value), g
    (9.0, array([6.]))
    >>> (v, aux), g = pat.value_and_grad(lambda p: ((p["w"] ** 2).sum(), p["w"] * 2),
    ...                                  has_aux=True)({"w": np.array([1.0, 2.0])})
    >>> aux, g
    (array([2., 4.]), {'w': array([2., 4.])})
    """
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def _value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int], has_aux: bool,
                    name: str) -> Callable:
    io = _io.Transform(name, f, argnums, has_aux)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        call = io.call(args, kwargs)
        prog = _program(call.f, call.args, call.nums, name)
        out = prog.out
        if out.size != 1 or not call.out_is_leaf:
            shape = out.shape if call.out_is_leaf else f"a pytree {call.out_def}"
            raise _io.ScalarOutputError(
                f"{name}: f must return a scalar (one element), got {shape}; use "
                "pat.vjp or pat.jacrev for non-scalar outputs, or has_aux=True to return "
                "(scalar, aux)"
            )
        grads = prog.adjoints(np.ones((1, *out.shape), out.dtype))
        result = tuple(filled(grads[i])[0] for i in call.nums)
        return call.with_aux(out._data.copy()), call.arg_trees(result)

    return _wrapped(f, value_and_grad_f)


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
         has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued ``f`` with respect to ``args[argnums]``, as
    ``jax.grad``: of the argument's structure (an ndarray, or a dict/tuple/list of them:
    a pytree), or a tuple of those for a tuple ``argnums``. With ``has_aux=True`` f
    returns ``(output, aux)`` and the result is ``(gradient, aux)``. Keyword arguments
    go to f undifferentiated. Not to be confused with ``pat.autograd.grad``, which
    differentiates tensors already computed.

    >>> import numpy as np, pyautotape as pat
    >>> pat.grad(lambda x, w: (x * w).sum(), argnums=(0, 1))(np.ones(2), np.array([2.0, 3.0]))
    (array([2., 3.]), array([1., 1.]))
    >>> params = {"w": np.array([1.0, 2.0]), "b": np.array([0.5])}
    >>> pat.grad(lambda p, x: (p["w"] * x).sum() + p["b"].sum())(params, x=np.ones(2))
    {'b': array([1.]), 'w': array([1., 1.])}
    """
    vg = _value_and_grad(f, argnums, has_aux, "grad")

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return _wrapped(f, grad_f)


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns uᵀJ as a tuple with one
    entry per primal, each of that primal's structure, for a cotangent u of the output's
    structure (pytrees: an array for an array output, a dict for a dict, ...). f runs
    once; ``vjp_fn`` may be called any number of times (each call is one reverse sweep
    over the same tape) and is linear in u. With ``has_aux=True`` f returns ``(output,
    aux)`` and the result is ``(output, vjp_fn, aux)``, as ``jax.vjp``.

    >>> import numpy as np, pyautotape as pat
    >>> out, vjp_fn = pat.vjp(lambda x: x * x, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    >>> out, vjp_fn = pat.vjp(lambda p: {"y": p[0] * p[1]}, (np.ones(2), np.full(2, 3.0)))
    >>> vjp_fn({"y": np.ones(2)})
    ((array([3., 3.]), array([1., 1.])),)
    """
    io = _io.Transform("vjp", f, None, has_aux)
    call = io.call(primals, {})
    prog = _program(call.f, call.args, call.nums, "vjp")
    out = prog.out

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cotangent = call.cotangent(cotangent, out.dtype)
        u = cotangent._data if isinstance(cotangent, Tensor) else np.asarray(cotangent)
        if u.shape != out.shape:
            raise ShapeError(
                f"vjp_fn: cotangent has shape {u.shape}, the output {out.shape}; pass one "
                "shaped like the output"
            )
        _local.stats = ffi.new("pat_stats *")
        seed = np.array(u, dtype=out.dtype, order="C").reshape(1, *out.shape)
        grads = prog.adjoints(seed)
        return call.arg_trees([filled(grads[i])[0] for i in range(len(prog.leaves))], False)

    value = call.outputs(out._data.copy())
    return (value, vjp_fn, _io.aux_out(call.aux)) if has_aux else (value, vjp_fn)


def jacrev(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
           has_aux: bool = False) -> Callable:
    """The Jacobian of f by reverse mode: one batched reverse sweep pushing all
    ``f(x).size`` cotangents. Layout: output shape + input shape; for pytrees, JAX's
    nesting (see :func:`jacobian`). With ``has_aux=True``: ``(jacobian, aux)``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacrev(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return _jacobian(f, argnums, "rev", False, has_aux, "jacrev")


# ---------------------------------------------------------------------------------------
# forward mode


def jvp(f: Callable[..., Any], primals: Any, tangents: Any, stream: bool = False,
        has_aux: bool = False) -> tuple:
    """``(f(*primals), J v)``: forward mode. ``primals`` is a tuple (or list) of the
    arguments, or one argument; ``tangents`` likewise, each of its primal's structure
    (pytrees) and shapes. ``J v`` has the output's structure. With ``has_aux=True`` f
    returns ``(output, aux)`` and the result is ``(output, J v, aux)``, as ``jax.jvp``.
    Runs no reverse sweep and allocates no adjoint.

    By default f is recorded and one tangent sweep runs over its tape. With
    ``stream=True`` each op's tangent is pushed as soon as the op runs (the same C rules,
    one record at a time) and nothing is recorded: memory stays that of f's live tensors
    however deep f is (forward mode needs no stored activations), at the price of one C
    call per op instead of one per sweep.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jvp(lambda x: x * x, (np.array([1.0, 2.0]),), (np.array([1.0, 0.5]),))
    (array([1., 4.]), array([2., 2.]))
    >>> pat.jvp(lambda x: x * x, np.array([3.0]), np.array([1.0]), stream=True)
    (array([9.]), array([6.]))
    >>> pat.jvp(lambda p: (p["a"] * p["b"], p["a"]), ({"a": np.ones(1), "b": np.full(1, 2.0)},),
    ...         ({"a": np.ones(1), "b": np.zeros(1)},))[1]
    (array([2.]), array([1.]))
    """
    ps, _ = _io.as_args(primals)
    ts, _ = _io.as_args(tangents)
    if len(ps) != len(ts):
        raise ValueError(f"jvp: {len(ps)} primals but {len(ts)} tangents")
    call = _io.Transform("jvp", f, None, has_aux).call(ps, {})
    ts = tuple(call.tangents(ts, "jvp"))
    ps, nums = tuple(call.args), call.nums
    if stream:
        shapes = [np.shape(p._data if isinstance(p, Tensor) else p) for p in ps]
        seeds = [_seed_shape(t, shape, "jvp", i) for i, (t, shape) in
                 enumerate(zip(ts, shapes, strict=True))]
        out, tan = _stream_trace(call.f, ps, nums, seeds, 1, "jvp")
        value, tan_out = out._data.copy(), tan[0]
    else:
        prog = _program(call.f, ps, nums, "jvp")
        pairs = enumerate(zip(ts, prog.leaves, strict=True))
        seeds = [_seed(t, leaf, "jvp", i) for i, (t, leaf) in pairs]
        tans = prog.tangents(seeds, 1)
        value, tan_out = prog.out._data.copy(), prog.out_tangent(tans, 1)[0]
    result = (call.outputs(value), call.outputs(tan_out))
    return (*result, _io.aux_out(call.aux)) if has_aux else result


def _seed_shape(t: Any, shape: tuple[int, ...], name: str, i: int) -> np.ndarray:
    arr = t._data if isinstance(t, Tensor) else np.asarray(t)
    if arr.shape != shape:
        raise ShapeError(
            f"{name}: tangent {i} has shape {arr.shape}, its primal {shape}; pass "
            "tangents shaped like the primals"
        )
    return arr.reshape(1, *shape)


def _seed(t: Any, leaf: Tensor, name: str, i: int) -> np.ndarray:
    arr = _seed_shape(t, leaf.shape, name, i)
    return np.array(arr, dtype=leaf.dtype, order="C")


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
           stream: bool = False, has_aux: bool = False) -> Callable:
    """The Jacobian of f by forward mode: one tangent sweep pushing all input-sized
    seeds at once. Layout: output shape + input shape; for pytrees, JAX's nesting (see
    :func:`jacobian`). ``stream=True`` pushes the seeds op by op while f runs and
    records nothing (see :func:`jvp`). With ``has_aux=True``: ``(jacobian, aux)``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacfwd(lambda x: x.sum() * x)(np.array([1.0, 2.0]))
    array([[4., 1.],
           [2., 5.]])
    """
    return _jacobian(f, argnums, "fwd", stream, has_aux, "jacfwd")


def _identity_seeds(leaves: list[Tensor]) -> tuple[list[np.ndarray], list[int], int]:
    """One seed per element of all leaves: leaf i gets the (K, *shape) block of the
    identity that belongs to it (zeros elsewhere). Returns seeds, offsets and K."""
    k = sum(t.size for t in leaves)
    seeds, offsets, off = [], [], 0
    for t in leaves:
        s = np.zeros((k, t.size), t.dtype)
        diag = np.arange(t.size)
        s[off + diag, diag] = 1
        seeds.append(s.reshape(k, *t.shape))
        offsets.append(off)
        off += t.size
    return seeds, offsets, k


_MODES = {"auto": "auto", "fwd": "fwd", "forward": "fwd", "rev": "rev", "reverse": "rev"}


def jacobian(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
             mode: str = "auto", has_aux: bool = False) -> Callable:
    """The Jacobian of f with respect to ``args[argnums]``: an ndarray of shape
    ``out.shape + arg.shape`` (a tuple of them for a tuple ``argnums``). For pytrees it
    nests as JAX's ``jacrev``: the output's structure, each leaf holding the argument's
    structure (for a tuple ``argnums``, a tuple of the arguments' structures) with the
    blocks ``out_leaf.shape + arg_leaf.shape``. With ``has_aux=True``: ``(jacobian, aux)``.

    ``mode``: ``"fwd"`` or ``"forward"`` (one tangent sweep, K = input elements),
    ``"rev"`` or ``"reverse"`` (one reverse sweep, K = output elements) or ``"auto"``,
    which picks forward when the inputs have fewer elements than the output
    (:func:`auto_mode`). Either way all seeds go through one batched sweep.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacobian(lambda x: pat.tanh(x).sum(), mode="forward")(np.zeros(2))
    array([1., 1.])
    >>> jac = pat.jacobian(lambda p: {"y": p["a"] * p["b"]})({"a": np.ones(2), "b": np.ones(2)})
    >>> jac["y"]["a"]
    array([[1., 0.],
           [0., 1.]])
    """
    if mode not in _MODES:
        raise ValueError(
            f"jacobian: mode must be 'auto', 'fwd'/'forward' or 'rev'/'reverse', got {mode!r}")
    return _jacobian(f, argnums, _MODES[mode], False, has_aux, "jacobian")


def _jacobian(f: Callable[..., Any], argnums: int | Sequence[int], mode: str,
              stream: bool, has_aux: bool, name: str) -> Callable:
    io = _io.Transform(name, f, argnums, has_aux)

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        call = io.call(args, kwargs)
        return call.with_aux(call.jacobian(_flat_jacobian(call, mode, stream)))

    return _wrapped(f, jacobian_f)


def _flat_jacobian(call: _io.Call, mode: str, stream: bool) -> tuple[Any, ...]:
    """One Jacobian block per flat leaf: combined output shape + leaf shape."""
    f, args, nums = call.f, call.args, call.nums
    if stream:
        leaves = [_leaf(args[i]) for i in nums]
        seeds, offsets, k = _identity_seeds(leaves)
        out, tans = _stream_trace(f, args, nums, seeds, k, "jacfwd")
        _local.mode = "fwd"
        return _jacobian_fwd(out, leaves, tans, offsets, k)
    prog = _program(f, args, nums, "jacobian")
    out, leaves = prog.out, prog.leaves
    n_in = sum(t.size for t in leaves)
    chosen = auto_mode(n_in, out.size) if mode == "auto" else mode
    _local.mode = chosen
    if chosen == "fwd":
        seeds, offsets, k = _identity_seeds(leaves)
        tans = prog.out_tangent(prog.tangents(seeds, k), k)
        return _jacobian_fwd(out, leaves, tans, offsets, k)
    cot = np.zeros((out.size, out.size), out.dtype)
    cot[np.arange(out.size), np.arange(out.size)] = 1
    grads = prog.adjoints(cot.reshape(out.size, *out.shape))
    return tuple(filled(grads[i]).reshape(out.shape + t.shape) for i, t in enumerate(leaves))


def _jacobian_fwd(out: Tensor, leaves: list[Tensor], tans: np.ndarray, offsets: list[int],
                  k: int) -> tuple[np.ndarray, ...]:
    """Jacobian blocks (out shape + leaf shape) from the output's k tangents."""
    flat = tans.reshape(k, out.size)
    jacs = tuple(
        np.ascontiguousarray(flat[o : o + t.size].T).reshape(out.shape + t.shape)
        for o, t in zip(offsets, leaves, strict=True)
    )
    return jacs


# ---------------------------------------------------------------------------------------
# second order


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
            has_aux: bool = False) -> Callable:
    """The Hessian of scalar-valued f: shape ``arg.shape + arg.shape``; for a tuple
    ``argnums`` a nested tuple of blocks ``H[i][j]`` of shape ``args[i].shape +
    args[j].shape``; for pytree arguments JAX's nesting (the argument's structure, each
    leaf holding the argument's structure again). Forward-over-reverse: one tangent
    sweep with a seed per input element, one reverse sweep, one second-order adjoint
    sweep. Exact. With ``has_aux=True``: ``(hessian, aux)``.

    >>> import numpy as np, pyautotape as pat
    >>> pat.hessian(lambda x: (x * x * x).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> h = pat.hessian(lambda p: (p["a"] * p["b"]).sum())({"a": np.ones(1), "b": np.ones(1)})
    >>> h["a"]["b"], h["a"]["a"]
    (array([[1.]]), array([[0.]]))
    """
    io = _io.Transform("hessian", f, argnums, has_aux)

    def hessian_f(*args: Any, **kwargs: Any) -> Any:
        call = io.call(args, kwargs)
        prog = _program(call.f, call.args, call.nums, "hessian")
        if not call.out_is_leaf:
            raise _io.ScalarOutputError(
                f"hessian: f must return a scalar (one element), got a pytree "
                f"{call.out_def}; use has_aux=True to return (scalar, aux)")
        leaves = prog.leaves
        seeds, offsets, k = _identity_seeds(leaves)
        hv = prog.hvps(seeds, k)  # hv[a][j] = H[:, j] restricted to leaf a
        blocks = tuple(
            tuple(
                np.ascontiguousarray(hv[a][ob : ob + tb.size].reshape(tb.size, ta.size).T)
                .reshape(ta.shape + tb.shape)
                for ob, tb in zip(offsets, leaves, strict=True)
            )
            for a, ta in enumerate(leaves)
        )
        return call.with_aux(call.arg_trees([call.arg_trees(row) for row in blocks]))

    return _wrapped(f, hessian_f)


def hvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[np.ndarray, Any]:
    """``(f(*primals), H v)`` for scalar-valued f, exact (forward-over-reverse). ``H v``
    is a tuple aligned with ``primals`` when they are a tuple, else one value; each entry
    has its primal's structure (pytrees), as do the tangents ``v``.

    >>> import numpy as np, pyautotape as pat
    >>> value, hv = pat.hvp(lambda x: (x * x * x).sum(), np.array([1.0, 2.0]), np.ones(2))
    >>> hv
    array([ 6., 12.])
    >>> pat.hvp(lambda p: (p["a"] ** 3).sum(), {"a": np.ones(1)}, {"a": np.ones(1)})[1]
    {'a': array([6.])}
    """
    ps, as_tuple = _io.as_args(primals)
    ts, _ = _io.as_args(tangents)
    if len(ps) != len(ts):
        raise ValueError(f"hvp: {len(ps)} primals but {len(ts)} tangents")
    call = _io.Transform("hvp", f, None, False).call(ps, {})
    ts = tuple(call.tangents(ts, "hvp"))
    prog = _program(call.f, call.args, call.nums, "hvp")
    if not call.out_is_leaf:
        raise _io.ScalarOutputError(
            f"hvp: f must return a scalar (one element), got a pytree {call.out_def}")
    pairs = enumerate(zip(ts, prog.leaves, strict=True))
    dirs = [_seed(t, leaf, "hvp", i) for i, (t, leaf) in pairs]
    hv = call.arg_trees([h[0] for h in prog.hvps(dirs, 1)], False)
    return prog.out._data.copy(), hv if as_tuple else hv[0]
