"""Reductions against torch (values and gradients, float32 and float64), at ties and
zeros, against central differences, forward vs reverse, and under pat.compile."""

import math

import numpy as np
import pytest

import pyautotape as pat

torch = pytest.importorskip("torch")

DT = [np.float32, np.float64]
TD = {np.float32: torch.float32, np.float64: torch.float64}


def _r(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# (label, pyautotape fn, torch fn, input)
CASES = [
    ("sum dim", lambda x: x.sum(dim=1), lambda x: x.sum(dim=1), _r((3, 4))),
    ("sum keepdim", lambda x: pat.sum(x, dim=(0, 2), keepdim=True),
     lambda x: x.sum(dim=(0, 2), keepdim=True), _r((2, 3, 4))),
    ("mean dim", lambda x: x.mean(dim=-1, keepdim=True), lambda x: x.mean(-1, keepdim=True),
     _r((3, 4))),
    ("max dim", lambda x: x.max(1).values, lambda x: x.max(1).values, _r((3, 4))),
    ("max dim keepdim", lambda x: pat.max(x, dim=0, keepdim=True)[0],
     lambda x: torch.max(x, dim=0, keepdim=True)[0], _r((3, 4))),
    ("max all", lambda x: x.max(), lambda x: x.max(), _r((3, 4))),
    ("min dim", lambda x: x.min(dim=1).values, lambda x: x.min(dim=1).values, _r((3, 4))),
    ("min all", lambda x: pat.min(x), lambda x: torch.min(x), _r((3, 4))),
    ("amax", lambda x: pat.amax(x, dim=(0, 1)), lambda x: torch.amax(x, dim=(0, 1)),
     _r((3, 4, 2))),
    ("amin", lambda x: x.amin(1, keepdim=True), lambda x: x.amin(1, keepdim=True),
     _r((3, 4))),
    ("prod all", lambda x: x.prod(), lambda x: x.prod(), _r((2, 3))),
    ("prod dim", lambda x: pat.prod(x, dim=1), lambda x: torch.prod(x, dim=1), _r((3, 5))),
    ("prod keepdim", lambda x: x.prod(0, keepdim=True), lambda x: x.prod(0, keepdim=True),
     _r((3, 2))),
    ("var", lambda x: x.var(), lambda x: x.var(), _r((3, 4))),
    ("var dim biased", lambda x: pat.var(x, 1, unbiased=False),
     lambda x: torch.var(x, 1, unbiased=False), _r((3, 4))),
    ("var correction", lambda x: pat.var(x, dim=0, correction=2, keepdim=True),
     lambda x: torch.var(x, dim=0, correction=2, keepdim=True), _r((5, 2))),
    ("std", lambda x: x.std(dim=1), lambda x: x.std(dim=1), _r((3, 4))),
    ("std biased", lambda x: pat.std(x, correction=0), lambda x: torch.std(x, correction=0),
     _r((3, 4))),
    ("norm fro", lambda x: x.norm(), lambda x: x.norm(), _r((3, 4))),
    ("norm 2 dim", lambda x: pat.norm(x, p=2, dim=1), lambda x: torch.norm(x, p=2, dim=1),
     _r((3, 4))),
    ("norm 1", lambda x: pat.norm(x, 1, dim=0, keepdim=True),
     lambda x: torch.norm(x, 1, dim=0, keepdim=True), _r((3, 4))),
    ("norm inf", lambda x: pat.norm(x, math.inf, dim=1), lambda x: torch.norm(x, math.inf, dim=1),
     _r((3, 4))),
    ("norm -inf", lambda x: pat.norm(x, -math.inf), lambda x: torch.norm(x, -math.inf),
     _r((3, 4))),
    ("norm 3", lambda x: pat.norm(x, 3.0, dim=1), lambda x: torch.norm(x, 3.0, dim=1),
     _r((3, 4))),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), _r((3, 4))),
    ("logsumexp tuple", lambda x: pat.logsumexp(x, dim=(0, 1), keepdim=True),
     lambda x: torch.logsumexp(x, dim=(0, 1), keepdim=True), 30 * _r((3, 4))),
    ("cumsum", lambda x: x.cumsum(1), lambda x: x.cumsum(1), _r((3, 7))),
    ("cumsum dim0", lambda x: pat.cumsum(x, dim=0), lambda x: torch.cumsum(x, dim=0),
     _r((5, 2, 3))),
    ("cumprod", lambda x: x.cumprod(dim=-1), lambda x: x.cumprod(dim=-1), _r((3, 6))),
    ("cumprod dim1", lambda x: pat.cumprod(x, 1), lambda x: torch.cumprod(x, 1),
     _r((2, 5, 3))),
    # ties and zeros: the gradient conventions
    ("max dim ties", lambda x: x.max(1).values, lambda x: x.max(1).values,
     np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])),
    ("min dim ties", lambda x: x.min(0).values, lambda x: x.min(0).values,
     np.array([[1.0, 3.0], [1.0, 3.0]])),
    ("amax ties", lambda x: x.amax(1), lambda x: x.amax(1),
     np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])),
    ("amin ties", lambda x: x.amin(), lambda x: x.amin(), np.array([[1.0, 3.0], [1.0, 3.0]])),
    ("max all ties", lambda x: x.max(), lambda x: x.max(), np.array([4.0, 1.0, 4.0])),
    ("norm inf ties", lambda x: pat.norm(x, math.inf), lambda x: torch.norm(x, math.inf),
     np.array([-2.0, 1.0, 2.0])),
    ("prod one zero", lambda x: x.prod(1), lambda x: x.prod(1),
     np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 0.0]])),
    ("prod two zeros", lambda x: x.prod(), lambda x: x.prod(), np.array([0.0, 2.0, 0.0, 5.0])),
    ("cumprod zeros", lambda x: x.cumprod(0), lambda x: x.cumprod(0),
     np.array([2.0, 0.0, 3.0, 0.0, 4.0])),
    ("norm at zero", lambda x: x.norm(dim=1), lambda x: x.norm(dim=1),
     np.array([[0.0, 0.0], [3.0, 4.0]])),
    ("norm 1 at zero", lambda x: x.norm(p=1), lambda x: x.norm(p=1), np.array([0.0, -1.0])),
    ("std const", lambda x: x.std(dim=1), lambda x: x.std(dim=1),
     np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])),
    ("norm 3 at zero", lambda x: x.norm(3.0), lambda x: x.norm(3.0), np.zeros(3)),
    ("var one element", lambda x: x.var(0), lambda x: x.var(0), np.array([[2.0, 3.0]])),
    ("max dim nan", lambda x: x.max(0).values, lambda x: x.max(0).values,
     np.array([1.0, np.nan, 3.0])),
    ("logsumexp +inf", lambda x: x.logsumexp(0), lambda x: x.logsumexp(0),
     np.array([np.inf, 1.0])),
    ("logsumexp -inf", lambda x: x.logsumexp(1), lambda x: x.logsumexp(1),
     np.array([[-np.inf, -np.inf], [0.0, -np.inf]])),
    ("sum 0-d dim 0", lambda x: x.sum(dim=0), lambda x: x.sum(dim=0), np.array(2.5)),
    ("mean 0-d dim -1", lambda x: pat.mean(x, dim=-1, keepdim=True),
     lambda x: torch.mean(x, dim=-1, keepdim=True), np.array(2.5)),
    ("max 0-d dim 0", lambda x: x.max(0).values, lambda x: x.max(0).values, np.array(1.5)),
    ("prod 0-d", lambda x: x.prod(0), lambda x: x.prod(0), np.array(1.5)),
    ("cumsum 0-d", lambda x: x.cumsum(0), lambda x: x.cumsum(0), np.array(1.5)),
    ("prod empty", lambda x: x.prod(1), lambda x: x.prod(1), np.zeros((2, 0))),
]


