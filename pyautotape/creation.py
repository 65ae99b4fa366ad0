"""Making tensors as PyTorch does: ``zeros ones full empty`` and their ``_like`` forms,
``rand randn randint normal`` (drawn from the generator :func:`pyautotape.manual_seed`
seeds), ``arange linspace eye``, and the dtype names ``pat.float32``, ``pat.float64``,
``pat.int64``, ``pat.int32``, ``pat.bool``. Each takes ``dtype=``, ``requires_grad=`` and
``device=`` (only ``"cpu"``: pyautotape runs on the CPU).

>>> import pyautotape as pat
>>> pat.zeros(2, 3).shape, pat.ones((2,), dtype=pat.float64).dtype
((2, 3), dtype('float64'))
>>> pat.arange(4).tolist(), pat.arange(4).dtype
([0, 1, 2, 3], dtype('int64'))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import random as _random
from ._ffi import F32, F64
from ._state import state as _state
from .errors import DTypeError, ShapeError
from .tensor import EXACT_DTYPES, Tensor, _exact_tensor, _wrap, get_default_dtype

builtins_int = int  # int, bool and float are rebound below, as torch's names
builtins_bool = bool

float32 = F32
float64 = F64
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool = np.dtype(np.bool_)  # noqa: A001  (pat.bool, as torch.bool)
# torch's other spellings: pat.float, pat.double, pat.long, pat.int
float = F32  # noqa: A001
double = F64
long = int64
int = int32  # noqa: A001

__all__ = ["zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "rand",
           "randn", "randint", "normal", "arange", "linspace", "eye", "float32", "float64",
           "int64", "int32", "check_device"]

_DTYPES = (F32, F64, *EXACT_DTYPES)


def check_device(device: Any, op: str) -> None:
    """Accept ``None``, ``"cpu"`` (or ``"cpu:0"``); any other device is a clear error.

    >>> check_device("cpu", "zeros")
    >>> try:
    ...     check_device("cuda", "zeros")
    ... except ValueError as e:
    ...     print(str(e)[:37])
    zeros: device 'cuda' is not available
    """
    if device is None or str(device) in ("cpu", "cpu:0"):
        return
    raise ValueError(
        f"{op}: device {str(device)!r} is not available: pyautotape runs on the CPU only; "
        "pass device='cpu' or leave it out"
    )


def _dtype(dtype: Any, op: str, default: np.dtype | None = None) -> np.dtype:
    if dtype is None:
        return default if default is not None else get_default_dtype()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: {dtype!r} is not a dtype; use pat.float32, pat.float64, "
                         "pat.int64, pat.int32 or pat.bool") from None
    if dt not in _DTYPES:
        raise DTypeError(f"{op}: dtype {dt} is not supported; use pat.float32, pat.float64, "
                         "pat.int64, pat.int32 or pat.bool")
    return dt


def _size(size: Sequence[Any], op: str) -> tuple[builtins_int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for n in size:
        if isinstance(n, (np.bool_, builtins_bool)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{op}: a size must be ints, e.g. {op}(2, 3), got {n!r}")
        if n < 0:
            raise ShapeError(f"{op}: negative dimension {n} in size {tuple(size)}")
        out.append(builtins_int(n))
    return tuple(out)



def _make(arr: np.ndarray, requires_grad: Any, op: str) -> Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype in EXACT_DTYPES:  # (a fresh array: a constant of a pat.compile recording)
        return _exact_tensor(arr, arr.dtype, builtins_bool(requires_grad), op)
    t = _wrap(arr)
    t.requires_grad = builtins_bool(requires_grad)
    return t



def _random_draw(op: str) -> np.random.Generator:
    rec = _state.recorder
    if rec is not None:  # a replay would repeat these numbers: pat.compile runs fn eagerly
        rec.opaque(f"{op} draws random numbers in Python, which a replay would repeat")
    return _random.default_generator()


def zeros(*size: Any, dtype: Any = None, requires_grad: builtins_bool = False,
          device: Any = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``.

    >>> import pyautotape as pat
    >>> pat.zeros(2).numpy()
    array([0., 0.], dtype=float32)
    """
    check_device(device, "zeros")
    return _make(np.zeros(_size(size, "zeros"), _dtype(dtype, "zeros")), requires_grad, "zeros")


