"""pat.compile: replay equals eager bitwise, guards retape, new signatures record anew,
and the recording's memory is reported."""

import numpy as np
import pytest

import pyautotape as pat


def _digits_setup(dtype, seed=0, opt="sgd"):
    X, y = pat.data.load_digits()
    X = (X / 16).astype(dtype)
    pat.manual_seed(seed)
    model = pat.nn.MLP([64, 32, 32, 10], dtype=dtype)
    if opt == "sgd":
        optim = pat.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optim = pat.optim.Adam(model.parameters(), lr=1e-2)
    return X, y, model, optim


def _step_fn(model, optim):
    def step(xb, yb):
        loss = pat.cross_entropy(model(pat.tensor(xb)), yb)
        loss.backward()
        optim.step()
        optim.zero_grad()
        return loss

    return step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_replay_equals_eager_bitwise_over_50_steps(dtype, opt):
    X, y, m1, o1 = _digits_setup(dtype, opt=opt)
    _, _, m2, o2 = _digits_setup(dtype, opt=opt)
    eager = _step_fn(m1, o1)
    compiled = pat.compile(_step_fn(m2, o2))
    for i in range(50):
        sl = slice((i * 32) % 1600, (i * 32) % 1600 + 32)
        l1 = eager(X[sl], y[sl])
        l2 = compiled(X[sl], y[sl])
        assert l1.numpy().tobytes() == l2.numpy().tobytes(), i
    for (n, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes(), n
    assert compiled.stats["records"] == 1 and compiled.stats["replays"] == 49


def test_new_batch_size_records_a_new_tape():
    X, y, model, optim = _digits_setup(np.float32)
    step = pat.compile(_step_fn(model, optim))
    step(X[:32], y[:32])
    step(X[32:64], y[32:64])
    step(X[:16], y[:16])  # new shape
    step(X[16:32], y[16:32])
    assert step.stats["records"] == 2 and step.stats["replays"] == 2


def test_guard_flip_retapes():
    w = pat.tensor(np.array([1.0]), requires_grad=True)

    @pat.compile
    def f(x):
        t = pat.tensor(x) * w
        if t.item() > 0:  # a guard on the comparison
            return t * 2
        return t * 3

    assert f(np.array([1.0])).item() == 2.0
    assert f(np.array([2.0])).item() == 4.0  # replayed: the guard holds
    assert f(np.array([-1.0])).item() == -3.0  # guard flips: recorded again
    assert f.stats["retapes"] == 1 and f.stats["records"] == 2


def test_strict_raises_retape_required():
    @pat.compile(strict=True)
    def f(x):
        t = pat.tensor(x)
        return t * 2 if bool((t > 0).all()) else t

    f(np.array([1.0]))
    with pytest.raises(pat.RetapeRequired):
        f(np.array([-1.0]))


def test_parameter_changed_in_place_is_seen():
    w = pat.tensor(np.array([2.0]), requires_grad=True)

    @pat.compile
    def f(x):
        return pat.tensor(x) * w

    f(np.array([1.0]))
    w.data[0] = 5.0
    assert f(np.array([1.0])).item() == 5.0


def test_returned_item_is_fresh_and_learning_rate_changes_apply():
    X, y, model, optim = _digits_setup(np.float64)

    @pat.compile
    def step(xb, yb):
        loss = pat.cross_entropy(model(pat.tensor(xb)), yb)
        loss.backward()
        optim.step()
        optim.zero_grad()
        return loss.item()

    a = step(X[:64], y[:64])
    b = step(X[:64], y[:64])
    assert isinstance(b, float) and a != b
    w = next(iter(model.parameters())).numpy()
    optim.param_groups[0]["lr"] = 0.0
    step(X[:64], y[:64])
    np.testing.assert_array_equal(next(iter(model.parameters())).numpy(), w)
    assert step.stats["records"] == 1


def test_memory_report_counts_parameters_and_saved_activations():
    X, y, model, optim = _digits_setup(np.float32)
    step = pat.compile(_step_fn(model, optim))
    step(X[:32], y[:32])
    rep = step.memory_report()
    n_params = sum(p.size for p in model.parameters())
    assert rep["parameters"] == 4 * n_params
    assert rep["gradients"] == 4 * n_params
    assert rep["optimizer_state"] == 4 * n_params  # momentum buffers
    assert rep["saved_for_backward"] > 0
    assert rep["total"] == sum(v for k, v in rep.items() if k not in ("total", "planned_reuse"))


def test_bad_label_in_a_replayed_batch_is_a_value_error():
    X, y, model, optim = _digits_setup(np.float32)
    step = pat.compile(_step_fn(model, optim))
    step(X[:8], y[:8])
    bad = y[:8].copy()
    bad[3] = 10
    with pytest.raises(ValueError, match="label"):
        step(X[:8], bad)


def test_cache_is_bounded_least_recently_used_first_out():
    w = pat.tensor(np.array([2.0]), requires_grad=True)

    @pat.compile(cache_size=2)
    def f(x):
        return (pat.tensor(x) * w).sum()

    for n in (1, 2, 1, 3):  # shapes (1,), (2,), (1,) again, then (3,) evicts (2,)
        f(np.ones(n))
    assert f.stats["records"] == 3 and f.stats["replays"] == 1
    assert [k[0][1] for k in f.plans] == [(1,), (3,)]


def test_tensor_arguments_and_nested_results():
    w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)

    @pat.compile
    def f(x, scale):
        y = x * w * scale
        return {"y": y, "sum": y.sum().item(), "pair": (y.max(), 7)}

    a = pat.tensor(np.array([1.0, 1.0]))
    first = f(a, 3.0)
    second = f(pat.tensor(np.array([2.0, 0.5])), 3.0)
    np.testing.assert_array_equal(first["y"].numpy(), [3.0, 6.0])
    np.testing.assert_array_equal(second["y"].numpy(), [6.0, 3.0])
    assert second["sum"] == 9.0 and second["pair"][0].item() == 6.0 and second["pair"][1] == 7
    np.testing.assert_array_equal(a.numpy(), [1.0, 1.0])  # the caller's tensor is untouched
    f(a, 4.0)  # a new value of a non-array argument records a new tape
    assert f.stats["records"] == 2


def test_pytorch_order_zero_grad_first_replays():
    # opt.zero_grad(); loss.backward(); opt.step() -- the order most PyTorch code uses
    X, y, m1, o1 = _digits_setup(np.float64)
    _, _, m2, o2 = _digits_setup(np.float64)

    def make(model, optim):
        def step(xb, yb):
            optim.zero_grad()
            loss = pat.cross_entropy(model(pat.tensor(xb)), yb)
            loss.backward()
            optim.step()
            return loss

        return step

    eager, compiled = make(m1, o1), pat.compile(make(m2, o2))
    for i in range(20):
        sl = slice(i * 16, i * 16 + 16)
        assert eager(X[sl], y[sl]).item() == compiled(X[sl], y[sl]).item()
    assert compiled.stats["records"] == 1 and compiled.stats["replays"] == 19
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())
        np.testing.assert_array_equal(p1.grad.numpy(), p2.grad.numpy())
