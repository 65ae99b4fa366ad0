"""The elementwise math and activation ops against PyTorch (values, gradients, second
derivatives, the values at kinks), float32 and float64, and the composite ops (clamp,
hardtanh, relu6, lerp, outer, dot, addmm, floor_divide) that have no OpSpec of their own."""

import numpy as np
import pytest

import pyautotape as pat

torch = pytest.importorskip("torch")
F = torch.nn.functional
DTYPES = [np.float32, np.float64]

# name -> (torch function, domain, kwargs); pat.<name> takes the same kwargs
UNARY = {
    "abs": (torch.abs, "real", {}), "sign": (torch.sign, "real", {}),
    "sin": (torch.sin, "real", {}), "cos": (torch.cos, "real", {}),
    "tan": (torch.tan, "unit", {}), "asin": (torch.asin, "unit", {}),
    "acos": (torch.acos, "unit", {}), "atan": (torch.atan, "real", {}),
    "sinh": (torch.sinh, "real", {}), "cosh": (torch.cosh, "real", {}),
    "asinh": (torch.asinh, "real", {}), "acosh": (torch.acosh, "above1", {}),
    "atanh": (torch.atanh, "unit", {}), "exp2": (torch.exp2, "real", {}),
    "expm1": (torch.expm1, "real", {}), "log2": (torch.log2, "positive", {}),
    "log10": (torch.log10, "positive", {}), "log1p": (torch.log1p, "positive", {}),
    "square": (torch.square, "real", {}), "rsqrt": (torch.rsqrt, "positive", {}),
    "reciprocal": (torch.reciprocal, "away", {}), "floor": (torch.floor, "wide", {}),
    "ceil": (torch.ceil, "wide", {}), "round": (torch.round, "wide", {}),
    "trunc": (torch.trunc, "wide", {}), "erf": (torch.erf, "real", {}),
    "gelu": (F.gelu, "wide", {}), "silu": (F.silu, "wide", {}),
    "softplus": (F.softplus, "wide", {}), "elu": (F.elu, "wide", {}),
    "selu": (F.selu, "wide", {}), "celu": (F.celu, "wide", {}),
    "mish": (F.mish, "wide", {}), "hardsigmoid": (F.hardsigmoid, "wide", {}),
    "hardswish": (F.hardswish, "wide", {}), "logsigmoid": (F.logsigmoid, "wide", {}),
    "softsign": (F.softsign, "wide", {}), "hardtanh": (F.hardtanh, "wide", {}),
    "relu6": (F.relu6, "wide", {}),
}
VARIANTS = [
    ("gelu", {"approximate": "tanh"}), ("softplus", {"beta": 2.0, "threshold": 3.0}),
    ("softplus", {"beta": 0.5}), ("elu", {"alpha": 0.3}), ("celu", {"alpha": 2.0}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
]
# the points where a derivative switches, plus the specials each op is checked at
KINKS = {
    "abs": [0.0, -0.0], "hardsigmoid": [-3.0, 3.0], "hardswish": [-3.0, 3.0],
    "elu": [0.0], "selu": [0.0], "celu": [0.0], "hardtanh": [-1.0, 1.0],
    "relu6": [0.0, 6.0], "softplus": [20.0], "floor": [1.0], "round": [0.5, 1.5, 2.5],
    "softsign": [0.0],
}
DOMAIN = {
    "real": lambda r, n: r.standard_normal(n),
    "wide": lambda r, n: 4 * r.standard_normal(n),
    "unit": lambda r, n: r.uniform(-0.9, 0.9, n),
    "positive": lambda r, n: r.uniform(0.2, 3.0, n),
    "above1": lambda r, n: r.uniform(1.1, 4.0, n),
    "away": lambda r, n: r.choice([-1.0, 1.0], n) * r.uniform(0.2, 2.0, n),
}


def _tol(dt):
    return {"rtol": 2e-5, "atol": 2e-6} if dt == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def _both(name, kw, x, tfn):
    """(pat value, pat gradient, torch value, torch gradient) of sum(f(x) * w)."""
    w = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
    p = pat.tensor(x, requires_grad=True)
    (getattr(pat, name)(p, **kw) * w).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    yt = tfn(t, **kw)
    (yt * torch.tensor(w)).sum().backward()
    return getattr(pat, name)(pat.tensor(x), **kw).numpy(), p.grad.numpy(), \
        yt.detach().numpy(), t.grad.numpy()


CASES = [(n, {}) for n in UNARY] + VARIANTS


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_matches_torch(name, kw, dtype):
    tfn, domain, _ = UNARY[name]
    x = DOMAIN[domain](np.random.default_rng(0), 64).astype(dtype)
    y, g, yt, gt = _both(name, kw, x, tfn)
    np.testing.assert_allclose(y, yt, **_tol(dtype))
    # torch's float64 hardsigmoid backward multiplies by a float32 1/6
    tol = {"rtol": 1e-7} if name == "hardsigmoid" and dtype == np.float64 else _tol(dtype)
    np.testing.assert_allclose(g, gt, **tol)


@pytest.mark.parametrize("name", sorted(KINKS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_kinks_take_torch_s_value_exactly(name, dtype):
    tfn = UNARY[name][0]
    x = np.array(KINKS[name] + [np.nan], dtype)
    if name in ("abs", "sign"):
        x = x[:-1]  # torch.sign(nan) is 0; pyautotape keeps NaN, as NumPy and JAX
    p = pat.tensor(x, requires_grad=True)
    getattr(pat, name)(p).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    tfn(t).sum().backward()
    # the branch taken at each point, to an ulp (softplus: sigmoid(x) vs torch's z/(z+1))
    np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=3e-16, atol=0)


SECOND = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
          "atanh", "exp2", "expm1", "log2", "log10", "log1p", "square", "rsqrt", "reciprocal",
          "erf", "gelu", "silu", "softplus", "elu", "selu", "celu", "mish", "hardswish",
          "logsigmoid", "softsign"]


@pytest.mark.parametrize("name", SECOND)
def test_second_derivative_matches_torch(name):
    tfn, domain, _ = UNARY[name]
    dom = "away" if domain == "wide" else domain  # off the kinks of elu/selu/celu/hardswish
    x = DOMAIN[dom](np.random.default_rng(2), 16)
    h = pat.hessian(lambda v: getattr(pat, name)(v).sum())(x)
    th = torch.autograd.functional.hessian(lambda v: tfn(v).sum(), torch.tensor(x))
    np.testing.assert_allclose(h, th.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"approximate": "tanh"}])
