"""A 784-256-128-10 MLP with cross-entropy: pyautotape's gradients against backprop
written by hand in NumPy (acceptance: 1e-10 in float64, 2e-4 relative in float32)."""

import numpy as np
import pytest

import pyautotape as pat


def _init(rng, sizes, dtype):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype))
        params.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    return params


def _numpy_backprop(params, X, y):
    """Forward and backward by hand, in float64."""
    W1, b1, W2, b2, W3, b3 = [p.astype(np.float64) for p in params]
    X = X.astype(np.float64)
    z1 = X @ W1.T + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W2.T + b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ W3.T + b3
    z = z3 - z3.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    d3 = p.copy()
    d3[np.arange(n), y] -= 1
    d3 /= n
    gW3, gb3 = d3.T @ h2, d3.sum(0)
    d2 = (d3 @ W3) * (z2 > 0)
    gW2, gb2 = d2.T @ h1, d2.sum(0)
    d1 = (d2 @ W2) * (z1 > 0)
    gW1, gb1 = d1.T @ X, d1.sum(0)
    return loss, [gW1, gb1, gW2, gb2, gW3, gb3], d1 @ W1


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_mlp_gradients_match_hand_written_backprop(dtype, tol):
    rng = np.random.default_rng(0)
    sizes = [784, 256, 128, 10]
    params = _init(rng, sizes, dtype)
    X = rng.normal(size=(64, 784)).astype(dtype)
    y = rng.integers(0, 10, 64)
    want_loss, want_grads, want_dx = _numpy_backprop(params, X, y)

    ps = [pat.tensor(p, requires_grad=True) for p in params]
    x = pat.tensor(X, requires_grad=True)
    h = pat.relu(pat.linear(x, ps[0], ps[1]))
    h = pat.relu(pat.linear(h, ps[2], ps[3]))
    loss = pat.cross_entropy(pat.linear(h, ps[4], ps[5]), y)
    loss.backward()

    assert abs(loss.item() - want_loss) <= tol * abs(want_loss)
    for p, g in zip(ps, want_grads, strict=True):
        scale = np.abs(g).max()
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(x.grad.numpy(), want_dx, rtol=0, atol=tol * np.abs(want_dx).max())
