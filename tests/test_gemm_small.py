"""The small-GEMM kernel (csrc/gemm_small_t.h) that linear, matmul and stacked_linear use
for products up to 2^14 multiply-adds: every product a linear layer needs (y = x w^T + b,
dx = dy w, dw = dy^T x, and matmul's a b, dy b^T, a^T dy) against NumPy in float64, over
sizes that hit every tile height (16, 8, 4, 2, 1 rows), narrow column blocks, both
orientations, K = 1 and K not a multiple of 4 (the split chains of thin tiles); and the
bitwise claims the kernel exists for: a member of stacked_linear equals linear alone, and
a repeated call gives the same bits."""

import numpy as np
import pytest

import pyautotape as pat

# rows / columns / inner sizes: 1, 2, 3 (thin, split tiles), 5..8 (the 8-row tile), odd
# sizes around 16 (a full AVX-512 float tile, two AVX2 registers), 17 and 33 (an extra
# block of one column or row), and K up to 40 (not a multiple of 4)
SIZES_M = (1, 2, 3, 5, 8, 15, 16, 17, 33)
SIZES_N = (1, 2, 7, 8, 9, 16, 17)
SIZES_K = (1, 3, 4, 16, 17, 40)
TOL = {np.float64: 1e-13, np.float32: 2e-6}


def _bound(a, b):
    """|a| |b| in float64: the scale of the rounding error of a product a b."""
    return np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + 1e-300


def _close(got, a, b, dtype, extra=0.0):
    ref = a.astype(np.float64) @ b.astype(np.float64) + extra
    err = np.abs(got.astype(np.float64) - ref) / (_bound(a, b) + np.abs(extra))
    assert err.max() <= TOL[dtype] * 4, err.max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_three_products_against_numpy(dtype):
    rng = np.random.default_rng(0)
    for m in SIZES_M:
        for n in SIZES_N:
            for k in SIZES_K:
                if m * n * k > 1 << 14:
                    continue
                x = rng.standard_normal((m, k)).astype(dtype)
                w = rng.standard_normal((n, k)).astype(dtype)
                b = rng.standard_normal(n).astype(dtype)
                g = rng.standard_normal((m, n)).astype(dtype)
                xt = pat.tensor(x, requires_grad=True)
                wt = pat.tensor(w, requires_grad=True)
                bt = pat.tensor(b, requires_grad=True)
                y = pat.linear(xt, wt, bt)
                (y * pat.tensor(g)).sum().backward()
                _close(y.numpy(), x, w.T, dtype, extra=b)
                _close(xt.grad.numpy(), g, w, dtype)
                _close(wt.grad.numpy(), g.T, x, dtype)
                ref_db = g.astype(np.float64).sum(0)
                assert np.allclose(bt.grad.numpy(), ref_db, rtol=TOL[dtype] * 4,
                                   atol=TOL[dtype] * 4 * np.abs(g).sum(0).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_products_and_accumulation(dtype):
    """a b (no transposes), and the backward's dy b^T and a^T dy; an operand read twice
    accumulates its two gradients (the kernel's C += A B)."""
    rng = np.random.default_rng(1)
    for m, k, n in [(1, 1, 1), (3, 5, 2), (17, 4, 9), (16, 16, 16), (33, 3, 17), (2, 40, 8),
                    (9, 17, 1), (1, 33, 16)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        g = rng.standard_normal((m, n)).astype(dtype)
        at = pat.tensor(a, requires_grad=True)
        bt = pat.tensor(b, requires_grad=True)
        y = pat.matmul(at, bt)
        ((y + pat.matmul(at, bt)) * pat.tensor(g)).sum().backward()
        _close(y.numpy(), a, b, dtype)
        _close(at.grad.numpy() / 2, g, b.T, dtype)
        _close(bt.grad.numpy() / 2, a.T, g, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_bias_and_zero_inner(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((3, 5)).astype(dtype)
    _close(pat.linear(x, w).numpy(), x, w.T, dtype)
    b = rng.standard_normal(3).astype(dtype)
    y = pat.linear(np.zeros((4, 0), dtype), np.zeros((3, 0), dtype), b)
    assert np.array_equal(y.numpy(), np.broadcast_to(b, (4, 3)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [(2, 16, 16, 1), (3, 5, 17, 2), (4, 33, 1)])
@pytest.mark.parametrize("members", [1, 4, 5, 9])
@pytest.mark.parametrize("shared", [False, True])
def test_stacked_member_is_linear_alone_bitwise(dtype, sizes, members, shared):
    """Each member of one stacked_linear call, forward and all three gradients, has the
    bits of linear on that member alone (the same kernel, the same chains), for member
    counts below, at and past the kernel's chunk of 4 members; with a batch shared by every
    member, dx is the members' dx summed in member order."""
    rng = np.random.default_rng(3)
    e, batch = members, 32
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        x = rng.standard_normal((batch, fan_in) if shared else (e, batch, fan_in))
        x = x.astype(dtype)
        w = rng.standard_normal((e, fan_out, fan_in)).astype(dtype)
        b = rng.standard_normal((e, fan_out)).astype(dtype)
        g = rng.standard_normal((e, batch, fan_out)).astype(dtype)
        xs, ws, bs = (pat.tensor(v, requires_grad=True) for v in (x, w, b))
        ys = pat.stacked_linear(xs, ws, bs)
        (ys * pat.tensor(g)).sum().backward()
        dx_sum = None
        for i in range(e):
            xi = pat.tensor(x if shared else x[i], requires_grad=True)
            wi, bi = (pat.tensor(v[i], requires_grad=True) for v in (w, b))
            yi = pat.linear(xi, wi, bi)
            (yi * pat.tensor(g[i])).sum().backward()
            assert np.array_equal(ys.numpy()[i], yi.numpy())
            assert np.array_equal(ws.grad.numpy()[i], wi.grad.numpy())
            assert np.array_equal(bs.grad.numpy()[i], bi.grad.numpy())
            if shared:
                dx_sum = xi.grad.numpy() if dx_sum is None else dx_sum + xi.grad.numpy()
            else:
                assert np.array_equal(xs.grad.numpy()[i], xi.grad.numpy())
        if shared:
            assert np.array_equal(xs.grad.numpy(), dx_sum)


def test_same_bits_every_call_and_large_shapes():
    """A product gives the same bits on every call; shapes over the limit (OpenBLAS) and
    under it agree with NumPy alike."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((33, 17)).astype(np.float32)
    w = rng.standard_normal((9, 17)).astype(np.float32)
    first = pat.linear(x, w).numpy()
    for _ in range(3):
        assert np.array_equal(pat.linear(x, w).numpy(), first)
    big_x = rng.standard_normal((64, 70))
    big_w = rng.standard_normal((40, 70))
    _close(pat.linear(big_x, big_w).numpy(), big_x, big_w.T, np.float64)
