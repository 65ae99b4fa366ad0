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

``f`` receives Tensors and returns one Tensor; the transforms accept ndarrays, Tensors,
lists or numbers and return ndarrays. Arguments not selected by ``argnums`` are passed to
``f`` unchanged. Transforms do not nest (``f`` sees Tensors, and a transform returns
ndarrays); use :func:`hessian` and :func:`hvp` for second derivatives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._ffi import ffi, filled
from ._state import ENGINE_COUNTS
from .batched import leaf as _leaf
from .batched import local as _local
from .batched import program as _program
from .batched import stream_trace as _stream_trace
from .errors import ShapeError
from .nesting import check_seed as _check_seed
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


def _argnums(argnums: int | Sequence[int], nargs: int, name: str) -> tuple[list[int], bool]:
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    items = [argnums] if single else list(argnums)  # type: ignore[arg-type]
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {a} is out of range for {nargs} argument(s)")
        out.append(int(a) % nargs)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{name}: argnums {argnums!r} must name distinct arguments")
    return out, single


def _wrapped(f: Callable[..., Any], transform: Callable[..., Any]) -> Callable[..., Any]:
    try:
        return functools.wraps(f)(transform)
    except (AttributeError, TypeError):  # callables without __name__ etc.
        return transform


# ---------------------------------------------------------------------------------------
# reverse mode


def value_and_grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """A function returning ``(f(*args), gradient)`` for scalar-valued ``f``; the gradient
    is an ndarray shaped like ``args[argnums]``, or a tuple of them for a tuple
    ``argnums``. One reverse sweep.

    >>> import numpy as np, pyautotape as pat
    >>> value, g = pat.value_and_grad(lambda x: (x * x).sum())(np.array([3.0]))
    >>> float(value), g
    (9.0, array([6.]))
    """

    def value_and_grad_f(*args: Any) -> tuple[np.ndarray, Any]:
        nums, single = _argnums(argnums, len(args), "grad")
        prog = _program(f, args, nums, "grad")
        out = prog.out
        if out.size != 1:
            raise ShapeError(
                f"grad: f must return a scalar (one element), got shape {out.shape}; use "
                "pat.vjp or pat.jacrev for non-scalar outputs"
            )
        grads = prog.adjoints(np.ones((1, *out.shape), out.dtype))
        result = tuple(filled(grads[i])[0] for i in range(len(nums)))
        return prog.value(), result[0] if single else result

    return _wrapped(f, value_and_grad_f)


def grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of scalar-valued ``f`` with respect to ``args[argnums]`` (an ndarray,
    or a tuple of ndarrays for a tuple ``argnums``), as ``jax.grad``. Not to be confused
    with ``pat.autograd.grad``, which differentiates tensors already computed.

    >>> import numpy as np, pyautotape as pat
    >>> pat.grad(lambda x, w: (x * w).sum(), argnums=(0, 1))(np.ones(2), np.array([2.0, 3.0]))
    (array([2., 3.]), array([1., 1.]))
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    return _wrapped(f, grad_f)


