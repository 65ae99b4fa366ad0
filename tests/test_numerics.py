"""Numerics the fuzz found: div's partials, max's tie count, accurate float32 sums,
custom Functions returning complex arrays, gradcheck's tolerance and its empty check."""

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.errors import DTypeError


def test_div_denominator_partial_does_not_form_b_squared():
    # -a/b^2 = -1e23 is a float32 number; b^2 = 1e-46 is not (it underflows to 0)
    a = pat.tensor(np.array([1e-23], np.float32), requires_grad=True)
    b = pat.tensor(np.array([1e-23], np.float32), requires_grad=True)
    (a * 2.0 / b).sum().backward()
    assert np.isfinite(b.grad.numpy()).all()
    np.testing.assert_allclose(b.grad.numpy(), [-2e23], rtol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [2e23], rtol=1e-5)
    # the tangent and the second-order rule too
    _, t = pat.jvp(lambda u, v: u / v, (a.numpy(), b.numpy()), (np.zeros(1, np.float32),
                                                                np.ones(1, np.float32)))
    np.testing.assert_allclose(t, [-1e23], rtol=1e-5)


def test_d_x_over_x_is_exactly_zero():
    for dtype in (np.float32, np.float64):
        v = np.array([0.1, 3.7, -2.3, 1e-30, 7e20], dtype)
        x = pat.tensor(v, requires_grad=True)
        (x / x).sum().backward()
        assert (x.grad.numpy() == 0).all(), dtype


def test_div_second_order_at_tiny_denominator():
    # d2(a/b)/db2 = 2a/b^3, d2/dadb = -1/b^2: forward-over-reverse agrees in float64
    a0, b0 = 1.5, 0.25
    h = pat.hessian(lambda a, b: (a / b).sum(), argnums=(0, 1))(np.array([a0]), np.array([b0]))
    np.testing.assert_allclose(np.ravel(h[0][1]), [-1 / b0**2])
    np.testing.assert_allclose(np.ravel(h[1][1]), [2 * a0 / b0**3])


def test_max_tie_count_is_exact_past_float32_integers():
    # 2**24 + 2 tied zeros: a float32 counter stops at 2**24 and the shares sum past 1
    n = 2**24 + 2
    x = pat.tensor(np.zeros(n, np.float32), requires_grad=True)
    pat.max(x).backward()
    g = x.grad.numpy().astype(np.float64)
    assert g.sum() == pytest.approx(1.0, rel=1e-6)
    assert g[0] == np.float32(1.0 / n)


@pytest.mark.parametrize("rows", [10**6, 10**7])
def test_float32_sum_and_bias_gradient_are_accurate(rows):
    x = np.full((rows, 2), 0.1, np.float32)  # constant terms: float32 rounding drifts
    ref = x.astype(np.float64).sum(axis=0)
    got = pat.sum(pat.tensor(x), axis=0).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(pat.mean(pat.tensor(x)).item(), 0.1, rtol=1e-6)
    w = pat.tensor(np.zeros((3, 2), np.float32), requires_grad=True)
    b = pat.tensor(np.zeros(3, np.float32), requires_grad=True)
    dy = np.full((rows, 3), 0.1, np.float32)
    (pat.linear(pat.tensor(x), w, b) * dy).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), dy.astype(np.float64).sum(axis=0), rtol=1e-6)


def test_float32_tangent_of_sum_is_accurate():
    x = np.full((10**6, 2), 0.1, np.float32)
    _, t = pat.jvp(lambda v: pat.sum(v, axis=0), (x,), (x,))
    np.testing.assert_allclose(t, x.astype(np.float64).sum(axis=0), rtol=1e-6)


@pytest.mark.parametrize("bad", [lambda g: g.numpy() + 0j, lambda g: g.numpy().astype(object)])
def test_custom_function_returning_complex_or_object_is_an_error(bad):
    class Bad(pat.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return bad(g)

    x = pat.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(DTypeError, match="Bad.backward.*(complex|object)"):
        Bad.apply(x).sum().backward()


def test_gradcheck_float64_fails_a_gradient_one_tenth_percent_wrong():
    class Off(pat.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2.0 * x * g * 1.001

    x = np.array([0.3, -1.2, 2.5])
    report = pat.gradcheck(Off.apply, x, raise_exception=False, forward=False)
    assert not report and report.status == "FAILED"
    assert pat.gradcheck(lambda t: t * t, x)  # the right gradient still passes


def test_gradcheck_with_every_entry_at_a_kink_checks_nothing():
    report = pat.gradcheck(pat.relu, np.zeros(3), raise_exception=False)
    assert not report.checked and not report
    assert report.status == "no entry checked"
    assert "no entry checked" in str(report) and "passed" not in str(report).split("\n")[0]
    with pytest.raises(pat.GradcheckError, match="no entry checked"):
        pat.gradcheck(pat.relu, np.zeros(3))
