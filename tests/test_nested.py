"""Nested transforms: a transform called inside a function that an outer transform (or a
tape that requires grad) differentiates is itself differentiated, to second order,
checked against central differences and torch; beyond second order, a clear error."""

import numpy as np
import pytest

import pyautotape as pat

W0 = np.array([0.7, -1.1, 0.4])
X0 = np.array([0.3, -0.5, 0.9])
V0 = np.array([1.0, -2.0, 0.5])


def _vg(x):
    v, g = pat.value_and_grad(lambda y: pat.sin(x * y).sum())(W0)
    return v + (x * g).sum()


def _vjp(x):
    out, fn = pat.vjp(lambda y: pat.sin(x * y), W0)
    return (out * x).sum() + (x * fn(np.array([1.0, 2.0, 3.0]))[0]).sum()


def _jvp(x):
    out, t = pat.jvp(lambda y: pat.sin(x * y) * y, (x,), (V0,))
    return (out * x).sum() + (t * t).sum()


# f(x): a scalar built on an inner transform that uses x (closed over, or as its primal)
CASES = {
    "grad_closure": lambda x: (x * pat.grad(lambda y: pat.sin(x * y).sum())(W0)).sum(),
    "grad_primal": lambda x: (x * pat.grad(lambda y: (y * y * y).sum())(x)).sum(),
    "grad_both": lambda x: (pat.tanh(x) * pat.grad(lambda y: (pat.exp(x * y) * y).sum())(x)).sum(),
    "grad_argnums": lambda x: sum(
        (g * x).sum() for g in pat.grad(lambda y, z: (y * z * x).sum(), argnums=(0, 1))(x, W0)),
    "value_and_grad": _vg,
    "vjp": _vjp,
    "jvp": _jvp,
    "jacrev": lambda x: (pat.jacrev(lambda y: pat.sin(x * y))(W0) * x).sum(),
    "jacfwd": lambda x: (pat.jacfwd(lambda y: pat.sin(x * y) * y)(x) * x).sum(),
}


def _value(f, x):
    return float(f(pat.tensor(x)).numpy())  # no tensor requires grad: plain values


def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (_value(f, x + e) - _value(f, x - e)) / (2 * h)
    return g


@pytest.fixture(scope="module")
def fd():
    return {name: _fd_grad(f, X0) for name, f in CASES.items()}


def test_the_perturbation_confusion_example():
    # d/dx [x * d/dy (x y)] = d/dx x² = 2x
    f = lambda x: x * pat.grad(lambda y: x * y)(2.0)  # noqa: E731
    assert float(pat.grad(f)(1.0)) == 2.0
    assert float(pat.grad(f)(3.0)) == 6.0
    assert float(pat.jvp(f, (1.0,), (1.0,))[1]) == 2.0
    assert float(pat.jacfwd(f)(3.0)) == 6.0
    x = pat.tensor(3.0, requires_grad=True)
    f(x).backward()
    assert float(x.grad.numpy()) == 6.0


@pytest.mark.parametrize("outer", ["grad", "jacrev", "jacfwd", "jvp", "backward"])
@pytest.mark.parametrize("case", list(CASES))
def test_outer_derivative_of_an_inner_transform_matches_central_differences(case, outer, fd):
    f, want = CASES[case], fd[case]
    if outer == "grad":
        got = pat.grad(f)(X0)
    elif outer in ("jacrev", "jacfwd"):
        got = getattr(pat, outer)(f)(X0)
    elif outer == "jvp":
        _, t = pat.jvp(f, (X0,), (V0,))
        np.testing.assert_allclose(t, want @ V0, rtol=1e-6, atol=1e-7)
        return
    else:
        x = pat.tensor(X0, requires_grad=True)
        f(x).backward()
        got = x.grad.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_transform_of_a_transform_is_the_hessian():
    f = lambda x: (pat.sin(x) * x * x).sum() + (x[0] * x[1] * x[2])  # noqa: E731
    hess = pat.hessian(f)(X0)
    np.testing.assert_allclose(pat.jacfwd(pat.grad(f))(X0), hess, rtol=1e-12)
    np.testing.assert_allclose(pat.jacrev(pat.grad(f))(X0), hess, rtol=1e-12)
    np.testing.assert_allclose(pat.grad(lambda x: (pat.grad(f)(x) * V0).sum())(X0), hess @ V0,
                               rtol=1e-12)
    s = lambda x: (pat.sin(x) * x * x * x).sum()  # noqa: E731  scalar: grad(grad(.)) works
    assert np.isclose(float(pat.grad(pat.grad(lambda t: s(t.reshape(1))))(np.float64(0.4))),
                      pat.hessian(s)(np.array([0.4]))[0, 0], rtol=1e-12)


