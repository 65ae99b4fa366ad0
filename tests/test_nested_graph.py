"""create_graph=True: gradients recorded on the tape and differentiated once more, against
torch and central differences; a third order raises."""

import numpy as np
import pytest

import pyautotape as pat

RNG = np.random.default_rng(7)
XV, WV, BV = RNG.standard_normal((4, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(2)


def _penalty(xv, wv, bv):
    """sum over rows of |d/dx sum tanh(x W^T + b)|² (a gradient penalty), and the tensors."""
    x = pat.tensor(xv, requires_grad=True)
    w = pat.tensor(wv, requires_grad=True)
    b = pat.tensor(bv, requires_grad=True)
    (gx,) = pat.autograd.grad(pat.tanh(pat.linear(x, w, b)).sum(), [x], create_graph=True)
    return (gx * gx).sum(), gx, x, w, b


def test_gradient_penalty_matches_torch_and_central_differences():
    torch = pytest.importorskip("torch")
    pen, gx, x, w, b = _penalty(XV, WV, BV)
    assert gx.requires_grad and not gx.is_leaf
    pen.backward()

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (XV, WV, BV))
    (tg,) = torch.autograd.grad(torch.tanh(tx @ tw.T + tb).sum(), [tx], create_graph=True)
    (tg * tg).sum().backward()
    for mine, theirs in [(gx, tg), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)]:
        np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-13)

    h, fd = 1e-6, np.zeros_like(WV)
    for i in np.ndindex(*WV.shape):
        e = np.zeros_like(WV)
        e[i] = h
        fd[i] = (float(_penalty(XV, WV + e, BV)[0].numpy())
                 - float(_penalty(XV, WV - e, BV)[0].numpy())) / (2 * h)
    np.testing.assert_allclose(w.grad.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_backward_create_graph_makes_grad_differentiable():
    x = pat.tensor(np.array([0.5, -1.5]), requires_grad=True)
    (pat.sin(x) * x).sum().backward(create_graph=True)
    g = x.grad  # sin x + x cos x
    assert g.requires_grad
    np.testing.assert_allclose(g.numpy(), np.sin(x.numpy()) + x.numpy() * np.cos(x.numpy()))
    x.grad = None
    g.sum().backward()  # 2 cos x - x sin x
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(xv) - xv * np.sin(xv), rtol=1e-12)


def test_double_grad_is_the_hessian_and_intermediates_work():
    torch = pytest.importorskip("torch")
    f = lambda x: (pat.exp(x) * x * x).sum() + x[0] * x[1]  # noqa: E731
    x = pat.tensor(np.array([0.2, -0.4]), requires_grad=True)
    (g,) = pat.autograd.grad(f(x), [x], create_graph=True)
    rows = [pat.autograd.grad(g[i], [x], retain_graph=True)[0].numpy() for i in range(2)]
    np.testing.assert_allclose(np.stack(rows), pat.hessian(f)(x.numpy()), rtol=1e-12)

    # with respect to an intermediate, as torch
    xv = np.array([0.3, 0.8])
    x = pat.tensor(xv, requires_grad=True)
    hid = x * x
    (gh,) = pat.autograd.grad(pat.sin(hid).sum(), [hid], create_graph=True)
    (gh * gh).sum().backward()
    tx = torch.tensor(xv, requires_grad=True)
    th = tx * tx
    (tgh,) = torch.autograd.grad(torch.sin(th).sum(), [th], create_graph=True)
    (tgh * tgh).sum().backward()
    np.testing.assert_allclose(gh.numpy(), tgh.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_grad_outputs_that_require_grad_and_several_outputs():
    torch = pytest.importorskip("torch")
    xv, vv = np.array([0.3, -0.2, 0.5]), np.array([1.5, -0.5, 2.0])
    x, v = pat.tensor(xv, requires_grad=True), pat.tensor(vv, requires_grad=True)
    (g,) = pat.autograd.grad([pat.tanh(x), (x * x).sum()], [x], grad_outputs=[v, None],
                             create_graph=True)
    (g * g).sum().backward()
    tx, tv = torch.tensor(xv, requires_grad=True), torch.tensor(vv, requires_grad=True)
    (tg,) = torch.autograd.grad([torch.tanh(tx), (tx * tx).sum()], [tx],
                                grad_outputs=[tv, None], create_graph=True)
    (tg * tg).sum().backward()
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-12)


def test_third_order_through_create_graph_raises():
    x = pat.tensor(np.array([0.5]), requires_grad=True)
    (g1,) = pat.autograd.grad((x * x * x * x).sum(), [x], create_graph=True)
    (g2,) = pat.autograd.grad(g1.sum(), [x], create_graph=True)
    np.testing.assert_allclose(g2.numpy(), 12 * 0.25)  # second order: fine
    with pytest.raises(NotImplementedError, match="third derivatives.*second order"):
        g2.sum().backward()
    # an inner transform on the tape, then create_graph and differentiated: third order
    y = pat.tensor(np.array([0.5]), requires_grad=True)
    z = pat.grad(lambda t: (t * t * t).sum())(y)
    (gz,) = pat.autograd.grad(z.sum(), [y], create_graph=True)
    np.testing.assert_allclose(gz.numpy(), 6 * 0.5)
    with pytest.raises(NotImplementedError, match="third derivatives"):
        gz.sum().backward()


def test_create_graph_unused_input_and_errors():
    x = pat.tensor([1.0], requires_grad=True)
    u = pat.tensor([2.0], requires_grad=True)
    with pytest.raises(pat.TapeError, match="allow_unused"):
        pat.autograd.grad((x * x).sum(), [u], create_graph=True)
    gx, gu = pat.autograd.grad((x * x).sum(), [x, u], create_graph=True, allow_unused=True)
    assert gu is None and float(gx.numpy()[0]) == 2.0
