"""``pat.compile`` and :class:`Compiled`: the cache of recordings by call signature.

>>> import pyautotape as pat
>>> pat.compile(lambda x: x).cache_size
8
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import anomaly as _anomaly
from .._state import state as _state
from ..errors import RetapeRequired, TapeError
from ..tensor import Tensor, tensor
from .plan import Plan
from .recorder import Recorder, Retape

_ARRAYS = (np.ndarray, Tensor)


def _arg_sig(value: Any) -> tuple:
    """What must match for a positional argument to fit a recording (see _signature)."""
    t = type(value)
    if t is np.ndarray:
        return (t, value.shape, value.dtype)
    if t is Tensor:
        return (t, value._data.shape, value._data.dtype)
    return (None, value)


def _plain(value: Any) -> Any:
    return np.asarray(value) if isinstance(value, np.ndarray) else value


def _same_call(sig: tuple | None, args: tuple) -> bool:
    """Whether positional ``args`` have exactly the signature ``sig`` of a recording."""
    if sig is None or len(sig) != len(args):
        return False
    for (t, *rest), a in zip(sig, args, strict=True):
        ta = type(a)
        if t is np.ndarray:
            if ta is not np.ndarray or a.shape != rest[0] or a.dtype != rest[1]:
                return False
        elif t is Tensor:
            if ta is not Tensor or a._data.shape != rest[0] or a._data.dtype != rest[1]:
                return False
        elif ta in _ARRAYS or type(rest[0]) is not ta or rest[0] != a:
            return False
    return True


def _signature(args: tuple, kwargs: dict) -> tuple[tuple, list[np.ndarray]]:
    """The cache key of a call (array/Tensor arguments by shape and dtype, others by
    value) and the array arguments in order."""
    key: list[Any] = []
    arrays: list[np.ndarray] = []
    for value in args if not kwargs else [*args, *(kwargs[k] for k in sorted(kwargs))]:
        t = type(value)
        if t is np.ndarray or t is Tensor:
            arr = value if t is np.ndarray else value._data
            arrays.append(arr)
            key.append((t is Tensor, arr.shape, arr.dtype))
        else:
            key.append(value)
    if kwargs:
        key.append(tuple(sorted(kwargs)))
    return tuple(key), arrays


class Compiled:
    """A function recorded once per signature and replayed in one C call afterwards.

    Made by :func:`compile`; call it like the original. ``memory_report()`` gives the bytes
    of the most recently used recording, ``stats`` counts calls (``records``, ``replays``,
    ``retapes``, ``eager`` for functions that cannot replay).

    >>> import numpy as np, pyautotape as pat
    >>> step = pat.compile(lambda x: pat.tensor(x) * 2.0)
    >>> isinstance(step, pat.Compiled)
    True
    >>> _ = step(np.ones(3)); _ = step(np.ones(3))
    >>> step.stats["records"], step.stats["replays"]
    (1, 1)
    """

    def __init__(self, fn: Callable[..., Any], strict: bool = False, cache_size: int = 8) -> None:
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be >= 1, got {cache_size}")
        self.fn = fn
        self.strict = strict
        self.cache_size = cache_size
        self.plans: collections.OrderedDict[tuple, Plan] = collections.OrderedDict()
        self.stats = {"records": 0, "replays": 0, "retapes": 0, "eager": 0}
        self.last: Plan | None = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _state.recorder is not None:
            raise TapeError("compile: a compiled function cannot be called while recording")
        last = self.last
        if last is not None and not kwargs and _same_call(last.call_sig, args):
            # the common case: the same signature as the previous call, checked without
            # building and hashing the cache key
            key, plan = last.key, last
            arrays = [a if type(a) is np.ndarray else a._data for a in args if type(a) in _ARRAYS]
        else:
            if any(isinstance(a, np.ndarray) and type(a) is not np.ndarray
                   for a in (*args, *kwargs.values())):
                # an ndarray subclass (np.memmap, ...) is its plain ndarray view
                args = tuple(_plain(a) for a in args)
                kwargs = {k: _plain(v) for k, v in kwargs.items()}
            key, arrays = _signature(args, kwargs)
            plan = None
        with self._lock:
            try:
                if plan is None:
                    plan = self.plans.get(key)
            except TypeError:
                raise TypeError(
                    "compile: an argument is neither an array nor hashable, so it cannot be "
                    "part of a replay signature; pass arrays/Tensors, or capture it in a closure"
                ) from None
            if plan is not None:
                if plan is not self.last:
                    self.plans.move_to_end(key)
                    self.last = plan
                if not plan.replayable:
                    self.stats["eager"] += 1
                    return self.fn(*args, **kwargs)
                try:
                    out = plan.run(arrays)
                    self.stats["replays"] += 1
                    return out
                except Retape as why:
                    if self.strict:
                        raise RetapeRequired(
                            f"compile: the recorded step no longer applies ({why}); "
                            "strict=True forbids recording again"
                        ) from None
                    self.stats["retapes"] += 1
            return self._record(key, args, kwargs)

    def _record(self, key: tuple, args: tuple, kwargs: dict) -> Any:
        # Tensor arguments are handed to fn as private copies, so their buffers are the
        # replay's input buffers (the caller's tensors are never written).
        ids: dict[int, int] = {}
        pos = 0

        def private(value: Any) -> Any:
            nonlocal pos
            if type(value) is np.ndarray:
                ids[id(value)] = pos
                pos += 1
                return value
            if type(value) is Tensor:
                t = tensor(value._data, requires_grad=value.requires_grad)
                ids[id(t._data)] = pos
                inputs.append((pos, t._data))
                pos += 1
                return t
            return value

        inputs: list[tuple[int, np.ndarray]] = []
        if kwargs:
            names = sorted(kwargs)
            call_args = [private(a) for a in args]
            call_kwargs = {k: private(kwargs[k]) for k in names}
        else:
            call_args = [private(a) for a in args]
            call_kwargs = {}
        rec = Recorder(ids)
        for p, arr in inputs:
            rec.bind(p, arr)
        _state.recorder = rec
        restore_sites = _anomaly.keep_sites()  # records keep their lines for anomaly reports
        try:
            result = self.fn(*call_args, **call_kwargs)
        finally:
            _state.recorder = None
            restore_sites()
        plan = Plan(rec, result)
        plan.key = key
        plan.call_sig = None if kwargs else tuple(_arg_sig(a) for a in args)
        self.plans[key] = plan
        self.plans.move_to_end(key)
        while len(self.plans) > self.cache_size:
            self.plans.popitem(last=False)
        self.last = plan
        self.stats["records"] += 1
        # the recording call returns what a replay would: copies, cut from the tape
        return plan._build(plan.result_template)

    def memory_report(self) -> dict[str, int]:
        """Bytes held by the last used recording: parameters, gradients, optimizer state,
        inputs, activations saved for backward, scratch, total."""
        if self.last is None:
            raise TapeError("memory_report: call the compiled function once first")
        return self.last.memory_report()


def compile(fn: Callable[..., Any] | None = None, *, strict: bool = False, cache_size: int = 8):
    """Record ``fn`` once per signature and replay it in one C call afterwards.

    The first call with a given signature (shapes and dtypes of the array/Tensor
    arguments; other arguments by value) runs ``fn`` eagerly and records everything it
    does: forward ops, ``backward()``, optimizer ``step()`` and ``zero_grad()``. Later
    calls copy the new arrays in and run forward, backward and update in one C call, with
    the same kernels in the same order as eager mode (bitwise equal results).

    What is a constant of the recording: Python numbers and arrays that ``fn`` captures
    from its closure, and NumPy work ``fn`` does on its arguments before handing them to
    pyautotape (pass them to ``pat.tensor`` or an op directly). Parameters are buffers,
    not copies: in-place changes to ``p.data`` between calls are seen. Replacing
    ``p.data``, or the optimizer's hyperparameters other than the learning rate... are
    checked: a change records again. Results are returned as copies.

    Guards: ``bool(t)``, comparisons of tensors, ``t.numpy()`` and conditions or arithmetic
    on ``t.item()`` record what Python saw; on replay a different outcome records again
    (``strict=True``: raises :class:`pat.RetapeRequired`). A new signature records a new
    tape; ``cache_size`` recordings are kept (least recently used first out).

    >>> import numpy as np, pyautotape as pat
    >>> w = pat.tensor(np.zeros(3), requires_grad=True)
    >>> opt = pat.optim.SGD([w], lr=0.1)
    >>> @pat.compile
    ... def step(x, y):
    ...     loss = pat.mse_loss(pat.tensor(x) @ w, pat.tensor(y))
    ...     loss.backward()
    ...     opt.step()
    ...     opt.zero_grad()
    ...     return loss
    >>> x, y = np.eye(3), np.ones(3)
    >>> [round(step(x, y).item(), 4) for _ in range(3)]
    [1.0, 0.8711, 0.7588]
    >>> step.stats["replays"]
    2
    """
    if fn is None:
        return lambda f: Compiled(f, strict=strict, cache_size=cache_size)
    return Compiled(fn, strict=strict, cache_size=cache_size)
