"""Elementwise ops: the broadcasting binary ops, ``where``, and the unary ops (with the
ReLU subgradient setting). Their math is one row each in csrc/ops.def and one block in
csrc/rules_t.h; here each is its function and its :class:`~.spec.OpSpec`.

>>> import pyautotape as pat
>>> (pat.tensor([1.0, -2.0]) * 3).numpy()
array([ 3., -6.], dtype=float32)
"""

from __future__ import annotations

import numbers
import threading
from typing import Any

import numpy as np

from .._ffi import lib
from .._state import state
from ..errors import DTypeError
from ..record import record
from ..tensor import Tensor, _wrap, exact_guard, get_default_dtype
from .core import OPCODE, _bcast_cache, bcast_iter, operands, run, tensor_arg
from .selection import nonzero
from .spec import Example, OpSpec, elementwise_bwd_flops, register, unary

# ---------------------------------------------------------------------------------------
# the ReLU subgradient


_relu_subgradient = 0.0
_relu_lock = threading.Lock()


def _check_subgradient(s: Any, where: str) -> float:
    if isinstance(s, bool) or not isinstance(s, numbers.Real):
        raise TypeError(f"{where}: subgradient must be a number in [0, 1], got {s!r}")
    s = float(s)
    if not 0.0 <= s <= 1.0:  # also rejects NaN
        raise ValueError(
            f"{where}: subgradient must lie in [0, 1] (any value there is a valid "
            f"subgradient of relu at 0), got {s}"
        )
    return s


def set_relu_subgradient(s: float) -> None:
    """Set the derivative ``relu`` (and ``maximum``/``minimum`` at a tie) use at exactly 0.

    Any value in [0, 1] is a valid subgradient; the default is 0.0, as PyTorch and JAX.

    >>> import pyautotape as pat
    >>> pat.set_relu_subgradient(0.5); pat.get_relu_subgradient()
    0.5
    >>> pat.set_relu_subgradient(0.0)
    """
    global _relu_subgradient
    value = _check_subgradient(s, "set_relu_subgradient")
    with _relu_lock:
        _relu_subgradient = value


def get_relu_subgradient() -> float:
    """The global ReLU subgradient at 0 (see :func:`set_relu_subgradient`).

    >>> import pyautotape as pat
    >>> pat.get_relu_subgradient()
    0.0
    """
    return _relu_subgradient


# ---------------------------------------------------------------------------------------
# binary


_PY_NUMBERS = (float, int)


def _binary(name: str, a: Any, b: Any, alpha: float = 0.0) -> Tensor:
    # Fastest path: two float Tensors of one dtype (the same dtype object) and one shape
    if type(a) is Tensor and type(b) is Tensor:
        xa, xb = a._data, b._data
        dt = xa.dtype
        if xb.dtype is dt and dt.kind == "f" and xa.shape == xb.shape:
            hit = _bcast_cache.get((xa.shape, xb.shape))
            if hit is not None:
                it = hit[1]
                op = OPCODE[name]
                y = np.empty(hit[0], dt)
                run(op, name, dt, y, s0=xa, s1=xb, it=it, alpha=alpha)
                return record(op, y, (a, b), it=it, alpha=alpha)
    # Fast paths for the common cases, Tensor (op) Tensor and Tensor (op) Python number;
    # a number becomes a 0-d constant array of the tensor's dtype (weak scalars).
    ta = a if type(a) is Tensor and a._data.dtype.kind == "f" else None
    tb = b if type(b) is Tensor and b._data.dtype.kind == "f" else None
    ad = None
    try:
        if ta is not None and tb is not None and ta._data.dtype == tb._data.dtype:
            ad, bd = ta._data, tb._data
        elif ta is not None and type(b) in _PY_NUMBERS:
            ad, bd = ta._data, np.array(b, ta._data.dtype)
        elif tb is not None and type(a) in _PY_NUMBERS:
            ad, bd = np.array(a, tb._data.dtype), tb._data
    except OverflowError:  # an int beyond float range: operands() explains it
        ad = None
    if ad is None and ta is None and tb is None and _exact_operands(a, b):
        return exact_binary(name, a, b)
    if ad is None:
        (ta, tb), _ = operands(name, a, b)
        ad, bd = ta._data, tb._data
    dt = ad.dtype
    out_shape, it = bcast_iter(name, ad.shape, bd.shape)
    op = OPCODE[name]
    y = np.empty(out_shape, dt)
    run(op, name, dt, y, s0=ad, s1=bd, it=it, alpha=alpha)
    # a source is the Tensor, or the constant array a number became
    return record(op, y, (ta if ta is not None else ad, tb if tb is not None else bd), it=it,
                  alpha=alpha)


