"""In-place updates with PyTorch's semantics, version counters and the read-only lock."""

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.errors import ShapeError, TapeError


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    return x, y


def test_no_grad_loop_over_params_really_trains():
    x, y = _data()
    w = pat.tensor(np.zeros(3), requires_grad=True)
    b = pat.tensor(np.zeros(1), requires_grad=True)
    params = [w, b]
    first = None
    for _ in range(200):
        pred = pat.tensor(x) @ w + b
        loss = ((pred - pat.tensor(y)) ** 2).mean()
        first = loss.item() if first is None else first
        for p in params:
            p.grad = None
        loss.backward()
        with pat.no_grad():
            for p in params:
                p -= 0.1 * p.grad
    assert w.requires_grad and b.requires_grad and w.is_leaf
    assert loss.item() < 1e-6 < first
    np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 0.5], atol=1e-3)


def test_data_update_and_grad_zero():
    w = pat.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.25 * w.grad
    np.testing.assert_allclose(w.numpy(), [0.5, 1.0])
    g = w.grad
    assert g.zero_() is g and not g.numpy().any()
    (w * w).sum().backward()  # accumulates into the zeroed buffer
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])


def test_every_method_matches_numpy_under_no_grad():
    a = np.array([[1.0, -2.0], [3.0, 4.0]])
    for name, args, ref in [
        ("add_", (2.0,), a + 2), ("sub_", (np.ones(2),), a - 1), ("mul_", (3.0,), a * 3),
        ("div_", (2.0,), a / 2), ("zero_", (), 0 * a), ("fill_", (7.0,), 0 * a + 7),
        ("copy_", (np.array([5.0, 6.0]),), np.array([[5.0, 6.0], [5.0, 6.0]])),
        ("clamp_", (-1.0, 2.0), np.clip(a, -1, 2)),
    ]:
        t = pat.tensor(a, requires_grad=True)
        buf = t.data
        with pat.no_grad():
            assert getattr(t, name)(*args) is t
        np.testing.assert_array_equal(t.numpy(), ref, err_msg=name)
        assert t.data is buf and t.requires_grad and t.is_leaf  # truly in place
    t = pat.tensor(a)
    t.add_(pat.tensor(np.ones(2)), alpha=2)
    np.testing.assert_array_equal(t.numpy(), a + 2)
    with pytest.raises(ShapeError, match="in place"):
        pat.tensor([1.0]).add_(np.ones(3))


def test_leaf_requiring_grad_is_refused_with_grad_on():
    w = pat.tensor([1.0], requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.clamp_(0, 1)):
        with pytest.raises(TapeError, match="leaf Tensor that requires grad.*in-place"):
            op()
    with pytest.raises(TapeError, match="leaf Tensor that requires grad"):
        w -= 1.0
    np.testing.assert_array_equal(w.numpy(), [1.0])  # a refused call changes nothing


def test_non_leaf_in_place_is_recorded():
    x = pat.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    y = x * x
    y += x          # y = x² + x
    y.mul_(2.0)     # 2x² + 2x
    y.clamp_(max=20.0)
    y.sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.where(2 * xv**2 + 2 * xv < 20, 4 * xv + 2, 0))
    z = pat.tensor(np.zeros(3))  # a plain tensor updated by one that requires grad
    x.grad = None
    z += x * 3.0
    assert z.requires_grad and not z.is_leaf
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_saved_value_changed_in_place_refuses_backward_naming_the_op():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    e = pat.exp(x)
    v0 = e._version
    with pat.no_grad():
        e.mul_(2.0)
    assert e._version == v0 + 1
    with pytest.raises(TapeError, match="modified in place by 'mul_'"):
        e.sum().backward()
    c = pat.tensor([1.0, 2.0])
    y = (c * x).sum()  # mul saves the constant c
    c += 1.0
    with pytest.raises(TapeError, match="by 'add_'"):
        y.backward()


def test_ndarray_operators_still_defer_to_tensor():
    w = pat.tensor([1.0, 2.0], requires_grad=True)
    r = np.ones(2, np.float32) - w
    assert isinstance(r, pat.Tensor) and r.requires_grad
    np.testing.assert_array_equal(np.array([0.0, 5.0]) < w, [True, False])
    with pytest.raises(TypeError):
        np.exp(w)


def test_view_of_data_taken_before_recording_cannot_change_a_saved_value():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    v = x.data[...]
    y = (x * x).sum()
    v[:] = 100  # the live value changes, the value the tape saved does not
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.numpy(), [100.0, 100.0])


def test_view_write_between_two_reads_refuses_backward():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    v = x.data[:]
    a = x * x
    v[0] = 5.0
    b = x * x
    with pytest.raises(TapeError, match="changed since an earlier op read it"):
        (a + b).sum().backward()


def test_data_taken_while_locked_is_read_only():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    y = pat.exp(x)
    with pytest.raises(ValueError, match="read-only"):
        y.data[0] = 3.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_in_place_update_inside_compile_matches_eager():
    x, y = _data()

    def make():
        w = pat.tensor(np.zeros(3), requires_grad=True)

        def step(xb, yb):
            loss = ((pat.tensor(xb) @ w - pat.tensor(yb)) ** 2).mean()
            loss.backward()
            with pat.no_grad():
                for p in (w,):
                    p -= 0.1 * p.grad
                    p.grad.zero_()
            return loss

        return w, step

    w_e, eager = make()
    w_c, comp = make()
    comp = pat.compile(comp)
    for i in range(4):
        le = eager(x[i::2], y[i::2]).item()
        lc = comp(x[i::2], y[i::2]).item()
        assert le == lc
    np.testing.assert_array_equal(w_e.numpy(), w_c.numpy())
    assert w_c.numpy().any()
