"""The tiny-shape paths of the dense kernels (csrc/dense.c, gemm_small_t.h; stacked_linear's
member chunks are in tests/test_gemm_small.py): the bias sum for column counts around its
16-wide blocks (masked tails) and member counts around its groups of 4, every orientation
of the small kernel against NumPy in both dtypes (sizes 1, odd sizes, N < 16 with M > N,
swapped and not), and replay's two fused step pairs (a linear and the unary op reading
it; a zero-fill and a unary op's backward): replay == eager bitwise, also where the
fusion must not apply."""

import numpy as np
import pytest

import pyautotape as pat

TOL = {np.float64: 1e-13, np.float32: 2e-6}


def _close(got, ref, scale, dtype):
    err = np.abs(got.astype(np.float64) - ref) / (scale + 1e-300)
    assert err.max() <= TOL[dtype] * 4, err.max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bias_sum_every_tail_width(dtype):
    """The bias gradient (column sums of dy, in double, row order) for widths around the
    16-column blocks and member counts around the group of 4: against NumPy, and each
    member bitwise the one-model sum."""
    rng = np.random.default_rng(5)
    for n in (1, 2, 15, 16, 17, 31, 32, 33, 40):
        for members in (1, 4, 6):
            x = rng.standard_normal((members, 3, 2)).astype(dtype)
            w = rng.standard_normal((members, n, 2)).astype(dtype)
            b = pat.tensor(np.zeros((members, n), dtype), requires_grad=True)
            g = rng.standard_normal((members, 3, n)).astype(dtype)
            (pat.stacked_linear(x, w, b) * pat.tensor(g)).sum().backward()
            ref = g.astype(np.float64).sum(axis=1)
            _close(b.grad.numpy(), ref, np.abs(g.astype(np.float64)).sum(axis=1), dtype)
            for i in range(members):
                bi = pat.tensor(np.zeros(n, dtype), requires_grad=True)
                (pat.linear(x[i], w[i], bi) * pat.tensor(g[i])).sum().backward()
                assert np.array_equal(b.grad.numpy()[i], bi.grad.numpy())


# (m, k, n): N = 1 or 2 with M > N (the swapped orientation: C^T = B^T A^T), M = 1, K = 1,
# the tiny MLP's shapes, sizes 1 and odd sizes
SHAPES = [(32, 2, 16), (32, 16, 16), (32, 16, 1), (1, 1, 1), (1, 7, 1), (3, 1, 5),
          (17, 5, 2), (33, 3, 1), (2, 33, 16), (16, 32, 2), (5, 9, 17), (1, 40, 3)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mkn", SHAPES)
def test_linear_orientations_against_numpy(dtype, mkn):
    """y = x w^T + b, dx = dy w, dw = dy^T x and db for shapes that take either
    orientation of the small kernel (and its thin, split tiles)."""
    m, k, n = mkn
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (n, k), n, (m, n)))
    xt, wt, bt = (pat.tensor(v, requires_grad=True) for v in (x, w, b))
    y = pat.linear(xt, wt, bt)
    (y * pat.tensor(g)).sum().backward()
    x64, w64, b64, g64 = (v.astype(np.float64) for v in (x, w, b, g))
    _close(y.numpy(), x64 @ w64.T + b64, np.abs(x64) @ np.abs(w64.T) + np.abs(b64), dtype)
    _close(xt.grad.numpy(), g64 @ w64, np.abs(g64) @ np.abs(w64), dtype)
    _close(wt.grad.numpy(), g64.T @ x64, np.abs(g64.T) @ np.abs(x64), dtype)
    _close(bt.grad.numpy(), g64.sum(0), np.abs(g64).sum(0), dtype)


def _mlp_step(dtype, act, k=None):
    """A compiled SGD step of a 2-16-16-1 MLP (k members stacked, or one model), with
    activation `act` after each hidden layer."""
    rng = np.random.default_rng(7)
    lead = () if k is None else (k,)
    shapes = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
    ps = [pat.tensor(rng.standard_normal(lead + s).astype(dtype) * 0.5, requires_grad=True)
          for s in shapes]
    opt = pat.optim.SGD(ps, lr=0.01)
    lin = pat.linear if k is None else pat.stacked_linear

    def step(x, y):
        opt.zero_grad()
        h = act(lin(x, ps[0], ps[1]))
        h = act(lin(h, ps[2], ps[3]))
        loss = ((lin(h, ps[4], ps[5]) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return ps, step


ACTS = {"relu": pat.relu, "tanh": pat.tanh, "sigmoid": pat.sigmoid}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [None, 5])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_fused_linear_unary_replay_equals_eager_bitwise(dtype, k, act):
    """Replay runs a linear (or stacked_linear) and the unary op reading it as one fused
    kernel call; parameters and losses after several steps match eager's bitwise, and
    under pat.detect_anomaly (which checks each step, unfused) too."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((32, 2)).astype(dtype)
    y = rng.standard_normal((32, 1)).astype(dtype)
    p_eager, s_eager = _mlp_step(dtype, ACTS[act], k)
    p_rep, s_rep = _mlp_step(dtype, ACTS[act], k)
    compiled = pat.compile(s_rep)
    for i in range(4):
        le = s_eager(x, y)
        if i == 3:
            with pat.detect_anomaly():
                lr = compiled(x, y)
        else:
            lr = compiled(x, y)
        assert np.array_equal(le.numpy(), lr.numpy())
        for a, b in zip(p_eager, p_rep, strict=True):
            assert np.array_equal(a.numpy(), b.numpy())


def test_fusion_keeps_a_linear_output_read_twice():
    """The linear's output is still written when the unary op reads it and so does a later
    op (here the sum): replay == eager bitwise."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 3))
    w = pat.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = pat.tensor(rng.standard_normal(4), requires_grad=True)

    def f(x):
        z = pat.linear(x, w, b)
        return (pat.relu(z) * 2 + z).sum()

    compiled = pat.compile(f)
    for _ in range(3):
        assert np.array_equal(compiled(x).numpy(), f(x).numpy())


@pytest.mark.parametrize("k", [None, 9])
def test_fusion_waits_when_the_output_reuses_an_operand_buffer(k):
    """In a forward-only function the planner may give relu's output the buffer of the
    linear's input (dead after it); the unary op must then run after the whole linear, not
    a chunk of members at a time: replay == eager bitwise, with a wider output than input
    so a fused chunk would overwrite inputs of later members."""
    rng = np.random.default_rng(10)
    lead = () if k is None else (k,)
    lin = pat.linear if k is None else pat.stacked_linear
    w1, b1, w2, b2, w3 = (pat.tensor(rng.standard_normal(lead + s)) for s in
                          ((4, 2), (4,), (8, 4), (8,), (16, 8)))

    def f(x):
        h = pat.relu(lin(x, w1, b1))
        h = pat.relu(lin(h, w2, b2))
        return pat.tanh(lin(h, w3)).sum()

    x = rng.standard_normal((32, 2))
    compiled = pat.compile(f)
    for _ in range(3):
        assert np.array_equal(compiled(x).numpy(), f(x).numpy())