def _exact_operands(a: Any, b: Any) -> bool:
    """Integer/bool tensors with integer operands (Tensors, ints, integer arrays): the
    op stays in integers, as PyTorch's does; a float anywhere promotes instead."""
    some = False
    for v in (a, b):
        if isinstance(v, Tensor):
            if v._data.dtype.kind == "f":
                return False
            some = True
        elif isinstance(v, np.ndarray):
            if v.dtype.kind not in "iub":
                return False
        elif isinstance(v, float) or not isinstance(v, (int, np.integer, np.bool_)):
            return False
    return some


_EXACT_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "pow": np.power,
                 "maximum": np.maximum, "minimum": np.minimum, "fmod": np.fmod,
                 "remainder": np.remainder, "floor_divide": np.floor_divide}


def exact_binary(name: str, a: Any, b: Any) -> Tensor:
    """``a (op) b`` on integer/bool tensors, in NumPy: never differentiable. Other ops
    (division is true division, ``atan2``) run on the operands promoted to the default
    float dtype, as PyTorch's.

    >>> import pyautotape as pat
    >>> i = pat.tensor([1, 2], dtype=pat.int64)
    >>> (i * 3).tolist(), (i / 2).tolist()
    ([3, 6], [0.5, 1.0])
    """
    from .core import broadcast

    arrs = [v._data if isinstance(v, Tensor) else np.asarray(v) for v in (a, b)]
    if name not in _EXACT_UFUNCS:
        dt = get_default_dtype()
        return _binary(name, _wrap(arrs[0].astype(dt)), _wrap(arrs[1].astype(dt)))
    broadcast(name, arrs[0].shape, arrs[1].shape)
    if name == "sub" and arrs[0].dtype == np.bool_ and arrs[1].dtype == np.bool_:
        raise DTypeError("sub: subtracting bool tensors is not supported (as PyTorch); use "
                         "x ^ y, or cast first with .int()")
    if name in ("fmod", "remainder", "floor_divide") and not np.all(arrs[1]):
        raise ZeroDivisionError(f"{name}: integer division by zero")
    y = np.ascontiguousarray(_EXACT_UFUNCS[name](*arrs))
    exact_guard([v._data for v in (a, b) if isinstance(v, Tensor)], y)  # outside the tape
    return _wrap(y)


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with NumPy broadcasting; the backward sums over broadcast axes.

    >>> import pyautotape as pat
    >>> (pat.tensor([1.0, 2.0]) + 1).numpy()
    array([2., 3.], dtype=float32)
    """
    return _binary("add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.sub(pat.tensor([3.0]), 1).numpy()
    array([2.], dtype=float32)
    """
    return _binary("sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.mul(pat.tensor([2.0, 3.0]), pat.tensor([4.0, 5.0])).numpy()
    array([ 8., 15.], dtype=float32)
    """
    return _binary("mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """``a / b`` with broadcasting.

    >>> import pyautotape as pat
    >>> pat.div(pat.tensor([1.0]), 4).numpy()
    array([0.25], dtype=float32)
    """
    return _binary("div", a, b)


def pow(a: Any, b: Any) -> Tensor:
    """``a ** b`` with broadcasting; d/db is taken as 0 where a == 0 and b >= 0.

    >>> import pyautotape as pat
    >>> (pat.tensor([3.0]) ** 2).numpy()
    array([9.], dtype=float32)
    """
    return _binary("pow", a, b)


def maximum(a: Any, b: Any, subgradient: float | None = None) -> Tensor:
    """Elementwise max; at a tie the gradient goes ``s`` to a and ``1 - s`` to b, with
    ``s`` the ReLU subgradient, so ``maximum(x, 0)`` equals ``relu(x)`` in both passes.

    >>> import pyautotape as pat
    >>> pat.maximum(pat.tensor([1.0, -2.0]), 0).numpy()
    array([1., 0.], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "maximum")
    return _binary("maximum", a, b, alpha=s)


def minimum(a: Any, b: Any, subgradient: float | None = None) -> Tensor:
    """Elementwise min; ties split the gradient ``s : 1 - s`` as :func:`maximum`.

    >>> import pyautotape as pat
    >>> pat.minimum(pat.tensor([1.0, -2.0]), 0).numpy()
    array([ 0., -2.], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "minimum")
    return _binary("minimum", a, b, alpha=s)


_ONE_ARG: Any = object()  # where(cond): a and b not given


def where(cond: Any, a: Any = _ONE_ARG, b: Any = _ONE_ARG) -> Any:
    """``cond ? a : b`` elementwise with broadcasting; ``cond`` is a bool tensor or array
    (comparisons of tensors return one) and gets no gradient. The gradient flows to a
    where cond holds and to b elsewhere (never NaN from the unselected branch).
    ``where(cond)`` alone is ``nonzero(cond, as_tuple=True)``, as ``torch.where(cond)``.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor([-1.0, 2.0])
    >>> pat.where(x > 0, x, 0.0).numpy(), pat.where(x > 0)[0].tolist()
    (array([0., 2.], dtype=float32), [1])
    """
    if a is _ONE_ARG and b is _ONE_ARG:
        return nonzero(cond, as_tuple=True)
    if a is _ONE_ARG or b is _ONE_ARG:
        raise TypeError("where: takes cond alone, or cond, a and b (one of a, b is missing)")
    rec = state.recorder
    if rec is not None:  # a mask argument of a compiled function: its buffer
        cond = rec.host(cond)
    c = cond._data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        raise DTypeError(f"where: cond has dtype {c.dtype}; pass a bool tensor, e.g. x > 0")
    (ta, tb), dt = operands("where", a, b)
    out_shape, it = bcast_iter("where", c.shape, ta.shape, tb.shape)
    c = np.ascontiguousarray(c)
    y = np.empty(out_shape, dt)
    c8 = c.view(np.uint8).copy()  # a private copy: the backward reads it later
    if rec is not None:  # the replay copies a new mask in, or checks a captured one
        rec.converted(cond, c8)
    run(lib.PAT_OP_WHERE, "where", dt, y, s0=c8, s1=ta._data, s2=tb._data, it=it)
    return record(lib.PAT_OP_WHERE, y, (c8, ta, tb), it=it)



# ---------------------------------------------------------------------------------------
# unary


def _unary(name: str, x: Any, alpha: float = 0.0) -> Tensor:
    t = tensor_arg(x, name)
    op = OPCODE[name]
    y = np.empty(t.shape, t.dtype)
    n = t._data.size
    run(op, name, t.dtype, y, s0=t._data, n=n, alpha=alpha)
    return record(op, y, (t,), n=n, alpha=alpha)


def neg(x: Any) -> Tensor:
    """``-x``.

    >>> import pyautotape as pat
    >>> pat.neg(pat.tensor([1.0])).numpy()
    array([-1.], dtype=float32)
    """
    return _unary("neg", x)


def exp(x: Any) -> Tensor:
    """``e ** x``; the backward reads the output.

    >>> import pyautotape as pat
    >>> pat.exp(pat.tensor([0.0])).numpy()
    array([1.], dtype=float32)
    """
    return _unary("exp", x)


def log(x: Any) -> Tensor:
    """Natural log; the gradient at 0 is +inf (as JAX and PyTorch).

    >>> import pyautotape as pat
    >>> pat.log(pat.tensor([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("log", x)


def sqrt(x: Any) -> Tensor:
    """Square root; the gradient at 0 is +inf (as JAX and PyTorch).

    >>> import pyautotape as pat
    >>> pat.sqrt(pat.tensor([4.0])).numpy()
    array([2.], dtype=float32)
    """
    return _unary("sqrt", x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent; the backward reads the output (1 - y²).

    >>> import pyautotape as pat
    >>> pat.tanh(pat.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return _unary("tanh", x)


def sigmoid(x: Any) -> Tensor:
    """Logistic function 1 / (1 + e^-x), computed without overflow.

    >>> import pyautotape as pat
    >>> pat.sigmoid(pat.tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    return _unary("sigmoid", x)


def relu(x: Any, subgradient: float | None = None) -> Tensor:
    """``max(x, 0)``, with ``relu(nan) = nan``.

    ``subgradient`` is the derivative used at exactly 0 (any value in [0, 1]); None takes
    the global default (:func:`set_relu_subgradient`, initially 0). Above 0 the gradient
    passes, below it is 0, and at NaN it passes (as PyTorch). With subgradient 0 the
    backward reads the output (which the next layer keeps anyway); otherwise it keeps the
    input, to tell x == 0 from x < 0.

    >>> import pyautotape as pat
    >>> x = pat.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> pat.relu(x, subgradient=0.5).sum().backward()
    >>> x.grad.numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    s = _relu_subgradient if subgradient is None else _check_subgradient(subgradient, "relu")
    return _unary("relu", x, alpha=s)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """``x if x > 0 else negative_slope * x``; the derivative at 0 is ``negative_slope``
    (as PyTorch).

    >>> import pyautotape as pat
    >>> pat.leaky_relu(pat.tensor([-2.0, 3.0]), 0.5).numpy()
    array([-1.,  3.], dtype=float32)
    """
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return _unary("leaky_relu", x, alpha=float(negative_slope))


# ---------------------------------------------------------------------------------------
# the specs


def _arr(s: Any) -> np.ndarray:
    return s._data if isinstance(s, Tensor) else np.asarray(s)


def _sign_kink(r: Any, sources: Any, want_pattern: bool) -> tuple[int, int, np.ndarray | None]:
    """relu, leaky_relu: arguments exactly 0; the pattern is the sign of x."""
    x = _arr(sources[0])
    pattern = (x > 0).astype(np.int8) - (x < 0).astype(np.int8) if want_pattern else None
    return int(np.count_nonzero(x == 0)), x.size, pattern


def _tie_kink(r: Any, sources: Any, want_pattern: bool) -> tuple[int, int, np.ndarray | None]:
    """maximum, minimum: ties; the pattern is which operand is larger."""
    a, b = _arr(sources[0]), _arr(sources[1])
    pattern = (a > b).astype(np.int8) - (a < b).astype(np.int8) if want_pattern else None
    return int(np.count_nonzero(a == b)), int(np.broadcast(a, b).size), pattern


def _branch(r: Any, sources: Any, want_pattern: bool) -> tuple[None, int, np.ndarray | None]:
    """where: no kink of its own (the condition is a constant), but the branch taken per
    element is a pattern gradcheck watches."""
    c = _arr(sources[0])
    return None, 0, c.astype(np.int8) if want_pattern else None


def _away(r: np.random.Generator, shape: tuple[int, ...], lo: float = 0.2) -> np.ndarray:
    """Values in ±[lo, lo + 1]: no entry within a finite-difference step of 0."""
    return r.choice([-1.0, 1.0], size=shape) * r.uniform(lo, lo + 1.0, size=shape)


def _untied(r: np.random.Generator) -> list[np.ndarray]:
    a = r.standard_normal((3, 4))
    return [a, a + _away(r, (3, 4))]  # no ties: |a - b| >= 0.2


def _binary_spec(fn: Any, ref: Any, make: Any, **fields: Any) -> OpSpec:
    return OpSpec(fn.__name__, fn, "binary", inputs=("a", "b"),
                  examples=(Example(fn, ref, make),), bwd_flops=elementwise_bwd_flops, **fields)


_COND = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=bool)


def _where_example(a: Any, b: Any) -> Any:
    return where(_COND, a, b)


register(_binary_spec(add, np.add, lambda r: [r.standard_normal((3, 4)), r.standard_normal(4)]))
register(_binary_spec(sub, np.subtract,
                      lambda r: [r.standard_normal((3, 1)), r.standard_normal((3, 4))]))
register(_binary_spec(mul, np.multiply,
                      lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))]))
register(_binary_spec(div, np.divide, lambda r: [r.standard_normal((3, 4)), _away(r, (4,), 0.5)]))
register(_binary_spec(pow, np.power,
                      lambda r: [r.uniform(0.5, 1.5, (3, 4)), r.uniform(-1.0, 2.0, (3, 4))]))
register(_binary_spec(maximum, np.maximum, _untied, kink=_tie_kink))
register(_binary_spec(minimum, np.minimum, _untied, kink=_tie_kink))
register(OpSpec("where", where, "where", inputs=("cond", "a", "b"), kink=_branch,
                bwd_flops=elementwise_bwd_flops,
                examples=(Example(_where_example, lambda a, b: np.where(_COND, a, b),
                                  lambda r: [r.standard_normal((3, 4)), r.standard_normal(4)]),)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow


def _leaky(x: np.ndarray, negative_slope: float) -> np.ndarray:
    return np.where(x > 0, x, negative_slope * x)


register(unary(neg, np.negative, "real"))
register(unary(exp, np.exp, "real", method=True))
register(unary(log, np.log, "positive", method=True))
register(unary(sqrt, np.sqrt, "positive", method=True))
register(unary(tanh, np.tanh, "real", method=True))
register(unary(sigmoid, _sigmoid, "real", method=True))
register(unary(relu, lambda x: np.maximum(x, 0.0), "away", method=True, kink=_sign_kink,
               kink_points=(0.0,)))
register(unary(leaky_relu, _leaky, "away", kwargs={"negative_slope": 0.1}, kink=_sign_kink,
               kink_points=(0.0,)))

__all__ = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "neg", "exp",
           "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "set_relu_subgradient",
           "get_relu_subgradient"]
