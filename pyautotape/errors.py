"""The exceptions pyautotape raises. Each message names the op, the shapes or dtypes
involved, and what to do."""

from __future__ import annotations

__all__ = ["ShapeError", "DTypeError", "TapeError", "RetapeRequired", "GradcheckError"]


class ShapeError(ValueError):
    """Operand shapes do not fit the op (e.g. ``matmul`` of (2, 3) and (4, 5))."""


class DTypeError(TypeError):
    """An operand has a dtype the op cannot take, or float32 and float64 are mixed."""


class TapeError(RuntimeError):
    """The recorded tape cannot be used as asked (released, modified, or busy)."""


class RetapeRequired(TapeError):
    """A replay guard failed and the compiled function was built with ``strict=True``."""


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree beyond the tolerances."""
