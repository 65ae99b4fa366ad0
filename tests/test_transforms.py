"""The function transforms: grad / value_and_grad / vjp / jvp semantics, Jacobians of
small MLPs (forward == reverse == finite differences, both layouts, auto mode), exact
Hessians (against finite differences of the gradient, symmetric), hvp, and the
argument-handling rules (ndarrays in, ndarrays out, argnums, pass-through arguments)."""

import numpy as np
import pytest
from test_ops import OP_SPECS

import pyautotape as pat
from pyautotape import transforms

CASES = [(name, i) for name, rows in OP_SPECS.items() for i in range(len(rows))]


def _fd_jacobian(f, x, h=1e-6):
    """Central-difference Jacobian of an ndarray -> ndarray function, out + in layout."""
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for j in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[j] = h
        jac[(...,) + j] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


def _params(rng, sizes):
    return [(rng.standard_normal((o, i)) / np.sqrt(i), 0.1 * rng.standard_normal(o))
            for i, o in zip(sizes[:-1], sizes[1:], strict=True)]


def _mlp(params, act):
    def f(x):
        h = x
        for layer, (w, b) in enumerate(params):
            h = pat.linear(h, pat.tensor(w), pat.tensor(b))
            if layer < len(params) - 1:
                h = act(h)
        return h

    return f


# ---- Jacobians of small MLPs: forward == reverse == finite differences ------------------


@pytest.mark.parametrize("act", [pat.tanh, pat.sigmoid, pat.relu])
@pytest.mark.parametrize("sizes,xshape", [
    ((5, 7, 3), (5,)),        # R^5 -> R^3
    ((3, 6, 4, 9), (3,)),     # more outputs than inputs
    ((4, 6, 2), (3, 4)),      # a batch of 3: J is (3, 2, 3, 4)
])
def test_mlp_jacobian_forward_equals_reverse_equals_fd(act, sizes, xshape):
    rng = np.random.default_rng(0)
    f = _mlp(_params(rng, sizes), act)
    x = rng.standard_normal(xshape)
    x = np.where(np.abs(x) < 0.05, 0.3, x)  # keep ReLU arguments off the kink (first layer)
    jf = pat.jacfwd(f)(x)
    jr = pat.jacrev(f)(x)
    ja = pat.jacobian(f)(x)
    out_shape = f(pat.tensor(x)).shape
    assert jf.shape == jr.shape == out_shape + x.shape
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(ja, jf if transforms.last_jacobian_mode() == "fwd" else jr)
    fd = _fd_jacobian(lambda v: f(pat.tensor(v)).numpy(), x)
    np.testing.assert_allclose(jf, fd, rtol=1e-6, atol=1e-8)


def test_jacobian_auto_picks_the_mode_with_fewer_seeds():
    rng = np.random.default_rng(1)
    wide = _mlp(_params(rng, (3, 8, 20)), pat.tanh)
    narrow = _mlp(_params(rng, (20, 8, 3)), pat.tanh)
    pat.jacobian(wide)(np.ones(3))
    assert transforms.last_jacobian_mode() == "fwd"
    pat.jacobian(narrow)(np.ones(20))
    assert transforms.last_jacobian_mode() == "rev"
    pat.jacobian(narrow, mode="fwd")(np.ones(20))
    assert transforms.last_jacobian_mode() == "fwd"
    with pytest.raises(ValueError, match="mode"):
        pat.jacobian(narrow, mode="sideways")


def test_jacobian_with_respect_to_weights_and_tuple_argnums():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)

    def f(x, w, b):
        return pat.tanh(pat.linear(x, w, b))

    for jac in (pat.jacfwd, pat.jacrev):
        jx, jw, jb = jac(f, argnums=(0, 1, 2))(x, w, b)
        assert jx.shape == (2, 4, 2, 3) and jw.shape == (2, 4, 4, 3) and jb.shape == (2, 4, 4)
        for got, i in ((jx, 0), (jw, 1), (jb, 2)):
            args = [x, w, b]

            def fi(v, i=i, args=args):
                a = list(args)
                a[i] = v
                return f(*[pat.tensor(t) for t in a]).numpy()

            np.testing.assert_allclose(got, _fd_jacobian(fi, args[i]), rtol=1e-6, atol=1e-8)
    jw_only = pat.jacrev(f, argnums=-2)(x, w, b)
    np.testing.assert_allclose(jw_only, pat.jacfwd(f, argnums=1)(x, w, b), rtol=1e-12)


def test_jacobian_of_scalar_and_of_constant_output():
    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(pat.jacrev(lambda x: (x * x).sum())(x), 2 * x)
    np.testing.assert_array_equal(pat.jacfwd(lambda x: pat.tensor(np.ones(3)))(x), np.zeros((3, 2)))
    np.testing.assert_array_equal(pat.jacrev(lambda x: pat.tensor(np.ones(3)))(x), np.zeros((3, 2)))


# ---- grad, value_and_grad, vjp, jvp ------------------------------------------------------


