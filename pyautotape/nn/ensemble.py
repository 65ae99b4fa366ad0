"""Ensemble: k same-shaped modules trained as one, their parameters stacked on a new
leading axis.

>>> import numpy as np, pyautotape as pat
>>> _ = pat.manual_seed(0)
>>> ens = pat.nn.Ensemble([pat.nn.MLP([4, 8, 3]) for _ in range(5)])
>>> len(ens), dict(ens.named_parameters())["layers.0.weight"].shape
(5, (5, 8, 4))
>>> ens(np.ones((2, 4), np.float32)).shape
(5, 2, 3)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import ops
from .._state import state
from ..errors import ShapeError
from ..tensor import Tensor, tensor
from .layers import Linear
from .loss import MSELoss
from .module import Module
from .parameter import Parameter

__all__ = ["Ensemble"]


class _StackedLinear(Linear):
    """A member Linear inside an Ensemble: weight (k, out, in), bias (k, out); runs all
    members through :func:`pyautotape.stacked_linear` (one C call, one GEMM each)."""

    def forward(self, x: Any) -> Tensor:
        nd = x.ndim
        if nd == 2:  # (batch, in), read by every member
            return ops.stacked_linear(x, self.weight, self.bias)
        if nd < 2:
            raise ShapeError(
                f"Ensemble: a Linear inside the ensemble got a {nd}-d input {x.shape}; "
                "inside an ensemble tensors are (batch, features) shared or (k, batch, "
                "...) per member"
            )
        t = x if isinstance(x, Tensor) else tensor(x)
        if nd == 3:  # (k or 1, batch, in)
            return ops.stacked_linear(t, self.weight, self.bias)
        lead = t.shape[:-1]  # (k or 1, *batch, in): the batch axes folded into one
        y = ops.stacked_linear(t.reshape(lead[0], -1, t.shape[-1]), self.weight, self.bias)
        return y.reshape(y.shape[0], *lead[1:], y.shape[2])


def _copy_tree(root: Module, tensor_for: Callable[[Tensor], Tensor], stacked: bool) -> Module:
    """A copy of the module tree under ``root``: every module copied (a Linear as a
    _StackedLinear when ``stacked``), every leaf tensor replaced by ``tensor_for(t)``
    (once per tensor, so tied weights stay tied), other attributes shared."""
    mods = [m for _, m in root.named_modules()]
    copies: dict[int, Module] = {}
    for m in mods:
        if stacked and type(m) is Linear:
            c: Module = _StackedLinear.__new__(_StackedLinear)
            c.__dict__.update(m.__dict__)
        else:
            c = copy.copy(m)
        copies[id(m)] = c
    done: dict[int, Tensor] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, Module):
            return copies[id(v)]
        if isinstance(v, Tensor):
            if id(v) not in done:
                new = tensor_for(v)
                if isinstance(v, Parameter):
                    new = Parameter(new, requires_grad=new.requires_grad)
                done[id(v)] = new
            return done[id(v)]
        if type(v) in (list, tuple):
            return type(v)(swap(i) for i in v)
        if isinstance(v, dict):  # Sequential's items, ModuleDict, hook tables: own copies
            c = copy.copy(v)
            for key in c:
                c[key] = swap(c[key])
            return c
        return v

    for m in mods:
        c = copies[id(m)]
        for name, value in list(vars(c).items()):
            setattr(c, name, swap(value))
    return copies[id(root)]


class Ensemble(Module):
    """k modules of the same architecture as one: each parameter of the members becomes
    one tensor of shape (k, ...) (member i at index i), so an optimizer built on
    ``ens.parameters()`` updates all k models with no change (elementwise updates such as
    SGD, Adam and weight decay stay per member). ``ens(x)`` runs every member: ``x`` is one
    batch (B, ...) that all members read, or per-member batches (k, B, ...); the result is
    (k, B, ...). The members' Linear layers run as :func:`pyautotape.stacked_linear`, one C
    call of k GEMMs; every other op broadcasts over the leading axis, and under
    ``pat.compile`` a whole ensemble step (forward, backward and update of all k models) is
    one C call.

    Supported members: trees of Linear layers and parameter-free modules (activations,
    Dropout, Sequential, MLP, your own containers), whose forward keeps the member axis in
    front (every tensor inside stays at least (batch, features)). A module with other
    parameters raises TypeError here.

    Losses are per member: :meth:`losses` returns a (k,) tensor, and its sum is the
    training loss, so each member gets exactly its own gradient (bitwise what it would get
    trained alone). Gradient clipping by norm over ``ens.parameters()`` couples the
    members (one norm for all k); clip per member, e.g. on ``p.grad[i]``, to keep them
    independent. ``state_dict()`` has the members' keys with stacked values (k, ...);
    :meth:`unstack` / :meth:`members` give independent modules back.

    Inputs are read as per-member when ``shared`` is False, or (``shared=None``) when they
    have at least 3 axes and the first is k; pass ``shared=True`` for a shared batch of
    that shape.

    >>> import numpy as np, pyautotape as pat
    >>> _ = pat.manual_seed(0)
    >>> nets = [pat.nn.MLP([2, 16, 1]) for _ in range(4)]
    >>> ens = pat.nn.Ensemble(nets)
    >>> opt = pat.optim.SGD(ens.parameters(), lr=0.1)
    >>> x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    >>> losses = ens.losses(pat.nn.MSELoss(), ens(x), y)
    >>> losses.shape
    (4,)
    >>> losses.sum().backward(); opt.step()
    >>> [type(m).__name__ for m in ens.unstack()]
    ['MLP', 'MLP', 'MLP', 'MLP']
    """

    def __init__(self, modules: Sequence[Module]) -> None:
        super().__init__()
        mods = list(modules)
        if not mods:
            raise ValueError("Ensemble: needs at least one module")
        for i, m in enumerate(mods):
            if not isinstance(m, Module):
                raise TypeError(f"Ensemble: modules[{i}] is a {type(m).__name__}, not a Module")
        first = mods[0]
        names = dict(first._named_tensors())
        if not names:
            raise ValueError(f"Ensemble: {type(first).__name__} has no parameters to stack")
        _check_supported(first)
        for i, m in enumerate(mods[1:], 1):
            if type(m) is not type(first) or repr(m) != repr(first):
                raise ValueError(
                    f"Ensemble: modules[{i}] differs from modules[0] in architecture "
                    f"({type(m).__name__} vs {type(first).__name__}); every member must be "
                    "built the same way (only the parameter values may differ)"
                )
            own = dict(m._named_tensors())
            if list(own) != list(names):
                raise ValueError(
                    f"Ensemble: modules[{i}] has tensors {list(own)}, modules[0] {list(names)}"
                )
            for n, t in own.items():
                t0 = names[n]
                same = (t.shape, t.dtype, t.requires_grad) == (t0.shape, t0.dtype,
                                                               t0.requires_grad)
                if not same:
                    raise ShapeError(
                        f"Ensemble: '{n}' of modules[{i}] is {t.shape} {t.dtype} "
                        f"(requires_grad={t.requires_grad}) but {t0.shape} {t0.dtype} "
                        f"(requires_grad={t0.requires_grad}) in modules[0]"
                    )
        per_member = [dict(m._named_tensors()) for m in mods]
        by_id = {id(t): n for n, t in names.items()}

        def stack(t: Tensor) -> Tensor:
            n = by_id[id(t)]
            value = np.stack([pm[n].numpy() for pm in per_member])
            return tensor(value, requires_grad=t.requires_grad)

        self.k = len(mods)
        self._stacked = _copy_tree(first, stack, stacked=True)
        self._template = first  # the architecture the members are rebuilt from

    # the stacked module's tensors and children are the ensemble's own: its state_dict
    # keys are a member's keys, its parameters the stacked tensors
    def _members(self) -> Iterator[tuple[str, Module | Tensor]]:
        return self._stacked._members()

    def __len__(self) -> int:
        return self.k

    def forward(self, *inputs: Any, shared: bool | None = None) -> Any:
        args = [self._input(a, shared, i) for i, a in enumerate(inputs)]
        out = self._stacked(*args)
        one = [a for a in inputs if isinstance(a, (Tensor, np.ndarray)) and a.ndim == 1]
        if one and isinstance(out, Tensor) and out.ndim >= 3 and out.shape[1] == 1:
            return out.reshape(out.shape[0], *out.shape[2:])  # one sample in, (k, ...) out
        return out

    def _input(self, a: Any, shared: bool | None, i: int) -> Any:
        if not isinstance(a, (Tensor, np.ndarray)):
            return a
        per = (a.ndim >= 3 and a.shape[0] == self.k) if shared is None else not shared
        if per:
            if a.ndim < 3 or a.shape[0] != self.k:
                raise ShapeError(
                    f"Ensemble: per-member input {i} must be ({self.k}, batch, ...), got "
                    f"{a.shape}; pass shared=True for one batch read by every member"
                )
            return a
        if a.ndim >= 3 or a.ndim == 1:  # (1, ...): a leading 1 marks a shared batch
            t = a if isinstance(a, Tensor) else tensor(a)
            return t.reshape(1, *t.shape)
        return a

    def losses(
        self, criterion: Callable[[Any, Any], Tensor], output: Tensor, target: Any
    ) -> Tensor:
        """The loss of each member, shape (k,): ``criterion(output[i], target_i)``, the
        target shared (the shape of one member's output, or labels (B,)) or per member
        ((k, ...), labels (k, B)). Sum it for the training loss. MSELoss runs for all
        members in three ops; other criteria (CrossEntropyLoss, ...) once per member, in
        the same tape.

        >>> import numpy as np, pyautotape as pat
        >>> ens = pat.nn.Ensemble([pat.nn.Linear(3, 2) for _ in range(3)])
        >>> ens.losses(pat.nn.CrossEntropyLoss(), ens(np.ones((4, 3), np.float32)),
        ...            np.array([0, 1, 1, 0])).shape
        (3,)
        """
        if not isinstance(output, Tensor) or output.ndim < 1 or output.shape[0] != self.k:
            raise ShapeError(
                f"Ensemble.losses: output must be the ensemble's ({self.k}, ...) output, got "
                f"{getattr(output, 'shape', type(output).__name__)}"
            )
        # arrays, Tensors, and what pat.compile hands a function for its array arguments
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        labels = kind is not None and kind in "iu"
        ndim = getattr(target, "ndim", None)
        per = ndim is not None and ndim == output.ndim - (1 if labels else 0)
        if type(criterion) is MSELoss and criterion.reduction in ("mean", "sum"):
            tshape = getattr(target, "shape", None)
            if tshape not in (output.shape, output.shape[1:]):
                raise ShapeError(
                    f"Ensemble.losses: target {tshape} must be one member's output "
                    f"{output.shape[1:]} (shared) or {output.shape} (per member)"
                )
            # all members at once: (output - target) broadcasts the target over the
            # members; mse_loss's rules then run on the differences exactly as on each
            # member's (pred, target), and the mean per member divides as mse_loss does
            diff = output - target
            sq = ops.mse_loss(diff, np.zeros(diff.shape, diff.dtype), reduction="none")
            axes = tuple(range(1, output.ndim))
            if not axes:
                return sq
            return sq.mean(axis=axes) if criterion.reduction == "mean" else sq.sum(axis=axes)
        if per and labels and state.recorder is not None:
            raise TypeError(
                "Ensemble.losses: per-member integer labels cannot be sliced inside "
                "pat.compile (a slice of an argument is not an argument); pass labels "
                "shared by every member, or compute the loss per member outside compile"
            )
        parts = []
        for i in range(self.k):
            t_i = target[i] if per else target
            parts.append(criterion(output[i], t_i).reshape(1))
        return parts[0] if self.k == 1 else ops.concatenate(parts)

    def unstack(self) -> list[Module]:
        """k independent modules (copies of the current values, members' own
        architecture), member i from index i of every stacked tensor.

        >>> import pyautotape as pat
        >>> ens = pat.nn.Ensemble([pat.nn.Linear(2, 3) for _ in range(2)])
        >>> [m.weight.shape for m in ens.unstack()]
        [(3, 2), (3, 2)]
        """
        return list(self.members())

    def members(self) -> Iterator[Module]:
        """The modules of :meth:`unstack`, one at a time."""
        stacked = dict(self._stacked._named_tensors())
        names = {id(t): n for n, t in self._template._named_tensors()}
        for i in range(self.k):

            def take(t: Tensor, i: int = i) -> Tensor:
                s = stacked[names[id(t)]]
                return tensor(s.numpy()[i], requires_grad=s.requires_grad)

            yield _copy_tree(self._template, take, stacked=False).train(self.training)

    def extra_repr(self) -> str:
        return f"k={self.k}"

    def __repr__(self) -> str:
        return f"Ensemble(k={self.k}, member={self._template!r})"


def _check_supported(root: Module) -> None:
    """Every module holding tensors of its own must be a Linear: its forward is the one
    that knows how to run on stacked parameters."""
    for name, m in root.named_modules():
        direct = [n for n, v in m._members() if isinstance(v, Tensor)]
        if direct and type(m) is not Linear:
            where = f"'{name}'" if name else "the module"
            raise TypeError(
                f"Ensemble: {where} is a {type(m).__name__} with its own tensors "
                f"{direct}; an Ensemble runs members built from Linear layers and "
                "parameter-free modules (activations, Dropout, Sequential, MLP)"
            )
        for n, v in vars(m).items():
            if isinstance(v, Tensor) and not v.is_leaf:
                raise TypeError(
                    f"Ensemble: '{name + '.' if name else ''}{n}' is a computed tensor, "
                    "not a parameter; members may hold only leaf tensors"
                )
