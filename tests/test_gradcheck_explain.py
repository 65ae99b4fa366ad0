"""gradcheck explains itself: the eps sweep, kinks crossed by a finite-difference step,
float32 checks that pass honestly, and wrong derivatives that are still caught."""

import doctest

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import checking


def _mlp_args(dtype=np.float32, seed=0):
    """A 4-8-3 ReLU MLP on 5 samples whose pre-activation z[0, 2] is exactly 0 (dyadic
    values: the float32 dot product is exact)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 4)).astype(dtype)
    w1 = (0.5 * rng.standard_normal((8, 4))).astype(dtype)
    b1 = (0.1 * rng.standard_normal(8)).astype(dtype)
    w2 = (0.5 * rng.standard_normal((3, 8))).astype(dtype)
    b2 = (0.1 * rng.standard_normal(3)).astype(dtype)
    x[0] = [1.0, 0.5, -0.25, 2.0]
    w1[2] = [0.5, 1.0, 2.0, -0.25]
    b1[2] = 0.0
    return [x, w1, b1, w2, b2]


def mlp(x, w1, b1, w2, b2):
    return pat.linear(pat.relu(pat.linear(x, w1, b1)), w2, b2)


class Off(pat.Function):
    """Identity whose backward is wrong by 0.1 % (its jvp is right)."""

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g * 1.001

    @staticmethod
    def jvp(ctx, t):
        return t * 1.0


def mlp_off(x, w1, b1, w2, b2):
    return pat.linear(Off.apply(pat.relu(pat.linear(x, w1, b1))), w2, b2)


# ---- the acceptance test ----------------------------------------------------------------


def test_float32_relu_mlp_at_an_exact_kink_passes_with_a_kink_note():
    args = _mlp_args()
    z = pat.linear(pat.tensor(args[0]), pat.tensor(args[1]), pat.tensor(args[2])).numpy()
    assert z[0, 2] == 0.0  # the point sits on relu's kink
    report = pat.gradcheck(mlp, args)
    assert report, str(report)
    text = str(report)
    assert "kink crossed" in text and "relu #1" in text
    crossed = {(k.input, k.index) for k in report.kinks if k.mode == "reverse"}
    # the entries that move z[0, 2]: row 0 of x, row 2 of w1, b1[2]; at every step
    assert {(0, (0, j)) for j in range(4)} <= crossed
    assert {(1, (2, j)) for j in range(4)} <= crossed
    assert (2, (2,)) in crossed
    assert all(k.everywhere for k in report.kinks if (k.input, k.index) == (2, (2,)))
    # and they really would have failed: the secant averages the two one-sided slopes
    k = next(k for k in report.kinks if (k.input, k.index) == (2, (2,)))
    assert abs(k.analytic - k.numerical) > 1e-2
    # w2 and b2 do not move z: nothing left out there
    assert not report.inputs[3].kinks and not report.inputs[4].kinks
    assert report.dtype == np.float32 and report.eps == "auto"


def test_a_backward_wrong_by_a_thousandth_fails_the_same_check():
    args = _mlp_args()
    with pytest.raises(pat.GradcheckError, match="FAILED"):
        pat.gradcheck(mlp_off, args)
    report = pat.gradcheck(mlp_off, args, raise_exception=False)
    bad = [c for c in report.inputs if not c.passed]
    assert {c.index for c in bad} == {0, 1, 2}  # the inputs upstream of the wrong rule
    for c in bad:
        assert c.max_rel_err == pytest.approx(1e-3, rel=0.2)
        assert c.analytic == pytest.approx(1.001 * c.numerical, rel=2e-4)
    assert all(c.passed for c in report.forward)  # its jvp is right


class OffByOnePercent(Off):
    @staticmethod
    def backward(ctx, g):
        return g * 1.01


def test_a_wrong_backward_is_caught_away_from_kinks_in_float64():
    # float64 uses PyTorch's rtol 1e-3, so the planted error is 1 % here
    args = [a.astype(np.float64) for a in _mlp_args()]
    args[2][2] = 0.3  # away from the kink
    assert pat.gradcheck(mlp, args)
    report = pat.gradcheck(
        lambda x, w1, b1, w2, b2: pat.linear(OffByOnePercent.apply(
            pat.relu(pat.linear(x, w1, b1))), w2, b2), args, raise_exception=False)
    assert not report and not report.kinks


def test_a_kink_crossed_by_the_step_but_not_at_x_is_reported_without_everywhere():
    x = np.array([1e-3, 0.5, -0.7])  # within the large steps of the sweep, not at 0
    report = pat.gradcheck(lambda t: pat.relu(t) * 3.0, x)
    assert report
    sweep = report.inputs[0].sweep
    assert sweep[0].kinks == 1 and sweep[-1].kinks == 0  # 1e-2 crosses, 1e-9 does not
    assert all(not k.everywhere for k in report.kinks)


# ---- the eps sweep ---------------------------------------------------------------------


def test_the_sweep_traces_the_v_curve_and_picks_its_bottom_without_the_answer():
    report = pat.gradcheck(lambda x: pat.exp(pat.tanh(x)) * x, np.array([0.3, -1.2, 0.8]))
    c = report.inputs[0]
    errs = [p.max_abs_err for p in c.sweep]
    eps = [p.eps for p in c.sweep]
    assert eps == list(checking.EPS_GRID[np.dtype(np.float64)])
    bottom = int(np.argmin(errs))
    assert errs[0] > 100 * errs[bottom] and errs[-1] > 100 * errs[bottom]  # a V
    chosen = eps.index(c.eps)
    assert abs(chosen - bottom) <= 1  # the spread finds (nearly) the same bottom
    assert c.max_abs_err < 1e-9
    assert "eps sweep" in str(report) and f"{c.eps:.0e}*" in str(report)


def test_float32_checks_pass_honestly_with_the_default_step_and_tolerances():
    f = lambda x, w: pat.log_softmax(pat.tanh(pat.linear(x, w)))  # noqa: E731
    rng = np.random.default_rng(3)
    args = [rng.standard_normal((4, 5)).astype(np.float32),
            rng.standard_normal((3, 5)).astype(np.float32)]
    report = pat.gradcheck(f, args)
    assert report.atol == 1e-5 and report.rtol == 2e-4
    assert all(1e-4 <= c.eps <= 1e-1 for c in report.checks)  # never float64's 1e-6
    # a fixed float64-sized step is hopeless in float32: the round-off dominates
    assert not pat.gradcheck(f, args, eps=1e-6, raise_exception=False)


def test_fixed_eps_checks_at_that_step_only():
    report = pat.gradcheck(pat.tanh, np.array([0.2, 0.4]), eps=1e-6)
    assert report.eps == 1e-6 and all(c.eps == 1e-6 for c in report.checks)
    assert all(len(c.sweep) == 1 and c.noise == 0.0 for c in report.checks)
    assert "eps sweep" not in str(report)
    with pytest.raises(ValueError, match="positive"):
        pat.gradcheck(pat.tanh, np.array([0.2]), eps=-1.0)
    with pytest.raises(ValueError, match="auto"):
        pat.gradcheck(pat.tanh, np.array([0.2]), eps="best")


def test_report_lists_per_input_errors_worst_index_and_values():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    w = np.array([0.5, -0.5])
    report = pat.gradcheck(lambda x, w: pat.tanh(x * w), [x, w])
    assert len(report.inputs) == 2 and len(report.forward) == 2
    for c in report.checks:
        assert c.worst_index is not None
        assert c.max_abs_err >= 0 and c.max_rel_err >= 0 and c.compared > 0
    assert report.inputs[1].shape == (2,) and len(report.inputs[1].worst_index) == 1
    text = str(report)
    for word in ("reverse mode", "forward mode (jvp", "max abs err", "worst at", "noise"):
        assert word in text


# ---- other kinks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "f,x,op",
    [
        (lambda t: pat.maximum(t, -t), np.array([0.0, 0.4]), "maximum"),  # |t|
        (lambda t: pat.minimum(t, 0.25 * t), np.array([0.0, -0.5]), "minimum"),
        (lambda t: pat.leaky_relu(t, 0.1), np.array([0.0, 2.0]), "leaky_relu"),
        (lambda t: t.max(), np.array([1.0, 1.0, 0.0]), "max"),  # a tie flips winner
        (lambda t: pat.where(t.numpy() > 0, t, 2 * t), np.array([0.5, 1.0]), None),
    ],
)
def test_kinks_of_every_non_differentiable_op_are_detected(f, x, op):
    report = pat.gradcheck(f, x)
    assert report, str(report)
    if op is None:  # where's condition is computed outside the tape: no kink at 0.5
        assert not report.kinks
    else:
        assert any(op in " ".join(k.ops) for k in report.kinks), str(report)
        assert f"{op} #" in str(report)


def test_control_flow_that_changes_the_tape_counts_as_a_kink():
    def f(t):
        if t.numpy()[0] > 0:  # a Python branch on the value: the tape differs across 0
            return pat.relu(t) * 2.0
        return t * 3.0

    report = pat.gradcheck(f, np.array([0.0, 1.0]), raise_exception=False)
    assert any("control flow" in " ".join(k.ops) for k in report.kinks)


# ---- compatibility and plots -----------------------------------------------------------


def test_non_scalar_and_constant_outputs_and_unused_inputs():
    report = pat.gradcheck(lambda a, b: a * 2.0, [np.ones(3), np.ones(2)])
    assert report and report.inputs[1].max_abs_err == 0.0
    with pytest.raises(TypeError, match="must return a Tensor"):
        pat.gradcheck(lambda a: 1.0, np.ones(2))
    with pytest.raises(pat.DTypeError, match="mix"):
        pat.gradcheck(pat.add, [np.ones(2), np.ones(2, np.float32)])


def test_forward_can_be_skipped():
    report = pat.gradcheck(pat.tanh, np.array([0.5]), forward=False)
    assert report.forward is None and "forward mode: not checked" in str(report)


def test_plot_draws_the_sweep(tmp_path):
    pytest.importorskip("matplotlib")
    report = pat.gradcheck(pat.sigmoid, np.array([0.3, -0.2], np.float32))
    path = report.plot(tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG" and path.endswith(".png")


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    report = pat.gradcheck(pat.tanh, np.array([0.3]))
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match=r"pip install 'pyautotape\[plot\]'"):
        report.plot("x.png")


def test_doctests():
    failures, tried = doctest.testmod(checking)
    assert tried > 0 and failures == 0
