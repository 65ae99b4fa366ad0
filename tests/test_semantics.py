"""Pinned semantics at the edges (documented in docs/reliability.md, "Pinned semantics").

Each test fixes one behaviour a user could reasonably wonder about, in both dtypes where
it matters, so a kernel rewrite cannot change it silently: ReLU (and its relatives) at NaN,
the derivatives of log and sqrt at 0, what ``where`` sends to the branch it did not pick,
reductions over nothing, and writes into arrays the tape still needs.
"""

import numpy as np
import pytest

import pyautotape as pat

NAN, INF = np.nan, np.inf
DTYPES = [np.float32, np.float64]


def _grad(fn, x, cot=None, **kw):
    """(output, gradient) of fn at x for the cotangent ``cot`` (ones by default)."""
    t = pat.tensor(x, requires_grad=True, **kw)
    y = fn(t)
    y.backward(np.ones(y.shape, y.dtype) if cot is None else np.asarray(cot, y.dtype))
    return y.numpy(), t.grad.numpy()


# -- ReLU at NaN ----------------------------------------------------------------------------


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_relu_at_nan_is_nan_and_passes_the_upstream_gradient(dt, s):
    x = np.array([NAN, -1.0, 0.0, 2.0], dt)
    y, g = _grad(lambda t: pat.relu(t, subgradient=s), x, cot=[3.0, 3.0, 3.0, 3.0])
    assert np.isnan(y[0]) and y.dtype == dt
    np.testing.assert_array_equal(y[1:], [0.0, 0.0, 2.0])
    # NaN counts as "above the kink", as PyTorch's threshold_backward (y <= 0 ? 0 : dy)
    np.testing.assert_array_equal(g, np.array([3.0, 0.0, 3.0 * s, 3.0], dt))


def test_relu_at_nan_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([NAN, -1.0, 0.0, 2.0])
    y, g = _grad(pat.relu, x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tx)
    ty.backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(g, tx.grad.numpy())


def test_relu_does_not_leak_a_nan_upstream_gradient_into_dead_units():
    # a select, not dy * mask: dy = NaN at a dead unit gives exactly 0, not 0 * NaN
    x = np.array([-1.0, 2.0])
    _, g = _grad(pat.relu, x, cot=[NAN, 1.0])
    np.testing.assert_array_equal(g, [0.0, 1.0])


@pytest.mark.parametrize("dt", DTYPES)
def test_maximum_and_leaky_relu_at_nan_follow_relu(dt):
    x = np.array([NAN, -1.0, 2.0], dt)
    y, g = _grad(lambda t: pat.maximum(t, 0.0), x)
    assert np.isnan(y[0])
    np.testing.assert_array_equal(g, np.array([1.0, 0.0, 1.0], dt))
    y, g = _grad(lambda t: pat.leaky_relu(t, 0.1), x)
    assert np.isnan(y[0])
    np.testing.assert_array_equal(g, np.array([1.0, 0.1, 1.0], dt))


# -- log, sqrt, pow at 0: the exact derivative, as JAX --------------------------------------


@pytest.mark.parametrize("dt", DTYPES)
def test_log_at_zero_is_minus_inf_with_gradient_plus_inf(dt):
    y, g = _grad(pat.log, np.array([0.0, 1.0], dt))
    np.testing.assert_array_equal(y, np.array([-INF, 0.0], dt))
    np.testing.assert_array_equal(g, np.array([INF, 1.0], dt))


@pytest.mark.parametrize("dt", DTYPES)
def test_sqrt_at_zero_has_gradient_plus_inf(dt):
    y, g = _grad(pat.sqrt, np.array([0.0, 4.0], dt))
    np.testing.assert_array_equal(y, np.array([0.0, 2.0], dt))
    np.testing.assert_array_equal(g, np.array([INF, 0.25], dt))


def test_pow_at_zero():
    # x ** 0.5 at 0: +inf as sqrt; x ** 2 at 0: 0; d(x ** e)/de at x = 0: 0, not NaN
    _, g = _grad(lambda t: t**0.5, np.array([0.0]))
    assert g[0] == INF
    _, g = _grad(lambda t: t**2.0, np.array([0.0]))
    assert g[0] == 0.0
    e = pat.tensor(np.array([2.0]), requires_grad=True)
    (pat.tensor(np.array([0.0])) ** e).backward(np.ones(1))
    assert e.grad.numpy()[0] == 0.0


def test_log_and_sqrt_at_zero_match_jax_and_pytorch():
    torch = pytest.importorskip("torch")
    for fn, tfn in ((pat.log, torch.log), (pat.sqrt, torch.sqrt)):
        _, g = _grad(fn, np.array([0.0]))
        tx = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        tfn(tx).backward(torch.ones(1, dtype=torch.float64))
        np.testing.assert_array_equal(g, tx.grad.numpy())


# -- where: the branch not taken gets exactly 0 ---------------------------------------------


@pytest.mark.parametrize("dt", DTYPES)
def test_where_sends_exactly_zero_to_the_branch_not_taken(dt):
    a = pat.tensor(np.array([1.0, 2.0], dt), requires_grad=True)
    b = pat.tensor(np.array([3.0, 4.0], dt), requires_grad=True)
    y = pat.where(np.array([True, False]), a, b)
    # upstream inf/NaN reaches only the branch that was taken: a select, not a multiply
    y.backward(np.array([INF, NAN], dt))
    np.testing.assert_array_equal(a.grad.numpy(), np.array([INF, 0.0], dt))
    assert b.grad.numpy()[0] == 0.0 and np.isnan(b.grad.numpy()[1])


