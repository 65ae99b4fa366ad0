"""One :class:`OpSpec` per op: the single table that the ops, anomaly messages, the Tape
view, gradcheck (``python -m pyautotape gradcheck``) and the test suite read.

An op's C side is its row in ``csrc/ops.def`` (the opcode, its name, what its rules read);
its Python side is one ``register(OpSpec(...))`` beside the function that runs it (the
family modules of this package). :func:`register` refuses a name C does not know, and the
package checks at import that every C op has a spec (:func:`check_complete`), so the two
lists cannot drift. The test suite derives its per-op rows from :attr:`OpSpec.examples`:
a new op is tested by default, and an op without an example fails a test.

>>> import pyautotape as pat
>>> spec = pat.ops.SPECS["log"]
>>> spec.family, spec.inputs, spec.domain
('unary', ('x',), 'positive')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _ffi

__all__ = ["OpSpec", "Example", "SPECS", "register", "check_complete", "sample", "DOMAINS"]


@dataclasses.dataclass(frozen=True)
class Example:
    """One test row of an op: ``call(*tensors)`` runs it, ``ref(*arrays)`` is NumPy's
    answer in float64 (None: no reference), ``make(rng)`` draws float64 inputs away from
    the op's kinks and poles, so central differences are honest."""

    call: Callable[..., Any]
    ref: Callable[..., Any] | None
    make: Callable[[np.random.Generator], list[np.ndarray]]


@dataclasses.dataclass
class Cost:
    """What a FLOP count is computed from: the input shapes, the output shape, the
    record's m, k, n, and whether a linear has a bias."""

    ins: Sequence[tuple[int, ...]]
    out: tuple[int, ...]
    m: int = 0
    k: int = 0
    n: int = 0
    has_bias: bool = False


def _size_out(c: Cost) -> int:
    return math.prod(c.out)


def _size_in(c: Cost) -> int:
    return math.prod(c.ins[0]) if c.ins else 0


@dataclasses.dataclass
class OpSpec:
    """Everything Python knows about one op besides its function body.

    * ``name``: as in ``csrc/ops.def``; ``fn`` the public function (None: not a wrapper,
      as ``custom``); ``family`` ``"unary"``, ``"binary"`` or the kernel family;
    * ``inputs``: the names of its sources, ``aux`` what its aux array holds (messages);
    * ``flops(cost)``: forward FLOPs (None: unknown, a custom op);
      ``bwd_flops(cost, need)``: FLOPs of the reverse rule when only the sources flagged
      in ``need`` get adjoints (default: as the forward);
    * ``kink(record, sources, want_pattern)``: for an op whose derivative switches, the
      (arguments at the kink, argument size, switch pattern) Tape.kinks() and gradcheck
      show; ``kink_points`` the arguments where a unary op switches;
    * ``examples``: test rows; ``domain`` (unary ops) where their inputs are drawn, one
      of :data:`DOMAINS`; ``ref`` NumPy's version of a unary op; ``kwargs`` extra
      arguments its tests pass (leaky_relu's slope);
    * ``method``: also a Tensor method (``x.exp()``); ``opcode`` is set by register().
    """

    name: str
    fn: Callable[..., Any] | None
    family: str
    inputs: tuple[str, ...] = ("x",)
    aux: str | None = None
    flops: Callable[[Cost], int] | None = _size_out
    bwd_flops: Callable[[Cost, Sequence[bool]], int] | None = None
    kink: Callable[..., tuple[int | None, int, np.ndarray | None]] | None = None
    kink_points: tuple[float, ...] = ()
    examples: tuple[Example, ...] = ()
    domain: str | None = None
    ref: Callable[..., Any] | None = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    method: bool = False
    opcode: int = -1

    def backward_flops(self, cost: Cost, need: Sequence[bool]) -> int:
        """FLOPs of the reverse rule for the sources flagged in ``need`` (0 when none)."""
        if not any(need):
            return 0
        if self.bwd_flops is not None:
            return self.bwd_flops(cost, need)
        return self.flops(cost) if self.flops is not None else 0


# Where a unary op's test inputs are drawn (elementwise, float64): "real" anywhere,
# "positive" in [0.5, 1.5] (logs, roots), "away" in ±[0.2, 1.2] (no finite-difference
# step reaches the kink at 0), "unit" in [-0.8, 0.8] (asin, atanh), "above1" in
# [1.2, 2.5] (acosh), "offint" an integer plus [0.1, 0.4] (rounding: no step crosses
# an integer or a half).
DOMAINS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "real": lambda r, shape: r.standard_normal(shape),
    "positive": lambda r, shape: r.uniform(0.5, 1.5, size=shape),
    "away": lambda r, shape: r.choice([-1.0, 1.0], size=shape) * r.uniform(0.2, 1.2, size=shape),
    "unit": lambda r, shape: r.uniform(-0.8, 0.8, size=shape),
    "above1": lambda r, shape: r.uniform(1.2, 2.5, size=shape),
    "offint": lambda r, shape: r.integers(-3, 3, size=shape) + r.uniform(0.1, 0.4, size=shape),
}


def sample(domain: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs for a unary op of ``domain`` (see :data:`DOMAINS`).

    >>> import numpy as np
    >>> bool((sample("positive", np.random.default_rng(0), (5,)) > 0).all())
    True
    """
    return DOMAINS[domain](rng, shape)


def elementwise_bwd_flops(c: Cost, need: Sequence[bool]) -> int:
    """A multiply and an add per output element and input that gets an adjoint."""
    return 2 * _size_out(c) * sum(need)


def unary(fn: Callable[..., Any], ref: Callable[..., Any], domain: str, **fields: Any) -> OpSpec:
    """The spec of a unary elementwise op: its test row is ``fn`` on a (3, 4) input of
    ``domain`` against ``ref``, with ``kwargs`` passed to both."""
    kwargs = fields.pop("kwargs", {})
    name = fields.pop("name", fn.__name__)

    def call(x: Any) -> Any:
        return fn(x, **kwargs)

    example = Example(call, lambda x: ref(x, **kwargs),
                      lambda r: [sample(domain, r, (3, 4))])
    return OpSpec(name, fn, "unary", examples=(example,), domain=domain, ref=ref,
                  kwargs=kwargs, bwd_flops=elementwise_bwd_flops, **fields)


# name -> spec; in opcode order once the package is imported (check_complete)
SPECS: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    """Add ``spec`` to the table; its name must be an op of ``csrc/ops.def``."""
    if spec.name not in _ffi.OP_NAMES:
        raise ImportError(
            f"ops: OpSpec '{spec.name}' has no row in csrc/ops.def (or the C extension is "
            "out of date: rebuild with pip install -e .)"
        )
    if spec.name in SPECS:
        raise ImportError(f"ops: OpSpec '{spec.name}' is registered twice")
    spec.opcode = _ffi.OP_NAMES.index(spec.name)
    SPECS[spec.name] = spec
    return spec


def check_complete() -> None:
    """Every op of ``csrc/ops.def`` has a spec, with at least one example; SPECS is then
    put in opcode order."""
    missing = [n for n in _ffi.OP_NAMES if n not in SPECS]
    if missing:
        raise ImportError(
            f"ops: {missing} are in csrc/ops.def but have no OpSpec: register one beside "
            "the op's function (pyautotape/ops/)"
        )
    bare = [n for n, s in SPECS.items() if not s.examples]
    if bare:
        raise ImportError(f"ops: the OpSpec of {bare} has no example to test it with")
    ordered = [SPECS[n] for n in _ffi.OP_NAMES]
    SPECS.clear()
    SPECS.update((s.name, s) for s in ordered)
