"""``pat.compile`` and :class:`Compiled`: the cache of recordings by call signature.

>>> import pyautotape as pat
>>> pat.compile(lambda x: x).cache_size
8
"""

from __future__ import annotations

import collections
import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import anomaly as _anomaly
from .. import tensor as _tensor
from .._state import state as _state
from ..errors import RetapeRequired, TapeError
from ..ops import elementwise as _elementwise
from ..tensor import Tensor, _wrap, _writable
from .plan import Plan
from .recorder import Aliased, Recorder, Retape
from .traced import TracedArray, traced_arg

_ARRAYS = (np.ndarray, Tensor)
_MISS = object()  # the fast call path does not apply: take the general one


def _settings() -> tuple:
    """The global settings a recording depends on (the default dtype makes the constants
    of lists and numbers; the ReLU subgradient is baked into relu's records): a recording
    made under other settings records again. Anomaly mode is not here: a replay runs the
    checked program while it is on."""
    return (_tensor._default_dtype, _elementwise._relu_subgradient)


def _owner(a: np.ndarray) -> int:
    b = a.base
    return id(a if b is None else b)


def _check_array(value: Any) -> None:
    if isinstance(value, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(
            f"compile: a {type(value).__name__} argument is not supported (its NumPy "
            "semantics differ from an ndarray's); pass np.asarray(x) (for a masked array "
            "x.filled(...))"
        )


def _arg_sig(value: Any) -> tuple:
    """What must match for a positional argument to fit a recording (see _signature)."""
    t = type(value)
    if t is np.ndarray:
        return (t, value.shape, value.dtype)
    if t is Tensor:
        return (t, value._data.shape, value._data.dtype, value.requires_grad,
                value._grad is None)
    return (None, value)


def _same_call(sig: tuple | None, args: tuple) -> bool:
    """Whether positional ``args`` have exactly the signature ``sig`` of a recording
    (plain ndarrays and Tensors only; anything else takes the general path)."""
    if sig is None or len(sig) != len(args):
        return False
    for (t, *rest), a in zip(sig, args, strict=True):
        ta = type(a)
        if t is np.ndarray:
            if ta is not np.ndarray or a.shape != rest[0] or a.dtype != rest[1]:
                return False
        elif t is Tensor:
            if (ta is not Tensor or a._data.shape != rest[0] or a._data.dtype != rest[1]
                    or a.requires_grad != rest[2] or (a._grad is None) != rest[3]):
                return False
        elif ta in _ARRAYS or type(rest[0]) is not ta or rest[0] != a:
            return False
    return True


def _aliases(objs: list[Any]) -> tuple | None:
    """None when the array arguments are distinct objects, else for each the position of
    the first argument that is the same object (a part of the signature)."""
    n = len(objs)
    if n < 2 or (objs[0] is not objs[1] if n == 2 else len({id(o) for o in objs}) == n):
        return None
    first: dict[int, int] = {}
    return tuple(first.setdefault(id(o), i) for i, o in enumerate(objs))


def call_kwargs_values(kwargs: dict) -> list[Any]:
    return [kwargs[k] for k in sorted(kwargs)]


def _signature(args: tuple, kwargs: dict) -> tuple[tuple, list[np.ndarray], list[Any]]:
    """The cache key of a call (array/Tensor arguments by shape and dtype, Tensors also by
    requires_grad and whether .grad is set, others by value; which arguments are the same
    object), the array arguments in order, and the argument objects."""
    key: list[Any] = []
    arrays: list[np.ndarray] = []
    objs: list[Any] = []
    for value in args if not kwargs else [*args, *(kwargs[k] for k in sorted(kwargs))]:
        if isinstance(value, np.ndarray):
            _check_array(value)
            arrays.append(value)
            objs.append(value)
            key.append((False, value.shape, value.dtype))
        elif isinstance(value, Tensor):
            arrays.append(value._data)
            objs.append(value)
            key.append((True, value._data.shape, value._data.dtype, value.requires_grad,
                        value._grad is None))
        else:
            key.append(value)
    if kwargs:
        key.append(tuple(sorted(kwargs)))
    key.append(_aliases(objs))
    return tuple(key), arrays, objs


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

    def __init__(self, fn: Callable[..., Any], strict: bool = False, cache_size: int = 8,
                 fuse_update: bool = False) -> None:
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be >= 1, got {cache_size}")
        self.fn = fn
        self.strict = strict
        self.fuse_update = bool(fuse_update)
        self.cache_size = cache_size
        self.plans: collections.OrderedDict[tuple, Plan] = collections.OrderedDict()
        self.stats = {"records": 0, "replays": 0, "retapes": 0, "eager": 0}
        self._last_plan: Plan | None = None
        # the fast path's view of it, without self: a weak reference (the one CPython
        # keeps per object, so it is compared by identity), so no cycle holds a plan
        self._last: list[Any] = [None]
        self._lock = threading.Lock()
        self._eager_keys: set[tuple] = set()  # signatures whose arguments alias fn's tensors
        self._fast: Callable[[tuple], Any] | None = None  # the last recording's call path
        functools.update_wrapper(self, fn)

    @property
    def last(self) -> Plan | None:
        """The most recently used recording (None before the first call)."""
        return self._last_plan

    @last.setter
    def last(self, plan: Plan | None) -> None:
        self._last_plan = plan
        self._last[0] = None if plan is None else weakref.ref(plan)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast is not None and not kwargs:
            out = fast(args)
            if out is not _MISS:
                return out
        return self._call(args, kwargs)

    def _fast_path(self, plan: Plan) -> Callable[[tuple], Any] | None:
        """The call path of the previous call's recording, for positional plain ndarrays
        that are distinct objects: the same checks as _call in straight-line code over
        precomputed values (no key building); _MISS sends a call to _call unchanged.
        None when the recording has no such path (Tensor or value arguments, keywords)."""
        sig = plan.call_sig
        if (sig is None or not plan.all_nd or not plan.replayable or plan.tensor_args
                or plan.key[-1] is not None or any(t is not np.ndarray for t, *_ in sig)):
            return None
        shapes = tuple((s, d) for _, s, d in sig)
        n = len(shapes)
        dflt, relu_sub = plan.settings
        captured = plan.captured
        run, key, plan_settings = plan.run, plan.key, plan.settings
        # plan.fast and self._fast are this closure: it reaches neither plan nor self
        # strongly, so dropping either frees it at once (no reference cycle)
        this, cur = weakref.ref(plan), self._last
        owner: Any = weakref.ref(self)
        lock = self._lock
        stats = self.stats
        state = _state
        nd = np.ndarray
        tensor_mod, elt_mod = _tensor, _elementwise

        def fast(args: tuple) -> Any:
            if len(args) != n or state.recorder is not None:
                return _MISS
            # identity of dtypes (NumPy's builtin ones are singletons): an equal but
            # distinct dtype only takes the general path
            for (shape, dtype), a in zip(shapes, args, strict=False):
                if type(a) is not nd or a.dtype is not dtype or a.shape != shape:
                    return _MISS
                b = a.base
                if id(a if b is None else b) in captured:
                    return _MISS
            if n > 1 and (args[0] is args[1] if n == 2 else len(set(map(id, args))) != n):
                return _MISS
            if tensor_mod._default_dtype is not dflt or elt_mod._relu_subgradient != relu_sub:
                return _MISS
            with lock:
                if cur[0] is not this:
                    return _MISS
                try:
                    out = run(args)
                except Retape as why:
                    return owner()._retape(why, key, args, {}, plan_settings)
                stats["replays"] += 1
                return out

        return fast

    def _use(self, plan: Plan) -> None:
        """``plan`` is the most recently used recording (the lock is held)."""
        if plan is not self.last:
            self.last = plan
            self._fast = None
        if self._fast is None:
            if plan.fast is False:
                plan.fast = self._fast_path(plan)
            self._fast = plan.fast

    def _retape(self, why: Retape, key: tuple, args: tuple, kwargs: dict,
                settings: tuple) -> Any:
        if self.strict:
            raise RetapeRequired(
                f"compile: the recorded step no longer applies ({why}); "
                "strict=True forbids recording again"
            ) from None
        self.stats["retapes"] += 1
        return self._record(key, args, kwargs, settings)

    def _call(self, args: tuple, kwargs: dict) -> Any:
        if _state.recorder is not None:
            raise TapeError("compile: a compiled function cannot be called while recording")
        last = self.last
        settings = _settings()
        if (last is not None and not kwargs and _same_call(last.call_sig, args)
                and last.settings == settings):
            # the same signature as the previous call, checked without building and
            # hashing the cache key
            objs = [a for a in args if type(a) in _ARRAYS]
            arrays = objs if last.all_nd else [
                a if type(a) is np.ndarray else a._data for a in objs
            ]
            n = len(objs)
            alias = None if n < 2 or (n == 2 and objs[0] is not objs[1]) else _aliases(objs)
            if alias == last.key[-1]:
                key, plan = last.key, last
            else:
                key, plan = (*last.key[:-1], alias), None
        else:
            key, arrays, objs = _signature(args, kwargs)
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
            if plan is None and key in self._eager_keys:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            if plan is not None and plan.settings != settings:
                plan = None  # recorded under other global settings: record again
            if plan is not None:
                captured = plan.captured
                for a in arrays:
                    b = a.base
                    if id(a if b is None else b) in captured:
                        # an argument shares memory with a tensor fn uses: eager is exact
                        self.stats["eager"] += 1
                        return self.fn(*args, **kwargs)
                if plan is not self.last:
                    self.plans.move_to_end(key)
                if not plan.replayable:
                    self._use(plan)
                    self.stats["eager"] += 1
                    return self.fn(*args, **kwargs)
                self._use(plan)
                try:
                    if plan.tensor_args:
                        plan.grads_in(objs)
                    out = plan.run(arrays)
                    if plan.tensor_args:
                        plan.grads_out(objs)
                    self.stats["replays"] += 1
                    return out
                except Retape as why:
                    return self._retape(why, key, args, kwargs, settings)
            return self._record(key, args, kwargs, settings)

    def _record(self, key: tuple, args: tuple, kwargs: dict, settings: tuple) -> Any:
        # Array arguments are handed to fn as traced values over private buffers, the
        # replay's input buffers (the caller's arrays and tensors are never written):
        # float arrays and Tensors as TracedArg Tensors, other arrays as TracedArray.
        ids: dict[int, int] = {}
        inputs: list[tuple[int, np.ndarray]] = []
        made: dict[int, Any] = {}  # id(caller's object) -> what fn gets (aliases share it)
        tensor_args: list[tuple[int, Tensor, Any]] = []  # (position, private, its grad)
        owners: set[int] = set()
        written: list[tuple[Any, np.ndarray, bytes]] = []  # (caller's, private, before)
        pos = 0

        def private(value: Any) -> Any:
            nonlocal pos
            if not isinstance(value, _ARRAYS):
                return value
            p = pos
            pos += 1
            hit = made.get(id(value))
            if hit is not None:
                return hit
            if isinstance(value, Tensor):
                arr = value._data
                t: Any = traced_arg(np.array(arr, order="C", copy=True), p, value.requires_grad)
                if value.requires_grad:
                    g = value._grad
                    if g is not None:  # eager accumulates into it: so does the private leaf
                        t._grad = _wrap(np.array(g._data, order="C", copy=True))
                    tensor_args.append((p, t, t._grad._data if t._grad is not None else None))
                buf = t._data
            else:
                arr = value
                if value.dtype.kind == "f" and value.dtype.itemsize in (4, 8):
                    buf = np.array(value, dtype=value.dtype.newbyteorder("="), order="C")
                    t = traced_arg(buf, p)
                else:
                    buf = np.array(value, order="C", copy=True)
                    t = TracedArray(buf, p)
            owners.add(_owner(arr))
            written.append((value, buf, buf.tobytes()))
            ids[id(buf)] = p
            inputs.append((p, buf))
            made[id(value)] = t
            return t

        if kwargs:
            names = sorted(kwargs)
            call_args = [private(a) for a in args]
            call_kwargs = {k: private(kwargs[k]) for k in names}
        else:
            call_args = [private(a) for a in args]
            call_kwargs = {}
        rec = Recorder(ids, strict=self.strict)
        rec.arg_owners = owners
        for p, arr in inputs:
            rec.bind(p, arr)
        _state.recorder = rec
        restore_sites = _anomaly.keep_sites()  # records keep their lines for anomaly reports
        try:
            result = self.fn(*call_args, **call_kwargs)
        except Aliased:
            _state.recorder = None
            restore_sites()
            if rec.side_effect:
                raise TapeError(
                    "compile: an argument shares memory with a tensor the function also "
                    "uses (a parameter passed as an argument, or a view of one), found after "
                    "backward or an optimizer step had run; pass a copy (x.copy(), "
                    "t.detach() of a copy) or capture the tensor instead"
                ) from None
            # found before anything changed: this signature runs eagerly (exact)
            self._eager_keys.add(key)
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        finally:
            _state.recorder = None
            restore_sites()
        changed = [(v, b) for v, b, before in written if b.tobytes() != before]
        for value, buf in changed:  # fn wrote an argument in place: eager writes the caller's
            dst = value._data if isinstance(value, Tensor) else value
            if isinstance(value, Tensor) and value._guard is not None:
                with _writable(value) as d:
                    np.copyto(d, buf, casting="unsafe")
            elif dst.flags.writeable:
                np.copyto(dst, buf, casting="unsafe")
            else:
                raise TypeError("compile: fn wrote an argument in place, but the caller's "
                                "array is read-only")
            rec.refuse("fn wrote one of its array arguments in place")
        plan = Plan(rec, result, fuse_update=self.fuse_update)
        plan.key = key
        plan.settings = settings
        plain = not kwargs and not any(
            isinstance(a, _ARRAYS) and type(a) not in _ARRAYS for a in args
        )  # subclasses (np.memmap) take the general path
        plan.call_sig = tuple(_arg_sig(a) for a in args) if plain else None
        plan.all_nd = all(type(a) is not Tensor for a in args)
        plan.tensor_args = tensor_args
        self.plans[key] = plan
        self.plans.move_to_end(key)
        while len(self.plans) > self.cache_size:
            self.plans.popitem(last=False)
        self._use(plan)
        self.stats["records"] += 1
        if tensor_args:
            plan.grads_out([a for a in (*args, *call_kwargs_values(kwargs))
                            if isinstance(a, _ARRAYS)])
        # the recording call returns what a replay would: copies, cut from the tape
        return plan._build(plan.result_template)

    def memory_report(self) -> dict[str, int]:
        """Bytes held by the last used recording: parameters, gradients, optimizer state,
        inputs, activations saved for backward, scratch, total."""
        if self.last is None:
            raise TapeError("memory_report: call the compiled function once first")
        return self.last.memory_report()


def compile(fn: Callable[..., Any] | None = None, *, strict: bool = False, cache_size: int = 8,
            fuse_update: bool = False):
    """Record ``fn`` once per signature and replay it in one C call afterwards.

    The first call with a given signature (shapes and dtypes of the array/Tensor
    arguments; other arguments by value) runs ``fn`` eagerly and records everything it
    does: forward ops, ``backward()``, optimizer ``step()`` and ``zero_grad()``. Later
    calls copy the new arrays in (a C-contiguous one of 32 KiB or more is read in place
    for the call) and run forward, backward and update in one C call, with
    the same kernels in the same order as eager mode (bitwise equal results).

    Array arguments reach ``fn`` as traced values while it records: float arrays and
    Tensors as Tensors (``x / 16.0`` is recorded), other arrays as wrappers that
    pyautotape's ops read and NumPy refuses (see :mod:`pyautotape.replay.traced`).
    Parameters are buffers, not copies: in-place changes to ``p.data`` between calls are
    seen. A replaced ``.data`` of a tensor the step reads, a changed captured array, and
    optimizer changes (hyperparameters validated as eager ``step()`` does, parameters,
    groups, ``load_state_dict``) are checked: a change records again.

    Guards: ``bool(t)``, ``float(t)``, comparisons of tensors, ``t.numpy()``,
    ``np.asarray(t)`` and every use of ``t.item()`` record what Python saw; on replay a
    different outcome records again (``strict=True``: raises :class:`pat.RetapeRequired`).
    A new signature records a new tape; ``cache_size`` recordings are kept (least recently
    used first out).

    ``fuse_update=True`` (opt-in) folds a plain SGD update (no momentum, weight decay or
    maximize) of a linear layer's weight into its weight-gradient GEMM,
    ``W += -lr * dy^T x``, where nothing else reads that gradient (``zero_grad()`` after
    ``step()``, no clipping): one pass over W instead of three. The numbers then differ
    from eager mode's by rounding; by default a replay is bitwise eager's.

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
        return lambda f: Compiled(f, strict=strict, cache_size=cache_size,
                                  fuse_update=fuse_update)
    return Compiled(fn, strict=strict, cache_size=cache_size, fuse_update=fuse_update)