@pytest.mark.parametrize("dt", DT, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_against_torch(case, dt):
    _, f, g, x0 = case
    x0 = np.asarray(x0, dt)
    x = pat.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    y, yt = f(x), g(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == yt.detach().numpy().dtype
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    v = np.random.default_rng(1).uniform(0.5, 1.5, y.shape).astype(dt)
    (y * pat.tensor(v)).sum().backward()
    (yt * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)


SMOOTH = [c for c in CASES[:30] if "inf" not in c[0]]


@pytest.mark.parametrize("case", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_gradcheck_f64(case):
    _, f, _, x0 = case
    pat.gradcheck(f, [np.asarray(x0, np.float64)])


@pytest.mark.parametrize("case", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_forward_reverse_transposition(case):
    _, f, _, x0 = case
    x0 = np.asarray(x0, np.float64)
    r = np.random.default_rng(2)
    u = r.standard_normal(x0.shape)
    y, ju = pat.jvp(lambda a: f(a), (x0,), (u,))
    w = r.standard_normal(np.shape(y))
    x = pat.tensor(x0, requires_grad=True)
    (f(x) * pat.tensor(w)).sum().backward()
    assert np.isclose(np.sum(w * ju), np.sum(x.grad.numpy() * u), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_second_order(case):
    _, f, g, x0 = case
    x0 = np.asarray(x0, np.float64)
    h = pat.hessian(lambda a: f(a).sum())(x0)
    ht = torch.autograd.functional.hessian(lambda a: g(a).sum(), torch.tensor(x0))
    np.testing.assert_allclose(np.asarray(h).reshape(ht.shape), ht.numpy(), rtol=1e-9,
                               atol=1e-9)


def test_max_dim_is_named_tuple_with_int64_indices():
    x = pat.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, float("nan")]])
    out = x.max(1)
    values, indices = out
    assert type(out).__name__ == "ValuesIndices" and out._fields == ("values", "indices")
    assert indices.dtype == np.int64 and indices.numpy().tolist() == [1, 2]
    t = torch.tensor(x.numpy()).max(1)
    assert t.indices.tolist() == [1, 2]
    np.testing.assert_array_equal(values.numpy(), t.values.numpy())
    assert pat.min(x, dim=1).indices.numpy().tolist() == [0, 2]
    # the NumPy form keeps returning one Tensor
    assert isinstance(pat.max(x, axis=1), pat.Tensor)
    # a Tensor second argument is the elementwise maximum/minimum, as torch
    np.testing.assert_array_equal(pat.max(x, pat.zeros(2, 3)).numpy(),
                                  np.maximum(x.numpy(), 0))
    np.testing.assert_array_equal(pat.min(x, pat.zeros(2, 3)).numpy(),
                                  np.minimum(x.numpy(), 0))


@pytest.mark.parametrize("dt", DT + [np.int64], ids=["f32", "f64", "i64"])
def test_argmax_argmin_against_torch(dt):
    x0 = np.array([[3, 1, 3, 0], [2, 5, 5, -1], [0, 0, 0, 0]], dt)
    x, xt = pat.tensor(x0), torch.tensor(x0)
    for name in ("argmax", "argmin"):
        for kw in ({}, {"dim": 0}, {"dim": 1}, {"dim": 1, "keepdim": True},
                   {"keepdim": True}):
            got = getattr(pat, name)(x, **kw)
            want = getattr(torch, name)(xt, **kw)
            assert got.dtype == np.int64 and got.shape == tuple(want.shape), (name, kw)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            np.testing.assert_array_equal(getattr(x, name)(**kw).numpy(), want.numpy())


def test_truth_reductions_against_torch():
    x0 = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    x, xt = pat.tensor(x0), torch.tensor(x0)
    for kw in ({}, {"dim": 0}, {"dim": 1, "keepdim": True}):
        for name in ("any", "all"):
            got, want = getattr(pat, name)(x, **kw), getattr(torch, name)(xt, **kw)
            assert got.dtype == np.bool_ and got.shape == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        if "keepdim" not in kw:
            got, want = pat.count_nonzero(x, **kw), torch.count_nonzero(xt, **kw)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert x.any().item() is True and (x > 0).all(dim=1).numpy().tolist() == [False, False]
    assert pat.count_nonzero(x, axis=1, keepdims=True).shape == (2, 1)


def test_axis_and_dim_are_aliases():
    x = pat.tensor(_r((3, 4)))
    for f in (pat.sum, pat.mean, pat.amax, pat.amin, pat.prod, pat.var, pat.std,
              pat.logsumexp, pat.any, pat.all, pat.count_nonzero):
        a = f(x, axis=1, keepdims=True).numpy()
        b = f(x, dim=1, keepdim=True).numpy()
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pat.cumsum(x, axis=0).numpy(), pat.cumsum(x, dim=0).numpy())
    with pytest.raises(TypeError, match="sum: got both"):
        pat.sum(x, axis=0, dim=1)


def test_clear_errors():
    x = pat.tensor(_r((2, 3)))
    with pytest.raises(pat.errors.ShapeError, match="max: dim 1 .* is empty"):
        pat.max(pat.zeros(2, 0), 1)
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match="norm: p='nuc'"):
        pat.norm(x, "nuc")
    with pytest.raises(TypeError, match="cumsum: dim is required"):
        pat.cumsum(x)
    with pytest.raises(TypeError, match="var: pass correction= or unbiased="):
        pat.var(x, unbiased=True, correction=1)
    with pytest.raises(pat.errors.ShapeError, match="out of range"):
        x.cumprod(2)
    with pytest.raises(pat.errors.ShapeError, match="argmax"):
        pat.argmax(pat.zeros(0))


