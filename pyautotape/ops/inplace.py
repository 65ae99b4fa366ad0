"""In-place Tensor methods with PyTorch's semantics: ``add_ sub_ mul_ div_ zero_ fill_
copy_ clamp_`` and the augmented operators ``+= -= *= /=``.

* Nothing to record (grad mode off, or no tensor involved requires grad): the result is
  written into the tensor's own buffer, so every alias (``.data``, an optimizer's
  reference) sees it, the tensor keeps ``requires_grad``, and the buffer's version is
  bumped: a record that saved the old values refuses backward, naming this op.
* A leaf that requires grad, with grad mode on: refused, as PyTorch refuses it (the update
  belongs under ``pat.no_grad()``).
* Otherwise (a tensor computed by recorded ops, or a plain tensor updated by one that
  requires grad): the op is recorded out of place and the tensor is rebound to the result,
  its new tape node, as PyTorch's version bump makes the old value unreachable. Records
  that saved the old buffer keep it intact.

>>> import pyautotape as pat
>>> w = pat.tensor([1.0, 2.0], requires_grad=True)
>>> (w * w).sum().backward()
>>> with pat.no_grad():
...     w -= 0.5 * w.grad
>>> w.numpy(), w.requires_grad, w.grad.zero_().numpy()
(array([0., 0.], dtype=float32), True, array([0., 0.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._state import state
from ..errors import ShapeError, TapeError
from ..tensor import Tensor, _Guard, _writable
from .elementwise import add, div, maximum, minimum, mul, sub

__all__ = ["INPLACE_METHODS"]


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _records(self: Tensor, others: tuple[Any, ...]) -> bool:
    if not state.grad_enabled:
        return False
    return self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)


def _refuse_leaf(self: Tensor, name: str) -> None:
    raise TapeError(
        f"{name}: a leaf Tensor that requires grad (shape {self.shape}) is being used in an "
        "in-place operation; update it under `with pat.no_grad():` (as an optimizer step "
        "does), or use the out-of-place form (y = x + 1)"
    )


def _rebind(self: Tensor, y: Tensor, name: str) -> Tensor:
    if y.shape != self.shape:
        raise ShapeError(
            f"{name}: the result has shape {y.shape} but the tensor being updated in place "
            f"has shape {self.shape}; an in-place op cannot change the shape"
        )
    if y.dtype != self.dtype:
        raise TypeError(f"{name}: the result is {y.dtype}, the tensor {self.dtype}; an "
                        "in-place op cannot change the dtype")
    self._data, self._node, self._guard = y._data, y._node, y._guard
    self.requires_grad = y.requires_grad
    return self


def _write(self: Tensor, name: str, value: np.ndarray) -> Tensor:
    """Write ``value`` (broadcast to self's shape) into self's buffer, bumping its version."""
    try:
        shape = np.broadcast_shapes(np.shape(value), self.shape)
    except ValueError:
        shape = None
    if shape != self.shape:
        raise ShapeError(
            f"{name}: a value of shape {np.shape(value)} cannot be written into a tensor of "
            f"shape {self.shape} in place (it must broadcast to the tensor's shape)"
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub" or (self.dtype.kind in "iub" and arr.dtype.kind == "f"
                                        and not np.array_equal(arr, np.trunc(arr))):
        raise TypeError(
            f"{name}: cannot write a {arr.dtype} value into a {self.dtype} tensor in place "
            f"(the result would be truncated); convert first, e.g. t.astype(np.float32)"
        )
    if self._guard is None:
        self._guard = _Guard(self._data)
    rec = state.recorder
    if rec is not None:  # pat.compile replays kernel calls; this write is not one of them
        rec.opaque(f"Tensor.{name} wrote into a tensor's buffer")
    with _writable(self, name) as buf:
        np.copyto(buf, arr, casting="unsafe")
    return self


def _binary(name: str, fn: Any, npfn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        if _records(self, (other,)):
            if self.is_leaf and self.requires_grad:
                _refuse_leaf(self, name)
            return _rebind(self, fn(self, other), name)
        o = _raw(other)
        if isinstance(o, (list, tuple)):
            o = np.asarray(o, self.dtype)
        return _write(self, name, npfn(self._data, o).astype(self.dtype, copy=False))

    method.__name__ = name
    method.__doc__ = (f"In place: ``self = self {npfn.__name__} other`` (PyTorch's "
                      f"``Tensor.{name}``); returns self.")
    return method


def _scaled(name: str, fn: Any, npfn: Any) -> Any:
    base = _binary(name, fn, npfn)

    def method(self: Tensor, other: Any, alpha: float = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha if isinstance(other, Tensor) else np.multiply(_raw(other), alpha)
        return base(self, other)

    method.__name__ = name
    method.__doc__ = base.__doc__.replace("other", "alpha * other", 1)
    return method


_add_, _sub_ = _scaled("add_", add, np.add), _scaled("sub_", sub, np.subtract)
_mul_, _div_ = _binary("mul_", mul, np.multiply), _binary("div_", div, np.true_divide)


def _fill_(self: Tensor, value: Any) -> Tensor:
    """In place: every element set to ``value`` (a number or a one-element tensor)."""
    if _records(self, (value,)):
        if self.is_leaf and self.requires_grad:
            _refuse_leaf(self, "fill_")
        if not (isinstance(value, Tensor) and value.requires_grad):
            return _detach_to(self, np.full(self.shape, _raw(value), self.dtype))
        if value.size != 1:
            raise ShapeError(f"fill_: value has shape {value.shape}; pass one element")
        return _rebind(self, value.reshape(()) + np.zeros(self.shape, self.dtype), "fill_")
    return _write(self, "fill_", np.asarray(_raw(value), self.dtype))


def _detach_to(self: Tensor, arr: np.ndarray) -> Tensor:
    self._data, self._node, self._guard = arr, None, None
    self.requires_grad = False
    return self


def _zero_(self: Tensor) -> Tensor:
    """In place: every element set to 0 (``p.grad.zero_()``)."""
    return _fill_(self, 0.0)


def _copy_(self: Tensor, src: Any) -> Tensor:
    """In place: ``src``'s values (broadcast to self's shape) copied into self."""
    if _records(self, (src,)):
        if self.is_leaf and self.requires_grad:
            _refuse_leaf(self, "copy_")
        if not (isinstance(src, Tensor) and src.requires_grad):
            return _detach_to(self, np.broadcast_to(_raw(src), self.shape).astype(self.dtype))
        return _rebind(self, src + np.zeros(self.shape, self.dtype), "copy_")
    return _write(self, "copy_", np.asarray(_raw(src)))


def _clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """In place: values limited to ``[min, max]`` (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp_: give min, max or both")
    if _records(self, (min, max)):
        if self.is_leaf and self.requires_grad:
            _refuse_leaf(self, "clamp_")
        y = self
        if min is not None:
            y = maximum(y, min)
        if max is not None:
            y = minimum(y, max)
        return _rebind(self, y, "clamp_")
    return _write(self, "clamp_", np.clip(self._data, _raw(min), _raw(max)))


def _augmented(fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(self, other)

    method.__name__ = fn.__name__.replace("_", "")
    return method


INPLACE_METHODS: dict[str, Any] = {
    "add_": _add_,
    "sub_": _sub_,
    "mul_": _mul_,
    "div_": _div_,
    "zero_": _zero_,
    "fill_": _fill_,
    "copy_": _copy_,
    "clamp_": _clamp_,
    "__iadd__": _augmented(_add_),
    "__isub__": _augmented(_sub_),
    "__imul__": _augmented(_mul_),
    "__itruediv__": _augmented(_div_),
}