def test_gelu_second_derivative_both_forms(kw):
    x = 3 * np.random.default_rng(3).standard_normal(12)
    h = pat.hessian(lambda v: pat.gelu(v, **kw).sum())(x)
    th = torch.autograd.functional.hessian(lambda v: F.gelu(v, **kw).sum(), torch.tensor(x))
    np.testing.assert_allclose(h, th.numpy(), rtol=1e-10, atol=1e-12)


BINARY = {"atan2": torch.atan2, "fmod": torch.fmod, "remainder": torch.remainder}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_matches_torch_with_broadcasting(name, dtype):
    r = np.random.default_rng(4)
    a = (3 * r.standard_normal((5, 4))).astype(dtype)
    b = (r.choice([-1.0, 1.0], 4) * r.uniform(0.3, 2.0, 4)).astype(dtype)
    pa, pb = pat.tensor(a, requires_grad=True), pat.tensor(b, requires_grad=True)
    y = getattr(pat, name)(pa, pb)
    y.sum().backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = BINARY[name](ta, tb)
    yt.sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), **_tol(dtype))
    np.testing.assert_allclose(pb.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BINARY) + ["floor_divide"])
def test_binary_takes_scalars_and_arrays_on_either_side(name):
    x = np.array([-3.5, 2.25, 7.0])
    tfn = BINARY.get(name, torch.floor_divide)
    f = getattr(pat, name)
    for a, b in ((pat.tensor(x), 2.0), (2.0, pat.tensor(x)), (x, pat.tensor(x[::-1].copy())),
                 (pat.tensor(x), x[::-1].copy())):
        ta = torch.tensor(np.asarray(a.numpy() if isinstance(a, pat.Tensor) else a))
        tb = torch.tensor(np.asarray(b.numpy() if isinstance(b, pat.Tensor) else b))
        np.testing.assert_allclose(f(a, b).numpy(), tfn(ta, tb).numpy(), rtol=1e-12)


def test_atan2_second_order_matches_torch():
    r = np.random.default_rng(6)
    a, b = r.standard_normal(5), r.standard_normal(5)
    h = pat.hessian(lambda v: pat.atan2(v[:5], v[5:]).sum())(np.concatenate([a, b]))
    th = torch.autograd.functional.hessian(lambda v: torch.atan2(v[:5], v[5:]).sum(),
                                           torch.tensor(np.concatenate([a, b])))
    np.testing.assert_allclose(h, th.numpy(), rtol=1e-10, atol=1e-12)


