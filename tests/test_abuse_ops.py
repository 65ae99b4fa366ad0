"""Every op's error cases leave its inputs exactly as they were: for each OpSpec example
the inputs are swapped one at a time for a tensor of the other dtype, of a clashing
shape, or for a non-array, and the op's axis argument (where it has one) for bad values;
each call either works or raises a clear Python exception, and then every tensor
involved is bit-identical (values, dtype, shape, write flag, gradient, tape links)."""

import inspect

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.ops import SPECS

CLEAR = (ValueError, TypeError, IndexError, OverflowError, NotImplementedError,
         pat.errors.TapeError if hasattr(pat.errors, "TapeError") else ValueError)


def _state(t):
    if not isinstance(t, pat.Tensor):
        return repr(type(t))
    g = t.grad
    return (t._data.tobytes(), t._data.dtype.str, t._data.shape, t._data.flags.writeable,
            t.requires_grad, t._node is None,
            None if g is None else g._data.tobytes(),
            None if t._guard is None else (t._guard.version, t._guard.count))


def _swaps(x, rng):
    """Bad replacements for one input tensor."""
    other = np.float32 if x.dtype == np.float64 else np.float64
    yield pat.tensor(x.numpy().astype(other), requires_grad=True)
    yield pat.tensor(rng.standard_normal((*x.shape, 5, 7)), requires_grad=True)
    yield pat.tensor(rng.standard_normal((3, 1, 11)), requires_grad=True)
    yield pat.tensor(np.float64(0.5), requires_grad=True)
    yield from ("x", None, object(), np.array(["a", "b"]), [[1.0], [2.0, 3.0]])


def _cases():
    for name, spec in SPECS.items():
        for i, _ in enumerate(spec.examples):
            yield name, i


@pytest.mark.parametrize("name,i", list(_cases()))
def test_failed_calls_leave_inputs_bit_identical(name, i):
    spec = SPECS[name]
    ex = spec.examples[i]
    rng = np.random.default_rng(7)
    raw = ex.make(rng)
    inputs = [pat.tensor(a, requires_grad=True) for a in raw]
    # a gradient already there, and a lock from a live record: both must survive
    for t in inputs:
        t.grad = np.full(t.shape, 0.25)
    keep = [(t * 1.0) for t in inputs]  # records that saved the inputs
    calls = []
    for j, x in enumerate(inputs):
        for bad in _swaps(x, rng):
            if spec.fn is None and not isinstance(bad, pat.Tensor):
                continue  # a custom Function's forward is user code: it sees what it is given
            args = list(inputs)
            args[j] = bad
            calls.append((lambda a=args: ex.call(*a), args))
    fn = spec.fn
    if fn is not None:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        for key in ("axis", "axes", "dim"):
            if key in params:
                for bad in (99, -99, 1.5, "a", (0, 0), [0.5], np.uint64(2**63)):
                    calls.append((lambda b=bad, k=key: fn(*inputs, **{k: b}), list(inputs)))
    errors = 0
    for call, args in calls:
        before = [_state(a) for a in args]
        try:
            call()
        except CLEAR:
            errors += 1
            after = [_state(a) for a in args]
            assert after == before, f"{name}: a failed call changed an input"
    assert errors > 0, f"{name}: no bad call raised; the table of bad inputs is vacuous"
    del keep