def test_where_forward_hides_an_infinite_branch_and_its_adjoint_is_zero():
    x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    branch = pat.log(x)  # -inf at 0
    y = pat.where(x.numpy() > 0, branch, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, np.log(4.0)])
    (g_branch,) = pat.autograd.grad(y.sum(), [branch], retain_graph=True)
    np.testing.assert_array_equal(g_branch.numpy(), [0.0, 1.0])  # exactly 0, not NaN


def test_where_over_log_at_zero_is_nan_as_jax_and_the_double_where_fixes_it():
    # The zero that where sends back still meets log's own derivative, 1/0 = inf, and
    # 0 * inf = NaN: the same answer as JAX and PyTorch. Guarding the input as well (the
    # "double where") keeps the gradient finite.
    x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    pat.where(x.numpy() > 0, pat.log(x), 0.0).sum().backward()
    g = x.grad.numpy()
    assert np.isnan(g[0]) and g[1] == 0.25
    x.grad = None
    mask = x.numpy() > 0
    pat.where(mask, pat.log(pat.where(mask, x, 1.0)), 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.25])


def test_where_over_log_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = pat.tensor(np.array([0.0, 4.0]), requires_grad=True)
    pat.where(x.numpy() > 0, pat.log(x), 0.0).sum().backward()
    tx = torch.tensor([0.0, 4.0], dtype=torch.float64, requires_grad=True)
    torch.where(tx > 0, torch.log(tx), torch.zeros(2, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


# -- reductions over nothing ----------------------------------------------------------------


@pytest.mark.parametrize("dt", DTYPES)
def test_mean_of_empty_is_nan_with_an_empty_gradient(dt, recwarn):
    y, g = _grad(pat.mean, np.zeros(0, dt))
    assert y.shape == () and np.isnan(y) and y.dtype == dt
    assert g.shape == (0,) and g.dtype == dt
    y, g = _grad(lambda t: pat.mean(t, axis=1), np.zeros((3, 0), dt))
    assert y.shape == (3,) and np.isnan(y).all()
    assert g.shape == (3, 0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_sum_of_empty_is_zero_and_max_of_empty_is_an_error():
    y, g = _grad(pat.sum, np.zeros((0, 2)))
    assert y == 0.0 and g.shape == (0, 2)
    with pytest.raises(pat.ShapeError, match="no identity"):
        pat.max(pat.tensor(np.zeros(0)))
    y, g = _grad(lambda t: pat.max(t, axis=0), np.zeros((2, 0)))  # nothing to reduce into
    assert y.shape == (0,) and g.shape == (2, 0)


def test_losses_over_an_empty_batch_are_nan_like_mean():
    logits = pat.tensor(np.zeros((0, 3)), requires_grad=True)
    loss = pat.cross_entropy(logits, np.zeros(0, np.int64))
    assert np.isnan(loss.item())
    loss.backward()
    assert logits.grad.shape == (0, 3)
    assert pat.cross_entropy(logits, np.zeros(0, np.int64), reduction="sum").item() == 0.0
    assert np.isnan(pat.mse_loss(pat.tensor(np.zeros(0)), np.zeros(0)).item())


# -- writes into arrays the tape still needs ------------------------------------------------


def test_user_write_into_a_saved_array_is_refused_at_the_write():
    w = pat.tensor(np.ones(3), requires_grad=True)
    y = (w * w).sum()  # mul keeps w for its backward
    for write in (lambda: w.data.__setitem__(0, 5.0), lambda: np.copyto(w.data, 2.0)):
        with pytest.raises(ValueError, match="read-only"):
            write()
    with pytest.raises(ValueError, match="read-only"):
        w.data += 1.0
    d = w.detach()  # shares the buffer, so it shares the lock
    with pytest.raises(ValueError, match="read-only"):
        d.data[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])  # from the unmodified w
    w.data[0] = 5.0  # the tape was released: writable again


def test_optimizer_write_before_backward_is_detected_by_the_version_counter():
    w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = pat.optim.SGD([w], lr=0.1)
    first = (w * 3.0).sum()  # keeps nothing of w
    second = (w * w).sum()  # keeps w
    first.backward()
    opt.step()  # writes w in place through the optimizer
    with pytest.raises(pat.TapeError, match="modified in place"):
        second.backward()


def test_rebinding_data_keeps_the_recorded_values():
    # assigning .data replaces the buffer (as PyTorch): the tape keeps the old array
    w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (w * w).sum()
    w.data = np.array([10.0, 20.0])
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])


def test_user_arrays_are_copied_so_later_writes_do_not_reach_the_tape():
    src = np.array([1.0, 2.0])
    w = pat.tensor(src, requires_grad=True)
    c = np.array([3.0, 4.0])
    y = (w * c).sum()  # the constant c is copied too
    src[:] = 100.0
    c[:] = 100.0
    assert src.flags.writeable and c.flags.writeable  # never locked: they are not saved
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])
