"""Finite differences and a gradient check that explains itself.

Central differences approximate ``df/dx_j`` by ``(f(x + h e_j) - f(x - h e_j)) / 2h``:
2n evaluations of f for n inputs. Their error has two parts that pull the step h in
opposite directions: truncation, which falls as h² (the Taylor terms the formula drops),
and round-off, which grows as ε/h (f is only known to about machine ε, and the
difference of two nearly equal values divided by a small h magnifies that). Plotted
against h on log axes the error is a V; its bottom is near h = ε^(1/3): about 1e-5 in
float64, but 5e-3 in float32, where the best achievable error is only about 1e-5 relative.

:func:`gradcheck` therefore does not trust one step. With ``eps=None`` (``"auto"``) it
sweeps h over a grid for each input, estimates the error at each step *without looking at
the analytic gradient* (the spread between estimates at neighbouring steps, which traces
the same V), and compares at the step where that spread is smallest. The report shows
the sweep, and ``report.plot(path)`` draws it.

A finite-difference step can also cross a point where f is not differentiable: a ReLU
argument, a ``maximum``/``minimum`` tie or a ``max`` winner changes between x − h and
x + h. The secant then averages two different slopes and matches no derivative. The check
runs f under a :class:`~pyautotape.Tape` scope and compares, per kink op, the switch
pattern (signs, winners, ``where`` branches) at x − h, x and x + h; entries whose step
flips one are reported as "kink crossed" and left out of the comparison, never silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autograd
from ._ffi import F32, F64
from .errors import DTypeError, GradcheckError, ShapeError
from .gradcheck_report import GradcheckReport, InputCheck, KinkCrossing, SweepPoint
from .tape import Tape
from .tensor import Tensor, enable_grad, no_grad, tensor

__all__ = [
    "numerical_grad", "gradcheck", "GradcheckReport", "InputCheck", "SweepPoint",
    "KinkCrossing",
]

# fixed central-difference steps (numerical_grad, and gradcheck with an explicit eps):
# about cbrt(machine epsilon), where truncation and round-off balance for smooth O(1) f
DEFAULT_EPS = {F32: 1e-2, F64: 1e-6}
# the steps eps="auto" tries, largest first: half decades around the bottom of the V
EPS_GRID = {
    F32: tuple(float(10.0**-e) for e in np.arange(1.0, 4.51, 0.5)),  # 1e-1 .. 3e-5
    F64: tuple(float(10.0**-e) for e in np.arange(2.0, 9.01, 1.0)),  # 1e-2 .. 1e-9
}
# default tolerances: float64 as PyTorch's gradcheck; float32 as tight as honest central
# differences at the swept step allow, so a gradient wrong by 0.1 % still fails
DEFAULT_TOL = {F32: (1e-5, 2e-4), F64: (1e-5, 1e-3)}
# with eps="auto", a step may exclude this many more kink-crossing entries (fraction of
# the input's size, at least 1) than the step that excludes fewest, before it is ruled out
KINK_SLACK = 0.05
# with eps="auto" an entry may also differ by NOISE_FACTOR times the spread of the
# numerical estimates around the chosen step: their own error, measured without the
# analytic value (it is 1e-11 in float64, about 1e-5 in float32)
NOISE_FACTOR = 2.0


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


# ---------------------------------------------------------------------------------------
# evaluating f and watching its kinks


_Switches = list[tuple[int, str, tuple[int, ...], np.ndarray]]


def _evaluate(f: Callable[..., Tensor], xs: list[np.ndarray]) -> tuple[np.ndarray, _Switches]:
    """f at xs as a float64 array, and the switch pattern of each kink/where record."""
    tape = Tape()
    tape._patterns = True
    leaves = [tensor(a, requires_grad=True) for a in xs]
    with enable_grad(), tape:
        out = f(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    sw = [(e.index, e.op, e.output, e.pattern) for e in tape if e.pattern is not None]
    return np.asarray(out._data, np.float64), sw


def _flips(base: _Switches, other: _Switches) -> tuple[str, ...]:
    """The records whose switch pattern differs (empty when none does)."""
    if len(base) != len(other) or any(b[1:3] != o[1:3] for b, o in zip(base, other, strict=True)):
        return ("the tape itself (control flow changed)",)
    return tuple(f"{b[1]} #{b[0]}" for b, o in zip(base, other, strict=True)
                 if not np.array_equal(b[3], o[3]))


def _steps(x: np.ndarray, d: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x ± h d rounded to x's dtype, and the step actually taken per entry (in float64):
    dividing by the real step, not by 2h, removes the rounding of x ± h from the error."""
    x64 = x.astype(np.float64)
    xp = (x64 + h * d).astype(x.dtype)
    xm = (x64 - h * d).astype(x.dtype)
    return xp, xm, xp.astype(np.float64) - xm.astype(np.float64)