def vjp(f: Callable[..., Tensor], *primals: Any) -> tuple[np.ndarray, Callable]:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns the tuple uᵀJ, one ndarray
    per primal, for a cotangent u shaped like the output. f runs once; ``vjp_fn`` may be
    called any number of times (each call is one reverse sweep over the same tape) and
    is linear in u.

    >>> import numpy as np, pyautotape as pat
    >>> out, vjp_fn = pat.vjp(lambda x: x * x, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    """
    prog = _program(f, primals, list(range(len(primals))), "vjp")
    out = prog.out

    def vjp_fn(cotangent: Any) -> tuple[np.ndarray, ...]:
        _check_seed(cotangent, "vjp_fn", "cotangent")
        u = cotangent._data if isinstance(cotangent, Tensor) else np.asarray(cotangent)
        if u.shape != out.shape:
            raise ShapeError(
                f"vjp_fn: cotangent has shape {u.shape}, the output {out.shape}; pass one "
                "shaped like the output"
            )
        _local.stats = ffi.new("pat_stats *")
        seed = np.array(u, dtype=out.dtype, order="C").reshape(1, *out.shape)
        grads = prog.adjoints(seed)
        return tuple(filled(grads[i])[0] for i in range(len(prog.leaves)))

    return prog.value(), vjp_fn


def jacrev(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of f by reverse mode: one batched reverse sweep pushing all
    ``f(x).size`` cotangents. Layout: output shape + input shape.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacrev(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return jacobian(f, argnums, mode="rev")


# ---------------------------------------------------------------------------------------
# forward mode


def _as_tuple(x: Any) -> tuple[tuple, bool]:
    if isinstance(x, (tuple, list)):
        return tuple(x), True
    return (x,), False


def jvp(f: Callable[..., Tensor], primals: Any, tangents: Any,
        stream: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(f(*primals), J v)``: forward mode. ``primals`` and ``tangents`` are tuples (or
    single arrays) of matching shapes. Runs no reverse sweep and allocates no adjoint.

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
    """
    ps, _ = _as_tuple(primals)
    ts, _ = _as_tuple(tangents)
    if len(ps) != len(ts):
        raise ValueError(f"jvp: {len(ps)} primals but {len(ts)} tangents")
    nums = list(range(len(ps)))
    if stream:
        shapes = [np.shape(p._data if isinstance(p, Tensor) else p) for p in ps]
        seeds = [_seed_shape(t, shape, "jvp", i) for i, (t, shape) in
                 enumerate(zip(ts, shapes, strict=True))]
        out, tan = _stream_trace(f, ps, nums, seeds, 1, "jvp")
        return out._data.copy(), tan[0]
    prog = _program(f, ps, nums, "jvp")
    pairs = enumerate(zip(ts, prog.leaves, strict=True))
    seeds = [_seed(t, leaf, "jvp", i) for i, (t, leaf) in pairs]
    return prog.value(), prog.jvp(seeds, 1)[0]


def _seed_shape(t: Any, shape: tuple[int, ...], name: str, i: int) -> np.ndarray:
    _check_seed(t, name, "tangent")
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


def jacfwd(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0,
           stream: bool = False) -> Callable:
    """The Jacobian of f by forward mode: one tangent sweep pushing all input-sized
    seeds at once. Layout: output shape + input shape. ``stream=True`` pushes the seeds
    op by op while f runs and records nothing (see :func:`jvp`).

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacfwd(lambda x: x.sum() * x)(np.array([1.0, 2.0]))
    array([[4., 1.],
           [2., 5.]])
    """
    return _jacobian(f, argnums, "fwd", stream)


def _contiguous(a: Any) -> Any:
    """An ndarray made C-contiguous; a Tensor (a nested result) as it is."""
    return a if isinstance(a, Tensor) else np.ascontiguousarray(a)


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


def jacobian(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0,
             mode: str = "auto") -> Callable:
    """The Jacobian of f with respect to ``args[argnums]``: an ndarray of shape
    ``out.shape + arg.shape`` (a tuple of them for a tuple ``argnums``).

    ``mode``: ``"fwd"`` (one tangent sweep, K = input elements), ``"rev"`` (one reverse
    sweep, K = output elements) or ``"auto"``, which picks forward when the inputs have
    fewer elements than the output (:func:`auto_mode`). Either way all seeds go through
    one batched sweep.

    >>> import numpy as np, pyautotape as pat
    >>> pat.jacobian(lambda x: pat.tanh(x).sum(), mode="fwd")(np.zeros(2))
    array([1., 1.])
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    return _jacobian(f, argnums, mode, False)


def _jacobian(f: Callable[..., Tensor], argnums: int | Sequence[int], mode: str,
              stream: bool) -> Callable:
    def jacobian_f(*args: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacobian")
        if stream:
            leaves = [_leaf(args[i]) for i in nums]
            seeds, offsets, k = _identity_seeds(leaves)
            out, tans = _stream_trace(f, args, nums, seeds, k, "jacfwd")
            _local.mode = "fwd"
            return _jacobian_fwd(out, leaves, tans, offsets, k, single)
        prog = _program(f, args, nums, "jacobian")
        out, leaves = prog.out, prog.leaves
        n_in = sum(t.size for t in leaves)
        chosen = auto_mode(n_in, out.size) if mode == "auto" else mode
        _local.mode = chosen
        if chosen == "fwd":
            seeds, offsets, k = _identity_seeds(leaves)
            tans = prog.jvp(seeds, k)
            return _jacobian_fwd(out, leaves, tans, offsets, k, single)
        cot = np.zeros((out.size, out.size), out.dtype)
        cot[np.arange(out.size), np.arange(out.size)] = 1
        grads = prog.adjoints(cot.reshape(out.size, *out.shape))
        jacs = tuple(filled(grads[i]).reshape(out.shape + t.shape) for i, t in enumerate(leaves))
        return jacs[0] if single else jacs

    return _wrapped(f, jacobian_f)


def _jacobian_fwd(out: Tensor, leaves: list[Tensor], tans: np.ndarray, offsets: list[int],
                  k: int, single: bool) -> Any:
    """Jacobian blocks (out shape + leaf shape) from the output's k tangents."""
    flat = tans.reshape(k, out.size)
    jacs = tuple(
        _contiguous(flat[o : o + t.size].T).reshape(out.shape + t.shape)
        for o, t in zip(offsets, leaves, strict=True)
    )
    return jacs[0] if single else jacs


# ---------------------------------------------------------------------------------------
# second order


def hessian(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of scalar-valued f: shape ``arg.shape + arg.shape``; for a tuple
    ``argnums`` a nested tuple of blocks ``H[i][j]`` of shape ``args[i].shape +
    args[j].shape``. Forward-over-reverse: one tangent sweep with a seed per input
    element, one reverse sweep, one second-order adjoint sweep. Exact.

    >>> import numpy as np, pyautotape as pat
    >>> pat.hessian(lambda x: (x * x * x).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    def hessian_f(*args: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "hessian")
        prog = _program(f, args, nums, "hessian")
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
        return prog.second_order(blocks[0][0] if single else blocks)

    return _wrapped(f, hessian_f)


def hvp(f: Callable[..., Tensor], primals: Any, tangents: Any) -> tuple[np.ndarray, Any]:
    """``(f(*primals), H v)`` for scalar-valued f, exact (forward-over-reverse). ``H v``
    is a tuple aligned with ``primals`` when they are a tuple, else one ndarray.

    >>> import numpy as np, pyautotape as pat
    >>> value, hv = pat.hvp(lambda x: (x * x * x).sum(), np.array([1.0, 2.0]), np.ones(2))
    >>> hv
    array([ 6., 12.])
    """
    ps, as_tuple = _as_tuple(primals)
    ts, _ = _as_tuple(tangents)
    if len(ps) != len(ts):
        raise ValueError(f"hvp: {len(ps)} primals but {len(ts)} tangents")
    prog = _program(f, ps, list(range(len(ps))), "hvp")
    pairs = enumerate(zip(ts, prog.leaves, strict=True))
    dirs = [_seed(t, leaf, "hvp", i) for i, (t, leaf) in pairs]
    hv = tuple(h[0] for h in prog.hvps(dirs, 1))
    return prog.value(), prog.second_order(hv if as_tuple else hv[0])
