"""NaN/Inf detection (pat.detect_anomaly, pat.set_detect_anomaly): every pass -- eager
forward, reverse, batched reverse, tangent, second order and replay -- reports the op, the
pass, the first bad index in the buffer's shape, the value and the line that recorded the
op; an input that was already non-finite is named as the cause; the mode is per thread,
nests, and changes no result.
"""

import doctest
import math
import pathlib
import threading

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import anomaly
from pyautotape._ffi import ffi, lib

THIS = pathlib.Path(__file__).name


def line_of(marker: str) -> int:
    """The line of this file that holds ``marker`` (a comment on the line that records)."""
    lines = pathlib.Path(__file__).read_text().splitlines()
    hits = [i + 1 for i, text in enumerate(lines) if text.rstrip().endswith(marker)]
    assert len(hits) == 1, marker
    return hits[0]


def recorded_here(err: anomaly.AnomalyError, marker: str) -> bool:
    site = f"{THIS}:{line_of(marker)}"
    return err.where is not None and err.where.endswith(site) and site in str(err)


def mlp(dtype=np.float32):
    """A 3-layer MLP (Linear, ReLU, Linear, ReLU, Linear) and a batch for it."""
    pat.manual_seed(0)
    model = pat.nn.MLP([8, 16, 16, 4], dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8)).astype(dtype)
    y = np.array([0, 1, 2, 3, 0])
    return model, x, y


# ---------------------------------------------------------------------------------------
# eager forward


def test_nan_planted_in_mlp_weights_is_reported_with_op_pass_and_line():
    model, x, y = mlp()
    model.layers[2].weight.data[3, 5] = np.nan  # the second Linear
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        pat.cross_entropy(model(x), y)  # <- planted
    err = info.value
    assert isinstance(err, pat.AnomalyError)
    assert (err.op, err.pass_, err.index) == ("linear", "forward", (0, 3))
    assert math.isnan(err.value)
    assert recorded_here(err, "# <- planted")
    msg = str(err)
    assert "forward pass of 'linear'" in msg
    assert "input 1 'weight' (shape (16, 16), float32) was already non-finite" in msg
    assert "nan at index (3, 5)" in msg
    assert err.cause == "its input 1 'weight'"


def test_nan_in_the_data_is_reported_at_the_first_op_that_reads_it():
    model, x, y = mlp(np.float64)
    x[2, 7] = np.inf
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        model(x)  # <- data
    err = info.value
    assert err.op == "linear" and err.pass_ == "forward" and err.index[0] == 2
    assert "input 0 'x' (shape (5, 8), float64) was already non-finite" in str(err)
    assert "inf at index (2, 7)" in str(err)
    assert recorded_here(err, "# <- data")


def test_exp_overflow_reports_inf():
    x = pat.tensor(np.array([1.0, 100.0, 2.0], np.float32), requires_grad=True)
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        pat.exp(x)  # <- exp overflow
    err = info.value
    assert (err.op, err.pass_, err.index, err.value, err.cause) == ("exp", "forward", (1,),
                                                                    math.inf, None)
    assert "holds inf at index (1,)" in str(err) and "the op itself produced it" in str(err)
    assert recorded_here(err, "# <- exp overflow")


@pytest.mark.parametrize("grad_mode", [True, False])
def test_log_of_zero_reports_negative_inf(grad_mode):
    x = pat.tensor(np.array([[1.0, 2.0], [0.0, 3.0]]), requires_grad=True)
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        if grad_mode:
            pat.log(x)  # <- log of 0
        else:
            with pat.no_grad():
                pat.log(x)  # <- log of 0 without grad
    err = info.value
    assert (err.op, err.pass_, err.index, err.value) == ("log", "forward", (1, 0), -math.inf)
    assert "holds -inf at index (1, 0)" in str(err)
    assert recorded_here(err, "# <- log of 0" if grad_mode else "# <- log of 0 without grad")


def test_an_input_the_op_masks_is_not_an_anomaly():
    # the check is on what an op produced: where() that drops a NaN branch is fine
    a = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = np.array([np.nan, np.nan])
    with pat.detect_anomaly():
        out = pat.where(np.array([True, True]), a, b)
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0])


