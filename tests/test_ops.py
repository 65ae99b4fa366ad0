"""Every op: forward against NumPy (float64 and float32), gradients against central
differences in float64 (inputs kept away from kinks), and exact tests at the kinks.

OP_SPECS has, per op, the examples of its OpSpec (pyautotape/ops/) and the extra rows
below: a new op is tested here (and in test_forward_mode, test_transforms, test_opspec)
without an edit, and an op without an example cannot be imported."""

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.ops import REGISTRY, SPECS


def _away(x, margin=0.1):
    """Push values away from 0 so finite differences do not cross a kink."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _xent(x, lab, red):
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    per = lse - x[np.arange(len(lab)), lab]
    return {"none": per, "mean": per.mean(), "sum": per.sum()}[red]


LAB = np.array([0, 3, 1, 2, 3])


# rows beyond the ops' own examples: more shapes, broadcasting, axes, reductions, aliasing
# name -> list of (pat function, NumPy reference, input factory taking a Generator)
EXTRA = {
    "add": [(pat.add, np.add, lambda r: (r.normal(size=(3, 4)), r.normal(size=(4,)))),
            (lambda a, b: a + b, np.add, lambda r: (r.normal(size=(2, 1, 3)), r.normal(size=(4, 1))))],
    "sub": [(pat.sub, np.subtract, lambda r: (r.normal(size=(3, 1)), r.normal(size=(3, 5))))],
    "mul": [(pat.mul, np.multiply, lambda r: (r.normal(size=(3, 4)), r.normal(size=(3, 4)))),
            (lambda a: a * a, lambda a: a * a, lambda r: (r.normal(size=(5,)),))],
    "div": [(pat.div, np.divide, lambda r: (r.normal(size=(3, 4)), _away(r.normal(size=(4,)), 0.5)))],
    "pow": [(pat.pow, np.power, lambda r: (np.abs(r.normal(size=(3, 4))) + 0.5, r.normal(size=(3, 4)))),
            (lambda a: a ** 3, lambda a: a ** 3, lambda r: (r.normal(size=(4,)),))],
    "maximum": [(pat.maximum, np.maximum, lambda r: (r.normal(size=(3, 4)), r.normal(size=(4,)) + 0.05))],
    "minimum": [(pat.minimum, np.minimum, lambda r: (r.normal(size=(3, 4)), r.normal(size=(3, 1)) + 0.05))],
    "where": [(lambda a, b: pat.where(np.array([[True], [False], [True]]), a, b),
               lambda a, b: np.where(np.array([[True], [False], [True]]), a, b),
               lambda r: (r.normal(size=(3, 4)), r.normal(size=(4,))))],
    "neg": [(pat.neg, np.negative, lambda r: (r.normal(size=(2, 3)),))],
    "exp": [(pat.exp, np.exp, lambda r: (r.normal(size=(2, 3)),))],
    "log": [(pat.log, np.log, lambda r: (np.abs(r.normal(size=(2, 3))) + 0.2,))],
    "sqrt": [(pat.sqrt, np.sqrt, lambda r: (np.abs(r.normal(size=(2, 3))) + 0.2,))],
    "tanh": [(pat.tanh, np.tanh, lambda r: (r.normal(size=(2, 3)),))],
    "sigmoid": [(pat.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda r: (5 * r.normal(size=(2, 3)),))],
    "relu": [(pat.relu, lambda x: np.maximum(x, 0), lambda r: (_away(r.normal(size=(4, 5))),))],
    "leaky_relu": [(lambda x: pat.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                    lambda r: (_away(r.normal(size=(4, 5))),))],
    # math ops: parameter variants, the outer branches, broadcasting and scalar operands
    "gelu": [(lambda x: pat.gelu(x, approximate="tanh"),
              lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
              lambda r: (3 * r.normal(size=(3, 4)),))],
    "softplus": [(lambda x: pat.softplus(x, beta=2.0, threshold=3.0),
                  lambda x: np.where(2 * x > 3, x, np.logaddexp(0, 2 * x) / 2),
                  lambda r: (np.array([-3.0, -0.4, 0.3, 1.0, 1.8, 4.0]),))],
    "hardsigmoid": [(pat.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
                     lambda r: (np.array([-5.0, -3.4, -1.0, 0.5, 3.5, 6.0]),))],
    "hardswish": [(pat.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                   lambda r: (np.array([-5.0, -3.4, -1.0, 0.5, 3.5, 6.0]),))],
    "elu": [(pat.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
             lambda r: (_away(r.normal(size=(2, 3))),))],
    "atan2": [(lambda a: pat.atan2(a, 2.0), lambda a: np.arctan2(a, 2.0),
               lambda r: (r.normal(size=(3,)),)),
              (lambda b: pat.atan2(1.5, b), lambda b: np.arctan2(1.5, b),
               lambda r: (r.normal(size=(3,)),))],
    "remainder": [(lambda a: pat.remainder(a, -1.5), lambda a: np.remainder(a, -1.5),
                   lambda r: (np.array([-2.0, -0.4, 0.7, 2.5]),))],
    "fmod": [(lambda a: a.fmod(1.5), lambda a: np.fmod(a, 1.5),
              lambda r: (np.array([-2.0, -0.4, 0.7, 2.5]),))],
    "sum": [(lambda x: pat.sum(x), np.sum, lambda r: (r.normal(size=(2, 3, 4)),)),
            (lambda x: x.sum(axis=(0, 2), keepdims=True), lambda x: x.sum(axis=(0, 2), keepdims=True),
             lambda r: (r.normal(size=(2, 3, 4)),))],
    "mean": [(lambda x: pat.mean(x, axis=1), lambda x: x.mean(axis=1), lambda r: (r.normal(size=(2, 3, 4)),))],
    "max": [(lambda x: pat.max(x, axis=-1), lambda x: x.max(axis=-1), lambda r: (r.normal(size=(3, 5)),)),
            (lambda x: x.max(), np.max, lambda r: (r.normal(size=(3, 5)),))],
    "reshape": [(lambda x: x.reshape(3, -1), lambda x: x.reshape(3, -1), lambda r: (r.normal(size=(2, 3, 2)),))],
    "transpose": [(lambda x: x.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1),
                   lambda r: (r.normal(size=(2, 3, 4)),)),
                  (lambda x: x.T, lambda x: x.T, lambda r: (r.normal(size=(3, 5)),))],
    "index": [(lambda x: x[1, ::-2, None], lambda x: x[1, ::-2, None], lambda r: (r.normal(size=(3, 5)),)),
              (lambda x: x[..., 1:3], lambda x: x[..., 1:3], lambda r: (r.normal(size=(2, 3, 4)),))],
    "concatenate": [(lambda a, b: pat.concatenate([a, b, a], axis=1),
                     lambda a, b: np.concatenate([a, b, a], axis=1),
                     lambda r: (r.normal(size=(2, 3)), r.normal(size=(2, 1))))],
    "matmul": [(pat.matmul, np.matmul, lambda r: (r.normal(size=(3, 4)), r.normal(size=(4, 2)))),
               (pat.matmul, np.matmul, lambda r: (r.normal(size=(2, 1, 3, 4)), r.normal(size=(3, 4, 2)))),
               (pat.matmul, np.matmul, lambda r: (r.normal(size=(4,)), r.normal(size=(2, 4, 3)))),
               (pat.matmul, np.matmul, lambda r: (r.normal(size=(4,)), r.normal(size=(4,))))],
    "linear": [(pat.linear, lambda x, w, b: x @ w.T + b,
                lambda r: (r.normal(size=(5, 4)), r.normal(size=(3, 4)), r.normal(size=(3,)))),
               (pat.linear, lambda x, w: x @ w.T, lambda r: (r.normal(size=(2, 5, 4)), r.normal(size=(3, 4))))],
    "softmax": [(lambda x: pat.softmax(x, axis=1), lambda x: _softmax(x, 1), lambda r: (r.normal(size=(2, 3, 4)),))],
    "log_softmax": [(pat.log_softmax, lambda x: np.log(_softmax(x, -1)), lambda r: (r.normal(size=(3, 4)),))],
    "cross_entropy": [(lambda x, red=red: pat.cross_entropy(x, LAB, reduction=red),
                       lambda x, red=red: _xent(x, LAB, red), lambda r: (r.normal(size=(5, 4)),))
                      for red in ("mean", "sum", "none")],
    "mse_loss": [(lambda a, b, red=red: pat.mse_loss(a, b, reduction=red),
                  lambda a, b, red=red: {"none": (a - b) ** 2, "mean": ((a - b) ** 2).mean(),
                                          "sum": ((a - b) ** 2).sum()}[red],
                  lambda r: (r.normal(size=(3, 4)), r.normal(size=(3, 4))))
                 for red in ("mean", "sum", "none")],
}

OP_SPECS = {name: [(ex.call, ex.ref, ex.make) for ex in spec.examples] + EXTRA.get(name, [])
            for name, spec in SPECS.items()}

CASES = [(name, i) for name, rows in OP_SPECS.items() for i in range(len(rows))]


def test_op_table_covers_every_op():
    assert set(OP_SPECS) == set(REGISTRY), "every op in C has an OpSpec"
    assert set(EXTRA) <= set(REGISTRY)
    for name, spec in SPECS.items():
        assert spec.examples and all(ex.ref is not None for ex in spec.examples), (
            f"{name}: give its OpSpec an example with a NumPy reference"
        )


@pytest.mark.parametrize("name,i", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_numpy(name, i, dtype):
    fn, ref, make = OP_SPECS[name][i]
    args = [a.astype(dtype) for a in make(np.random.default_rng(7))]
    got = fn(*[pat.tensor(a) for a in args])
    want = ref(*[a.astype(np.float64) for a in args])
    assert got.dtype == dtype
    assert got.shape == np.shape(want)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name,i", CASES)
def test_gradcheck_float64(name, i):
    fn, _, make = OP_SPECS[name][i]
    report = pat.gradcheck(fn, list(make(np.random.default_rng(11))))
    assert report, str(report)


@pytest.mark.parametrize("name,i", CASES)
def test_gradcheck_float32(name, i):
    fn, _, make = OP_SPECS[name][i]
    args = [a.astype(np.float32) for a in make(np.random.default_rng(5))]
    report = pat.gradcheck(fn, args, eps=1e-2, atol=2e-2, rtol=5e-2)
    assert report, str(report)


# ---- exact tests at the kinks ---------------------------------------------------------


@pytest.mark.parametrize("s", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_subgradient_at_zero_is_exact(s, dtype):
    x = pat.tensor(np.array([-1.0, 0.0, -0.0, 2.0], dtype), requires_grad=True)
    pat.relu(x, subgradient=s).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.array([0.0, s, s, 1.0], dtype))


def test_relu_uses_global_default_and_validates():
    pat.set_relu_subgradient(0.75)
    x = pat.tensor([0.0], requires_grad=True)
    pat.relu(x).backward()
    assert x.grad.item() == 0.75
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="subgradient"):
            pat.set_relu_subgradient(bad)
        with pytest.raises(ValueError, match="relu"):
            pat.relu(x, subgradient=bad)


@pytest.mark.parametrize("s", [0.0, 0.3, 1.0])
def test_maximum_tie_splits_and_agrees_with_relu(s):
    a = pat.tensor([0.0, 1.0, -1.0, 2.0], requires_grad=True)
    b = pat.tensor([0.0, 1.0, 3.0, 0.5], requires_grad=True)
    pat.maximum(a, b, subgradient=s).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.array([s, s, 0, 1], np.float32))
    rest = np.float32(1) - np.float32(s)  # computed in the tensor's dtype
    np.testing.assert_array_equal(b.grad.numpy(), [rest, rest, 1, 0])
    pat.set_relu_subgradient(s)
    x1 = pat.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x2 = pat.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y1, y2 = pat.relu(x1), pat.maximum(x2, 0.0)
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    y1.sum().backward()
    y2.sum().backward()
    np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())


def test_minimum_tie():
    a = pat.tensor([1.0, 0.0], requires_grad=True)
    pat.minimum(a, 1.0, subgradient=0.5).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0])


def test_relu_nan_forward_and_backward():
    x = pat.tensor([np.nan, -1.0, 1.0], requires_grad=True)
    y = pat.relu(x)
    assert np.isnan(y.numpy()[0])
    y.backward(np.ones(3, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])  # NaN passes dy


def test_relu_mask_is_a_select_not_a_product():
    # a NaN/inf gradient arriving at a dead unit must not leak (0 * nan = nan)
    x = pat.tensor([-1.0, 2.0], requires_grad=True)
    pat.relu(x).backward(np.array([np.nan, 1.0], np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


def test_max_reduction_ties_share_gradient():
    x = pat.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


def test_leaky_relu_at_zero_uses_slope():
    x = pat.tensor([0.0, -2.0, 3.0], requires_grad=True)
    pat.leaky_relu(x, 0.2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.2, 0.2, 1.0])


def test_pow_gradients_at_zero_follow_pytorch():
    a = pat.tensor([0.0, 0.0], dtype=np.float64, requires_grad=True)
    b = pat.tensor([0.0, 2.0], dtype=np.float64, requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0])


def test_weak_python_scalars_keep_dtype():
    for dt in (np.float32, np.float64):
        x = pat.tensor(np.ones(2, dt))
        for y in (2 * x, x**2, x + 1, 1 - x, x / 3, 3 / x):
            assert y.dtype == dt


def test_sum_float32_accumulates_in_double():
    x = np.full(1_000_003, 0.1, np.float32)
    got = pat.tensor(x).sum().item()
    assert abs(got - x.astype(np.float64).sum()) / got < 1e-6


def test_mean_of_empty_is_nan_and_sum_is_zero():
    e = pat.tensor(np.zeros((0, 3)), requires_grad=True)
    assert np.isnan(e.mean().item())
    assert e.sum().item() == 0.0
    np.testing.assert_array_equal(e.sum(axis=0).numpy(), np.zeros(3))
    e.sum().backward()
    assert e.grad.shape == (0, 3)


def test_comparisons_return_bool_tensors():
    x = pat.tensor([1.0, -1.0])
    assert isinstance(x > 0, pat.Tensor) and (x > 0).dtype == np.bool_
    np.testing.assert_array_equal(x == pat.tensor([1.0, 0.0]), [True, False])
