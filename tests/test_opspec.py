"""Per op, from its OpSpec alone: the Python table agrees with C's, replay equals eager
bitwise, anomaly detection names the op, the Tape view knows its cost, and at a kink the
reverse, forward-mode and replayed derivatives agree exactly. A new op is tested here by
its OpSpec's examples, with no edit to this file (see also test_ops, test_forward_mode,
test_transforms and test_fuzz, which read the same table)."""

import numpy as np
import pytest

import pyautotape as pat
import pyautotape._state
from pyautotape import _ffi
from pyautotape._ffi import lib
from pyautotape.ops import SPECS

ROWS = [(name, i) for name, spec in SPECS.items() for i in range(len(spec.examples))]
DTYPES = [np.float64, np.float32]


def _example(name, i, dtype, seed=5):
    ex = SPECS[name].examples[i]
    return ex, [a.astype(dtype) for a in ex.make(np.random.default_rng(seed))]


def test_the_table_is_c_s_list_in_order():
    assert list(SPECS) == _ffi.op_names() == list(pat.ops.REGISTRY)
    assert [s.opcode for s in SPECS.values()] == list(range(lib.PAT_OP_COUNT))
    for name, spec in SPECS.items():  # each op is pat.<name> (x[i] is pat.ops.index)
        public = pat if name not in ("index", "pick", "embedding") else pat.ops
        assert spec.fn is None or getattr(public, name) is spec.fn, f"export {name}"
        if spec.family == "unary":
            assert spec.fn is getattr(pat, name) and spec.domain is not None and spec.ref


def test_every_status_maps_to_an_exception():
    codes = {v for v in _ffi.ffi.typeof("pat_status").elements if v != lib.PAT_OK}
    assert codes == set(_ffi.STATUS)
    for code, (cls, _) in _ffi.STATUS.items():
        if code == lib.PAT_ECALLBACK:  # the custom op's own exception, as it was raised
            pyautotape._state.state.callback_error = KeyError("mine")
            cls = KeyError
        with pytest.raises(cls, match="op: |mine"):
            _ffi.check(code, "op")


@pytest.mark.parametrize("name,i", ROWS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_replay_equals_eager_bitwise(name, i, dtype):
    ex, args = _example(name, i, dtype)

    def run(compiled):
        params = [pat.tensor(a, requires_grad=True) for a in args]
        opt = pat.optim.SGD(params, lr=0.01)
        w = np.random.default_rng(1).standard_normal(ex.call(*params).shape).astype(dtype)

        def step():
            loss = (ex.call(*params) * w).sum()
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        step = pat.compile(step) if compiled else step
        losses = [step().numpy() for _ in range(3)]
        return losses, [p.numpy() for p in params], step

    eager, eager_params, _ = run(False)
    replayed, replayed_params, step = run(True)
    for a, b in zip(eager + eager_params, replayed + replayed_params, strict=True):
        assert a.tobytes() == b.tobytes(), name
    if name != "custom":  # a pat.Function runs Python: it cannot replay, and runs eagerly
        assert step.stats["replays"] == 2, step.stats


@pytest.mark.parametrize("name,i", ROWS)
def test_anomaly_detection_names_the_op(name, i):
    ex, args = _example(name, i, np.float64)
    with pat.detect_anomaly():
        ex.call(*[pat.tensor(a, requires_grad=True) for a in args])  # finite: no error
        bad = [np.full_like(args[0], np.nan)] + args[1:]
        with pytest.raises(pat.AnomalyError) as info:
            ex.call(*[pat.tensor(a, requires_grad=True) for a in bad])
    assert info.value.pass_ == "forward"
    # a custom op's forward is Python calling built-in ops: the first one that sees it names it
    assert info.value.op == name or name == "custom"


@pytest.mark.parametrize("name,i", ROWS)
def test_the_tape_view_knows_the_op(name, i):
    ex, args = _example(name, i, np.float64)
    with pat.Tape() as tape:
        ex.call(*[pat.tensor(a, requires_grad=True) for a in args])
    assert [e.op for e in tape][-1] == name
    if name != "custom":  # Python code the tape cannot see into
        assert all(e.flops is not None for e in tape)
    assert "?" not in tape.summary().splitlines()[1] or name == "custom"


KINKS = [(name, x) for name, spec in SPECS.items() for x in spec.kink_points]


@pytest.mark.parametrize("name,x0", KINKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_at_a_kink_every_mode_takes_the_same_derivative(name, x0, dtype):
    spec = SPECS[name]
    x = np.array([x0 - 1, x0, x0 + 1, -0.0 if x0 == 0 else x0], dtype)

    def f(t):
        return spec.fn(t, **spec.kwargs)

    t = pat.tensor(x, requires_grad=True)
    f(t).sum().backward()
    rev = t.grad.numpy()
    _, fwd = pat.jvp(f, (x,), (np.ones_like(x),))
    assert rev.tobytes() == fwd.tobytes()
    p = pat.tensor(x, requires_grad=True)

    @pat.compile
    def step():
        p.grad = None
        f(p).sum().backward()
        return p.grad

    for _ in range(2):
        assert step().numpy().tobytes() == rev.tobytes()
