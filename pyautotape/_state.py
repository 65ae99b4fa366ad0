"""Per-thread state of the engine and the hooks its features plug into (a leaf module).

The core (tensor.py, record.py, engine.py, the ops) reads this state and never imports the
features that act on it. A feature is an observer: pat.compile's recorder, a streaming
``jvp`` and open ``pat.Tape`` scopes install an object on the thread's state while they
watch, and anomaly detection sets the functions of :data:`hooks` when it is imported; the
core tests one attribute and calls what it finds.

>>> from pyautotape._state import state
>>> state.grad_enabled, state.recorder is None
(True, True)
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from .errors import TapeError


class ThreadState(threading.local):
    """What one thread's ops see: grad mode, and the observers watching them."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.inference = False  # inside pat.inference_mode (grad_enabled is False there)
        self.recorder: Any = None  # a replay Recorder while pat.compile records a step
        self.stream: Any = None  # a batched Stream while pat.jvp(..., stream=True) runs f
        self.anomaly = 0  # anomaly.CHECK | anomaly.SITES bits (pat.detect_anomaly)
        self.tapes: list[Any] | None = None  # the open pat.Tape scopes, innermost last
        self.callback_error: BaseException | None = None  # a custom op's stored exception
        self.last_stats: Any = None  # the pat_stats of this thread's last reverse sweep


# Bits of state.anomaly: CHECK runs the NaN/Inf checks (pat.detect_anomaly), SITES only
# keeps call sites in records (set by pat.compile while it records a step, so a replay
# can name lines even when the recording ran with the mode off). The core tests the
# whole word: one test when it is 0.
ANOMALY_CHECK = 1
ANOMALY_SITES = 2

state = ThreadState()

class TapeScope:
    """A ``with`` scope that watches the records made inside it: entering pushes it on
    ``state.tapes`` (innermost last), leaving takes it off (pat.Tape, nesting.Closure)."""

    __slots__ = ()

    def __enter__(self) -> Any:
        if state.tapes is None:
            state.tapes = []
        state.tapes.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        tapes = state.tapes
        if tapes is not None and self in tapes:
            tapes.remove(self)
            if not tapes:
                state.tapes = None


seq = itertools.count()  # the tape order: next() on a count is atomic under the GIL
engine_lock = threading.Lock()  # guards marking records busy for one sweep at a time

# What the engine did, for tests that prove what a transform did NOT do (pat.jvp runs no
# reverse sweep and allocates no adjoint buffer). Python allocates every buffer C uses, so
# counting here counts them all. Read through pat.transforms.engine_counts().
ENGINE_COUNTS = {"reverse_sweeps": 0, "adjoint_buffers": 0, "tangent_sweeps": 0,
                 "tangent_buffers": 0, "hvp_sweeps": 0}


class Hooks:
    """The functions anomaly detection (pyautotape/anomaly.py) installs at import, called
    by the core only while ``state.anomaly`` is set:

    * ``record_site(op, out)``: the call site a new record keeps (for error messages);
    * ``forward(op, name, dtype, y, s0, s1, s2)``: the check after an eager forward kernel;
    * ``backward(program, grads, vptr, gptr, leaf_slots, stats, failed)``: the checked
      reverse sweep, returning its status."""

    record_site: Callable[..., Any] | None = None
    forward: Callable[..., None] | None = None
    backward: Callable[..., int] | None = None


hooks = Hooks()


def raise_callback_error() -> None:
    """Raise the exception a custom op's Python callback stored during a C sweep.

    >>> try:
    ...     raise_callback_error()
    ... except TapeError as exc:
    ...     print("without leaving" in str(exc))
    True
    """
    exc = state.callback_error
    state.callback_error = None
    if exc is None:
        raise TapeError("a custom op's callback failed without leaving an exception")
    raise exc
