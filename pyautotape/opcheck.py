"""Gradient checks of every op in ``pyautotape.ops.REGISTRY``, as ``python -m pyautotape
gradcheck`` runs them.

Each op is checked in reverse mode and, when it has a forward rule, in forward mode too,
on the first example of its OpSpec: a function of Tensors that calls it, and float64
inputs drawn away from the op's kinks and poles (ReLU arguments away from 0, maxima
without ties, logs of positive numbers), so central differences are honest. An op
without one fails the check, so a new op cannot slip through unchecked.

>>> from pyautotape import opcheck
>>> rows = opcheck.check_ops(["tanh", "linear"])
>>> [(r.op, r.ok) for r in rows]
[('tanh', True), ('linear', True)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import ops
from .checking import gradcheck

__all__ = ["SPECS", "OpCheck", "check_ops", "format_table"]

# name -> (function of Tensors, input maker): each op's first example (ops.SPECS); inputs
# are float64, drawn away from the op's kinks and poles
SPECS: dict[str, tuple[Callable[..., Any], Callable[[np.random.Generator], list[np.ndarray]]]] = {
    name: (spec.examples[0].call, spec.examples[0].make) for name, spec in ops.SPECS.items()
}


@dataclasses.dataclass
class OpCheck:
    """One row of the table: the op, its input shapes, the modes checked ("rev+fwd", or
    "rev" for an op without a forward rule), the worst absolute and relative errors over
    its inputs and modes (as :class:`~pyautotape.GradcheckReport` has them), the verdict."""

    op: str
    shapes: str
    modes: str
    max_abs_err: float
    max_rel_err: float
    ok: bool
    note: str = ""


def check_ops(names: Sequence[str] | None = None, seed: int = 0) -> list[OpCheck]:
    """Gradcheck each op (default: all of ``ops.REGISTRY``) in float64, reverse and forward
    mode, with :func:`pyautotape.gradcheck`'s default tolerances."""
    rows = []
    nan = float("nan")
    for name in ops.REGISTRY if names is None else names:
        spec = SPECS.get(name)
        if spec is None:
            rows.append(OpCheck(name, "-", "-", nan, nan, False,
                                "no input spec: add an example to its OpSpec (pyautotape/ops/)"))
            continue
        fn, make = spec
        inputs = [np.asarray(a, np.float64) for a in make(np.random.default_rng(seed))]
        shapes = " ".join("x".join(map(str, a.shape)) for a in inputs)
        try:
            report = gradcheck(fn, inputs, raise_exception=False)
        except Exception as exc:  # noqa: BLE001 - a crash is a failed check, reported in the table
            rows.append(OpCheck(name, shapes, "-", nan, nan, False,
                                f"{type(exc).__name__}: {exc}"))
            continue
        checks = list(report.inputs) + list(report.forward or ())
        abs_err = max((c.max_abs_err for c in checks), default=0.0)
        rel_err = max((c.max_rel_err for c in checks), default=0.0)
        modes = "rev" if report.forward is None else "rev+fwd"
        rows.append(OpCheck(name, shapes, modes, abs_err, rel_err, report.passed))
    return rows


def format_table(rows: Sequence[OpCheck]) -> str:
    """The rows as an aligned text table.

    >>> print(format_table([OpCheck("tanh", "3x4", "rev+fwd", 1e-11, 2e-10, True)]))
    op             inputs             modes    max abs err  max rel err  ok
    tanh           3x4                rev+fwd    1.000e-11    2.000e-10  yes
    """
    head = f"{'op':<14} {'inputs':<18} {'modes':<8} {'max abs err':>11}  {'max rel err':>11}  ok"
    lines = [head]
    for r in rows:
        line = (f"{r.op:<14} {r.shapes:<18} {r.modes:<8} {r.max_abs_err:>11.3e}  "
                f"{r.max_rel_err:>11.3e}  {'yes' if r.ok else 'NO'}")
        if r.note:
            line += f"  ({r.note})"
        lines.append(line)
    return "\n".join(lines)