def test_custom_op_forward_output_is_checked():
    class NumpyLog(pat.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return pat.tensor(np.log(x.numpy()))

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g / x

    x = pat.tensor(np.array([1.0, 0.0]), requires_grad=True)
    with np.errstate(divide="ignore"), pat.detect_anomaly():
        with pytest.raises(FloatingPointError) as info:
            NumpyLog.apply(x)  # <- custom forward
    assert info.value.op == "custom" and info.value.value == -math.inf
    assert recorded_here(info.value, "# <- custom forward")


# ---------------------------------------------------------------------------------------
# reverse mode


def test_zero_times_inf_in_backward_is_blamed_on_the_rule_that_made_it():
    # sqrt at 0: the forward is finite, the backward multiplies the zero gradient where()
    # sends it by sqrt's infinite derivative: 0 * inf = nan, which would then flow on
    # through mul's backward; it is reported where it appeared
    x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with pat.detect_anomaly():
        r = pat.sqrt(x * 1.0)  # <- sqrt at 0
        y = pat.where(x.numpy() > 0, r, 0.0)
        with pytest.raises(FloatingPointError) as info:
            y.sum().backward()
    err = info.value
    assert (err.op, err.pass_, err.index, err.cause) == ("sqrt", "backward", (0,), None)
    assert math.isnan(err.value)
    assert "the gradient it computed for its input 0 'x' (shape (2,), float64)" in str(err)
    assert recorded_here(err, "# <- sqrt at 0")


def test_backward_of_a_forward_run_without_detection_names_the_saved_value():
    model, x, y = mlp()
    model.layers[4].bias.data[1] = np.nan
    loss = pat.cross_entropy(model(x), y)  # the mode is off: nothing is raised, no line kept
    assert math.isnan(loss.item())
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        loss.backward()
    err = info.value
    assert err.op == "cross_entropy" and err.pass_ == "backward" and err.where is None
    assert "probabilities it saved for the backward pass" in str(err)
    assert "recorded at an unknown line" in str(err)


def test_nan_seed_of_backward_is_named():
    x = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pat.detect_anomaly():
        y = x * 3.0  # <- seeded
        with pytest.raises(FloatingPointError) as info:
            y.backward(gradient=np.array([1.0, np.nan]))
    err = info.value
    assert err.op == "mul" and err.index == (1,)
    assert err.cause == "the gradient flowing into its output"
    assert recorded_here(err, "# <- seeded")


def test_nan_already_in_an_accumulated_grad_is_reported_before_the_sweep():
    w = pat.tensor(np.ones(3), requires_grad=True)
    (w * 2.0).sum().backward()
    w.grad.data[1] = np.nan
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        (w * 2.0).sum().backward()
    assert "the .grad of a leaf of shape (3,) already holds nan at index (1,)" in str(info.value)


def test_custom_op_backward_is_checked():
    class BadGrad(pat.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):  # NumPy, not pat ops (those would be checked on their own)
            return pat.tensor(g.numpy() * np.nan)

    x = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pat.detect_anomaly():
        y = BadGrad.apply(x)  # <- custom backward
        with pytest.raises(FloatingPointError) as info:
            y.sum().backward()
    assert (info.value.op, info.value.pass_) == ("custom", "backward")
    assert recorded_here(info.value, "# <- custom backward")


# ---------------------------------------------------------------------------------------
# transforms: batched reverse mode, forward mode, second order


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_batched_sweeps_name_the_seed(transform):
    # float32: (v * c) * c overflows in the derivative for the second seed only
    c = np.array([1.0, 1e30], np.float32)
    f = lambda v: (v * c) * c  # <- batched  # noqa: E731
    v = np.array([1.0, 1e-30], np.float32)
    assert np.isfinite(f(pat.tensor(v)).numpy()).all()
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        getattr(pat, transform)(f)(v)
    err = info.value
    pass_ = "backward" if transform == "jacrev" else "tangent"
    assert (err.op, err.pass_, err.index, err.seed, err.value) == ("mul", pass_, (1,), 1,
                                                                   math.inf)
    assert "at index (1,) of seed 1" in str(err)
    assert recorded_here(err, "# <- batched  # noqa: E731")


@pytest.mark.parametrize("stream", [False, True])
def test_forward_mode_reports_the_tangent_pass(stream):
    f = lambda v: pat.sqrt(v)  # <- jvp  # noqa: E731
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        pat.jvp(f, (np.array([0.0, 1.0]),), (np.ones(2),), stream=stream)
    err = info.value
    assert (err.op, err.pass_, err.index, err.value) == ("sqrt", "tangent", (0,), math.inf)
    assert "forward-mode (tangent) pass of 'sqrt'" in str(err)
    assert recorded_here(err, "# <- jvp  # noqa: E731")


def test_nan_tangent_seed_is_named():
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        pat.jvp(pat.exp, (np.zeros(2),), (np.array([1.0, np.nan]),))
    assert info.value.cause == "the tangent of its input 0 'x'"
    assert "seeded with" in str(info.value)


def test_second_order_pass_is_checked():
    # float32 H u = 6 v u overflows where J u = 3 v^2 u does not
    f = lambda v: (v * v * v).sum()  # noqa: E731
    v, u = np.ones(1, np.float32), np.full(1, 1e38, np.float32)
    with np.errstate(over="ignore"):
        assert np.isfinite(pat.jvp(f, (v,), (u,))[1]).all()
        with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
            pat.hvp(f, (v,), (u,))
    assert info.value.pass_ == "hvp" and info.value.op == "mul"
    assert info.value.value == math.inf


# ---------------------------------------------------------------------------------------
# replay


def compiled_mlp_step(model, lr=0.1):
    opt = pat.optim.SGD(model.parameters(), lr=lr)

    @pat.compile
    def step(x, y):
        loss = pat.cross_entropy(model(x), y)  # <- compiled forward
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def test_replay_reports_the_op_and_the_line_of_the_recording():
    model, x, y = mlp()
    step = compiled_mlp_step(model)
    for _ in range(3):  # recorded with the mode off, then replayed
        step(x, y)
    assert step.stats["records"] == 1 and step.stats["replays"] == 2
    model.layers[4].weight.data[2, 9] = np.nan
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        step(x, y)
    err = info.value
    assert step.stats["records"] == 1  # the replay found it, not a new recording
    assert (err.op, err.pass_, err.index) == ("linear", "forward", (0, 2))
    assert "input 1 'weight' (shape (4, 16), float32)" in str(err)
    assert "nan at index (2, 9)" in str(err)
    assert recorded_here(err, "# <- compiled forward")


def test_replay_backward_reports_the_rule_and_the_line():
    w = pat.tensor(np.array([1.0, 4.0]), requires_grad=True)

    @pat.compile
    def f(c):
        loss = (pat.sqrt(w) * pat.tensor(c)).sum()  # <- compiled sqrt
        loss.backward()
        return loss

    c = np.array([0.0, 1.0])
    for _ in range(4):
        f(c)
    records = f.stats["records"]
    w.data[0] = 0.0  # sqrt(0) is finite; its derivative times the zero weight is not
    with pat.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        f(c)
    err = info.value
    assert f.stats["records"] == records
    assert (err.op, err.pass_, err.index, err.cause) == ("sqrt", "backward", (0,), None)
    assert recorded_here(err, "# <- compiled sqrt")


def test_replay_with_the_mode_on_gives_the_same_numbers():
    runs = []
    for mode in (False, True):
        model, x, y = mlp()
        step = compiled_mlp_step(model)
        with pat.set_detect_anomaly(mode):
            losses = [step(x, y).item() for _ in range(4)]
        runs.append((losses, [p.data.copy() for p in model.parameters()]))
        assert step.stats["replays"] == 3
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# the mode


def test_mode_is_per_thread_nestable_and_restored():
    assert not pat.is_anomaly_enabled()
    seen = {}

    def other():
        seen["enabled"] = pat.is_anomaly_enabled()
        seen["log"] = float(pat.log(pat.tensor([0.0])).numpy()[0])  # not raised here

    with pat.detect_anomaly():
        assert pat.is_anomaly_enabled()
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with pat.set_detect_anomaly(False):
            assert not pat.is_anomaly_enabled()
            pat.log(pat.tensor([0.0]))
            with pat.detect_anomaly():
                assert pat.is_anomaly_enabled()
            assert not pat.is_anomaly_enabled()
        assert pat.is_anomaly_enabled()
        with pytest.raises(FloatingPointError):
            pat.log(pat.tensor([0.0]))
    assert not pat.is_anomaly_enabled()
    assert seen == {"enabled": False, "log": -math.inf}

    # restored when the block raises, and when a thread turns it on for itself
    with pytest.raises(FloatingPointError), pat.detect_anomaly():
        pat.log(pat.tensor([0.0]))
    assert not pat.is_anomaly_enabled()
    t = threading.Thread(target=lambda: pat.set_detect_anomaly(True))
    t.start()
    t.join()
    assert not pat.is_anomaly_enabled()

    # a call (not a block) persists; a decorator restores
    pat.set_detect_anomaly(True)
    try:
        assert pat.is_anomaly_enabled()
    finally:
        pat.set_detect_anomaly(False)

    @pat.detect_anomaly()
    def inside():
        return pat.is_anomaly_enabled()

    assert inside() and not pat.is_anomaly_enabled()
    with pytest.raises(TypeError):
        pat.set_detect_anomaly("yes")


def test_mode_off_raises_nothing_and_mode_on_changes_no_result():
    with np.errstate(all="ignore"):
        out = pat.log(pat.tensor(np.array([0.0, -1.0]), requires_grad=True))
    assert out.numpy()[0] == -math.inf and math.isnan(out.numpy()[1])
    x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    pat.where(x.numpy() > 0, pat.sqrt(x), 0.0).sum().backward()
    assert math.isnan(x.grad.numpy()[0])

    runs = []
    for mode in (False, True):
        model, xb, yb = mlp()
        with pat.set_detect_anomaly(mode):
            loss = pat.cross_entropy(model(xb), yb)
            loss.backward()
            jac = pat.jacrev(lambda v: pat.tanh(v @ v.T))(xb[:2].astype(np.float64))
            tan = pat.jvp(lambda v: pat.sigmoid(v).sum(), (xb,), (np.ones_like(xb),))[1]
        runs.append([loss.numpy(), jac, tan] + [p.grad.numpy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_call_sites_are_kept_only_while_the_mode_is_on():
    x = pat.tensor(np.ones(2), requires_grad=True)
    assert (x * 2.0)._node.where is None
    with pat.detect_anomaly():
        y = x * 2.0  # <- kept
    assert y._node.where[0] == __file__ and y._node.where[1] == line_of("# <- kept")


# ---------------------------------------------------------------------------------------
# the C entry points


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 1023, 1024, 1025, 5000])
def test_find_nonfinite_at_every_position(dtype, n):
    code = lib.PAT_F32 if dtype == np.float32 else lib.PAT_F64
    index, value = ffi.new("int64_t *"), ffi.new("double *")
    x = np.linspace(-1e30, 1e30, n).astype(dtype)
    assert lib.pat_find_nonfinite(code, ffi.from_buffer(x), n, index, value) == lib.PAT_OK
    assert index[0] == -1
    for pos in {0, n // 2, n - 1} if n else set():
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[pos] = bad
            y[pos + 1 :] = np.nan  # later ones do not matter: the first is reported
            lib.pat_find_nonfinite(code, ffi.from_buffer(y), n, index, value)
            assert index[0] == pos
            assert (math.isnan(value[0]) and math.isnan(bad)) or value[0] == bad


def test_c_entry_points_refuse_bad_arguments():
    index, value = ffi.new("int64_t *"), ffi.new("double *")
    x = np.zeros(4)
    p = ffi.from_buffer(x)
    assert lib.pat_find_nonfinite(7, p, 4, index, value) == lib.PAT_EBADDTYPE
    assert lib.pat_find_nonfinite(lib.PAT_F64, p, -1, index, value) == lib.PAT_EBADARG
    assert lib.pat_find_nonfinite(lib.PAT_F64, ffi.NULL, 4, index, value) == lib.PAT_ENULL
    assert lib.pat_find_nonfinite(lib.PAT_F64, p, 4, ffi.NULL, value) == lib.PAT_ENULL
    null = ffi.NULL
    rc = lib.pat_tape_backward_checked(null, 0, null, 0, null, null, null, 0, null, null, null)
    assert rc == lib.PAT_ENULL
    an = ffi.new("pat_anomaly *")
    rc = lib.pat_tape_backward_checked(null, 0, null, 0, null, null, null, 0, null, null, an)
    assert rc == lib.PAT_OK
    rc = lib.pat_replay_checked(null, 0, null, 0, null, 0, null, 1, null, 0, null, 0, null, null,
                                null, null, an)
    assert rc == lib.PAT_ENULL
    ins = ffi.new("pat_instr *", {"op": lib.PAT_OP_EXP, "dtype": lib.PAT_F64, "dst": 3,
                                  "src": [0, -1, -1], "aux": -1, "iter": -1})
    bufs = ffi.new("void *[]", [p])
    sizes = ffi.new("int64_t[]", [4])
    assert lib.pat_check_fwd(ins, 0, bufs, sizes, 1, an) == lib.PAT_EBADARG


def test_doctests():
    failures, tried = doctest.testmod(anomaly, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0