REPLAYED = {
    "max dim": lambda x: x.max(1).values.sum(),
    "min dim": lambda x: x.min(0).values.sum(),
    "amin": lambda x: x.amin(1).sum(),
    "norm": lambda x: x.norm(),
    "norm inf": lambda x: x.norm(math.inf, dim=0).sum(),
    "std": lambda x: x.std(1).sum(),
    "var": lambda x: x.var(0, correction=0).sum(),
    "logsumexp": lambda x: x.logsumexp(1).sum(),
    "cumsum": lambda x: x.cumsum(0).sum(),
    "cumprod": lambda x: x.cumprod(1).sum(),
    "prod": lambda x: x.prod(),
    "argmax": lambda x: x.sum() * (x.argmax(1) >= 0).all().double(),
}


def _sgd_step(f, w0):
    w = pat.tensor(w0, requires_grad=True)
    opt = pat.optim.SGD([w], lr=1e-3)

    def step(a):
        y = f(pat.tensor(a) @ w)
        y.backward()
        opt.step()
        opt.zero_grad()
        return y

    return step, w


@pytest.mark.parametrize("spread", [1e-3, 1.0], ids=["same-winners", "new-winners"])
@pytest.mark.parametrize("name", list(REPLAYED))
def test_compile_replay_equals_eager_bitwise(name, spread):
    r = np.random.default_rng(5)
    w0, base = r.standard_normal((4, 4)), r.standard_normal((3, 4))
    batches = [base + spread * r.standard_normal((3, 4)) for _ in range(6)]
    (c, wc), (e, we) = _sgd_step(REPLAYED[name], w0), _sgd_step(REPLAYED[name], w0)
    c = pat.compile(c)
    for a in batches:
        assert c(a).numpy().tobytes() == e(a).numpy().tobytes()
    assert wc.numpy().tobytes() == we.numpy().tobytes()
    if spread < 0.01:  # the winners (and zero tests) hold: every later call replays
        assert c.stats["records"] == 1 and c.stats["replays"] == 5, c.stats


