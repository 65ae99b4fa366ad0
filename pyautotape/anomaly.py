"""NaN/Inf detection: ``pat.detect_anomaly()`` and ``pat.set_detect_anomaly(mode)``.

With the mode on (this thread only, like grad mode), every op is followed by a finite
check, done in C by the same sweeps that run the op (``pat_find_nonfinite``, a vectorised
scan of the exponent bits):

* eager forward: the output of every forward kernel (``ops.core.run``);
* reverse mode (``backward``, ``autograd.grad``, ``grad``/``vjp``/``jacrev``): the
  gradients each backward rule wrote into its inputs' adjoints;
* forward mode (``jvp``/``jacfwd``, streaming or not): the output's tangent;
* second order (``hessian``/``hvp``): the adjoint tangents each rule wrote;
* replay (``pat.compile``): every forward step and backward step of the program.

At the first non-finite value the sweep stops and :class:`AnomalyError` (a
``FloatingPointError``) is raised, naming the op, the pass, the buffer, the first bad
index (unravelled to the buffer's shape), the bad value and the file:line where the op
was called (the first stack frame outside pyautotape, kept per record while the mode is
on; a replay reports the lines of its recording). The check also looks at what the rule
read: when one of its inputs already held a NaN/Inf, the message says so and shows where,
so a NaN is blamed on the op that made it, not on every op it flowed through. A NaN in the
data or in a parameter is reported at the first op that reads it, as "already
non-finite".

With the mode off nothing is scanned: an op pays one test of a thread-local flag, and the
sweeps run their unchecked C entry points.

>>> import numpy as np, pyautotape as pat
>>> x = pat.tensor(np.array([1.0, 0.0]), requires_grad=True)
>>> with pat.detect_anomaly():
...     y = pat.log(x)
Traceback (most recent call last):
  ...
pyautotape.anomaly.AnomalyError: anomaly detected in the forward pass of 'log' ...
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, TypeVar

import numpy as np

from ._ffi import DTYPE_CODE, OP_NAMES, _from_buffer, ffi, lib
from ._state import ANOMALY_CHECK as CHECK
from ._state import ANOMALY_SITES as SITES
from ._state import hooks
from ._state import state as _state
from .ops.spec import SPECS

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError"]

_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------------------
# the mode


def is_anomaly_enabled() -> bool:
    """Whether NaN/Inf detection is on in this thread.

    >>> import pyautotape as pat
    >>> pat.is_anomaly_enabled()
    False
    >>> with pat.detect_anomaly():
    ...     pat.is_anomaly_enabled()
    True
    """
    return bool(_state.anomaly & CHECK)


def _set(mode: bool) -> None:
    _state.anomaly = (_state.anomaly & ~CHECK) | (CHECK if mode else 0)


class set_detect_anomaly:
    """Turn NaN/Inf detection on or off for this thread: as a call it sets the mode (and
    stays set), as a context manager it restores the previous mode on exit (PyTorch's
    ``torch.autograd.set_detect_anomaly``).

    >>> import pyautotape as pat
    >>> _ = pat.set_detect_anomaly(True); pat.is_anomaly_enabled()
    True
    >>> with pat.set_detect_anomaly(False):
    ...     pat.is_anomaly_enabled()
    False
    >>> pat.is_anomaly_enabled()
    True
    >>> _ = pat.set_detect_anomaly(False)
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_detect_anomaly: mode must be a bool, got {mode!r}")
        self._prev = is_anomaly_enabled()
        _set(bool(mode))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)