def _spread(est: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per step g: the largest change of the estimates from the neighbouring steps, over
    entries valid at both (NaN where there is nothing to compare)."""
    g_count = est.shape[0]
    out = np.full(g_count, np.nan)
    for g in range(g_count):
        worst = -1.0
        for n in (g - 1, g + 1):
            if 0 <= n < g_count:
                both = ok[g] & ok[n]
                if both.any():
                    worst = max(worst, float(np.max(np.abs(est[g][both] - est[n][both]))))
        if worst >= 0:
            out[g] = worst
    return out


def _noise(spread: float) -> float:
    """The allowance for the numerical value's own error: twice the spread between the
    estimates at the chosen step and its neighbours (0 for a single fixed step)."""
    return NOISE_FACTOR * spread if math.isfinite(spread) else 0.0


def _choose(spread: np.ndarray, crossed: np.ndarray, usable: np.ndarray) -> int:
    """The step with the least spread, among the usable steps that leave out at most a
    few more kink-crossing entries than the step that leaves out fewest."""
    counts = crossed.reshape(crossed.shape[0], -1).sum(axis=1)
    cand = np.flatnonzero(usable)
    if cand.size == 0:
        return int(np.argmin(counts))
    size = crossed[0].size
    limit = counts[cand].min() + max(1, math.ceil(KINK_SLACK * size))
    kept = [int(g) for g in cand if counts[g] <= limit]
    finite = [g for g in kept if math.isfinite(spread[g])]
    if not finite:
        return kept[-1]  # one step only, or nothing to compare: the smallest usable
    return int(min(finite, key=lambda g: (spread[g], g)))


def _compare(i: int, mode: str, shape: tuple[int, ...], ana: np.ndarray, num: np.ndarray,
             keep: np.ndarray, atol: float, rtol: float, noise: float) -> InputCheck:
    err = np.abs(ana - num)
    bound = atol + rtol * np.abs(num) + noise
    rel = err / np.maximum(np.abs(num), np.finfo(np.float64).tiny)
    if not keep.any():
        return InputCheck(i, shape, 0.0, 0.0, None, 0.0, 0.0, True, mode=mode, noise=noise)
    score = np.where(keep, err - bound, -np.inf)
    score = np.where(np.isnan(score), np.inf, score)  # a NaN on either side is a failure
    worst = np.unravel_index(int(np.argmax(score)), err.shape)
    ok = bool(np.all(err[keep] <= bound[keep]))
    return InputCheck(i, shape, float(np.max(err[keep])), float(np.max(rel[keep])),
                      tuple(int(w) for w in worst), float(ana[worst]), float(num[worst]), ok,
                      mode=mode, compared=int(keep.sum()), noise=noise)


# ---------------------------------------------------------------------------------------
# gradcheck


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Any,
    eps: float | str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    seed: int = 0,
    forward: bool = True,
) -> GradcheckReport:
    """Check the reverse-mode (and forward-mode) derivatives of ``f`` against central
    differences, each input separately, and explain the result.

    ``f`` takes one Tensor per input and returns a Tensor of any shape; a non-scalar
    output is projected on a fixed random cotangent v, so reverse mode is checked as vᵀJ
    (one reverse sweep). Forward mode, when every op of f has a forward rule, is checked
    as J u along a random direction u per input (``pat.jvp``) against the central
    difference along u, elementwise over the output; ``report.forward`` is None when an
    op (a custom ``pat.Function`` without ``jvp``) has none, or with ``forward=False``.

    ``eps``: None or ``"auto"`` sweeps the step over a grid per input (float64: 1e-2 to
    1e-9, float32: 1e-1 to 3e-5) and compares at the step where neighbouring estimates
    agree best, judged without the analytic gradient; the report shows the sweep. A
    number fixes the step. The step of entry x_j is eps * max(1, |x_j|). Entries whose
    step crosses a kink (a relu/leaky_relu argument or a maximum/minimum difference
    changes sign, a max changes winner, a where switches branch between x - eps, x and
    x + eps) are left out of the comparison and listed as
    "kink crossed". An entry passes when ``|analytic - numerical| <= atol + rtol *
    |numerical|``; defaults: float64 atol 1e-5, rtol 1e-3 (PyTorch's); float32 atol
    1e-5, rtol 2e-4. Raises :class:`GradcheckError` with the report when a check fails
    and ``raise_exception`` is true.

    >>> import numpy as np, pyautotape as pat
    >>> report = pat.gradcheck(lambda x: pat.tanh(x) * x, np.array([0.3, -1.2]))
    >>> bool(report)
    True
    >>> x = np.array([0.0, 1.0], np.float32)     # relu's argument is exactly at its kink
    >>> report = pat.gradcheck(pat.relu, x)
    >>> bool(report), [k.index for k in report.kinks if k.mode == "reverse"]
    (True, [(0,)])
    """
    raw = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    arrays = [tensor(a).numpy() for a in raw]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise DTypeError(f"gradcheck: inputs mix dtypes {sorted(map(str, dtypes))}; use one")
    (dtype,) = dtypes
    eps_label: float | str
    if eps is None or (isinstance(eps, str) and eps == "auto"):
        grid, eps_label = EPS_GRID[dtype], "auto"
    elif isinstance(eps, str):
        raise ValueError(f"gradcheck: eps must be a positive number, None or 'auto', got {eps!r}")
    else:
        if not float(eps) > 0:
            raise ValueError(f"gradcheck: eps must be positive, got {eps}")
        grid, eps_label = (float(eps),), float(eps)
    dat, drt = DEFAULT_TOL[dtype]
    atol = dat if atol is None else float(atol)
    rtol = drt if rtol is None else float(rtol)

    leaves = [tensor(a, requires_grad=True) for a in arrays]
    with enable_grad():
        out = f(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    if out.size == 1:
        v = np.ones(out.shape, dtype)
    analytic: Sequence[Tensor | None] = (
        autograd.grad(out, leaves, grad_outputs=v, allow_unused=True) if out.requires_grad
        else [None] * len(leaves))
    v64 = v.astype(np.float64)
    _, base = _evaluate(f, arrays)

    checks, crossed_at = [], []
    for i, a in enumerate(arrays):
        grad_i = analytic[i]
        ana = (grad_i.numpy().astype(np.float64) if grad_i is not None
               else np.zeros(a.shape))
        check, crossed = _reverse_check(f, arrays, i, ana, v64, base, grid, atol, rtol)
        checks.append(check)
        crossed_at.append(crossed)
    fwd = (_forward_checks(f, arrays, crossed_at, base, grid, atol, rtol, seed)
           if forward else None)
    report = GradcheckReport(checks, eps_label, atol, rtol, dtype, fwd)
    if raise_exception and not report.passed:
        raise GradcheckError(str(report))
    return report


def _reverse_check(
    f: Callable[..., Tensor], arrays: list[np.ndarray], i: int, ana: np.ndarray,
    v64: np.ndarray, base: _Switches, grid: tuple[float, ...], atol: float, rtol: float,
) -> tuple[InputCheck, np.ndarray]:
    """Central differences of vᵀf along each entry of input i at every step of the grid;
    returns the check and the mask of entries that cross a kink at the chosen step."""
    a = arrays[i]
    n = a.size
    g_count = len(grid)
    est = np.zeros((g_count, n))
    crossed = np.zeros((g_count, n), bool)
    usable = np.ones((g_count, n), bool)
    why: dict[tuple[int, int], tuple[str, ...]] = {}
    flat = a.reshape(-1)
    scale = np.maximum(1.0, np.abs(flat.astype(np.float64)))  # relative steps for |x| > 1
    xs = list(arrays)
    for g, h in enumerate(grid):
        xp_all, xm_all, step = _steps(flat, scale, h)
        for j in range(n):
            if step[j] == 0:  # h is below the spacing of floats at x_j
                usable[g, j] = False
                continue
            xp = flat.copy()
            xp[j] = xp_all[j]
            xs[i] = xp.reshape(a.shape)
            fp, swp = _evaluate(f, xs)
            xm = flat.copy()
            xm[j] = xm_all[j]
            xs[i] = xm.reshape(a.shape)
            fm, swm = _evaluate(f, xs)
            est[g, j] = (float(np.sum(fp * v64)) - float(np.sum(fm * v64))) / step[j]
            flips = tuple(dict.fromkeys(_flips(base, swp) + _flips(base, swm)))
            if flips:
                crossed[g, j] = True
                why[(g, j)] = flips
    ok = usable & ~crossed
    spread = _spread(est, ok)
    g = _choose(spread, crossed, np.asarray(usable.any(axis=1)))
    anaf = ana.reshape(-1)
    sweep = []
    for k, h in enumerate(grid):
        err = np.abs(anaf - est[k])[ok[k]]
        sweep.append(SweepPoint(h, float(err.max()) if err.size else math.nan,
                                float(spread[k]), int(crossed[k].sum())))
    check = _compare(i, "reverse", a.shape, ana, est[g].reshape(a.shape),
                     ok[g].reshape(a.shape), atol, rtol, _noise(spread[g]))
    check.eps, check.sweep = grid[g], sweep
    for jj in np.flatnonzero(crossed[g]):
        j = int(jj)
        check.kinks.append(KinkCrossing(
            "reverse", i, tuple(int(w) for w in np.unravel_index(j, a.shape)),
            why[(g, j)], float(anaf[j]), float(est[g, j]), bool(crossed[:, j].all()),
        ))
    return check, crossed[g].reshape(a.shape)


def _forward_checks(
    f: Callable[..., Tensor], arrays: list[np.ndarray], crossed_at: list[np.ndarray],
    base: _Switches, grid: tuple[float, ...], atol: float, rtol: float, seed: int,
) -> list[InputCheck] | None:
    """Forward mode, per input i: J_i u from a tangent sweep (pat.jvp) against the central
    difference (f(x_i + h u) - f(x_i - h u)) / 2h, elementwise over the output, along a
    random u that is 0 on the entries whose reverse-mode step crossed a kink. None when f
    contains an op without a forward rule."""
    from .transforms import jvp  # transforms imports the core this module sits beside

    rng = np.random.default_rng(seed + 1)
    rows = []
    for i, a in enumerate(arrays):
        u = rng.standard_normal(a.shape)
        u[crossed_at[i]] = 0.0
        d = u * np.maximum(1.0, np.abs(a.astype(np.float64)))  # relative steps, as reverse
        nums: list[np.ndarray] = []
        anas: list[np.ndarray] = []
        flipped: list[tuple[str, ...]] = []
        xs = list(arrays)
        for h in grid:
            xp, xm, step = _steps(a, d, h)
            u_eff = step / (2 * h)  # the direction actually taken, after rounding
            xs[i] = xp
            fp, swp = _evaluate(f, xs)
            xs[i] = xm
            fm, swm = _evaluate(f, xs)
            tangents = [np.zeros_like(b) for b in arrays]
            tangents[i] = u_eff.astype(a.dtype)
            try:
                _, t = jvp(f, tuple(arrays), tuple(tangents))
            except NotImplementedError:
                return None
            nums.append((fp - fm) / (2 * h))
            anas.append(np.asarray(t, np.float64))
            flips = tuple(dict.fromkeys(_flips(base, swp) + _flips(base, swm)))
            if u.any() and not u_eff.any():  # the step vanished below the float spacing
                flips = flips + ("(no step: eps is below the spacing of floats at x)",)
            flipped.append(flips)
        est = np.stack([x.reshape(-1) for x in nums])
        usable = np.array([not fl for fl in flipped])
        ok = np.repeat(usable[:, None], est.shape[1], axis=1)
        spread = _spread(est, ok)
        crossed = ~ok
        g = _choose(spread, crossed, usable)
        sweep = []
        for k, h in enumerate(grid):
            err = np.abs(anas[k] - nums[k])
            sweep.append(SweepPoint(h, float(err.max()) if usable[k] and err.size else math.nan,
                                    float(spread[k]), int(not usable[k])))
        shape = nums[g].shape
        keep = np.full(shape, bool(usable[g]))
        check = _compare(i, "forward", a.shape, anas[g], nums[g], keep, atol, rtol,
                         _noise(spread[g]))
        check.shape = a.shape
        check.eps, check.sweep = grid[g], sweep
        if not usable[g]:
            check.kinks.append(KinkCrossing(
                "forward", i, None, flipped[g],
                float(np.max(np.abs(anas[g]))) if anas[g].size else 0.0,
                float(np.max(np.abs(nums[g]))) if nums[g].size else 0.0,
                bool(not usable.any()),
            ))
        rows.append(check)
    return rows
