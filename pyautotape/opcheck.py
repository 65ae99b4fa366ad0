"""Gradient checks of every op in ``pyautotape.ops.REGISTRY``, as ``python -m pyautotape
gradcheck`` runs them.

Each op is checked in reverse mode and, when it has a forward rule, in forward mode too.
Each op has one spec: a function of Tensors that calls it, and float64 inputs drawn away
from the op's kinks and poles (ReLU arguments away from 0, maxima without ties, logs of
positive numbers), so central differences are honest. An op without a spec fails the
check, so a new op cannot slip through unchecked.

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
from .function import TanhScale

__all__ = ["SPECS", "OpCheck", "check_ops", "format_table"]


def _away(rng: np.random.Generator, shape: tuple[int, ...], lo: float = 0.2) -> np.ndarray:
    """Values in ±[lo, lo + 1], so no entry sits within a finite-difference step of 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, lo + 1.0, size=shape)


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.1 apart in random order: no ties for max."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - 0.05 * n).reshape(shape)


def _pos(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.5, 1.5, size=shape)


def _maximum_pair(rng: np.random.Generator) -> list[np.ndarray]:
    a = rng.standard_normal((3, 4))
    return [a, a + _away(rng, (3, 4))]  # no ties: |a - b| >= 0.2


_LABELS = np.array([0, 4, 2, 1])
_COND = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=bool)

# name -> (function of Tensors, input maker); inputs are float64
SPECS: dict[str, tuple[Callable[..., Any], Callable[[np.random.Generator], list[np.ndarray]]]] = {
    "add": (ops.add, lambda r: [r.standard_normal((3, 4)), r.standard_normal((4,))]),
    "sub": (ops.sub, lambda r: [r.standard_normal((3, 1)), r.standard_normal((3, 4))]),
    "mul": (ops.mul, lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))]),
    "div": (ops.div, lambda r: [r.standard_normal((3, 4)), _away(r, (4,), 0.5)]),
    "pow": (ops.pow, lambda r: [_pos(r, (3, 4)), r.uniform(-1.0, 2.0, (3, 4))]),
    "maximum": (ops.maximum, _maximum_pair),
    "minimum": (ops.minimum, _maximum_pair),
    "where": (lambda a, b: ops.where(_COND, a, b),
              lambda r: [r.standard_normal((3, 4)), r.standard_normal((4,))]),
    "neg": (ops.neg, lambda r: [r.standard_normal((3, 4))]),
    "exp": (ops.exp, lambda r: [r.standard_normal((3, 4))]),
    "log": (ops.log, lambda r: [_pos(r, (3, 4))]),
    "sqrt": (ops.sqrt, lambda r: [_pos(r, (3, 4))]),
    "tanh": (ops.tanh, lambda r: [r.standard_normal((3, 4))]),
    "sigmoid": (ops.sigmoid, lambda r: [r.standard_normal((3, 4))]),
    "relu": (ops.relu, lambda r: [_away(r, (3, 4))]),
    "leaky_relu": (lambda x: ops.leaky_relu(x, 0.1), lambda r: [_away(r, (3, 4))]),
    "sum": (lambda x: ops.sum(x, axis=1), lambda r: [r.standard_normal((3, 4))]),
    "mean": (lambda x: ops.mean(x, axis=0, keepdims=True), lambda r: [r.standard_normal((3, 4))]),
    "max": (lambda x: ops.max(x, axis=1), lambda r: [_distinct(r, (3, 4))]),
    "reshape": (lambda x: ops.reshape(x, (4, 3)), lambda r: [r.standard_normal((3, 4))]),
    "transpose": (lambda x: ops.transpose(x, (2, 0, 1)), lambda r: [r.standard_normal((2, 3, 4))]),
    "index": (lambda x: x[1:, ::2], lambda r: [r.standard_normal((3, 4))]),
    "concatenate": (lambda a, b: ops.concatenate([a, b], axis=1),
                    lambda r: [r.standard_normal((3, 2)), r.standard_normal((3, 4))]),
    "matmul": (ops.matmul, lambda r: [r.standard_normal((2, 3, 4)), r.standard_normal((4, 5))]),
    "linear": (ops.linear, lambda r: [r.standard_normal((3, 4)), r.standard_normal((5, 4)),
                                      r.standard_normal((5,))]),
    "softmax": (ops.softmax, lambda r: [r.standard_normal((3, 5))]),
    "log_softmax": (ops.log_softmax, lambda r: [r.standard_normal((3, 5))]),
    "cross_entropy": (lambda x: ops.cross_entropy(x, _LABELS),
                      lambda r: [r.standard_normal((4, 5))]),
    "mse_loss": (ops.mse_loss, lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))]),
    "custom": (TanhScale.apply, lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))]),
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
                                "no input spec: add one to pyautotape/opcheck.py"))
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
