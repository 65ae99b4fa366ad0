"""The kept tape of backward(): a later backward over a tape of the same structure reuses
the packed tables, and never one of another structure. Every test compares against the
same graphs swept with the cache off (packed every call), bitwise."""

from __future__ import annotations

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import _sweepcache
from pyautotape.errors import TapeError


@pytest.fixture
def fresh_cache():
    _sweepcache.clear()
    yield
    _sweepcache.ENABLED[0] = True
    _sweepcache.clear()


def _grads(build, seed, cached):
    """Leaves' gradients of ``build(leaves)`` with the cache on or off."""
    _sweepcache.ENABLED[0] = cached
    rng = np.random.default_rng(seed)
    leaves = [pat.tensor(rng.standard_normal(s), requires_grad=True)
              for s in [(4, 3), (3,), (4, 3), (2, 3), (4,)]]
    build(leaves).backward()
    _sweepcache.ENABLED[0] = True
    return [None if t.grad is None else t.grad.numpy() for t in leaves]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tobytes() == y.tobytes()


# graphs that agree in ops (and mostly shapes) but differ in wiring, shapes, alpha,
# iterators, constants or leaves: a stale table would give one of them another's answer
GRAPHS = {
    "mul_ab": lambda t: (t[0] * t[2]).sum(),
    "mul_aa": lambda t: (t[0] * t[0]).sum(),
    "mul_ba": lambda t: (t[2] * t[0]).sum(),
    "mul_const": lambda t: (t[0] * pat.tensor(np.full((4, 3), 2.0))).sum(),
    "bcast_row": lambda t: (t[0] + t[1]).sum(),
    "bcast_row_rev": lambda t: (t[1] + t[0]).sum(),
    "bcast_col": lambda t: (t[0] * t[0][:, :1]).sum(),
    "elu_1": lambda t: pat.elu(t[0], alpha=1.0).sum(),
    "elu_2": lambda t: pat.elu(t[0], alpha=2.0).sum(),
    "leaky_pos0": lambda t: pat.nn.functional.leaky_relu(t[0] - 0.5, 0.0).sum(),
    "leaky_neg0": lambda t: pat.nn.functional.leaky_relu(t[0] - 0.5, -0.0).sum(),
    "linear": lambda t: pat.linear(t[3], t[0], t[4]).sum(),
    "linear_swapped": lambda t: pat.linear(t[3], t[2], t[4]).sum(),
    "linear_tw": lambda t: pat.linear(t[3], t[0].T.T, t[4]).sum(),
    "chain": lambda t: pat.tanh(pat.exp(t[0] * 0.1) * t[2]).mean(),
    "chain_other": lambda t: pat.tanh(pat.exp(t[2] * 0.1) * t[0]).mean(),
    "sum_axis0": lambda t: (t[0].sum(axis=0) * t[1]).sum(),
    "sum_axis1": lambda t: (t[0].sum(axis=1) * t[0][:, 0]).sum(),
    "mse": lambda t: pat.mse_loss(t[0], t[2]),
    "mse_self": lambda t: pat.mse_loss(t[0], t[0] * 0.5),
}


def test_alternating_graphs_match_the_uncached_sweep_bitwise(fresh_cache):
    names = list(GRAPHS)
    expect = {n: _grads(GRAPHS[n], i, cached=False) for i, n in enumerate(names)}
    before = _sweepcache.stats()
    order = names * 3
    np.random.default_rng(0).shuffle(order)
    for n in order:
        _same(_grads(GRAPHS[n], names.index(n), cached=True), expect[n])
    after = _sweepcache.stats()
    assert after["hits"] - before["hits"] >= 2 * len(names)  # the cache was used


def _random_graph(rng):
    """A random small graph over the four leaves: unary and binary ops, broadcasts,
    reductions, shared subexpressions."""
    choices = int(rng.integers(1 << 30))

    def build(t):
        r = np.random.default_rng(choices)
        pool = [t[0], t[2], t[0] * 0.5]
        for _ in range(int(r.integers(2, 7))):
            a = pool[int(r.integers(len(pool)))]
            b = pool[int(r.integers(len(pool)))]
            k = int(r.integers(8))
            if k == 0:
                pool.append(a * b)
            elif k == 1:
                pool.append(a + t[1])
            elif k == 2:
                pool.append(pat.tanh(a))
            elif k == 3:
                pool.append(a - b * 2.0)
            elif k == 4:
                pool.append(pat.relu(a))
            elif k == 5:
                pool.append(pat.linear(t[3], a, t[4]).sum() * a)
            elif k == 6:
                pool.append(a * pat.tensor(r.standard_normal((4, 3))))
            else:
                pool.append(pat.exp(a * 0.1) / (1.0 + b * b))
        return sum(p.sum() for p in pool[3:]) + pool[-1].mean()

    return build