def test_eager_backward_through_an_inner_grad_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv, bv = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    w = pat.tensor(wv, requires_grad=True)
    b = pat.tensor(bv, requires_grad=True)
    gx = pat.grad(lambda x: pat.tanh(pat.linear(x, w, b)).sum())(xv)  # a Tensor on the tape
    assert isinstance(gx, pat.Tensor) and gx.requires_grad
    (gx * gx).sum().backward()

    tw = torch.tensor(wv, requires_grad=True)
    tb = torch.tensor(bv, requires_grad=True)
    tx = torch.tensor(xv, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.tanh(tx @ tw.T + tb).sum(), [tx], create_graph=True)
    (tg * tg).sum().backward()
    np.testing.assert_allclose(gx.numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_nested_transforms_match_torch_func():
    torch = pytest.importorskip("torch")
    from torch.func import grad as tgrad
    from torch.func import jacrev as tjacrev
    from torch.func import jvp as tjvp

    w0 = torch.tensor(W0)
    v0 = torch.tensor(V0)

    def t_closure(x):
        return (x * tgrad(lambda y: torch.sin(x * y).sum())(w0)).sum()

    def t_jvp(x):
        out, t = tjvp(lambda y: torch.sin(x * y) * y, (x,), (v0,))
        return (out * x).sum() + (t * t).sum()

    def t_jacrev(x):
        return (tjacrev(lambda y: torch.sin(x * y))(w0) * x).sum()

    for name, tf in [("grad_closure", t_closure), ("jvp", t_jvp), ("jacrev", t_jacrev)]:
        want = tgrad(tf)(torch.tensor(X0)).numpy()
        np.testing.assert_allclose(pat.grad(CASES[name])(X0), want, rtol=1e-10, err_msg=name)


def test_compiled_step_with_an_inner_grad_runs_as_eager():
    rng = np.random.default_rng(1)
    wv = rng.standard_normal((2, 3))

    def make():
        w = pat.tensor(wv.copy(), requires_grad=True)
        opt = pat.optim.SGD([w], lr=0.1)

        def step(x):
            opt.zero_grad()
            gx = pat.grad(lambda z: pat.tanh(pat.linear(z, w)).sum())(x)
            loss = (gx * gx).sum()
            loss.backward()
            opt.step()
            return loss.numpy()

        return w, step

    w_e, eager = make()
    w_c, step = make()
    compiled = pat.compile(step)
    for _ in range(3):
        x = rng.standard_normal((4, 3))
        np.testing.assert_array_equal(compiled(x), eager(x))
    np.testing.assert_array_equal(w_c.numpy(), w_e.numpy())


def test_no_outer_dependence_stays_an_ndarray():
    g = pat.grad(lambda x: x * pat.grad(lambda y: y * y)(2.0))(3.0)  # inner: a constant 4
    assert float(g) == 4.0
    inner = []
    pat.grad(lambda x: inner.append(pat.grad(lambda y: (y * y).sum())(np.ones(2))) or x * x)(1.0)
    assert isinstance(inner[0], np.ndarray)
    w = pat.tensor(np.ones(2), requires_grad=True)
    with pat.no_grad():  # under no_grad the closed-over w is a constant
        assert isinstance(pat.grad(lambda x: (x * w).sum())(np.ones(2)), np.ndarray)


THIRD = [
    lambda: pat.grad(pat.grad(pat.grad(lambda x: x * x * x * x)))(2.0),
    lambda: pat.hessian(lambda x: (x * pat.grad(lambda y: (x * y).sum())(np.ones(2))).sum())(
        np.ones(2)),
    lambda: pat.jacfwd(pat.jacrev(pat.grad(lambda x: (x * x * x).sum())))(np.ones(2)),
]


@pytest.mark.parametrize("case", range(len(THIRD)))
def test_third_order_raises_naming_the_limit(case):
    with pytest.raises(NotImplementedError, match="third derivatives.*second order"):
        THIRD[case]()


@pytest.mark.parametrize("inner", ["hessian", "hvp"])
def test_an_inner_second_order_transform_of_outer_variables_raises(inner):
    def f(x):
        g = lambda y: (x * y * y * y).sum()  # noqa: E731
        if inner == "hessian":
            return (pat.hessian(g)(np.ones(2)) * x).sum()
        return (pat.hvp(g, np.ones(2), np.ones(2))[1] * x).sum()

    with pytest.raises(NotImplementedError, match="third derivatives.*second order"):
        pat.grad(f)(np.ones(2))
    # the value itself is fine (a Tensor on the tape): only its derivative raises
    w = pat.tensor(np.array([2.0, 3.0]), requires_grad=True)
    hess = pat.hessian(lambda y: (w * y * y * y).sum())(np.ones(2))
    np.testing.assert_array_equal(hess.numpy(), np.diag([12.0, 18.0]))
    with pytest.raises(NotImplementedError, match="third derivatives"):
        hess.sum().backward()


def test_a_custom_function_inside_a_nested_transform_names_itself():
    from test_function import Cube  # x³ as a custom Function (reverse and forward rules)

    f = lambda x: (x * pat.grad(lambda y: Cube.apply(y * x).sum())(np.ones(2))).sum()  # noqa: E731
    with pytest.raises(NotImplementedError, match="Cube"):
        pat.grad(f)(np.ones(2))


def test_seeds_that_require_grad_and_streaming_are_refused():
    x = np.ones(2)
    with pytest.raises(pat.TapeError, match="tangent requires grad"):
        pat.grad(lambda x: pat.jvp(lambda y: y * y, (np.ones(2),), (x,))[1].sum())(x)
    with pytest.raises(pat.TapeError, match="cotangent requires grad"):
        pat.grad(lambda x: pat.vjp(lambda y: y * y, np.ones(2))[1](x)[0].sum())(x)
    with pytest.raises(pat.TapeError, match=r"stream=True.*stream=False"):
        pat.grad(lambda x: pat.jvp(lambda y: y * x, (x,), (np.ones(2),), stream=True)[1]
                 .sum())(x)


def test_transforms_still_work_after_a_refusal():
    with pytest.raises(NotImplementedError):
        THIRD[0]()
    np.testing.assert_allclose(pat.grad(lambda x: x * x)(3.0), 6.0)
    np.testing.assert_allclose(pat.hessian(lambda x: (x * x * x).sum())(np.ones(1)), [[6.0]])