def test_grad_and_value_and_grad_argnums():
    f = lambda x, w: (pat.tanh(x) * w).sum()  # noqa: E731
    x, w = np.array([0.1, -0.4]), np.array([2.0, 3.0])
    gx = pat.grad(f)(x, w)
    np.testing.assert_allclose(gx, w * (1 - np.tanh(x) ** 2))
    gx2, gw = pat.grad(f, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(gx2, gx)
    np.testing.assert_allclose(gw, np.tanh(x))
    value, (gw2,) = pat.value_and_grad(f, argnums=(1,))(x, w)
    assert isinstance(value, np.ndarray) and value.shape == ()
    np.testing.assert_allclose(value, np.sum(np.tanh(x) * w))
    np.testing.assert_allclose(gw2, gw)
    np.testing.assert_allclose(pat.grad(f, argnums=-1)(x, w), gw)
    assert pat.grad is not pat.autograd.grad  # both exist, different functions


def test_grad_errors():
    with pytest.raises(pat.ShapeError, match="scalar"):
        pat.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match="must return a Tensor"):
        pat.grad(lambda x: 3.0)(np.ones(3))
    with pytest.raises(NotImplementedError, match=r"pat.grad inside pat.jac\w+.*miss a term"):
        pat.jacfwd(pat.grad(lambda x: (x * x).sum()))(np.ones(2))
    with pytest.raises(ValueError, match="out of range"):
        pat.grad(lambda x: x.sum(), argnums=2)(np.ones(3))
    with pytest.raises(TypeError, match="argnums"):
        pat.grad(lambda x: x.sum(), argnums="0")(np.ones(3))


def test_vjp_is_reusable_idempotent_and_linear():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    out, vjp_fn = pat.vjp(lambda x, w: pat.sigmoid(pat.linear(x, w)), x, w)
    assert out.shape == (2, 4)
    u, v = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    first = vjp_fn(u)
    again = vjp_fn(u)
    assert len(first) == 2
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    combo = vjp_fn(2.0 * u - 3.0 * v)
    parts = [vjp_fn(u), vjp_fn(v)]
    for i in range(2):
        np.testing.assert_allclose(combo[i], 2.0 * parts[0][i] - 3.0 * parts[1][i], atol=1e-12)
    with pytest.raises(pat.ShapeError, match="cotangent has shape"):
        vjp_fn(np.ones(4))


def test_jvp_equals_jacobian_times_tangent():
    rng = np.random.default_rng(4)
    f = _mlp(_params(rng, (4, 5, 3)), pat.tanh)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    out, t = pat.jvp(f, (x,), (v,))
    np.testing.assert_allclose(out, f(pat.tensor(x)).numpy())
    np.testing.assert_allclose(t, pat.jacrev(f)(x) @ v, rtol=1e-12)
    out2, t2 = pat.jvp(f, x, v)  # single arrays instead of tuples
    np.testing.assert_array_equal(t2, t)


def test_inputs_may_be_tensors_pytrees_and_numbers_and_pass_through_args():
    labels = np.array([2, 0])

    def loss(logits, labels):
        return pat.cross_entropy(logits, labels)

    logits = pat.tensor(np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.0]]), requires_grad=True)
    g = pat.grad(loss)(logits, labels)  # labels pass to f untouched (an int array)
    assert isinstance(g, np.ndarray) and g.shape == (2, 3)
    assert logits.grad is None  # the transform worked on its own copy
    p = np.exp(logits.numpy())
    p /= p.sum(1, keepdims=True)
    p[[0, 1], labels] -= 1
    np.testing.assert_allclose(g, p / 2)
    np.testing.assert_allclose(pat.grad(lambda x: x * x)(3.0), 6.0)
    g = pat.grad(lambda x: x[0] * x[1])([1.0, 2.0])  # a list is a pytree, as in JAX
    assert isinstance(g, list) and [a.dtype for a in g] == [np.float32] * 2  # numbers: default
    np.testing.assert_array_equal(g, [2.0, 1.0])


def test_transforms_work_under_no_grad_and_keep_dtype():
    with pat.no_grad():
        g = pat.grad(lambda x: (x * x).sum())(np.ones(3, np.float32))
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


# ---- Hessians and hvp --------------------------------------------------------------------


def _fd_hessian(grad_f, x, h=1e-5):
    n = x.size
    hess = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        hess[:, j] = (grad_f((x.ravel() + e).reshape(x.shape)).ravel()
                      - grad_f((x.ravel() - e).reshape(x.shape)).ravel()) / (2 * h)
    return hess