class detect_anomaly:
    """Context manager and decorator that turns NaN/Inf detection on in this thread, and
    restores the previous mode on exit (so blocks nest).

    Inside, every op of the forward pass, every rule of the backward pass, forward-mode
    tangents and replayed steps are followed by a finite check; the first NaN/Inf raises
    :class:`AnomalyError` (a ``FloatingPointError``) naming the op, the pass, the index,
    the value and the line the op was called from.

    >>> import numpy as np, pyautotape as pat
    >>> x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    >>> with pat.detect_anomaly():
    ...     y = pat.sqrt(x)
    ...     (y * 0).sum().backward()  # sqrt's derivative at 0 times 0: nan
    Traceback (most recent call last):
      ...
    pyautotape.anomaly.AnomalyError: anomaly detected in the backward pass of 'sqrt' ...
    >>> @pat.detect_anomaly()
    ... def checked():
    ...     return pat.is_anomaly_enabled()
    >>> checked(), pat.is_anomaly_enabled()
    (True, False)
    """

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(is_anomaly_enabled())
        _set(True)

    def __exit__(self, *exc: object) -> None:
        _set(self._prev.pop())

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class AnomalyError(FloatingPointError):
    """A NaN or infinity found by :func:`detect_anomaly`.

    Attributes: ``op`` (the op's name), ``pass_`` (``"forward"``, ``"backward"``,
    ``"tangent"`` or ``"hvp"``), ``buffer`` (what held it: ``"output"``, ``"tangent"`` or
    ``"gradient of input i"``), ``index`` (a tuple in that buffer's shape), ``seed`` (the
    seed of a batched sweep, else None), ``value``, ``where`` (``"file:line"`` of the
    call that recorded the op, or None) and ``cause`` (None when the op produced the value
    from finite inputs, else a description of the input that already held a NaN/Inf).

    >>> import pyautotape as pat
    >>> with pat.detect_anomaly():
    ...     try:
    ...         pat.log(pat.tensor([-1.0]))
    ...     except pat.AnomalyError as exc:
    ...         print(exc.op, exc.pass_, isinstance(exc, FloatingPointError))
    log forward True
    """

    def __init__(self, message: str, **info: Any) -> None:
        super().__init__(message)
        self.op: str = info.get("op", "?")
        self.pass_: str = info.get("pass_", "?")
        self.buffer: str = info.get("buffer", "output")
        self.index: tuple[int, ...] = info.get("index", ())
        self.seed: int | None = info.get("seed")
        self.value: float = info.get("value", math.nan)
        self.where: str | None = info.get("where")
        self.cause: str | None = info.get("cause")


# ---------------------------------------------------------------------------------------
# call sites


