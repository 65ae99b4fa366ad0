"""Hypothesis: broadcasting binary ops match NumPy for any compatible pair of shapes, and
their gradients sum over the broadcast axes (checked against NumPy's sum-to-shape)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyautotape as pat


def _sum_to(g, shape):
    """Reduce g to shape the way a broadcast's backward must."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
       "maximum": np.maximum}


@settings(max_examples=200, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=5, max_side=4),
    name=st.sampled_from(sorted(OPS)),
    seed=st.integers(0, 2**16),
)
def test_broadcast_binary_ops_match_numpy(shapes, name, seed):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a = rng.normal(size=sa)
    b = rng.normal(size=sb) + 3.0  # keep div away from 0 and maximum away from ties
    ta = pat.tensor(a, requires_grad=True)
    tb = pat.tensor(b, requires_grad=True)
    y = getattr(pat, name)(ta, tb)
    want = OPS[name](a, b)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    g = rng.normal(size=want.shape)
    y.backward(g)
    da = {"add": g, "sub": g, "mul": g * b, "div": g / b, "maximum": g * (a > b)}[name]
    db = {"add": g, "sub": -g, "mul": g * a, "div": -g * a / b**2, "maximum": g * (a < b)}[name]
    np.testing.assert_allclose(ta.grad.numpy(), _sum_to(np.broadcast_to(da, want.shape), sa),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), _sum_to(np.broadcast_to(db, want.shape), sb),
                               rtol=1e-10, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                 elements=st.floats(-10, 10)),
    data=st.data(),
)
def test_reductions_match_numpy(x, data):
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1))
    keepdims = data.draw(st.booleans())
    t = pat.tensor(x, requires_grad=True)
    for name in ("sum", "mean"):
        got = getattr(t, name)(axis=axis, keepdims=keepdims)
        np.testing.assert_allclose(got.numpy(), getattr(x, name)(axis=axis, keepdims=keepdims),
                                   rtol=1e-12, atol=1e-12)
