"""Custom differentiable ops: :class:`Function`, in PyTorch's style.

>>> import numpy as np, pyautotape as pat
>>> class Cube(pat.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x * x
...
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return 3 * x * x * g
...
...     @staticmethod
...     def jvp(ctx, t):
...         (x,) = ctx.saved_tensors
...         return 3 * x * x * t
>>> x = pat.tensor([2.0], requires_grad=True)
>>> Cube.apply(x).backward()
>>> x.grad.numpy()
array([12.], dtype=float32)

How it runs. ``apply`` calls ``forward`` under ``no_grad`` and records ONE tape
instruction, ``PAT_OP_CUSTOM``, whose ``m`` is a handle into a table of live applications
(the entry goes when the record dies). When a C sweep reaches that instruction it calls
``pat_custom_callback`` (a cffi ``extern "Python"`` function, below), which finds the
application, wraps the sweep's buffers as NumPy arrays and runs ``backward`` (reverse
sweeps) or ``jvp`` (tangent sweeps) once per seed. An exception raised there is stored
and turned into the status ``PAT_ECALLBACK``; the C sweep stops, and the Python code that
started it raises the stored exception again, with its original traceback.

Limits: at most three Tensor arguments (a tape instruction has three source slots; other
arguments, such as numbers or integer arrays, pass through untouched and get no
gradient), one Tensor output, and no second derivatives (``hessian``/``hvp`` through a
custom op raise ``NotImplementedError``).
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._ffi import ffi, filled, lib
from ._state import state as _state
from .errors import DTypeError, ShapeError
from .ops.spec import Example, OpSpec, register
from .record import record
from .tensor import Tensor, _Guard, _wrap, is_grad_enabled, no_grad, tensor

__all__ = ["Function", "FunctionCtx"]

_MAX_TENSOR_ARGS = 3  # source slots of a pat_instr


class FunctionCtx:
    """The ``ctx`` handed to ``forward``, ``backward`` and ``jvp`` of one application.

    ``save_for_backward(*tensors)`` keeps tensors for the derivative rules (they are
    locked read-only while the record lives, like the arrays built-in ops keep);
    ``saved_tensors`` returns them; ``needs_input_grad`` is a tuple of bools, one per
    argument of ``forward``. Other attributes may be set freely (``ctx.scale = 2.0``).

    >>> import pyautotape as pat
    >>> ctx = pat.FunctionCtx()
    >>> x = pat.tensor([1.0])
    >>> ctx.save_for_backward(x, None)
    >>> ctx.saved_tensors[0] is x, ctx.saved_tensors[1]
    (True, None)
    """

    def __init__(self) -> None:
        self.saved_tensors: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep ``tensors`` (Tensors or None) for backward/jvp as ``ctx.saved_tensors``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward: argument {i} is a {type(t).__name__}; save Tensors "
                    "(store other values as ctx attributes, e.g. ctx.scale = 2.0)"
                )
        self.saved_tensors = tuple(tensors)


class _Application:
    """One recorded call of a Function: what the callback needs to run its rules."""

    __slots__ = ("fn", "ctx", "args", "positions", "in_shapes", "in_dtypes", "out_shape",
                 "out_dtype")

    def __init__(self, fn: type[Function], ctx: FunctionCtx, args: tuple, positions: list[int],
                 out: np.ndarray) -> None:
        self.fn = fn
        self.ctx = ctx
        self.args = args
        self.positions = positions  # argument position of source slot i
        self.in_shapes = [args[p].shape for p in positions]
        self.in_dtypes = [args[p].dtype for p in positions]
        self.out_shape = out.shape
        self.out_dtype = out.dtype


_handles = itertools.count(1)
_live: dict[int, _Application] = {}  # handle -> application, while its record lives


class Function:
    """Base class of custom differentiable ops (PyTorch's ``torch.autograd.Function``).

    Subclass it with static methods ``forward(ctx, *args)`` (returns a Tensor; runs under
    ``no_grad``), ``backward(ctx, grad_output)`` (returns one gradient per argument of
    forward: a Tensor, ndarray or None) and optionally ``jvp(ctx, *tangents)`` (one
    tangent per argument, a zero Tensor for a Tensor without one and None for other
    arguments; returns the output's tangent), then call ``MyOp.apply(*args)``. Without
    ``jvp`` the op works in reverse mode only, and ``gradcheck`` skips its forward-mode
    check.

    >>> import numpy as np, pyautotape as pat
    >>> class Scale(pat.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, factor):
    ...         ctx.factor = factor
    ...         return x * factor
    ...
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * ctx.factor, None
    >>> x = pat.tensor([1.0, 2.0], requires_grad=True)
    >>> Scale.apply(x, 3.0).sum().backward()
    >>> x.grad.numpy()
    array([3., 3.], dtype=float32)
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @staticmethod
    def jvp(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("this Function defines no jvp(ctx, *tangents)")

    @classmethod
    def has_jvp(cls) -> bool:
        """Whether the subclass defines a forward-mode rule (``jvp``).

        >>> import pyautotape as pat
        >>> pat.Function.has_jvp()
        False
        """
        return cls.jvp is not Function.jvp

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` and record the op on the tape (when an argument needs a gradient).

        >>> import pyautotape as pat
        >>> class Double(pat.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 2
        ...
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return g * 2
        >>> Double.apply(pat.tensor([1.5])).numpy()
        array([3.], dtype=float32)
        """
        name = cls.__name__
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if len(positions) > _MAX_TENSOR_ARGS:
            raise TypeError(
                f"{name}.apply: {len(positions)} Tensor arguments, but a custom op takes at "
                f"most {_MAX_TENSOR_ARGS} (a tape instruction has three sources); combine "
                "inputs with pat.concatenate, or split the op in two"
            )
        grad_on = is_grad_enabled()
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(
            grad_on and isinstance(a, Tensor) and a.requires_grad for a in args
        )
        rec = getattr(_state, "recorder", None)
        if rec is not None:  # pat.compile cannot replay Python code
            rec.opaque(f"custom Function {name} runs Python")
        with no_grad():
            out = cls.forward(ctx, *args)
        data = _output_array(name, out, args, positions)
        if not any(ctx.needs_input_grad):
            return _wrap(data)
        app = _Application(cls, ctx, args, positions, data)
        handle = next(_handles)
        _live[handle] = app
        sources = [args[p] for p in positions] + [None] * (_MAX_TENSOR_ARGS - len(positions))
        y = record(lib.PAT_OP_CUSTOM, data, sources, m=handle, n=data.size)
        r = y._node
        if r is None:  # a streaming jvp pushed the tangent already and keeps no record
            _live.pop(handle, None)
            return y
        weakref.finalize(r, _live.pop, handle, None)
        # what ctx saved is locked read-only while the record lives, as for built-in ops;
        # a saved forward output is replaced by the recorded output itself
        own = not any(out is args[p] for p in positions)
        saved = tuple(y if t is out and own else t for t in ctx.saved_tensors)
        ctx.saved_tensors = saved
        guards = []
        for t in saved:
            if isinstance(t, Tensor):
                g = t._guard
                if g is None:
                    g = t._guard = _Guard(t._data)
                g.lock()
                guards.append(g)
        r.guards = tuple(r.guards) + tuple(guards)
        r.versions = tuple(r.versions) + tuple(g.version for g in guards)
        return y


def _output_array(name: str, out: Any, args: tuple, positions: list[int]) -> np.ndarray:
    """forward's result as a fresh, C-contiguous float array the record may own."""
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{name}.forward must return one Tensor, got {type(out).__name__}; wrap arrays "
            "with pat.tensor(...)"
        )
    data = out._data
    if data.dtype.kind != "f" or data.dtype.itemsize not in (4, 8):
        raise DTypeError(f"{name}.forward returned dtype {data.dtype}; use float32 or float64")
    if any(np.shares_memory(data, args[p]._data) for p in positions) or not (
        data.flags.c_contiguous and data.flags.aligned and data.flags.writeable
    ):
        data = np.array(data, order="C", copy=True)  # the output never aliases an input
    return data


# ---------------------------------------------------------------------------------------
# the callback the C sweeps make


def _view(p: Any, shape: Sequence[int], dtype: np.dtype) -> np.ndarray | None:
    """The sweep's buffer at pointer ``p`` as a writable ndarray (None for NULL)."""
    if p == ffi.NULL:
        return None
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes == 0:
        return np.zeros(shape, dtype)
    return np.frombuffer(ffi.buffer(p, nbytes), dtype=dtype).reshape(shape)


def _const(arr: np.ndarray) -> Tensor:
    """A rule's argument as a Tensor of its own: a copy, because the sweep's buffer is
    freed when the sweep returns, and a rule may keep what it is given (ctx.g = g)."""
    return _wrap(arr.copy())


def _as_array(name: str, what: str, value: Any, shape: tuple, dtype: np.dtype) -> np.ndarray:
    try:
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}.{what} is not an array ({type(value).__name__}: {exc}); "
                        "return a Tensor, a float ndarray or None") from None
    if arr.dtype.kind not in "fiub":  # complex would lose its imaginary part, object fail
        raise DTypeError(
            f"{name}.{what} has dtype {arr.dtype}; return a Tensor, a float ndarray "
            f"({dtype}) or None, e.g. np.real(g) if the imaginary part is known to be zero"
        )
    if arr.shape != shape:
        raise ShapeError(f"{name}.{what} has shape {arr.shape}; expected {shape}")
    return arr.astype(dtype, copy=False)


def _backward(app: _Application, nseeds: int, dst: Any, bufs: list[Any]) -> None:
    name = app.fn.__name__
    dy = filled(_view(dst, (nseeds, *app.out_shape), app.out_dtype))
    outs = [_view(p, (nseeds, *app.in_shapes[i]), app.in_dtypes[i]) for i, p in enumerate(bufs)]
    for j in range(nseeds):
        with no_grad():
            grads = app.fn.backward(app.ctx, _const(dy[j]))
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(app.args):
            raise TypeError(
                f"{name}.backward returned {len(grads)} gradient(s) for {len(app.args)} "
                "argument(s) of forward; return one per argument (None where there is none)"
            )
        for i, pos in enumerate(app.positions):
            o = outs[i]
            if o is not None and grads[pos] is not None:
                what = f"backward's gradient {pos}"
                o[j] += _as_array(name, what, grads[pos], app.in_shapes[i], o.dtype)


def _tangent(app: _Application, nseeds: int, dst: Any, bufs: list[Any]) -> None:
    name = app.fn.__name__
    if not app.fn.has_jvp():
        raise NotImplementedError(
            f"{name} defines no jvp(ctx, *tangents); forward mode (pat.jvp, jacfwd, "
            "hessian) through it needs one, or use reverse mode (pat.vjp, jacrev)"
        )
    ty = filled(_view(dst, (nseeds, *app.out_shape), app.out_dtype))
    ins = [_view(p, (nseeds, *app.in_shapes[i]), app.in_dtypes[i]) for i, p in enumerate(bufs)]
    for j in range(nseeds):
        tangents: list[Tensor | None] = [None] * len(app.args)
        for i, pos in enumerate(app.positions):
            t = ins[i]
            tangents[pos] = _const(t[j]) if t is not None else _wrap(
                np.zeros(app.in_shapes[i], app.in_dtypes[i])
            )
        with no_grad():
            out = app.fn.jvp(app.ctx, *tangents)
        ty[j] += _as_array(name, "jvp's result", out, app.out_shape, app.out_dtype)


def _forward(app: _Application, dst: Any, bufs: list[Any]) -> None:
    """Run forward again on the values in the sweep's buffers (replay of a step)."""
    args = list(app.args)
    for i, pos in enumerate(app.positions):
        v = _view(bufs[i], app.in_shapes[i], app.in_dtypes[i])
        args[pos] = tensor(v) if v is not None else args[pos]
    ctx = FunctionCtx()
    ctx.needs_input_grad = app.ctx.needs_input_grad
    with no_grad():
        out = app.fn.forward(ctx, *args)
    y = filled(_view(dst, app.out_shape, app.out_dtype))
    y[...] = _as_array(app.fn.__name__, "forward's result", out, app.out_shape, app.out_dtype)
    app.ctx = ctx


@ffi.def_extern()
def pat_custom_callback(kind, handle, nseeds, dst, s0, s1, s2):  # noqa: ANN001, ANN201
    """Called by the C sweeps for every PAT_OP_CUSTOM instruction (see pat_callbacks.h)."""
    try:
        app = _live.get(handle)
        if app is None:
            raise RuntimeError(f"custom op handle {handle} is not live (its tape was freed)")
        bufs = [s0, s1, s2][: len(app.positions)]
        if kind == lib.PAT_CB_BWD:
            _backward(app, nseeds, dst, bufs)
        elif kind == lib.PAT_CB_TAN:
            _tangent(app, nseeds, dst, bufs)
        elif kind == lib.PAT_CB_FWD:
            _forward(app, dst, bufs)
        else:
            refusal = getattr(app.fn, "second_order_refusal", None)
            raise NotImplementedError(
                refusal(app.ctx) if refusal is not None else
                f"second derivatives (pat.hessian, pat.hvp, a transform of a transform, "
                f"create_graph=True) through the custom op {app.fn.__name__} are not "
                "supported: its backward is Python, whose own derivative the tape cannot see"
            )
        return lib.PAT_OK
    except BaseException as exc:  # noqa: BLE001 - every error must reach the caller
        _state.callback_error = exc
        return lib.PAT_ECALLBACK


# ---------------------------------------------------------------------------------------
# the op's spec: its test row is a Function with hand-written backward and jvp


class _TanhScale(Function):
    """``tanh(x) * w`` by hand: the test row of custom ops (the callback path)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w: Tensor) -> Tensor:
        from .ops import tanh

        y = tanh(x)
        ctx.save_for_backward(y, w)
        return y * w

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, Tensor]:
        y, w = ctx.saved_tensors
        return g * w * (1 - y * y), g * y

    @staticmethod
    def jvp(ctx: FunctionCtx, tx: Tensor, tw: Tensor) -> Tensor:
        y, w = ctx.saved_tensors
        return tx * w * (1 - y * y) + tw * y


register(OpSpec("custom", None, "custom", inputs=("input 0", "input 1", "input 2"), flops=None,
                examples=(Example(_TanhScale.apply, lambda x, w: np.tanh(x) * w,
                                  lambda r: [r.standard_normal((3, 4)),
                                             r.standard_normal((3, 4))]),)))