def test_random_graphs_match_the_uncached_sweep_bitwise(fresh_cache):
    rng = np.random.default_rng(1)
    graphs = [_random_graph(rng) for _ in range(12)]
    expect = [_grads(g, i, cached=False) for i, g in enumerate(graphs)]
    for _ in range(3):
        for i in rng.permutation(len(graphs)):
            _same(_grads(graphs[i], int(i), cached=True), expect[i])
    assert _sweepcache.stats()["hits"] > 0


def test_keys_tell_apart_what_the_rows_tell_apart(fresh_cache):
    from pyautotape.packing import collect

    def key(build):
        t = [pat.tensor(np.ones((4, 3)), requires_grad=True) for _ in range(2)]
        return _sweepcache._walk(collect([build(t)], "test"))[0]

    assert key(lambda t: pat.elu(t[0], 1.0).sum()) == key(lambda t: pat.elu(t[0], 1.0).sum())
    assert key(lambda t: pat.elu(t[0], 0.0).sum()) != key(lambda t: pat.elu(t[0], -0.0).sum())
    assert key(lambda t: (t[0] * t[1]).sum()) != key(lambda t: (t[0] * t[0]).sum())
    assert key(lambda t: (t[0] * t[1]).sum()) != key(lambda t: (t[0] * t[1].detach()).sum())
    assert key(lambda t: t[0].sum()) != key(lambda t: t[0][:2].sum())


def test_accumulation_into_existing_grads_and_retain_graph(fresh_cache):
    for cached in (False, True):
        _sweepcache.ENABLED[0] = cached
        w = pat.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        for _ in range(3):  # the same structure each time: hits after the first
            loss = (pat.tanh(w) * w).sum()
            loss.backward(retain_graph=True)
            loss.backward()
        if not cached:
            expect = w.grad.numpy()
    _same([w.grad.numpy()], [expect])


def test_a_cached_structure_still_refuses_a_modified_saved_array(fresh_cache):
    w = pat.tensor(np.ones(3), requires_grad=True)
    opt = pat.optim.SGD([w], lr=0.1)
    for _ in range(2):
        (w * w).sum().backward()
    loss = (w * w).sum()
    opt.step()  # writes w in place: the record saved the old value
    with pytest.raises(TapeError, match="modified in place"):
        loss.backward()
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(TapeError, match="already released"):
        loss.backward()


def test_float64_and_float32_of_one_structure_are_separate(fresh_cache):
    out = []
    for dtype in (np.float32, np.float64, np.float32, np.float64):
        w = pat.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=dtype, requires_grad=True)
        pat.exp(w * w).sum().backward()
        out.append(w.grad.numpy())
    assert out[0].dtype == np.float32 and out[1].dtype == np.float64
    _same(out[:2], out[2:])


def test_the_cache_keeps_no_graph_alive(fresh_cache):
    import gc
    import weakref

    w = pat.tensor(np.ones((2, 3)), requires_grad=True)
    for _ in range(2):
        h = pat.exp(w)
        ref = weakref.ref(h)
        h.sum().backward()
        del h
    gc.collect()
    assert ref() is None


def test_empty_tensors_non_scalar_roots_and_mixed_shapes(fresh_cache):
    def run(cached):
        _sweepcache.ENABLED[0] = cached
        out = []
        # (90, 100): an arena over 64 KiB, zeroed by fill instead of a kept copy of zeros
        for shape in [(0, 3), (2, 3), (1, 1), (90, 100), (0, 3), (2, 3), (1, 1), (90, 100)]:
            n = shape[0] * shape[1]
            w = pat.tensor(np.arange(-2.0, n - 2.0).reshape(shape), requires_grad=True)
            y = pat.tanh(w) * w
            y.backward(gradient=np.full(shape, -0.0 if n == 1 else 1.5))
            out.append(w.grad.numpy())
        _sweepcache.ENABLED[0] = True
        return out

    _same(run(True), run(False))


def test_the_arenas_kept_stay_bounded(fresh_cache):
    for n in range(1, 60):  # a new structure each time
        w = pat.tensor(np.ones(n), requires_grad=True)
        pat.exp(w).sum().backward()
    assert len(_sweepcache._cache) <= _sweepcache._MAX_ENTRIES
    assert sum(e.arena.nbytes for e in _sweepcache._cache.values()) <= _sweepcache._MAX_HELD


def test_same_shapes_other_indices_take_this_calls_indices(fresh_cache):
    idx = [np.array([0, 2, 2, 1]), np.array([3, 3, 0, 1]), np.array([1, 0, 3, 2])]

    def grads(cached):
        _sweepcache.ENABLED[0] = cached
        out = []
        for k in [0, 1, 2, 1, 0, 2]:
            w = pat.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
            (w[idx[k]] * w[idx[(k + 1) % 3]]).sum().backward()
            out.append(w.grad.numpy())
        _sweepcache.ENABLED[0] = True
        return out

    _same(grads(True), grads(False))

