"""What the optimizers with a step counter share: hyperparameter checks with PyTorch's
messages, the ``flags`` word of the C kernels and a ``{"step": t, buffer: array...}``
state entry per parameter (PyTorch's layout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._ffi import lib
from .optimizer import Optimizer, _GroupState, _number

__all__: list[str] = []


def check_numbers(hyper: dict[str, Any], where: str, *names: str) -> None:
    """Turn each named hyperparameter into a float (TypeError for a non-number)."""
    for name in names:
        hyper[name] = _number(hyper[name], name, where)


def check_min(hyper: dict[str, Any], name: str, label: str) -> None:
    """PyTorch's ``ValueError(f"Invalid {label}: {value}")`` unless 0 <= value."""
    if not 0.0 <= hyper[name]:
        raise ValueError(f"Invalid {label}: {hyper[name]}")


def check_betas(hyper: dict[str, Any], where: str) -> None:
    """``betas`` is a pair of numbers in [0, 1)."""
    betas = hyper["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
    hyper["betas"] = betas = tuple(_number(b, "betas", where) for b in betas)
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def check_flags(hyper: dict[str, Any], where: str, *names: str) -> None:
    """Boolean hyperparameters must be bools (``maximize=1`` is a TypeError, as a typo)."""
    for name in names:
        if not isinstance(hyper[name], bool):
            raise TypeError(f"{where}: {name} must be True or False, got {hyper[name]!r}")


def flags(group: Mapping[str, Any], **bits: int) -> int:
    """The kernel's flags word: PAT_OPT_MAXIMIZE for ``maximize`` plus ``bits[name]`` for
    each true boolean hyperparameter ``name``."""
    out = lib.PAT_OPT_MAXIMIZE if group.get("maximize") else 0
    for name, bit in bits.items():
        if group[name]:
            out |= bit
    return out


class Stepped(Optimizer):
    """An optimizer whose per-parameter state is a step count and ``_buffers``; buffers
    in ``_optional`` exist only when ``_needed`` names them."""

    _required_state = ("step",)

    def _param_state(self, state: _GroupState, i: int) -> dict[str, Any] | None:
        if int(state.counts[i]) == 0 and all(b[i] is None for b in state.buffers.values()):
            return None
        entry: dict[str, Any] = {"step": int(state.counts[i])}
        for name in self._buffers:
            buf = state.buffers[name][i]
            if buf is not None:
                entry[name] = buf
        return entry

    def _set_param_state(
        self, state: _GroupState, i: int, entry: Mapping[str, Any] | None
    ) -> None:
        for name in self._buffers:
            state.buffers[name][i] = None if entry is None else entry.get(name)
        state.counts[i] = 0 if entry is None else entry["step"]

    def _run(self, group: dict[str, Any], state: _GroupState, grads: list[Any], kernel: Any,
             flag: int) -> None:
        self._call(group, state, grads, kernel, True, flag)
