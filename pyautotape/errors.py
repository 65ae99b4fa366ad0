"""The exceptions pyautotape raises. Each message names the op, the shapes or dtypes
involved, and what to do."""

from __future__ import annotations

__all__ = ["ShapeError", "DTypeError", "TapeError", "RetapeRequired", "GradcheckError"]


class ShapeError(ValueError):
    """Operand shapes do not fit the op (e.g. ``matmul`` of (2, 3) and (4, 5)).

    >>> import pyautotape as pat
    >>> try:
    ...     pat.tensor([[1.0, 2.0]]) @ pat.tensor([[1.0, 2.0]])
    ... except pat.ShapeError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    ShapeError True
    """


class DTypeError(TypeError):
    """An operand has a dtype the op cannot take, or float32 and float64 are mixed.

    >>> import numpy as np, pyautotape as pat
    >>> try:
    ...     pat.tensor(np.ones(2)) + pat.tensor(np.ones(2, np.float32))
    ... except pat.DTypeError as exc:
    ...     print(isinstance(exc, TypeError))
    True
    """


class TapeError(RuntimeError):
    """The recorded tape cannot be used as asked (released, modified, or busy).

    >>> import pyautotape as pat
    >>> x = pat.tensor([1.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> try:
    ...     y.backward()
    ... except pat.TapeError as exc:
    ...     print("retain_graph=True" in str(exc))
    True
    """


class RetapeRequired(TapeError):
    """A replay guard failed and the compiled function was built with ``strict=True``.

    >>> import numpy as np, pyautotape as pat
    >>> def f(x):
    ...     t = pat.tensor(x)
    ...     return t * 2 if t.sum().item() > 0 else t  # a guard on a value
    >>> step = pat.compile(f, strict=True)
    >>> _ = step(np.ones(2))
    >>> try:
    ...     step(-np.ones(2))
    ... except pat.RetapeRequired:
    ...     print("guard failed")
    guard failed
    """


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree beyond the tolerances.

    >>> import numpy as np, pyautotape as pat
    >>> class Wrong(pat.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x * 2.0
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * 3.0
    >>> try:
    ...     pat.gradcheck(Wrong.apply, np.array([1.0]))
    ... except pat.GradcheckError as exc:
    ...     print(str(exc).splitlines()[0].endswith("FAILED"))
    True
    """
