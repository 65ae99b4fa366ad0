"""Dense ops: ``matmul`` (NumPy's rules, batched), ``linear`` (PyTorch's weight layout,
bias fused) and ``stacked_linear`` (the linear layers of E models at once), through
OpenBLAS.

>>> import numpy as np, pyautotape as pat
>>> (pat.tensor(np.ones((2, 3))) @ pat.tensor(np.ones((3, 4)))).shape
(2, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._ffi import lib
from ..errors import ShapeError
from ..record import record
from ..tensor import Tensor
from .core import (
    _INT32_MAX,
    bcast_strides,
    blas_sizes,
    broadcast,
    cstrides,
    operands,
    pack_iter,
    prod,
    run,
)
from .spec import Cost, Example, OpSpec, register


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with ``np.matmul`` rules: 1-D operands are promoted and the added
    axis removed; leading axes are batch axes and broadcast.

    >>> import pyautotape as pat
    >>> (pat.tensor([[1.0, 2.0]]) @ pat.tensor([[3.0], [4.0]])).numpy()
    array([[11.]], dtype=float32)
    """
    (ta, tb), dt = operands("matmul", a, b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise ShapeError(
            f"matmul: operands must be at least 1-D, got {ta.shape} and {tb.shape}; "
            "use * for scalars"
        )
    ash = ta.shape if ta.ndim >= 2 else (1,) + ta.shape
    bsh = tb.shape if tb.ndim >= 2 else tb.shape + (1,)
    m, k = ash[-2:]
    k2, n = bsh[-2:]
    if k != k2:
        raise ShapeError(
            f"matmul: {ta.shape} @ {tb.shape}: the inner dimensions {k} and {k2} differ; "
            "transpose an operand (x.T) or fix the shapes"
        )
    batch = broadcast("matmul", ash[:-2], bsh[:-2])
    blas_sizes("matmul", m, k, n)
    out_shape = batch + ((m,) if ta.ndim >= 2 else ()) + ((n,) if tb.ndim >= 2 else ())
    it = pack_iter(
        batch,
        (
            [s * m * n for s in cstrides(batch)],
            [s * m * k for s in bcast_strides(ash[:-2], batch)],
            [s * k * n for s in bcast_strides(bsh[:-2], batch)],
        ),
        "matmul",
    )
    y = np.empty(out_shape, dt)
    run(lib.PAT_OP_MATMUL, "matmul", dt, y, s0=ta._data, s1=tb._data, it=it, m=m, k=k, n=n)
    return record(lib.PAT_OP_MATMUL, y, (ta, tb), it=it, m=m, k=k, n=n)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x @ weight.T + bias`` with weight (out, in), as ``torch.nn.functional.linear``;
    one fused kernel (bias written first, GEMM adds onto it). The backward computes dW
    only when weight needs a gradient and the bias sum only when bias does.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.ones((2, 3)))
    >>> w = pat.tensor(np.ones((4, 3)))
    >>> pat.linear(x, w, pat.tensor(np.zeros(4))).shape
    (2, 4)
    """
    if (
        type(x) is Tensor
        and type(weight) is Tensor
        and (bias is None or type(bias) is Tensor)
        and x._data.dtype == weight._data.dtype
        and (bias is None or bias._data.dtype == x._data.dtype)
    ):  # the common case, without the general conversion
        tx, tw, tb, dt = x, weight, bias, x._data.dtype
    else:
        args = (x, weight) if bias is None else (x, weight, bias)
        ts, dt = operands("linear", *args)
        tx, tw = ts[0], ts[1]
        tb = ts[2] if bias is not None else None
    xs, ws = tx._data.shape, tw._data.shape
    if len(ws) != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in), got {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ShapeError(
            f"linear: x {xs} does not end in in_features={ws[1]} of weight "
            f"{ws} (weight is (out, in), as PyTorch)"
        )
    n, k = ws
    if tb is not None and tb._data.shape != (n,):
        raise ShapeError(
            f"linear: bias must have shape ({n},) for weight {ws}, got {tb._data.shape}"
        )
    m = xs[0] if len(xs) == 2 else prod(xs[:-1])
    if m > _INT32_MAX or k > _INT32_MAX or n > _INT32_MAX:
        blas_sizes("linear", m, k, n)
    y = np.empty(xs[:-1] + (n,), dt)
    run(lib.PAT_OP_LINEAR, "linear", dt, y, s0=tx._data, s1=tw._data,
         s2=tb._data if tb is not None else None, m=m, k=k, n=n)
    return record(lib.PAT_OP_LINEAR, y, (tx, tw, tb), m=m, k=k, n=n)


def stacked_linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """The linear layers of E models at once: ``y[e] = x[e] @ weight[e].T + bias[e]`` with
    weight (E, out, in) and bias (E, out); x is one batch (B, in) that every member reads,
    or per-member batches (E, B, in) (a leading 1 broadcasts). Returns (E, B, out).

    One C call runs member e exactly as ``linear(x[e], weight[e], bias[e])`` (the same GEMM,
    the same sizes), so each member's values and gradients are bitwise those of the model
    alone. This is what :class:`pyautotape.nn.Ensemble` runs its members' Linear layers as.

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.ones((3, 4, 2)))            # 3 members, Linear(2, 4) each
    >>> pat.stacked_linear(np.ones((5, 2)), w, pat.tensor(np.zeros((3, 4)))).shape
    (3, 5, 4)
    """
    args = (x, weight) if bias is None else (x, weight, bias)
    ts, dt = operands("stacked_linear", *args)
    tx, tw = ts[0], ts[1]
    tb = ts[2] if bias is not None else None
    xs, ws = tx._data.shape, tw._data.shape
    if len(ws) != 3:
        raise ShapeError(
            f"stacked_linear: weight must be 3-D (members, out, in), got {ws}; for one "
            "model use pat.linear"
        )
    e, n, k = ws
    if len(xs) not in (2, 3) or xs[-1] != k:
        raise ShapeError(
            f"stacked_linear: x {xs} must be (batch, {k}) shared by the members or "
            f"({e}, batch, {k}) one per member, for weight {ws} (members, out, in)"
        )
    if len(xs) == 3 and xs[0] not in (e, 1):
        raise ShapeError(
            f"stacked_linear: x {xs} has {xs[0]} member batches but weight {ws} has {e} "
            "members; pass one batch per member, or a batch of shape (batch, in) for all"
        )
    if tb is not None and tb._data.shape != (e, n):
        raise ShapeError(
            f"stacked_linear: bias must have shape ({e}, {n}) for weight {ws}, got "
            f"{tb._data.shape}"
        )
    m = xs[-2]
    blas_sizes("stacked_linear", m, k, n)
    shared = len(xs) == 2 or xs[0] == 1
    strides = ([m * n], [0 if shared else m * k], [n * k], [n if tb is not None else 0])
    it = pack_iter((e,), strides, "stacked_linear")
    y = np.empty((e, m, n), dt)
    run(lib.PAT_OP_STACKED_LINEAR, "stacked_linear", dt, y, s0=tx._data, s1=tw._data,
        s2=tb._data if tb is not None else None, it=it, m=m, k=k, n=n)
    return record(lib.PAT_OP_STACKED_LINEAR, y, (tx, tw, tb), it=it, m=m, k=k, n=n)


# ---------------------------------------------------------------------------------------
# the specs


def _matmul_flops(c: Cost) -> int:
    return 2 * c.k * math.prod(c.out)


def _matmul_bwd(c: Cost, need: Sequence[bool]) -> int:
    return sum(2 * c.k * math.prod(c.out) for nd in need if nd)


def _linear_flops(c: Cost) -> int:
    return 2 * c.m * c.k * c.n + (c.m * c.n if c.has_bias else 0)


def _linear_bwd(c: Cost, need: Sequence[bool]) -> int:
    """dX and dW one GEMM each (so no dW without W), db a sum over the rows."""
    cost = [2 * c.m * c.k * c.n, 2 * c.m * c.k * c.n, c.m * c.n]
    return sum(w for w, nd in zip(cost, need, strict=False) if nd)


register(OpSpec("matmul", matmul, "dense", inputs=("a", "b"), flops=_matmul_flops,
                bwd_flops=_matmul_bwd, examples=(Example(
                    matmul, np.matmul,
                    lambda r: [r.standard_normal((2, 3, 4)), r.standard_normal((4, 5))]),)))
register(OpSpec("linear", linear, "dense", inputs=("x", "weight", "bias"), flops=_linear_flops,
                bwd_flops=_linear_bwd, examples=(Example(
                    linear, lambda x, w, b: x @ w.T + b,
                    lambda r: [r.standard_normal((3, 4)), r.standard_normal((5, 4)),
                               r.standard_normal(5)]),)))



def _stacked_flops(c: Cost) -> int:
    return c.out[0] * _linear_flops(c)


def _stacked_bwd(c: Cost, need: Sequence[bool]) -> int:
    return c.out[0] * _linear_bwd(c, need)


def _np_stacked(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(x, np.swapaxes(w, -1, -2)) + b[:, None, :]


register(OpSpec("stacked_linear", stacked_linear, "dense", inputs=("x", "weight", "bias"),
                flops=_stacked_flops, bwd_flops=_stacked_bwd, examples=(
                    Example(stacked_linear, _np_stacked,
                            lambda r: [r.standard_normal((3, 4)), r.standard_normal((2, 5, 4)),
                                       r.standard_normal((2, 5))]),
                    Example(stacked_linear, _np_stacked,
                            lambda r: [r.standard_normal((2, 3, 4)),
                                       r.standard_normal((2, 5, 4)),
                                       r.standard_normal((2, 5))]),
                    Example(lambda x, w: stacked_linear(x, w), lambda x, w: _np_stacked(
                                x, w, np.zeros(w.shape[:2])),
                            lambda r: [r.standard_normal((1, 3, 4)),
                                       r.standard_normal((3, 2, 4))]))))


# ---------------------------------------------------------------------------------------
# built from matmul and the elementwise ops


def _vector(x: Any, op: str, arg: str) -> Tensor:
    t = x if isinstance(x, Tensor) else operands(op, x)[0][0]
    if t.ndim != 1:
        raise ShapeError(f"{op}: {arg} must be 1-D, got shape {t.shape}; flatten it first")
    return t


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = a[i] * b[j]`` (``torch.outer``).

    >>> import pyautotape as pat
    >>> pat.outer(pat.tensor([1.0, 2.0]), pat.tensor([3.0, 4.0, 5.0])).shape
    (2, 3)
    """
    from .elementwise import mul
    from .shape import reshape

    ta, tb = _vector(a, "outer", "a"), _vector(b, "outer", "b")
    return mul(reshape(ta, (ta.shape[0], 1)), reshape(tb, (1, tb.shape[0])))


