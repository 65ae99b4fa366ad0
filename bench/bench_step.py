"""pytest-benchmark: one eager training step (forward, loss, backward) against the same
step by hand in NumPy, and the Python overhead per recorded op.

Run: python -m pytest bench/bench_step.py --benchmark-only   (1 BLAS thread)"""

import numpy as np
import pytest
from models import make_data, numpy_step, pat_step

import pyautotape as pat

pat.set_num_threads(1)


@pytest.mark.parametrize("name", ["tiny", "small", "mnist"])
@pytest.mark.benchmark(group="step")
def test_pat_eager_step(benchmark, name):
    params, X, y, loss = make_data(name)
    ps = [pat.tensor(p, requires_grad=True) for p in params]

    def step():
        for p in ps:
            p.grad = None
        return pat_step(ps, X, y, loss)

    benchmark(step)


@pytest.mark.parametrize("name", ["tiny", "small", "mnist"])
@pytest.mark.benchmark(group="step")
def test_numpy_step(benchmark, name):
    params, X, y, loss = make_data(name)
    benchmark(numpy_step, params, X, y, loss)


@pytest.mark.benchmark(group="overhead")
def test_overhead_per_recorded_op(benchmark):
    """A chain of 100 one-element adds: time per op is almost all Python (record, pack)."""
    x = pat.tensor(np.ones(1, np.float32), requires_grad=True)

    def chain():
        y = x
        for _ in range(100):
            y = y + 1.0
        y.backward()

    benchmark(chain)


def _large_forward(want_x_only):
    params, X, y, _ = make_data("large")
    ps = [pat.tensor(p, requires_grad=True) for p in params]
    x = pat.tensor(X, requires_grad=True)

    def setup():
        h = pat.relu(pat.linear(x, ps[0], ps[1]))
        h = pat.relu(pat.linear(h, ps[2], ps[3]))
        loss = pat.cross_entropy(pat.linear(h, ps[4], ps[5]), y)
        return (loss, [x] if want_x_only else [x, *ps]), {}

    return setup


@pytest.mark.parametrize("wrt", ["input_only", "all"])
@pytest.mark.benchmark(group="backward-large")
def test_backward_large(benchmark, wrt):
    """The backward alone of 784-1024-1024-10 b256: autograd.grad w.r.t. the input only
    (no weight-gradient GEMMs) against all gradients. Each round records a fresh forward
    in setup, so only the sweep is timed."""
    setup = _large_forward(wrt == "input_only")
    benchmark.pedantic(pat.autograd.grad, setup=setup, rounds=15, warmup_rounds=2)
