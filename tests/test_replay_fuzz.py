"""Differential fuzz of pat.compile: random programs (ops, NumPy on arguments, value reads
that steer control flow, backward, optimizer steps) run eagerly and compiled over several
calls, with the inputs, argument aliasing, hyperparameters, optimizer state and .data of
parameters changing between calls. Both must agree bitwise or both raise the same error.

PYAUTOTAPE_HYPOTHESIS_PROFILE=intense runs 100,000 programs instead of 6,000."""

import os

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.replay.traced import TracedArg, traced_arg

INTENSE = os.environ.get("PYAUTOTAPE_HYPOTHESIS_PROFILE") == "intense"
N_PROGRAMS = 100_000 if INTENSE else 6_000
CHUNKS = 8
N = 4  # elements of every vector


_BIN = (lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y, pat.maximum)
_UN = (pat.tanh, pat.relu, pat.sigmoid, lambda x: -x)


def _program(rng):
    """A random program: a list of (op, operand, operand) over registers."""
    ops = []
    for _ in range(int(rng.integers(2, 8))):
        kind = str(rng.choice(["bin", "bin", "un", "scale", "ufunc", "read", "branch",
                               "astype", "const"]))
        ops.append((kind, int(rng.integers(0, 1 << 30)), int(rng.integers(0, 1 << 30))))
    return ops


def _run(ops, args, params, opt, cfg):
    """Interpret ``ops`` on fresh registers; the same code runs eagerly and compiled."""
    regs = list(args) + list(params)
    for kind, a, b in ops:
        x, y = regs[a % len(regs)], regs[b % len(regs)]
        if kind == "bin":
            r = _BIN[b % 4](x, y)
        elif kind == "un":
            r = _UN[a % 4](x)
        elif kind == "scale":
            r = x / 16.0 if a % 2 else 2.5 * x
        elif kind == "ufunc":
            if isinstance(x, TracedArg):  # an argument: NumPy on it is recorded
                r = (np.negative, np.sqrt, lambda v: np.add(v, 1.0))[a % 3](x)
            else:
                r = (pat.neg, pat.sqrt, lambda v: v + 1.0)[a % 3](x)
        elif kind == "read":  # a value read used as a number: an exact guard
            r = x * float(pat.tanh(y.sum()))
        elif kind == "branch":  # a value read steering control flow: a comparison guard
            r = x * 3.0 if y.sum().item() > 0 else x - 1.0
        elif kind == "astype":
            r = x.astype(x.dtype) if hasattr(x, "astype") else x * 1.0
        else:
            r = x * cfg["const"]
        regs.append(r)
    loss = pat.tanh(regs[-1]).sum() + (params[0] * params[0]).sum()
    loss.backward()
    if cfg["step"]:
        opt.step()
    opt.zero_grad()
    return loss


def _make(rng, dtype):
    params = [pat.tensor(rng.standard_normal(N).astype(dtype), requires_grad=True)
              for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < 0.5:
        kw = {"lr": float(rng.choice([0.01, 0.1]))}
        if rng.random() < 0.5:
            kw["momentum"] = 0.9
            kw["nesterov"] = bool(rng.random() < 0.5)
        opt = pat.optim.SGD(params, **kw)
    else:
        opt = pat.optim.Adam(params, lr=0.05)
    return params, opt


def _mutate(rng, side, event):
    """Apply the same between-call change to one side (params, opt)."""
    params, opt = side
    g = opt.param_groups[0]
    if event == "lr":
        g["lr"] = g["lr"] * 0.5
    elif event == "bad_lr":
        g["lr"] = float("nan")
    elif event == "momentum" and "momentum" in g:
        g["momentum"] = 0.5 if g["momentum"] == 0 else 0.0
        g["nesterov"] = False
    elif event == "data":
        params[-1].data = params[-1].numpy() * 0.5
    elif event == "inplace":
        params[0].data[...] *= 0.75  # in place through the array: the same buffer
    elif event == "state":
        opt.load_state_dict(opt.state_dict())


def _compare(a, b, where):
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        assert type(a) is type(b), (where, a, b)
        return
    assert a.numpy().tobytes() == b.numpy().tobytes(), where


def _one(seed):
    rng = np.random.default_rng(seed)
    dtype = np.float64 if rng.random() < 0.5 else np.float32
    ops = _program(rng)
    cfg = {"step": bool(rng.random() < 0.8), "const": float(rng.choice([0.5, 2.0]))}
    pseed = int(rng.integers(0, 1 << 30))
    eager = _make(np.random.default_rng(pseed), dtype)
    comp = _make(np.random.default_rng(pseed), dtype)
    n_args = int(rng.integers(1, 3))

    def fn(*args):
        return _run(ops, args, comp[0], comp[1], cfg)

    step = pat.compile(fn)
    for call in range(int(rng.integers(3, 6))):
        xs = [rng.standard_normal(N).astype(dtype) for _ in range(n_args)]
        if n_args == 2 and rng.random() < 0.3:
            xs[1] = xs[0]  # the same array twice
        if call and rng.random() < 0.35:
            event = str(rng.choice(["lr", "bad_lr", "momentum", "data", "inplace", "state"]))
            for side in (eager, comp):
                _mutate(rng, side, event)
        # eager sees the arguments as compiled fn does, as Tensors (TracedArg outside a
        # recording behaves as a Tensor whose correctly rounded ufuncs run pyautotape ops)
        targs = [traced_arg(x.copy(), i) for i, x in enumerate(xs)]
        if len(xs) == 2 and xs[1] is xs[0]:
            targs[1] = targs[0]
        try:
            want = _run(ops, targs, eager[0], eager[1], cfg)
        except (ValueError, FloatingPointError) as exc:
            want = exc
        try:
            got = step(*xs)
        except (ValueError, FloatingPointError) as exc:
            got = exc
        _compare(want, got, (seed, call, ops))
        for p, q in zip(eager[0], comp[0], strict=True):
            assert p.numpy().tobytes() == q.numpy().tobytes(), (seed, call, ops)
        if isinstance(want, BaseException):
            return step.stats
        for side in (eager, comp):  # a NaN lr that no step() saw: make it valid again
            if not side[1].param_groups[0]["lr"] >= 0:
                side[1].param_groups[0]["lr"] = 0.01
    return step.stats


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_programs_agree_eager_and_compiled(chunk):
    per = N_PROGRAMS // CHUNKS
    totals = {"records": 0, "replays": 0, "retapes": 0, "eager": 0}
    with np.errstate(all="ignore"):
        for seed in range(chunk * per, (chunk + 1) * per):
            for k, v in _one(seed).items():
                totals[k] += v
    assert totals["replays"] > 0 and totals["records"] > 0
