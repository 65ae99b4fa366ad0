"""Finite differences and gradient checking.

Central differences approximate ``df/dx_j`` by ``(f(x + h e_j) - f(x - h e_j)) / 2h``:
2n evaluations of f for n inputs, with an error that falls as h² (truncation) until
round-off, which grows as 1/h, takes over. That is why the step depends on the dtype.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import autograd
from ._ffi import F32, F64
from .errors import DTypeError, GradcheckError, ShapeError
from .tensor import Tensor, no_grad, tensor

__all__ = ["numerical_grad", "gradcheck", "GradcheckReport", "InputCheck"]

# default central-difference steps: about cbrt(machine epsilon), where truncation and
# round-off errors balance for smooth functions of O(1) values
DEFAULT_EPS = {F32: 1e-2, F64: 1e-6}
# default tolerances: float64 as PyTorch's gradcheck; float32 loose enough for honest
# finite differences at the step above
DEFAULT_TOL = {F32: (1e-3, 2e-2), F64: (1e-5, 1e-3)}


def _scalar(value: Any) -> float:
    if isinstance(value, Tensor):
        value = value._data
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ShapeError(
            f"numerical_grad: f must return a scalar, got shape {arr.shape}; reduce it "
            "(e.g. .sum()) or use gradcheck, which projects vector outputs"
        )
    return float(arr.reshape(()))


def numerical_grad(
    f: Callable[[Tensor], Any],
    x: Any,
    eps: float | None = None,
    method: str = "central",
) -> np.ndarray:
    """The gradient of a scalar function by finite differences.

    ``f`` takes a Tensor shaped like ``x`` and returns a scalar (Tensor or number).
    ``method`` is "central" (2n evaluations, error O(eps²)) or "forward" (n + 1
    evaluations, error O(eps)). ``eps`` defaults to 1e-6 for float64 and 1e-2 for float32.

    >>> import numpy as np, pyautotape as pat
    >>> g = pat.numerical_grad(lambda t: (t * t).sum(), np.array([1.0, 2.0]))
    >>> np.round(g, 6)
    array([2., 4.])
    """
    if method not in ("central", "forward"):
        raise ValueError(f"numerical_grad: method must be 'central' or 'forward', got {method!r}")
    base = tensor(x).numpy()
    if base.dtype not in (F32, F64):
        raise DTypeError(f"numerical_grad: x must be float32/float64, got {base.dtype}")
    h = DEFAULT_EPS[base.dtype] if eps is None else float(eps)
    if not h > 0:
        raise ValueError(f"numerical_grad: eps must be positive, got {eps}")
    flat = base.reshape(-1)
    out = np.empty(flat.size, dtype=np.float64)
    with no_grad():
        f0 = _scalar(f(tensor(base))) if method == "forward" else 0.0
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + h
            fp = _scalar(f(tensor(base)))
            if method == "central":
                flat[j] = keep - h
                fm = _scalar(f(tensor(base)))
                out[j] = (fp - fm) / (2 * h)
            else:
                out[j] = (fp - f0) / h
            flat[j] = keep
    return out.reshape(base.shape)


@dataclasses.dataclass
class InputCheck:
    """The comparison for one input: errors, where the worst one is, and both values there."""

    index: int
    shape: tuple[int, ...]
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...] | None
    analytic: float
    numerical: float
    passed: bool


@dataclasses.dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`: truthy when every input passed; ``str()`` is a table."""

    inputs: list[InputCheck]
    eps: float
    atol: float
    rtol: float
    dtype: np.dtype
    # forward mode: J u from a tangent sweep vs central differences along u, one row per
    # input; None when f has no forward mode (a custom op without a jvp rule)
    forward: list[InputCheck] | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.inputs) and all(c.passed for c in self.forward or ())

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = (
            f"gradcheck ({self.dtype}, central differences, eps={self.eps:g}, "
            f"atol={self.atol:g}, rtol={self.rtol:g}): {'passed' if self.passed else 'FAILED'}"
        )
        rows = [head, f"{'input':>5} {'shape':>14} {'max abs err':>12} {'max rel err':>12} "
                f"{'worst at':>12} {'analytic':>13} {'numerical':>13}  ok"]  # fmt: skip
        for c in self.inputs:
            where = "-" if c.worst_index is None else str(c.worst_index)
            rows.append(
                f"{c.index:>5} {str(c.shape):>14} {c.max_abs_err:>12.3e} {c.max_rel_err:>12.3e} "
                f"{where:>12} {c.analytic:>13.6g} {c.numerical:>13.6g}  "
                f"{'yes' if c.passed else 'NO'}"
            )
        if self.forward is None:
            rows.append("forward mode: not checked (an op in f has no jvp rule)")
        else:
            rows.append("forward mode (jvp along a random direction u vs central differences):")
            for c in self.forward:
                where = "-" if c.worst_index is None else str(c.worst_index)
                rows.append(
                    f"{c.index:>5} {str(c.shape):>14} {c.max_abs_err:>12.3e} "
                    f"{c.max_rel_err:>12.3e} {where:>12} {c.analytic:>13.6g} "
                    f"{c.numerical:>13.6g}  {'yes' if c.passed else 'NO'}"
                )
        return "\n".join(rows)


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Any,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    seed: int = 0,
) -> GradcheckReport:
    """Compare reverse-mode gradients of ``f`` with central differences, and forward mode
    (``pat.jvp`` along a random direction per input) too when every op of f has a forward
    rule (a custom ``pat.Function`` may not; ``report.forward`` is then None).

    ``f`` takes one Tensor per input and returns a Tensor of any shape; a non-scalar
    output is projected on a fixed random cotangent v, so the check is of vᵀJ. An entry
    passes when ``|analytic - numerical| <= atol + rtol * |numerical|``. Defaults: float64
    eps 1e-6, atol 1e-5, rtol 1e-3 (PyTorch's); float32 eps 1e-2, atol 1e-3, rtol 2e-2.
    Raises :class:`GradcheckError` with the report when a check fails and
    ``raise_exception`` is true.

    >>> import numpy as np, pyautotape as pat
    >>> report = pat.gradcheck(lambda x: pat.tanh(x) * x, np.array([0.3, -1.2]))
    >>> bool(report)
    True
    """
    raw = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    arrays = [tensor(a).numpy() for a in raw]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise DTypeError(f"gradcheck: inputs mix dtypes {sorted(map(str, dtypes))}; use one")
    (dtype,) = dtypes
    h = DEFAULT_EPS[dtype] if eps is None else float(eps)
    dat, drt = DEFAULT_TOL[dtype]
    atol = dat if atol is None else float(atol)
    rtol = drt if rtol is None else float(rtol)

    leaves = [tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    if out.size == 1:
        v = np.ones(out.shape, dtype)
    analytic = autograd.grad(out, leaves, grad_outputs=v, allow_unused=True)

    def projected(*xs: Tensor) -> float:
        return float(np.sum(np.asarray(f(*xs)._data, np.float64) * v))

    checks = []
    for i, a in enumerate(arrays):

        def fi(t: Tensor, i: int = i) -> float:
            xs = [tensor(b) for b in arrays]
            xs[i] = t
            return projected(*xs)

        num = numerical_grad(fi, a, eps=h)
        ana = (
            analytic[i].numpy().astype(np.float64)
            if analytic[i] is not None
            else np.zeros(a.shape)
        )
        err = np.abs(ana - num)
        bound = atol + rtol * np.abs(num)
        rel = err / np.maximum(np.abs(num), np.finfo(np.float64).tiny)
        if err.size:
            worst = np.unravel_index(int(np.argmax(err - bound)), err.shape)
            checks.append(InputCheck(i, a.shape, float(err.max()), float(rel.max()),
                                     tuple(int(w) for w in worst), float(ana[worst]),
                                     float(num[worst]), bool(np.all(err <= bound))))  # fmt: skip
        else:
            checks.append(InputCheck(i, a.shape, 0.0, 0.0, None, 0.0, 0.0, True))
    forward = _forward_checks(f, arrays, h, atol, rtol, seed)
    report = GradcheckReport(checks, h, atol, rtol, dtype, forward)
    if raise_exception and not report.passed:
        raise GradcheckError(str(report))
    return report


def _forward_checks(
    f: Callable[..., Tensor], arrays: list[np.ndarray], h: float, atol: float, rtol: float,
    seed: int,
) -> list[InputCheck] | None:
    """Forward mode, per input i: J_i u_i from one tangent sweep (pat.jvp) against the
    central difference (f(x_i + h u_i) - f(x_i - h u_i)) / 2h, elementwise over the output.
    None when f contains an op without a forward rule."""
    from .transforms import jvp  # transforms imports the core this module sits beside

    rng = np.random.default_rng(seed + 1)
    rows = []
    for i, a in enumerate(arrays):
        u = rng.standard_normal(a.shape).astype(a.dtype)
        tangents = [np.zeros_like(b) for b in arrays]
        tangents[i] = u
        try:
            _, ana = jvp(f, tuple(arrays), tuple(tangents))
        except NotImplementedError:
            return None
        ana = np.asarray(ana, np.float64)
        with no_grad():
            xs = [tensor(b) for b in arrays]
            xs[i] = tensor(a + h * u)
            fp = np.asarray(f(*xs)._data, np.float64)
            xs[i] = tensor(a - h * u)
            fm = np.asarray(f(*xs)._data, np.float64)
        num = (fp - fm) / (2 * h)
        err = np.abs(ana - num)
        bound = atol + rtol * np.abs(num)
        rel = err / np.maximum(np.abs(num), np.finfo(np.float64).tiny)
        if err.size:
            worst = np.unravel_index(int(np.argmax(err - bound)), err.shape)
            rows.append(InputCheck(i, a.shape, float(err.max()), float(rel.max()),
                                   tuple(int(w) for w in worst), float(ana[worst]),
                                   float(num[worst]), bool(np.all(err <= bound))))  # fmt: skip
        else:
            rows.append(InputCheck(i, a.shape, 0.0, 0.0, None, 0.0, 0.0, True))
    return rows