def test_floor_divide_is_not_differentiable():
    x = pat.tensor([7.0, -7.0], requires_grad=True)
    y = pat.floor_divide(x, 2)
    assert not y.requires_grad and y.numpy().tolist() == [3.0, -4.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_matches_torch_with_scalar_and_tensor_bounds(dtype):
    x = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan], dtype)
    for lo, hi in ((-1.0, 1.0), (None, 0.5), (0.0, None), (2.0, 1.0)):
        p = pat.tensor(x, requires_grad=True)
        pat.clamp(p, lo, hi).sum().backward()
        t = torch.tensor(x, requires_grad=True)
        torch.clamp(t, lo, hi).sum().backward()
        np.testing.assert_array_equal(pat.clamp(pat.tensor(x), lo, hi).numpy(),
                                      torch.clamp(torch.tensor(x), lo, hi).numpy())
        np.testing.assert_array_equal(p.grad.numpy()[:-1], t.grad.numpy()[:-1])
    lo = np.array([-1.0, -1.0, 0.5, 0.5, 0.0, 0.0, 0.0], dtype)
    hi = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0], dtype)
    ps = [pat.tensor(v, requires_grad=True) for v in (x, lo, hi)]
    pat.clip(*ps).sum().backward()
    ts = [torch.tensor(v, requires_grad=True) for v in (x, lo, hi)]
    torch.clip(*ts).sum().backward()
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_array_equal(p.grad.numpy()[:-1], t.grad.numpy()[:-1])
    with pytest.raises(ValueError, match="clamp"):
        pat.clamp(pat.tensor(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lerp_outer_dot_addmm_match_torch(dtype):
    r = np.random.default_rng(7)
    a, b, w = (r.standard_normal((3, 4)).astype(dtype) for _ in range(3))
    u, v = r.standard_normal(3).astype(dtype), r.standard_normal(4).astype(dtype)
    m1, m2 = r.standard_normal((3, 5)).astype(dtype), r.standard_normal((5, 4)).astype(dtype)

    def grads(fn, tfn, *arrays, **kw):
        ps = [pat.tensor(x, requires_grad=True) for x in arrays]
        y = fn(*ps, **kw)
        y.sum().backward()
        ts = [torch.tensor(x, requires_grad=True) for x in arrays]
        yt = tfn(*ts, **kw)
        yt.sum().backward()
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **_tol(dtype))
        for p, t in zip(ps, ts, strict=True):
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)

    grads(pat.lerp, torch.lerp, a, b, w)
    grads(lambda s, e: pat.lerp(s, e, 0.25), lambda s, e: torch.lerp(s, e, 0.25), a, b)
    grads(pat.outer, torch.outer, u, v)
    grads(pat.dot, torch.dot, v, v[::-1].copy())
    grads(pat.addmm, torch.addmm, v, m1, m2)
    grads(pat.addmm, torch.addmm, a, m1, m2, beta=0.5, alpha=-2.0)
    assert pat.dot(pat.tensor(v), pat.tensor(v)).shape == ()


def test_composites_reject_bad_shapes_naming_the_op():
    x = pat.tensor(np.ones((2, 2)))
    with pytest.raises(pat.ShapeError, match="outer"):
        pat.outer(x, x)
    with pytest.raises(pat.ShapeError, match="dot"):
        pat.dot(pat.tensor([1.0, 2.0]), pat.tensor([1.0]))
    with pytest.raises(pat.ShapeError, match="addmm"):
        pat.addmm(pat.tensor(np.ones((3, 3))), x, x)
    with pytest.raises(ValueError, match="gelu"):
        pat.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="celu"):
        pat.celu(x, alpha=0.0)
    with pytest.raises(TypeError, match="elu"):
        pat.elu(x, alpha="1")


def test_composites_gradcheck_float64():
    r = np.random.default_rng(8)
    a, b, w = r.standard_normal((3, 4)), r.standard_normal((3, 4)), r.standard_normal((3, 4))
    assert pat.gradcheck(pat.lerp, (a, b, w))
    assert pat.gradcheck(lambda x: pat.softplus(x, beta=2.0), (a,))
    assert pat.gradcheck(lambda x: pat.clamp(x, -5.0, 5.0), (a,))
    assert pat.gradcheck(pat.addmm, (r.standard_normal(4), a.T.copy(), b))