@pytest.mark.parametrize("act", [pat.tanh, pat.sigmoid, pat.exp])
def test_hessian_of_mlp_loss_against_fd_of_gradient_and_symmetric(act):
    rng = np.random.default_rng(5)
    params = _params(rng, (4, 6, 3))
    labels = np.array([0, 2])

    def loss(x):
        return pat.cross_entropy(_mlp(params, act)(x), labels)

    x = rng.standard_normal((2, 4))
    hess = pat.hessian(loss)(x)
    assert hess.shape == (2, 4, 2, 4)
    flat = hess.reshape(8, 8)
    np.testing.assert_allclose(flat, flat.T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(flat, _fd_hessian(pat.grad(loss), x), rtol=1e-5, atol=1e-7)


def test_hessian_with_respect_to_weights_blocks():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2))
    w1, w2 = rng.standard_normal((4, 2)), rng.standard_normal((1, 4))

    def f(w1, w2):
        return pat.mse_loss(pat.linear(pat.tanh(pat.linear(pat.tensor(x), w1)), w2),
                            pat.tensor(np.ones((3, 1))))

    blocks = pat.hessian(f, argnums=(0, 1))(w1, w2)
    assert blocks[0][0].shape == (4, 2, 4, 2) and blocks[0][1].shape == (4, 2, 1, 4)
    assert blocks[1][0].shape == (1, 4, 4, 2) and blocks[1][1].shape == (1, 4, 1, 4)
    full = np.block([[blocks[0][0].reshape(8, 8), blocks[0][1].reshape(8, 4)],
                     [blocks[1][0].reshape(4, 8), blocks[1][1].reshape(4, 4)]])
    np.testing.assert_allclose(full, full.T, rtol=0, atol=1e-10)
    gf = pat.grad(f, argnums=(0, 1))

    def flat_grad(v):
        gs = gf(v[:8].reshape(4, 2), v[8:].reshape(1, 4))
        return np.concatenate([g.ravel() for g in gs])

    v0 = np.concatenate([w1.ravel(), w2.ravel()])
    np.testing.assert_allclose(full, _fd_hessian(flat_grad, v0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,i", CASES)
def test_hessian_through_every_op(name, i):
    # s(x) = <w, op(x)> + |op(x)|² / 2 brings in the op's own second derivative
    fn, _, make = OP_SPECS[name][i]
    args = [np.asarray(a, np.float64) for a in make(np.random.default_rng(11))]
    w = np.random.default_rng(1).standard_normal(fn(*[pat.tensor(a) for a in args]).shape)

    def s(*xs):
        y = fn(*xs)
        return (y * w).sum() + 0.5 * (y * y).sum()

    nums = tuple(range(len(args)))
    if name == "custom":
        with pytest.raises(NotImplementedError, match="second derivatives"):
            pat.hessian(s, argnums=nums)(*args)
        return
    blocks = pat.hessian(s, argnums=nums)(*args)
    sizes = [a.size for a in args]
    full = np.block([[blocks[a][b].reshape(sizes[a], sizes[b]) for b in nums] for a in nums])
    np.testing.assert_allclose(full, full.T, rtol=0, atol=1e-10)
    gs = pat.grad(s, argnums=nums)
    cuts = np.cumsum(sizes)[:-1]

    def flat_grad(v):
        parts = np.split(v, cuts)
        return np.concatenate([g.ravel() for g in gs(*[p.reshape(a.shape) for p, a in
                                                       zip(parts, args, strict=True)])])

    v0 = np.concatenate([a.ravel() for a in args])
    fd = _fd_hessian(flat_grad, v0)
    np.testing.assert_allclose(full, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_hvp_equals_hessian_times_vector():
    rng = np.random.default_rng(7)
    params = _params(rng, (3, 5, 1))

    def f(x):
        return (_mlp(params, pat.tanh)(x) ** 2).sum()

    x, v = rng.standard_normal(3), rng.standard_normal(3)
    value, hv = pat.hvp(f, x, v)
    np.testing.assert_allclose(value, f(pat.tensor(x)).numpy())
    np.testing.assert_allclose(hv, pat.hessian(f)(x) @ v, rtol=1e-12, atol=1e-14)
    value, (hx, hw) = pat.hvp(lambda x, w: (pat.exp(x) * w).sum(), (x, v), (v, x))
    np.testing.assert_allclose(hx, np.exp(x) * v * v + np.exp(x) * x, rtol=1e-12)
    np.testing.assert_allclose(hw, np.exp(x) * v, rtol=1e-12)
    with pytest.raises(pat.ShapeError, match="scalar"):
        pat.hvp(lambda x: x * x, x, v)


def test_hessian_of_a_cubic_is_exact():
    x = np.array([1.0, -2.0, 0.5])
    hess = pat.hessian(lambda x: (x * x * x).sum() + (x[0] * x[1]))(x)
    want = np.diag(6 * x)
    want[0, 1] = want[1, 0] = 1.0
    np.testing.assert_array_equal(hess, want)


def test_integer_index_gives_a_0d_tensor():
    # x[0] of a 1-D tensor (NumPy gives a scalar, not a view) is a 0-d tensor with a gradient
    x = pat.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = x[1, 0]
    assert y.shape == () and y.item() == 3.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(pat.grad(lambda v: v[-1] * v[0])(np.array([2.0, 5.0])), [5.0, 2.0])


def test_doctests():
    import doctest

    failures, tried = doctest.testmod(transforms)
    assert tried > 0 and failures == 0