def dot(a: Any, b: Any) -> Tensor:
    """Inner product of two 1-D tensors of one length, a 0-d tensor (``torch.dot``).

    >>> import pyautotape as pat
    >>> pat.dot(pat.tensor([1.0, 2.0]), pat.tensor([3.0, 4.0])).item()
    11.0
    """
    ta, tb = _vector(a, "dot", "a"), _vector(b, "dot", "b")
    if ta.shape != tb.shape:
        raise ShapeError(f"dot: lengths {ta.shape[0]} and {tb.shape[0]} differ")
    return matmul(ta, tb)


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1.0,
          alpha: float = 1.0) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` with 2-D mat1, mat2 and input broadcast to
    the product, as ``torch.addmm``; with ``beta=0`` input is ignored (NaN in it too).

    >>> import numpy as np, pyautotape as pat
    >>> pat.addmm(pat.tensor(np.ones(2)), pat.tensor(np.eye(2)), pat.tensor(np.eye(2))).numpy()
    array([[2., 1.],
           [1., 2.]])
    """
    from .elementwise import add, mul

    for v, n in ((beta, "beta"), (alpha, "alpha")):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"addmm: {n} must be a number, got {v!r}")
    (ti, t1, t2), _ = operands("addmm", input, mat1, mat2)
    if t1.ndim != 2 or t2.ndim != 2:
        raise ShapeError(f"addmm: mat1 and mat2 must be 2-D, got {t1.shape} and {t2.shape}")
    out_shape = (t1.shape[0], t2.shape[1])
    if broadcast("addmm", ti.shape, out_shape) != out_shape:
        raise ShapeError(f"addmm: input of shape {ti.shape} does not broadcast to {out_shape}")
    p = matmul(t1, t2)
    if alpha != 1:
        p = mul(p, alpha)
    if beta == 0:
        return p
    return add(ti if beta == 1 else mul(ti, beta), p)


__all__ = ["matmul", "linear", "stacked_linear", "outer", "dot", "addmm"]
