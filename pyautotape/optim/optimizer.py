"""The optimizer base class: parameter groups, per-group state, ``step`` through one C call
per group, ``zero_grad`` and ``state_dict`` (the package docstring tells the whole story)."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any, cast

import numpy as np

from .. import _ffi
from .._ffi import DTYPE_CODE
from .._guard import set_writeable
from .._state import state as _state
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, clear_grad
from ._group import ParamList, _GroupState, _index, _step

__all__ = ["Optimizer"]



# Entries that learning-rate schedulers add to parameter groups (optim/lr_scheduler/), kept
# in groups and state dicts as PyTorch keeps them.
_SCHEDULE_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"{where}: {name} is an int of {len(str(abs(cast(int, value))))} digits, beyond "
            "float range; pass a float"
        ) from None


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``state_dict``.

    Subclasses name their hyperparameter ``defaults``, their per-parameter state
    ``_buffers``, check hyperparameters in ``_check`` and update one group in
    ``_update`` (through ``_call``, which makes the C call).

    ``param_groups`` may be edited in place: before each step (and ``state_dict``,
    ``load_state_dict``, ``add_param_group``) each group's list is checked against the
    one its state was built for, and a changed list (a tensor replaced, appended or
    removed, another size or dtype) rebuilds the state: tensors the group held keep
    theirs, new ones start fresh, an invalid list raises before anything is updated.

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
        self._groups: list[dict[str, Any]] = []
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
        per group); put float32 and float64 parameters in separate groups. Everything is
        checked before the optimizer changes: a refused group leaves it as it was.

        >>> import pyautotape as pat
        >>> a, b = pat.nn.Linear(2, 2), pat.nn.Linear(2, 2)
        >>> opt = pat.optim.SGD(a.parameters(), lr=0.1)
        >>> opt.add_param_group({"params": b.parameters(), "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        where = f"{type(self).__name__}.add_param_group"
        if self._state:
            self._sync(where)
        entry, state = self._new_group(group, where, None)
        self.param_groups.append(entry)
        self._state.append(state)
        self._groups = list(self.param_groups)

    def _new_group(self, group: Any, where: str, exclude: Any = None
                   ) -> tuple[dict[str, Any], _GroupState]:
        """A validated group dict and its fresh state; raises before anything is changed.
        ``exclude`` is a group of ``param_groups`` whose parameters may repeat (itself)."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"{where}: a parameter group is a dict with a 'params' entry")
        unknown = set(group) - set(self.defaults) - {"params"} - _SCHEDULE_KEYS
        if unknown:
            raise ValueError(
                f"{where}: unknown hyperparameters {sorted(unknown)} in a parameter group; "
                f"known: {sorted(self.defaults)}"
            )
        params = self._checked_params(group["params"], where, exclude)
        hyper = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._check(hyper)
        plist = ParamList(params)
        state = self._fresh_state(params)
        state.plist, state.pversion = plist, plist.version
        return {"params": plist, **hyper}, state

    def _checked_params(self, raw: Any, where: str, group: dict[str, Any] | None
                        ) -> list[Tensor]:
        """A group's parameters as a list, checked: Tensors, leaves, each once across
        all groups (``group`` itself excluded), one dtype."""
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
            raise TypeError(
                f"{where}: a group's 'params' must be a list of Tensors, got "
                f"{type(raw).__name__}"
            )
        params = [raw] if isinstance(raw, Tensor) else list(raw)
        if not params:
            raise ValueError(f"{where}: a parameter group has no parameters")
        seen = {id(p) for g in self.param_groups if g is not group
                for p in (g.get("params", ()) if isinstance(g, Mapping) else ())}
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
                    f"{where}: parameter {i} (shape {p.shape}) appears twice (in this group "
                    "or another); pass each tensor once"
                )
            seen.add(id(p))
            if p.dtype not in DTYPE_CODE:
                raise DTypeError(
                    f"{where}: parameter {i} has dtype {p.dtype}; an optimizer updates "
                    "float32 or float64 tensors only"
                )
            if p.dtype != params[0].dtype:
                name = type(self).__name__
                raise DTypeError(
                    f"{where}: parameters of one group must share a dtype, got "
                    f"{params[0].dtype} (parameter 0) and {p.dtype} (parameter {i}); put them "
                    f'in separate groups: {name}([{{"params": f32}}, {{"params": f64}}], ...)'
                )
        return params

    def _fresh_state(self, params: list[Tensor], old: _GroupState | None = None
                     ) -> _GroupState:
        """The state for ``params``; a parameter that ``old`` already held, with the same
        shape and dtype, keeps its counter and buffers (state follows the tensor, as in
        PyTorch), any other starts fresh."""
        n = len(params)
        st = _GroupState(
            np.zeros(n, np.int64),
            {name: [None] * n for name in self._buffers},
            np.array([p.size for p in params], np.int64),
            list(params),
            [p.shape for p in params],
            params[0].dtype,
        )
        if old is not None:
            st.version = old.version + 1
            where = {id(p): j for j, p in enumerate(old.params)}
            for i, p in enumerate(params):
                j = where.get(id(p))
                if j is None or old.shapes[j] != p.shape or old.dtype != p.dtype:
                    continue
                st.counts[i] = old.counts[j]
                for name in self._buffers:
                    st.buffers[name][i] = old.buffers[name][j]
        return st

    def _sync(self, where: str) -> None:
        """Bring the state in line with ``param_groups`` as Python sees it now (a group's
        params replaced, appended or removed, a parameter of another shape or dtype, a
        group dict added or removed directly): the cheap identity check of each group's
        list first, a validated rebuild only when it fails. Raises, changing nothing,
        when the new layout is invalid; the C step never sees a stale pointer table."""
        groups = self.param_groups
        if type(groups) is not list or len(groups) != len(self._groups) or not all(
            map(operator.is_, groups, self._groups)
        ):
            self._sync_groups(where)
        for group, st in zip(self.param_groups, self._state, strict=True):
            if not st.current(group["params"]):
                self._resync(group, st, where)

    def _resync(self, group: dict[str, Any], st: _GroupState, where: str) -> None:
        """Rebuild one group's state for its list as it is now (validated first)."""
        raw = group["params"]
        new = self._fresh_state(self._checked_params(raw, where, group), st)
        if type(raw) is not list and type(raw) is not ParamList:  # a tuple, a generator
            raw = group["params"] = ParamList(new.params)
        new.plist = raw  # a user's own list stays the group's list, checked each step
        new.pversion = raw.version if type(raw) is ParamList else -1
        st.buffers.clear()  # in place, this dict too: recordings hold both
        st.buffers.update(new.buffers)
        new.buffers = st.buffers
        st.__dict__.update(new.__dict__)

    def _sync_groups(self, where: str) -> None:
        groups = list(self.param_groups)
        known = {id(g): st for g, st in zip(self._groups, self._state, strict=True)}
        if not groups:
            raise ValueError(f"{where}: param_groups is empty")
        states, completed = [], []
        for gi, group in enumerate(groups):
            if any(g is group for g in groups[:gi]):
                raise ValueError(f"{where}: param_groups[{gi}] is the same dict as an "
                                 "earlier group; each group appears once")
            st = known.get(id(group))
            if st is None:
                if not isinstance(group, dict):
                    raise TypeError(f"{where}: param_groups[{gi}] is a "
                                    f"{type(group).__name__}, not a dict")
                entry, st = self._new_group(group, f"{where} (param_groups[{gi}])", group)
                completed.append((group, entry))
            states.append(st)
        for group, entry in completed:  # all checked: now fill in defaults
            group.update(entry)
        self.param_groups = groups
        self._state = states
        self._groups = list(groups)

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
        self._sync(where)
        for group, state in zip(self.param_groups, self._state, strict=True):
            hyper = tuple(map(group.get, self.defaults))
            if hyper != state.checked:  # validate what a schedule or the user changed
                self._check(group)
                state.checked = tuple(map(group.get, self.defaults))
            grads = self._grads(group, state, where)
            if grads is None:  # a tensor's buffer was swapped behind the list's back
                self._resync(group, state, where)
                grads = self._grads(group, state, where)
            if grads is not None and sum(map(operator.is_not, grads, repeat(None))):
                self._update(group, state, grads)

    def _grads(self, group: dict[str, Any], state: _GroupState, where: str
               ) -> list[np.ndarray | None] | None:
        """The group's gradient arrays (None where a parameter has none), checked; None
        when a parameter's buffer no longer has the shape and dtype the state holds."""
        grads: list[np.ndarray | None] = []
        shapes, dtype = state.shapes, state.dtype
        for i, p in enumerate(group["params"]):
            g = p._grad  # what p.grad returns, without the property call
            if g is None:
                grads.append(None)
                continue
            pd = p._data
            if pd.shape != shapes[i] or pd.dtype != dtype:
                return None
            ga = g._data
            if ga.shape != pd.shape or ga.dtype != pd.dtype:
                raise ShapeError(
                    f"{where}: parameter {i} is {p.shape} {p.dtype} but its gradient is "
                    f"{ga.shape} {ga.dtype}"
                )
            # our own gradients never alias; only a user's view can
            if ga is pd or (ga.base is not None and np.may_share_memory(ga, pd)):
                raise ValueError(
                    f"{where}: parameter {i}'s gradient shares memory with the parameter"
                )
            grads.append(ga)
        return grads

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
        # what _writable does per parameter, for all of them: lift the read-only locks for
        # the write, then bump each version (a record that saved the old value refuses)
        guards = []
        try:
            for i in live:
                p = params[i]
                datas[i] = p._data
                g = p._guard
                if g is not None:  # None: never saved by a record, no lock, no version
                    if g.count > 0:
                        set_writeable(g.arr, True)
                    guards.append(g)
            rc = kernel(
                DTYPE_CODE[params[0].dtype],
                len(params),
                state.table("params", datas),
                gtab,
                *[state.table(name, state.buffers[name]) for name in self._buffers],
                state.int64_ptr("#sizes", sizes),
                state.int64_ptr("#counts", state.counts),
                *hyper,
                flag,
            )
            rec = _state.recorder
            if rec is not None:
                rec.optimizer(self._kind, params[0].dtype, params, datas, grads,
                              [state.buffers[name] for name in self._buffers], sizes,
                              state.counts, hyper, flag, (self, group, state))
        finally:
            for g in reversed(guards):
                g.version += 1
                g.writer = None
                if g.count > 0:
                    set_writeable(g.arr, False)
        if rc != 0:
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
        self._sync(f"{type(self).__name__}.zero_grad")
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
        self._sync(f"{type(self).__name__}.state")
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
        self._sync(f"{type(self).__name__}.state_dict")
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
        self._sync(where)
        raw_groups, raw_states = state_dict["param_groups"], state_dict["state"]
        if not isinstance(raw_groups, (list, tuple)) or not isinstance(raw_states, Mapping):
            raise ValueError(f"{where}: 'param_groups' must be a list and 'state' a dict")
        saved_groups = list(raw_groups)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the state dict has {len(saved_groups)} parameter groups, this "
                f"optimizer {len(self.param_groups)}"
            )
        states = {_index(k, where, "a key of 'state'"): v for k, v in raw_states.items()}
        plans = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if not isinstance(saved, Mapping) or not isinstance(
                saved.get("params"), (list, tuple)
            ):
                raise ValueError(f"{where}: param_groups[{gi}] must be a dict with a "
                                 "'params' list of parameter indices")
            ids = [_index(i, where, f"param_groups[{gi}]['params']") for i in saved["params"]]
            if len(ids) != len(group["params"]):
                raise ValueError(
                    f"{where}: group {gi} has {len(ids)} parameters in the state dict and "
                    f"{len(group['params'])} in this optimizer"
                )
            hyper = {k: v for k, v in saved.items() if k != "params"}
            unknown = set(hyper) - set(self.defaults) - _SCHEDULE_KEYS
            if unknown:
                raise ValueError(f"{where}: unknown hyperparameters {sorted(unknown)}")
            hyper = {**{k: group.get(k) for k in self.defaults}, **hyper}
            try:
                self._check(hyper)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{where}: group {gi}: {exc}") from None
            entries = []
            for p, idx in zip(group["params"], ids, strict=True):
                entry = states.get(idx)
                if entry is not None:
                    if not isinstance(entry, Mapping):
                        raise ValueError(f"{where}: the state of parameter {idx} must be a "
                                         f"dict, got {type(entry).__name__}")
                    entry = self._checked_entry(entry, p, idx, where)
                entries.append(entry)
            plans.append((group, hyper, entries))
        # everything is checked: from here on nothing can fail
        for (group, hyper, entries), st in zip(plans, self._state, strict=True):
            group.update(hyper)
            for i, entry in enumerate(entries):
                self._set_param_state(st, i, entry)
            st.version += 1  # a recorded step holds the old buffers: it must record again
            st.tables.clear()
            st.checked = None

    def _checked_entry(
        self, entry: Mapping[str, Any], p: Tensor, idx: int, where: str
    ) -> dict[str, Any]:
        """Parameter idx's saved state, validated against p, with private array copies."""
        out: dict[str, Any] = {}
        for k, v in entry.items():
            if k in self._buffers:
                try:
                    arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{where}: state '{k}' of parameter {idx} is not an "
                                     f"array: {exc}") from None
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
                out[k] = _step(v, f"{where}: state 'step' of parameter {idx}")
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