def ones(*size: Any, dtype: Any = None, requires_grad: builtins_bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ones.

    >>> import pyautotape as pat
    >>> pat.ones(2, dtype=pat.int64).tolist()
    [1, 1]
    """
    check_device(device, "ones")
    return _make(np.ones(_size(size, "ones"), _dtype(dtype, "ones")), requires_grad, "ones")


def empty(*size: Any, dtype: Any = None, requires_grad: builtins_bool = False,
          device: Any = None) -> Tensor:
    """A tensor to be overwritten; unlike PyTorch's it holds zeros, not stale memory, so a
    result never depends on what was there.

    >>> import pyautotape as pat
    >>> pat.empty(2, 2).shape
    (2, 2)
    """
    check_device(device, "empty")
    return _make(np.zeros(_size(size, "empty"), _dtype(dtype, "empty")), requires_grad, "empty")


def _fill_dtype(fill_value: Any, dtype: Any, op: str) -> np.dtype:
    if dtype is not None:
        return _dtype(dtype, op)
    if isinstance(fill_value, (builtins_bool, np.bool_)):
        return bool
    if isinstance(fill_value, numbers.Integral):
        return int64
    if isinstance(fill_value, numbers.Real):
        return get_default_dtype()
    raise TypeError(f"{op}: fill_value must be a number, got {fill_value!r}")


def full(size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: builtins_bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; its dtype follows the value (bool,
    int64, or the default float dtype), as PyTorch's.

    >>> import pyautotape as pat
    >>> pat.full((2,), 7.5).numpy(), pat.full((1,), 3).dtype
    (array([7.5, 7.5], dtype=float32), dtype('int64'))
    """
    check_device(device, "full")
    shape = _size(size if isinstance(size, (tuple, list)) else (size,), "full")
    dt = _fill_dtype(fill_value, dtype, "full")
    return _make(np.full(shape, fill_value, dt), requires_grad, "full")


def _like(x: Any, op: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{op}: input must be a Tensor or ndarray, not {type(x).__name__}")


def zeros_like(input: Any, *, dtype: Any = None, requires_grad: builtins_bool = False,
               device: Any = None) -> Tensor:
    """Zeros of ``input``'s shape and (unless ``dtype``) dtype.

    >>> import pyautotape as pat
    >>> pat.zeros_like(pat.ones(2)).numpy()
    array([0., 0.], dtype=float32)
    """
    check_device(device, "zeros_like")
    a = _like(input, "zeros_like")
    return _make(np.zeros(a.shape, _dtype(dtype, "zeros_like", a.dtype)), requires_grad,
                 "zeros_like")


def ones_like(input: Any, *, dtype: Any = None, requires_grad: builtins_bool = False,
              device: Any = None) -> Tensor:
    """Ones of ``input``'s shape and (unless ``dtype``) dtype.

    >>> import pyautotape as pat
    >>> pat.ones_like(pat.zeros(2, dtype=pat.float64)).dtype
    dtype('float64')
    """
    check_device(device, "ones_like")
    a = _like(input, "ones_like")
    return _make(np.ones(a.shape, _dtype(dtype, "ones_like", a.dtype)), requires_grad,
                 "ones_like")


def full_like(input: Any, fill_value: Any, *, dtype: Any = None,
              requires_grad: builtins_bool = False, device: Any = None) -> Tensor:
    """``fill_value`` in ``input``'s shape and (unless ``dtype``) dtype.

    >>> import pyautotape as pat
    >>> pat.full_like(pat.zeros(2), 3.0).numpy()
    array([3., 3.], dtype=float32)
    """
    check_device(device, "full_like")
    a = _like(input, "full_like")
    _fill_dtype(fill_value, None, "full_like")
    return _make(np.full(a.shape, fill_value, _dtype(dtype, "full_like", a.dtype)),
                 requires_grad, "full_like")


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _dtype(dtype, op)
    if dt not in (F32, F64):
        raise DTypeError(f"{op}: draws floats; dtype must be pat.float32 or pat.float64, "
                         f"got {dt}")
    return dt


def rand(*size: Any, dtype: Any = None, requires_grad: builtins_bool = False,
         device: Any = None) -> Tensor:
    """Uniform samples in [0, 1), from the generator :func:`pyautotape.manual_seed` seeds.

    >>> import pyautotape as pat
    >>> _ = pat.manual_seed(0); a = pat.rand(3)
    >>> _ = pat.manual_seed(0); print((a.numpy() == pat.rand(3).numpy()).all())
    True
    """
    check_device(device, "rand")
    shape, dt = _size(size, "rand"), _float_dtype(dtype, "rand")
    return _make(_random_draw("rand").random(shape, dtype=dt), requires_grad, "rand")


def randn(*size: Any, dtype: Any = None, requires_grad: builtins_bool = False,
          device: Any = None) -> Tensor:
    """Standard normal samples, from the generator :func:`pyautotape.manual_seed` seeds.

    >>> import pyautotape as pat
    >>> pat.randn(2, 3).shape
    (2, 3)
    """
    check_device(device, "randn")
    shape, dt = _size(size, "randn"), _float_dtype(dtype, "randn")
    return _make(_random_draw("randn").standard_normal(shape, dtype=dt), requires_grad,
                 "randn")


def randint(*args: Any, size: Any = None, dtype: Any = None, requires_grad: builtins_bool = False,
            device: Any = None) -> Tensor:
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``, int64 unless ``dtype``, as ``torch.randint``.

    >>> import pyautotape as pat
    >>> x = pat.randint(3, 10, (100,))
    >>> x.dtype, ((x.numpy() >= 3) & (x.numpy() < 10)).all()
    (dtype('int64'), np.True_)
    """
    check_device(device, "randint")
    if size is None:
        if len(args) not in (2, 3):
            raise TypeError("randint: call as randint(high, size) or randint(low, high, size)")
        *bounds, size = args
    else:
        bounds = list(args)
    if len(bounds) not in (1, 2):
        raise TypeError("randint: call as randint(high, size) or randint(low, high, size)")
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds
    for v, n in ((low, "low"), (high, "high")):
        if isinstance(v, (builtins_bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"randint: {n} must be an int, got {v!r}")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    shape = _size(size if isinstance(size, (tuple, list)) else (size,), "randint")
    dt = _dtype(dtype, "randint", int64)
    draw = _random_draw("randint").integers(low, high, size=shape)
    return _make(draw.astype(dt), requires_grad, "randint")


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, dtype: Any = None,
           requires_grad: builtins_bool = False, device: Any = None) -> Tensor:
    """Normal samples with ``mean`` and ``std`` (numbers, or tensors that broadcast); with
    numbers, ``size`` gives the shape. Not differentiable in mean and std (PyTorch's
    gradient there is 0).

    >>> import pyautotape as pat
    >>> pat.normal(2.0, 0.5, (4,)).shape, pat.normal(pat.zeros(3), 1.0).shape
    ((4,), (3,))
    """
    check_device(device, "normal")
    m = mean._data if isinstance(mean, Tensor) else np.asarray(mean, np.float64)
    s = std._data if isinstance(std, Tensor) else np.asarray(std, np.float64)
    if np.any(s < 0):
        raise ValueError("normal: std must be non-negative")
    shape = np.broadcast_shapes(m.shape, s.shape)
    if size is not None:
        shape = np.broadcast_shapes(shape, _size(
            size if isinstance(size, (tuple, list)) else (size,), "normal"))
    like = next((v.dtype for v in (mean, std) if isinstance(v, Tensor)), None)
    dt = _float_dtype(dtype if dtype is not None else like, "normal")
    z = _random_draw("normal").standard_normal(shape)
    return _make((m + s * z).astype(dt), requires_grad, "normal")


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           requires_grad: builtins_bool = False, device: Any = None) -> Tensor:
    """``start, start + step, ...`` below ``end`` (``arange(end)`` starts at 0); int64 when
    every argument is an int, else the default float dtype, as ``torch.arange``.

    >>> import pyautotape as pat
    >>> pat.arange(1, 2, 0.25).numpy()
    array([1.  , 1.25, 1.5 , 1.75], dtype=float32)
    """
    check_device(device, "arange")
    if end is None:
        start, end = 0, start
    vals = (start, end, step)
    if any(isinstance(v, builtins_bool) or not isinstance(v, numbers.Real) for v in vals):
        raise TypeError(f"arange: start, end and step must be numbers, got {vals}")
    if step == 0:
        raise ValueError("arange: step must not be 0")
    ints = all(isinstance(v, numbers.Integral) for v in vals)
    dt = _dtype(dtype, "arange", int64 if ints else None)
    return _make(np.arange(start, end, step, dtype=np.float64 if not ints else None).astype(dt),
                 requires_grad, "arange")


def linspace(start: Any, end: Any, steps: Any, *, dtype: Any = None,
             requires_grad: builtins_bool = False, device: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    >>> import pyautotape as pat
    >>> pat.linspace(0, 1, 5).numpy()
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    check_device(device, "linspace")
    if isinstance(steps, builtins_bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise TypeError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dt = _dtype(dtype, "linspace")
    return _make(np.linspace(start, end, builtins_int(steps)).astype(dt), requires_grad,
                 "linspace")


def eye(n: Any, m: Any = None, *, dtype: Any = None, requires_grad: builtins_bool = False,
        device: Any = None) -> Tensor:
    """The ``n x m`` identity (``m`` defaults to ``n``).

    >>> import pyautotape as pat
    >>> pat.eye(2).numpy()
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    check_device(device, "eye")
    rows, cols = _size((n,) if m is None else (n, m), "eye") * (2 if m is None else 1)
    return _make(np.eye(rows, cols, dtype=_dtype(dtype, "eye")), requires_grad, "eye")