def callsite() -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost stack frame outside the pyautotape package:
    the user's line that called the op being recorded."""
    f: FrameType | None = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if not name.startswith(_PKG):
            return (name, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def record_site(op: int, out: np.ndarray) -> tuple[str, int, str] | None:
    """What record() stores in Record.where while the flag is set; also checks the output
    of a custom op (pat.Function), whose forward is Python and runs no kernel."""
    if op == lib.PAT_OP_CUSTOM and _state.anomaly & CHECK:
        forward(op, "custom", out.dtype, out, None, None, None)
    return callsite()


def _site_text(site: Any) -> str | None:
    if site is None:
        return None
    return f"{site[0]}:{site[1]}"


def keep_sites() -> Callable[[], None]:
    """Keep call sites in records (not the checks) until the returned function is called:
    pat.compile wraps the recording of a step in it, so its replay can name lines."""
    had = _state.anomaly & SITES
    _state.anomaly |= SITES

    def restore() -> None:
        if not had:
            _state.anomaly &= ~SITES

    return restore


# ---------------------------------------------------------------------------------------
# the message


_PASSES = {
    lib.PAT_PASS_FWD: "forward",
    lib.PAT_PASS_BWD: "backward",
    lib.PAT_PASS_TAN: "tangent",
    lib.PAT_PASS_HVP: "hvp",
}
_PASS_TEXT = {
    "forward": "forward pass",
    "backward": "backward pass",
    "tangent": "forward-mode (tangent) pass",
    "hvp": "second-order (Hessian-vector) pass",
}
def _input_name(op: str, i: int) -> str:
    names = SPECS[op].inputs if op in SPECS else ("x",)
    name = names[i] if i < len(names) else f"input {i}"
    return f"input {i} '{name}'" if not name.startswith("input") else name


def _aux_name(op: str) -> str:
    aux = SPECS[op].aux if op in SPECS else None
    return aux if aux is not None else "array"


def _fmt_value(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    if not shape:
        return ()
    return tuple(int(i) for i in np.unravel_index(int(flat), shape))


def _located(arr: np.ndarray | None, batched: bool, seed: int,
             flat: int) -> tuple[str, tuple[int, ...], str]:
    """(', shape (2, 3), float32', index in that shape, ' of seed 1') for one element of a
    slot's buffer; a batched buffer is (K, *shape) and names the seed when K > 1."""
    if arr is None:
        return "", (flat,), ""
    shape = tuple(arr.shape[1:] if batched else arr.shape)
    seed_text = f" of seed {seed}" if batched and arr.shape[0] > 1 else ""
    return f", shape {shape}, {arr.dtype}", _unravel(flat, shape), seed_text


def _paren(desc: str) -> str:
    return f" ({desc[2:]})" if desc else ""


_PRODUCED = {
    "forward": (
        "No input of the op was non-finite: the op itself produced it (log or sqrt of 0 or of "
        "a negative number, division by 0, exp overflow, inf - inf, 0 * inf, ...)."
    ),
    "other": (
        "No input of the rule was non-finite: the rule itself produced it (an infinite or "
        "undefined derivative, e.g. of sqrt or log at 0, or an overflow)."
    ),
}
# what to do about an input that was already non-finite, by where it came from
_HINTS = {
    "outside": (
        "The op only passed it on: it came from outside the checked ops (the data, a "
        "parameter's initialisation or update, or an op run with detection off)."
    ),
    "forward": (
        "The rule only passed it on: the value was computed by a forward pass run with "
        "detection off, or came from the data or a parameter; run the forward pass with "
        "detection on to find the op that made it."
    ),
    "seed": (
        "The rule only passed it on: it came in with what the sweep was seeded with (the "
        "gradient= of backward, the cotangents or tangents passed to a transform)."
    ),
}


def _raise(op: str, pass_: str, buffer: str, site: Any, arr: np.ndarray | None,
           batched: bool, seed: int, flat: int, value: float,
           cause: tuple[str, str] | None = None, carr: np.ndarray | None = None,
           cbatched: bool = False, cseed: int = 0, cflat: int = 0,
           cvalue: float = 0.0) -> None:
    """Raise the AnomalyError for ``value`` at ``flat`` (of ``seed``) in ``arr``; ``cause``
    is (description, hint key) of the input already holding ``cvalue``, or None."""
    where = _site_text(site)
    head = f"anomaly detected in the {_PASS_TEXT[pass_]} of '{op}' " + (
        f"(recorded at {where})" if where is not None else
        "(recorded at an unknown line: turn detect_anomaly on before the forward pass, or "
        "record the compiled step with it on, to see it)"
    )
    desc, index, of_seed = _located(arr, batched, seed, flat)
    text = f"{head}:\n  {buffer}{_paren(desc)} holds {_fmt_value(value)} at index {index}"
    text += f"{of_seed}."
    if cause is None:
        text += "\n  " + _PRODUCED["forward" if pass_ == "forward" else "other"]
    else:
        cdesc, cindex, cof_seed = _located(carr, cbatched, cseed, cflat)
        reader = "op" if pass_ == "forward" else "rule"
        text += (
            f"\n  {cause[0][0].upper()}{cause[0][1:]}{_paren(cdesc)} was already non-finite "
            f"when the {reader} read it: {_fmt_value(cvalue)} at index {cindex}{cof_seed}."
            f"\n  {_HINTS[cause[1]]}"
        )
    raise AnomalyError(
        text, op=op, pass_=pass_, buffer=buffer, index=index,
        seed=seed if batched else None, value=value, where=where,
        cause=cause[0] if cause is not None else None,
    )


# ---------------------------------------------------------------------------------------
# eager forward (ops.core.run) and the sweeps


class _Scratch(threading.local):
    """Per-thread result cells of pat_find_nonfinite (allocated once, not per op)."""

    def __init__(self) -> None:
        self.index = ffi.new("int64_t *")
        self.value = ffi.new("double *")


_scratch = _Scratch()


def _first_bad(dtype: np.dtype, arr: np.ndarray) -> tuple[int, float]:
    """(index, value) of arr's first non-finite element, index -1 when there is none."""
    sc = _scratch
    index, value = sc.index, sc.value
    lib.pat_find_nonfinite(DTYPE_CODE[dtype], _from_buffer(arr), arr.size, index, value)
    return index[0], value[0]


def forward(op: int, name: str, dtype: np.dtype, y: np.ndarray, s0: Any, s1: Any,
            s2: Any) -> None:
    """The check after one eager forward kernel (called by ops.core.run while the flag is
    set): y's first non-finite element, blamed on the first source already holding one."""
    if not _state.anomaly & CHECK or y.size == 0:
        return
    flat, value = _first_bad(dtype, y)
    if flat < 0:
        return
    for i, s in enumerate((s0, s1, s2)):
        if isinstance(s, np.ndarray) and s.dtype == dtype and s.size:
            cflat, cvalue = _first_bad(dtype, s)
            if cflat >= 0:
                cause = (f"its {_input_name(name, i)}", "outside")
                _raise(name, "forward", "its output", callsite(), y, False, 0, flat, value,
                       cause, s, False, 0, cflat, cvalue)
    _raise(name, "forward", "its output", callsite(), y, False, 0, flat, value)


def _sizes(*tables: Sequence[np.ndarray | None]) -> np.ndarray:
    """Elements per slot (one seed) from parallel slot tables; batched tables hold
    (K, *shape) arrays, so they are listed after the one-seed ones and only fill gaps."""
    n = len(tables[0])
    out = np.zeros(n, np.int64)
    for s in range(n):
        for t in tables:
            a = t[s]
            if a is not None:
                out[s] = a.size
                break
    return out


def _raise_sweep(an: Any, tape: np.ndarray, tables: dict[str, list[Any]],
                 batched: set[str], site: Callable[[int], Any]) -> None:
    """Raise AnomalyError for what a checked C sweep reported in ``an``. ``tables`` maps
    vals / grads / tans / adjs / atans to the slot tables the sweep ran over."""
    t = int(an.record)
    row = tape[t]
    op = OP_NAMES[int(row["op"])]
    pass_ = _PASSES[int(an.pass_)]
    src = [int(s) for s in row["src"]]
    dst, aux = int(row["dst"]), int(row["aux"])

    def get(kind: str, s: int) -> tuple[np.ndarray | None, bool]:
        table = tables.get(kind)
        return (table[s] if table is not None and s >= 0 else None), kind in batched

    if pass_ == "forward":
        (arr, b), buffer = get("vals", dst), "its output"
    elif pass_ == "tangent":
        (arr, b), buffer = get("tans", dst), "the tangent of its output"
    else:
        i = int(an.buffer)
        kind = "grads" if pass_ == "backward" else "atans"
        (arr, b) = get(kind, src[i])
        what = "gradient" if pass_ == "backward" else "adjoint tangent"
        buffer = f"the {what} it computed for its {_input_name(op, i)}"
    cause = int(an.cause)
    if cause == lib.PAT_CAUSE_OP:
        _raise(op, pass_, buffer, site(t), arr, b, int(an.seed), int(an.index), an.value)
    # read values are forward results ("outside" in a forward step of a replay)
    made = "outside" if pass_ == "forward" else "forward"
    c = lib
    causes: dict[int, tuple[str, str, str, int]] = {
        c.PAT_CAUSE_SRC0: (f"its {_input_name(op, 0)}", made, "vals", src[0]),
        c.PAT_CAUSE_SRC1: (f"its {_input_name(op, 1)}", made, "vals", src[1]),
        c.PAT_CAUSE_SRC2: (f"its {_input_name(op, 2)}", made, "vals", src[2]),
        c.PAT_CAUSE_OUT: ("its output value (saved for the backward pass)", made, "vals", dst),
        c.PAT_CAUSE_AUX: (f"the {_aux_name(op)} it saved for the backward pass", made,
                          "vals", aux),
        c.PAT_CAUSE_DY: (
            "the gradient flowing into its output" if pass_ == "backward"
            else "the tangent of its output's adjoint", "seed",
            "grads" if pass_ == "backward" else "atans", dst,
        ),
        c.PAT_CAUSE_T0: (f"the tangent of its {_input_name(op, 0)}", "seed", "tans", src[0]),
        c.PAT_CAUSE_T1: (f"the tangent of its {_input_name(op, 1)}", "seed", "tans", src[1]),
        c.PAT_CAUSE_T2: (f"the tangent of its {_input_name(op, 2)}", "seed", "tans", src[2]),
        c.PAT_CAUSE_ADJ: ("the adjoint of its output", "seed", "adjs", dst),
        c.PAT_CAUSE_TY: ("the tangent of its output", "seed", "tans", dst),
    }
    text, hint, kind, s = causes[cause]
    carr, cb = get(kind, s)
    _raise(op, pass_, buffer, site(t), arr, b, int(an.seed), int(an.index), an.value,
           (text, hint), carr, cb, int(an.cause_seed), int(an.cause_index),
           an.cause_value)


def backward(prog: Any, tape: np.ndarray, itab: np.ndarray, grads: list[np.ndarray | None],
             vptr: Any, gptr: Any, leaf_slots: Sequence[tuple[Any, int, bool]], stats: Any,
             failed: Any) -> int:
    """The reverse sweep of engine.py, checked: returns its status, or raises
    AnomalyError. A leaf's ``.grad`` that backward adds to (accumulation) is checked first:
    a NaN already there is not the sweep's doing."""
    for leaf, s, fresh in leaf_slots:
        g = grads[s]
        if not fresh and g is not None and g.size:
            flat, value = _first_bad(g.dtype, g)
            if flat >= 0:
                raise AnomalyError(
                    f"anomaly detected before the backward pass: the .grad of a leaf of shape "
                    f"{leaf.shape} already holds {_fmt_value(value)} at index "
                    f"{_unravel(flat, g.shape)}, and backward adds to it (gradients "
                    "accumulate, as in PyTorch); clear it (optimizer.zero_grad()) and find "
                    "the earlier backward or write that put it there",
                    op="backward", pass_="backward", buffer=".grad", value=value,
                    index=_unravel(flat, g.shape),
                )
    vals = prog.vals
    sizes = prog.sizes()
    an = ffi.new("pat_anomaly *")
    rc = lib.pat_tape_backward_checked(
        ffi.from_buffer("pat_instr *", tape), len(tape), ffi.from_buffer("pat_iter *", itab),
        len(itab), vptr, gptr, ffi.from_buffer("int64_t *", sizes), len(vals), stats, failed,
        an,
    )
    if rc == lib.PAT_EANOMALY:
        rows = prog.rows
        _raise_sweep(an, tape, {"vals": vals, "grads": grads}, set(),
                     lambda t: rows[t].where)
    return rc


_KINDS = {
    "pat_tape_tangent": ("tans",),
    "pat_tape_backward_batch": ("grads",),
    "pat_tape_hvp": ("tans", "adjs", "atans"),
}


def checked_sweep(cfunc: Any, tape: np.ndarray, tables: list[list[Any]], head: tuple,
                  scratch: np.ndarray, stats: Any, failed: Any,
                  site: Callable[[int], Any]) -> int:
    """batched.sweep's real (not dry) call of a batched sweep, checked: returns its
    status, or raises AnomalyError. ``tables`` are [vals, *batched tables] as given."""
    name = cfunc.__name__
    checked = getattr(lib, name + "_checked")
    an = ffi.new("pat_anomaly *")
    rc = checked(*head, ffi.from_buffer(scratch, require_writable=True), scratch.nbytes,
                 ffi.NULL, stats, failed, an)
    if rc == lib.PAT_EANOMALY:
        kinds = _KINDS[name]
        named = {"vals": tables[0], **dict(zip(kinds, tables[1:], strict=True))}
        _raise_sweep(an, tape, named, set(kinds), site)
    return rc


def replay(plan: Any) -> int:
    """``pat_replay_checked`` for a replay.Plan (its tables built on first use): returns
    the status, or raises AnomalyError naming the lines of the recording."""
    cached = getattr(plan, "_anomaly_args", None)
    if cached is None:
        buf_sizes = np.array([b.size for b in plan.bufs], np.int64)
        per_sweep = [_sizes(vals, grads) for _, _, vals, grads in plan.sweep_src]
        ptrs = [ffi.from_buffer("int64_t *", s) for s in per_sweep]
        table = ffi.new("int64_t *[]", max(len(ptrs), 1))
        for i, p in enumerate(ptrs):
            table[i] = p
        an = ffi.new("pat_anomaly *")
        args = (*plan.args[:12], ffi.from_buffer("int64_t *", buf_sizes), table,
                plan.stats, plan.failed, an)
        cached = plan._anomaly_args = (args, an, (buf_sizes, per_sweep, ptrs, table))
    args, an = cached[0], cached[1]
    rc = lib.pat_replay_checked(*args)
    if rc != lib.PAT_EANOMALY:
        return rc
    fwd_sites = getattr(plan, "fwd_sites", None) or []
    sweep_sites = getattr(plan, "sweep_sites", None) or []
    if an.sweep < 0:  # a forward step: instrs[an.record] over the program's buffers
        _raise_sweep(an, plan.instrs, {"vals": plan.bufs}, set(),
                     lambda t: fwd_sites[t] if t < len(fwd_sites) else None)
    w = int(an.sweep)
    tape, _, vals, grads = plan.sweep_src[w]
    sites = sweep_sites[w] if w < len(sweep_sites) and sweep_sites[w] is not None else []
    _raise_sweep(an, tape, {"vals": vals, "grads": grads}, set(),
                 lambda t: sites[t] if t < len(sites) else None)
    return rc


hooks.record_site = record_site
hooks.forward = forward
hooks.backward = backward