def test_zero_d_comparison_stays_zero_d():
    a = pat.tensor(1.0)
    assert (a > 0).shape == () and pat.where(a > 0, a, 0.0).shape == ()
    assert a.norm().shape == () and pat.tensor([1.0, 2.0]).all().shape == ()


def test_integer_results_under_compile():
    """argmax / comparisons of its int64 result / .numpy() of it inside a compiled step."""
    w = pat.tensor(np.eye(3), requires_grad=True)

    def step(a):
        z = pat.tensor(a) @ w
        idx = z.argmax(1)
        keep = (idx == 0).double()
        return (z.sum(1) * keep).sum(), idx.numpy()

    c = pat.compile(step)
    for a in (np.diag([3.0, 1.0, 1.0]), np.diag([1.0, 3.0, 1.0])):
        got, want = c(a), step(a)
        assert got[0].item() == want[0].item()
        np.testing.assert_array_equal(got[1], want[1])


INT_CALLS = [
    ("sum", {}), ("sum", {"dim": 1}), ("sum", {"dim": 0, "keepdim": True}), ("prod", {}),
    ("prod", {"dim": 1}), ("amax", {"dim": 0}), ("amin", {}), ("max", {}), ("min", {}),
    ("cumsum", {"dim": 1}), ("cumprod", {"dim": 0}),
]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_], ids=["i64", "i32", "bool"])
@pytest.mark.parametrize("call", INT_CALLS, ids=[f"{n}{sorted(k.items())}" for n, k in INT_CALLS])
def test_integer_and_bool_reductions_as_torch(call, dtype):
    name, kw = call
    x0 = np.array([[1, 5, 0], [4, 2, 6]]).astype(dtype)
    got = getattr(pat.tensor(x0, dtype=dtype), name)(**kw)
    want = getattr(torch.tensor(x0), name)(**kw)
    assert got.dtype == want.numpy().dtype and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", [np.int64, np.bool_], ids=["i64", "bool"])
def test_integer_max_dim_as_torch(dtype):
    x0 = np.array([[1, 5, 5], [4, 2, 6]]).astype(dtype)
    for name in ("max", "min"):
        for kw in ({"dim": 1}, {"dim": 0, "keepdim": True}):
            got = getattr(pat.tensor(x0, dtype=dtype), name)(**kw)
            want = getattr(torch.tensor(x0), name)(**kw)
            np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
            assert got.values.dtype == want.values.numpy().dtype
