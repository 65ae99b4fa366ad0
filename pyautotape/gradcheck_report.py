"""The report :func:`~pyautotape.gradcheck` returns: one row per input and mode, the eps
sweep that chose each step, the entries left out as "kink crossed", and a plot.

>>> InputCheck(0, (3,), 1e-9, 1e-8, (2,), 1.0, 1.0, True).passed
True
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["GradcheckReport", "InputCheck", "SweepPoint", "KinkCrossing"]


# ---------------------------------------------------------------------------------------
# the report


@dataclasses.dataclass
class SweepPoint:
    """One step of the eps sweep of one input: ``max_abs_err`` against the analytic
    derivative (the V-curve; shown, never used to choose), ``spread`` the largest change
    from the estimates at the neighbouring steps (what the choice minimises), and
    ``kinks`` the entries whose step crossed a kink at this eps.

    >>> SweepPoint(1e-2, 3e-6, 5e-6, 0).eps
    0.01
    """

    eps: float
    max_abs_err: float
    spread: float
    kinks: int


@dataclasses.dataclass
class KinkCrossing:
    """An entry left out of the comparison because its finite-difference step crossed a
    kink: ``ops`` names the records whose switch pattern differed between x − eps, x
    and x + eps (e.g. ``"relu #3"``, #3 being its position on the tape); ``everywhere``
    when every step of the sweep crossed it (the argument sits at the kink itself).
    ``index`` is the entry of the input (reverse mode) or None (forward mode, where the
    whole direction is left out).

    >>> k = KinkCrossing("reverse", 0, (1,), ("relu #1",), 0.0, 0.5, True)
    >>> print(k.describe())  # doctest: +NORMALIZE_WHITESPACE
    reverse input 0 at (1,): relu #1 switches (at every eps: the argument is at the kink);
    analytic 0, numerical 0.5
    """

    mode: str
    input: int
    index: tuple[int, ...] | None
    ops: tuple[str, ...]
    analytic: float
    numerical: float
    everywhere: bool

    def describe(self) -> str:
        """One line for the report."""
        where = f" at {self.index}" if self.index is not None else " (direction u)"
        how = " (at every eps: the argument is at the kink)" if self.everywhere else ""
        return (f"{self.mode} input {self.input}{where}: {', '.join(self.ops)} switches{how}; "
                f"analytic {self.analytic:.6g}, numerical {self.numerical:.6g}")


@dataclasses.dataclass
class InputCheck:
    """The comparison for one input in one mode: errors, where the worst one is, and both
    values there; the step used, the sweep that chose it, and the entries left out as
    "kink crossed".

    >>> c = InputCheck(0, (3,), 1e-9, 1e-8, (2,), 1.0, 1.0, True)
    >>> c.passed, c.mode
    (True, 'reverse')
    """

    index: int
    shape: tuple[int, ...]
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple[int, ...] | None
    analytic: float
    numerical: float
    passed: bool
    eps: float = math.nan
    mode: str = "reverse"
    sweep: list[SweepPoint] = dataclasses.field(default_factory=list)
    kinks: list[KinkCrossing] = dataclasses.field(default_factory=list)
    compared: int = 0
    noise: float = 0.0


@dataclasses.dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`: truthy when every input passed in every mode;
    ``str()`` is a table, the eps sweep and the kink-crossed entries; :meth:`plot` draws
    the sweep.

    >>> import numpy as np, pyautotape as pat
    >>> r = pat.gradcheck(lambda x: pat.exp(x), np.array([0.5, 1.0]))
    >>> bool(r), r.inputs[0].mode, r.forward[0].mode
    (True, 'reverse', 'forward')
    """

    inputs: list[InputCheck]
    eps: float | str
    atol: float
    rtol: float
    dtype: np.dtype
    # forward mode: J u from a tangent sweep vs central differences along u, one row per
    # input; None when f has no forward mode (a custom op without a jvp rule)
    forward: list[InputCheck] | None = None

    @property
    def checked(self) -> bool:
        """Some entry was compared in reverse mode (False when every one was left out as
        kink crossed; forward mode then moves along a direction with those entries zeroed,
        which checks nothing either)."""
        return any(c.compared > 0 for c in self.inputs)

    @property
    def passed(self) -> bool:
        """Some entry was compared, and every input passed in reverse mode and (when
        checked) forward mode."""
        return (self.checked and all(c.passed for c in self.inputs)
                and all(c.passed for c in self.forward or ()))

    @property
    def status(self) -> str:
        """``"passed"``, ``"FAILED"`` or ``"no entry checked"``."""
        if not self.checked:
            return "no entry checked"
        return "passed" if self.passed else "FAILED"

    @property
    def checks(self) -> list[InputCheck]:
        """Reverse-mode rows, then forward-mode rows."""
        return list(self.inputs) + list(self.forward or ())

    @property
    def kinks(self) -> list[KinkCrossing]:
        """Every entry left out of the comparison because its step crossed a kink."""
        return [k for c in self.checks for k in c.kinks]

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        eps = self.eps if isinstance(self.eps, str) else f"{self.eps:g}"
        head = (
            f"gradcheck ({self.dtype}, central differences, eps={eps}, "
            f"atol={self.atol:g}, rtol={self.rtol:g}): {self.status}"
        )
        cols = (f"{'input':>5} {'shape':>12} {'eps':>6} {'max abs err':>11} {'max rel err':>11} "
                f"{'noise':>8} {'worst at':>10} {'analytic':>12} {'numerical':>12} {'kinks':>5}"
                "  ok")
        rows = [head, "reverse mode (vᵀJ by the reverse sweep vs central differences):", cols]
        rows += [_row(c) for c in self.inputs]
        if self.forward is None:
            rows.append("forward mode: not checked (an op in f has no jvp rule)")
        else:
            rows.append("forward mode (jvp along a random direction u vs central differences):")
            rows.append(cols)
            rows += [_row(c) for c in self.forward]
        sweeps = [c for c in self.checks if len(c.sweep) > 1]
        if sweeps:
            rows.append("eps sweep: max abs err vs the analytic value at each step; * the "
                        "step used (least spread between neighbouring steps; the analytic "
                        "value plays no part in the choice)")
            for c in sweeps:
                pts = " ".join(
                    f"{p.eps:.0e}{'*' if p.eps == c.eps else ''}:{_e(p.max_abs_err)}"
                    + (f"(k{p.kinks})" if p.kinks else "")
                    for p in c.sweep
                )
                rows.append(f"  {c.mode[:3]} {c.index}: {pts}")
        kinks = self.kinks
        if kinks:
            what = "entry" if len(kinks) == 1 else "entries"
            rows.append(f"kink crossed: {len(kinks)} {what} left out of the comparison (the "
                        "step crosses a point where f is not differentiable; the secant "
                        "matches no derivative there):")
            for k in kinks[:20]:
                rows.append("  " + k.describe())
            if len(kinks) > 20:
                rows.append(f"  ... and {len(kinks) - 20} more (report.kinks has them all)")
        return "\n".join(rows)

    def plot(self, path: str) -> str:
        """Draw the eps sweep of every input and mode (error vs step, log-log, the chosen
        step marked) into ``path`` (PNG, SVG or PDF by suffix); returns the path. Needs
        matplotlib (``pip install 'pyautotape[plot]'``).

        >>> import numpy as np, os, tempfile, pyautotape as pat
        >>> r = pat.gradcheck(pat.tanh, np.array([0.3, 0.7], np.float32))
        >>> path = os.path.join(tempfile.mkdtemp(), "sweep.png")
        >>> try:
        ...     import matplotlib
        ... except ImportError:
        ...     matplotlib = None
        >>> matplotlib is None or r.plot(path) == path
        True
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "GradcheckReport.plot needs matplotlib, an optional extra: install it with "
                "pip install 'pyautotape[plot]'"
            ) from None
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for c in self.checks:
            if not c.sweep:
                continue
            xs = [p.eps for p in c.sweep]
            ys = [max(p.max_abs_err, 1e-17) for p in c.sweep]
            style = "-" if c.mode == "reverse" else "--"
            line = ax.loglog(xs, ys, style, marker="o", ms=3,
                             label=f"{c.mode} input {c.index}")[0]
            if math.isfinite(c.eps):
                ax.loglog([c.eps], [max(c.max_abs_err, 1e-17)], "*", ms=12,
                          color=line.get_color())
        ax.set_xlabel("finite-difference step eps")
        ax.set_ylabel("max |analytic - numerical|")
        ax.set_title(f"gradcheck eps sweep ({self.dtype}); * = step used")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return str(path)


def _e(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.1e}"


def _row(c: InputCheck) -> str:
    where = "-" if c.worst_index is None else str(c.worst_index)
    eps = "-" if not math.isfinite(c.eps) else f"{c.eps:.0e}"
    return (f"{c.index:>5} {str(c.shape):>12} {eps:>6} {c.max_abs_err:>11.3e} "
            f"{c.max_rel_err:>11.3e} {c.noise:>8.1e} {where:>10} {c.analytic:>12.6g} "
            f"{c.numerical:>12.6g} {len(c.kinks):>5}  {'yes' if c.passed else 'NO'}")
