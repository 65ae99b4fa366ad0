"""The differentiable float32 <-> float64 cast: ``pat.cast(x, dtype)``, and through it
``x.double()``, ``x.float()``, ``x.to(pat.float64)``, ``x.astype(...)`` and ``x.type(...)``
on a tensor that requires grad.

One recorded op (``cast`` in csrc/ops.def, m the source's dtype): the forward rounds to
nearest as NumPy's ``astype``; the gradient is cast back to the source's dtype (as torch's
``to``), the tangent forward to the output's; it is linear, so it has no second-order term.

>>> import pyautotape as pat
>>> x = pat.tensor([1.5, 2.0], requires_grad=True)
>>> y = x.double() * 3.0
>>> y.sum().backward()
>>> y.dtype, x.grad.dtype, x.grad.numpy()
(dtype('float64'), dtype('float32'), array([3., 3.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import creation
from .._ffi import DTYPE_CODE, F32, F64, lib
from ..errors import DTypeError
from ..record import record
from ..tensor import EXACT_DTYPES, Tensor
from .core import run, tensor_arg
from .shapes_view import exact_out
from .spec import Example, OpSpec, register

__all__ = ["cast"]


def cast(x: Any, dtype: Any) -> Tensor:
    """``x`` as float32 or float64, a new tensor on the tape (also when it already has
    that dtype, as ``np.astype``); its gradient is cast back to x's dtype.

    >>> import pyautotape as pat
    >>> pat.cast(pat.tensor([0.1]), pat.float64).numpy()
    array([0.1])
    """
    dt = creation._dtype(dtype, "cast")
    if dt not in (F32, F64):
        raise DTypeError(f"cast: dtype {dt} is not a float dtype; cast to pat.float32 or "
                         "pat.float64 (integer and bool casts have no gradient: use "
                         "x.long(), x.int() or x.bool())")
    if isinstance(x, Tensor) and x._data.dtype in EXACT_DTYPES:  # no gradient to carry
        return exact_out([x], x._data.astype(dt))
    t = tensor_arg(x, "cast")
    n = t._data.size
    y = np.empty(t.shape, dt)
    m = DTYPE_CODE[t.dtype]
    run(lib.PAT_OP_CAST, "cast", dt, y, s0=t._data, m=m, n=n)
    return record(lib.PAT_OP_CAST, y, (t,), m=m, n=n)


def _no_flops(*_: Any) -> int:
    return 0


def _back(x: Any) -> Any:
    return x.dtype if isinstance(x, Tensor) else F64


def _round_trip(x: Any) -> Tensor:
    """float32 -> float64 -> float32 (two casts, exact) or float64 -> float64 twice."""
    return cast(cast(x, F64), _back(x))


def _mixed(x: Any) -> Tensor:
    """x**3 with x * x in x's dtype and the last product in float64."""
    return cast(cast(x, F64) * cast(x * x, F64), _back(x))


register(OpSpec("cast", cast, "move", flops=_no_flops, bwd_flops=_no_flops, examples=(
    Example(_round_trip, lambda x: x, lambda r: [r.standard_normal((3, 4))]),
    Example(_mixed, lambda x: x ** 3, lambda r: [r.standard_normal((2, 3))]),
)))
