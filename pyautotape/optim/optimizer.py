"""The optimizer base class: parameter groups, per-group state, ``step`` through one C call
per group, ``zero_grad`` and ``state_dict`` (the package docstring tells the whole story)."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import _ffi
from .._ffi import DTYPE_CODE, ffi
from .._state import state as _state
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, _writable, clear_grad

__all__ = ["Optimizer"]



@dataclasses.dataclass
class _GroupState:
    """The state of one parameter group: ``counts[i]`` is parameter i's counter (Adam:
    the step; SGD: updates folded into the momentum buffer, 0 = not started) and
    ``buffers[name][i]`` its state arrays (None until it first has a gradient).

    ``sizes`` (elements per parameter) never changes; ``tables`` caches the pointer tables
    of parameters and state buffers with the arrays they point to, rebuilt only when one
    of those arrays changed; ``checked`` holds the last hyperparameter values that passed
    validation."""

    counts: np.ndarray
    buffers: dict[str, list[np.ndarray | None]]
    sizes: np.ndarray
    tables: dict[str, tuple[list[np.ndarray | None], np.ndarray, Any]] = dataclasses.field(
        default_factory=dict
    )
    checked: tuple[Any, ...] | None = None

    def table(self, key: str, arrays: list[np.ndarray | None]) -> Any:
        """A ``void **`` to a table of the arrays' addresses; the table (and the arrays)
        stay referenced here until a later call with other arrays replaces it."""
        hit = self.tables.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], arrays, strict=True)):
            return hit[2]
        tab = _ffi.addresses(arrays)
        cptr = ffi.cast("void **", _ffi.ptr(tab))
        self.tables[key] = (list(arrays), tab, cptr)
        return cptr


# Entries that learning-rate schedulers add to parameter groups (optim/lr_scheduler/), kept
# in groups and state dicts as PyTorch keeps them.
_SCHEDULE_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    return float(value)


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``state_dict``.

    Subclasses name their hyperparameter ``defaults``, their per-parameter state
    ``_buffers``, check hyperparameters in ``_check`` and update one group in
    ``_update``.

    >>> import pyautotape as pat
    >>> lin = pat.nn.Linear(3, 2)
    >>> opt = pat.optim.Adam(lin.parameters(), lr=0.01)
    >>> len(opt.param_groups), len(opt.param_groups[0]["params"])
    (1, 2)
    """

    _buffers: tuple[str, ...] = ()
    _required_state: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._state: list[_GroupState] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors (e.g. "
                "model.parameters() or [w, b]), not a single Tensor"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- hooks for subclasses ------------------------------------------------------------
    def _check(self, hyper: dict[str, Any]) -> None:
        """Validate hyperparameters (ValueError / TypeError), normalising them in place."""

    def _fresh_count(self, count: int) -> int:
        """The counter of a parameter whose state buffers were just created."""
        return count

    def _update(self, group: dict[str, Any], state: _GroupState, grads: list[Any]) -> None:
        raise TypeError(f"{type(self).__name__} does not define its update")

    # The kernel a step records for replay (a pat_optim_kind), the state buffers a group's
    # hyperparameters need (all of ``_buffers`` by default), and how a new one starts.
    _kind: int = -1
    _optional: tuple[str, ...] = ()  # buffers only some hyperparameters use

    def _needed(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self._buffers

    def _fresh_buffer(self, name: str, group: dict[str, Any], p: Tensor) -> np.ndarray:
        return np.zeros(p.shape, p.dtype)

    # -- groups --------------------------------------------------------------------------
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group: ``{"params": [...], **hyperparameters}``; missing hyperparameters
        take the optimizer's defaults. Parameters of one group share a dtype (one C call
        per group); put float32 and float64 parameters in separate groups.

        >>> import pyautotape as pat
        >>> a, b = pat.nn.Linear(2, 2), pat.nn.Linear(2, 2)
        >>> opt = pat.optim.SGD(a.parameters(), lr=0.1)
        >>> opt.add_param_group({"params": b.parameters(), "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        where = type(self).__name__
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"{where}: a parameter group is a dict with a 'params' entry")
        unknown = set(group) - set(self.defaults) - {"params"} - _SCHEDULE_KEYS
        if unknown:
            raise ValueError(
                f"{where}: unknown hyperparameters {sorted(unknown)} in a parameter group; "
                f"known: {sorted(self.defaults)}"
            )
        raw = group["params"]
        params = [raw] if isinstance(raw, Tensor) else list(raw)
        if not params:
            raise ValueError(f"{where}: a parameter group has no parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(
                    f"{where}: parameter {i} (shape {p.shape}) is not a leaf tensor (it was "
                    "computed by an op); optimize the tensors you created instead"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{where}: parameter {i} (shape {p.shape}) appears twice; pass each "
                    "tensor once"
                )
            seen.add(id(p))
            if p.dtype != params[0].dtype:
                raise DTypeError(
                    f"{where}: parameters of one group must share a dtype, got "
                    f"{params[0].dtype} (parameter 0) and {p.dtype} (parameter {i}); put them "
                    f'in separate groups: {where}([{{"params": f32}}, {{"params": f64}}], ...)'
                )
        hyper = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._check(hyper)
        self.param_groups.append({"params": params, **hyper})
        self._state.append(
            _GroupState(
                np.zeros(len(params), np.int64),
                {name: [None] * len(params) for name in self._buffers},
                np.array([p.size for p in params], np.int64),
            )
        )

    # -- the step ------------------------------------------------------------------------
    def step(self) -> None:
        """Update every parameter that has a gradient: one C call per group.

        >>> import numpy as np, pyautotape as pat
        >>> w = pat.tensor(np.array([1.0]), requires_grad=True)
        >>> opt = pat.optim.Adam([w], lr=0.1)
        >>> (w * 3).sum().backward(); opt.step()
        >>> w.numpy()  # Adam's first step moves by lr
        array([0.9])
        """
        where = f"{type(self).__name__}.step"
        for group, state in zip(self.param_groups, self._state, strict=True):
            hyper = tuple(group.get(k) for k in self.defaults)
            if hyper != state.checked:  # validate what a schedule or the user changed
                self._check(group)
                state.checked = tuple(group.get(k) for k in self.defaults)
            grads: list[np.ndarray | None] = []
            for i, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    grads.append(None)
                    continue
                ga = g._data
                if ga.shape != p.shape or ga.dtype != p.dtype:
                    raise ShapeError(
                        f"{where}: parameter {i} is {p.shape} {p.dtype} but its gradient is "
                        f"{ga.shape} {ga.dtype}"
                    )
                pd = p._data  # our own gradients never alias; only a user's view can
                if ga is pd or (ga.base is not None and np.may_share_memory(ga, pd)):
                    raise ValueError(
                        f"{where}: parameter {i}'s gradient shares memory with the parameter"
                    )
                grads.append(ga)
            if any(g is not None for g in grads):
                self._update(group, state, grads)

    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        """The group's floating-point hyperparameters, in the C kernel's order."""
        raise TypeError(f"{type(self).__name__} does not define its hyperparameters")

    def _call(self, group: dict[str, Any], state: _GroupState, grads: list[Any],
              kernel: Any, allocate: bool, flag: int) -> None:
        """Allocate missing state buffers (when ``allocate``), lift the parameters'
        read-only locks, and make the one C call for the group (recorded when
        ``pat.compile`` is recording, with a way to read the hyperparameters again)."""
        hyper = self._hyper(group)
        params = group["params"]
        live = [i for i, g in enumerate(grads) if g is not None]
        for name in self._needed(group) if allocate else ():
            bufs = state.buffers[name]
            for i in live:
                if bufs[i] is None:
                    bufs[i] = self._fresh_buffer(name, group, params[i])
                    state.counts[i] = self._fresh_count(state.counts[i])
        sizes = state.sizes
        datas: list[np.ndarray | None] = [None] * len(params)
        # not cached: that would keep old gradients alive
        gtab, gkeep = _ffi.pointer_table(grads)
        entered = []
        try:
            for i in live:
                p = params[i]
                if p._guard is None:  # never saved by a record: no lock, no version
                    datas[i] = p._data
                    continue
                w = _writable(p)
                datas[i] = w.__enter__()
                entered.append(w)
            rc = kernel(
                DTYPE_CODE[params[0].dtype],
                len(params),
                state.table("params", datas),
                gtab,
                *[state.table(name, state.buffers[name]) for name in self._buffers],
                ffi.cast("int64_t *", _ffi.ptr(sizes)),
                ffi.cast("int64_t *", _ffi.ptr(state.counts, writable=True)),
                *hyper,
                flag,
            )
            rec = _state.recorder
            if rec is not None:
                rec.optimizer(self._kind, params[0].dtype, params, datas, grads,
                              [state.buffers[name] for name in self._buffers], sizes,
                              state.counts, hyper, flag, (self, group, state))
        finally:
            for w in reversed(entered):
                w.__exit__(None, None, None)
        _ffi.check(rc, f"{type(self).__name__}.step")

    # -- gradients -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: None by default, else zeros in place.

        >>> import numpy as np, pyautotape as pat
        >>> w = pat.tensor(np.ones(2), requires_grad=True)
        >>> opt = pat.optim.SGD([w], lr=0.1)
        >>> w.sum().backward(); opt.zero_grad(); w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                clear_grad(p, set_to_none)

    # -- state ---------------------------------------------------------------------------
    def _param_state(self, state: _GroupState, i: int) -> dict[str, Any] | None:
        """Parameter i's entry of ``state_dict()["state"]`` (views), None before its
        first update."""
        raise TypeError(f"{type(self).__name__} does not define its state")

    def _set_param_state(
        self, state: _GroupState, i: int, entry: Mapping[str, Any] | None
    ) -> None:
        raise TypeError(f"{type(self).__name__} does not define its state")

    @property
    def state(self) -> dict[Tensor, dict[str, Any]]:
        """Per-parameter state, keyed by the parameter tensor (live arrays, not copies)."""
        out: dict[Tensor, dict[str, Any]] = {}
        for group, st in zip(self.param_groups, self._state, strict=True):
            for i, p in enumerate(group["params"]):
                entry = self._param_state(st, i)
                if entry is not None:
                    out[p] = entry
        return out

    def state_dict(self) -> dict[str, Any]:
        """A copy of the state, in PyTorch's layout: ``{"state": {index: {...}},
        "param_groups": [{hyperparameters..., "params": [indices]}]}``, with parameters
        numbered across groups in order. Ready for :func:`pyautotape.save`.

        >>> import numpy as np, pyautotape as pat
        >>> w = pat.tensor(np.ones(2), requires_grad=True)
        >>> opt = pat.optim.Adam([w])
        >>> w.sum().backward(); opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"][0]["step"], sorted(sd["state"][0]), sd["param_groups"][0]["params"]
        (1, ['exp_avg', 'exp_avg_sq', 'step'], [0])
        """
        states: dict[int, dict[str, Any]] = {}
        groups = []
        index = 0
        for group, st in zip(self.param_groups, self._state, strict=True):
            ids = []
            for i in range(len(group["params"])):
                entry = self._param_state(st, i)
                if entry is not None:
                    states[index] = {
                        k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entry.items()
                    }
                ids.append(index)
                index += 1
            hyper = {k: v for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": ids})
        return {"state": states, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (possibly after
        :func:`pyautotape.save` / :func:`pyautotape.load`, which turns integer keys into
        strings only if the caller did). Everything is checked before anything changes.

        >>> import numpy as np, pyautotape as pat
        >>> w = pat.tensor(np.ones(2), requires_grad=True)
        >>> a = pat.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward(); a.step()
        >>> b = pat.optim.SGD([w], lr=0.5)
        >>> b.load_state_dict(a.state_dict())
        >>> b.param_groups[0]["lr"], b.state[w]["momentum_buffer"]
        (0.1, array([1., 1.]))
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(
                f"{where}: expected a dict with keys 'state' and 'param_groups' (from "
                "Optimizer.state_dict())"
            )
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the state dict has {len(saved_groups)} parameter groups, this "
                f"optimizer {len(self.param_groups)}"
            )
        states = {int(k): v for k, v in dict(state_dict["state"]).items()}
        plans = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            ids = [int(i) for i in saved["params"]]
            if len(ids) != len(group["params"]):
                raise ValueError(
                    f"{where}: group {gi} has {len(ids)} parameters in the state dict and "
                    f"{len(group['params'])} in this optimizer"
                )
            hyper = {k: v for k, v in saved.items() if k != "params"}
            unknown = set(hyper) - set(self.defaults) - _SCHEDULE_KEYS
            if unknown:
                raise ValueError(f"{where}: unknown hyperparameters {sorted(unknown)}")
            hyper = {**{k: group[k] for k in self.defaults}, **hyper}
            self._check(hyper)
            entries = []
            for p, idx in zip(group["params"], ids, strict=True):
                entry = states.get(idx)
                if entry is not None:
                    entry = self._checked_entry(entry, p, idx, where)
                entries.append(entry)
            plans.append((group, hyper, entries))
        for (group, hyper, entries), st in zip(plans, self._state, strict=True):
            group.update(hyper)
            for i, entry in enumerate(entries):
                self._set_param_state(st, i, entry)

    def _checked_entry(
        self, entry: Mapping[str, Any], p: Tensor, idx: int, where: str
    ) -> dict[str, Any]:
        """Parameter idx's saved state, validated against p, with private array copies."""
        out: dict[str, Any] = {}
        for k, v in entry.items():
            if k in self._buffers:
                arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
                if arr.shape != p.shape:
                    raise ShapeError(
                        f"{where}: state '{k}' of parameter {idx} has shape {arr.shape}, "
                        f"the parameter {p.shape}"
                    )
                if arr.dtype != p.dtype:
                    raise DTypeError(
                        f"{where}: state '{k}' of parameter {idx} has dtype {arr.dtype}, "
                        f"the parameter {p.dtype}"
                    )
                out[k] = np.array(arr, order="C", copy=True)
            elif k == "step":
                step = np.asarray(v)
                if step.size != 1 or step.reshape(()) != int(step.reshape(())) or step < 0:
                    raise ValueError(
                        f"{where}: state 'step' of parameter {idx} must be a non-negative "
                        f"integer, got {v!r}"
                    )
                out[k] = int(step.reshape(()))
            else:
                raise ValueError(f"{where}: unknown state '{k}' for parameter {idx}")
        missing = set(self._buffers) - set(self._optional) - set(out)
        if "step" in self._required_state and "step" not in out:
            missing.add("step")
        if missing:
            raise ValueError(f"{where}: the state of parameter {idx} lacks {sorted(missing)}")
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"
