"""What a replay checks of each recorded optimizer call before it runs (used by plan.py).

>>> from pyautotape.replay.optcheck import _zeroness
>>> _zeroness({"params": [], "lr": 0.1, "momentum": 0.0, "nesterov": False})
(('momentum', True), ('nesterov', False))
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..optim._group import ParamList
from .recorder import Retape


def _zeroness(group: dict) -> tuple:
    """What of a group's hyperparameters changes the recorded program rather than a
    number in it: non-numbers (nesterov), and which numbers are zero (momentum 0 has no
    buffer; a replay patches the learning rate, and other numbers that stay on the same
    side of zero)."""
    out = []
    for k, v in group.items():
        if k in ("params", "lr"):  # the learning rate is always only a number
            continue
        vals = v if isinstance(v, tuple) else (v,)
        for x in vals:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                out.append((k, x))
            else:
                out.append((k, x == 0))
    return tuple(out)


class OptCheck:
    """What a replay checks of one recorded optimizer call before it runs: the same
    parameter groups holding the same parameters, the same state buffers (replaced by
    ``load_state_dict``), the same step counters (``counts``, the array the recorded
    call advances: a rebuild of the group's state after its list changed, even back to
    the recorded tensors by an append then a remove, copies them into a new array), and
    the hyperparameters -- validated by the optimizer's own ``_check`` as eager
    ``step()`` does, patched into the call when only numbers changed (on the same side
    of zero), else a new recording."""

    __slots__ = ("opt", "group", "state", "full", "static", "hyper", "i", "get", "check")

    def __init__(self, opt: Any, group: dict, state: Any, hyper: tuple, i: int,
                 counts: np.ndarray) -> None:
        self.opt, self.group, self.state, self.hyper, self.i = opt, group, state, hyper, i
        keys = tuple(opt.defaults)
        get = self.get = operator.itemgetter(*keys) if len(keys) > 1 else (
            lambda g, k=keys[0]: (g[k],))
        self.full = get(group)
        self.static = _zeroness(group)
        # the per-call check, a closure over what it compares (no attribute lookups)
        groups = opt.param_groups
        n_groups, gi = len(groups), next(j for j, g in enumerate(groups) if g is group)
        params = list(group["params"])
        # the optimizer's own ParamList: O(1) while its version stands (else: compare all)
        plist: Any = group["params"] if type(group["params"]) is ParamList else None
        pversion = plist.version if plist is not None else -1
        n_params = len(params)
        buffers = state.buffers
        # the state buffers the recorded kernel reads (which ones follows from the
        # hyperparameters' zeroness, itself checked: SGD without momentum reads none)
        needed = opt._needed(group)
        bufs = [(name, list(b)) for name, b in buffers.items() if name in needed]
        version = state.version
        is_ = operator.is_
        changed = self._changed
        me = self

        def check(opts: Any) -> None:
            gs = opt.param_groups
            if len(gs) != n_groups or gs[gi] is not group or opt._state[gi] is not state:
                raise Retape("the optimizer's parameter groups changed (add_param_group)")
            ps = group["params"]
            if (ps is not plist or ps.version != pversion) and (
                    len(ps) != n_params or not all(map(is_, ps, params))):
                raise Retape("an optimizer's parameters were replaced or added")
            if state.counts is not counts or state.version != version:
                raise Retape("the optimizer's state was rebuilt (its parameter list changed "
                             "since the recording)")
            for name, then in bufs:
                now = buffers[name]
                if len(now) != len(then) or not all(map(is_, now, then)):
                    raise Retape("the optimizer's state was replaced (load_state_dict)")
            try:
                full = get(group)
            except KeyError:
                raise Retape("a hyperparameter was removed from a parameter group") from None
            if full != me.full:
                changed(opts)

        self.check = check

    def _changed(self, opts: Any) -> None:
        opt, group, state = self.opt, self.group, self.state
        full = self.get(group)
        if full != state.checked:  # validate exactly as eager step() does
            opt._check(group)
            state.checked = tuple(group.get(k) for k in opt.defaults)
        if _zeroness(group) != self.static:
            raise Retape("an optimizer hyperparameter changed the update's form")
        for j, h in enumerate(opt._hyper(group)):
            opts[self.i].hyper[j] = h
        self.full = self.get(group)
