"""Nested transforms: a transform whose function uses a variable an outer transform
differentiates raises instead of returning a derivative that misses a term."""

import numpy as np
import pytest

import pyautotape as pat

NESTED = [
    lambda: pat.grad(lambda x: x * pat.grad(lambda y: x * y)(2.0))(3.0),
    lambda: pat.grad(lambda x: x * pat.grad(lambda y: y * y)(x))(3.0),
    lambda: pat.jvp(lambda x: x * pat.grad(lambda y: x * y)(2.0), (3.0,), (1.0,)),
    lambda: pat.grad(lambda x: x * pat.jvp(lambda y: x * y, (2.0,), (1.0,))[1])(3.0),
    lambda: pat.jvp(lambda x: x * pat.jvp(lambda y: x * y, (2.0,), (1.0,), stream=True)[1],
                    (3.0,), (1.0,), stream=True),
    lambda: pat.hessian(lambda x: (x * pat.grad(lambda y: (x * y).sum())(np.ones(2))).sum())(
        np.ones(2)),
    lambda: pat.grad(lambda x: (x * pat.jacrev(lambda y: x * y)(np.ones(2))).sum())(np.ones(2)),
    lambda: pat.grad(lambda x: (x * pat.vjp(lambda y: x * y, np.ones(2))[1](np.ones(2))[0])
                     .sum())(np.ones(2)),
    lambda: pat.grad(lambda x: (x * pat.hvp(lambda y: (x * y * y).sum(), (np.ones(2),),
                                            (np.ones(2),))[1]).sum())(np.ones(2)),
]


@pytest.mark.parametrize("case", range(len(NESTED)))
def test_nesting_over_an_outer_variable_raises(case):
    with pytest.raises(NotImplementedError, match=r"pat\.\w+ inside pat\.\w+.*miss a term"):
        NESTED[case]()


def test_nesting_without_outer_variables_is_exact():
    # the inner derivative is a constant of the outer function: nothing is dropped
    g = pat.grad(lambda x: x * pat.grad(lambda y: y * y)(2.0))(3.0)
    assert float(g) == 4.0
    h = 1e-6
    f = lambda x: x * 2 * 2.0  # noqa: E731
    assert abs(float(g) - (f(3.0 + h) - f(3.0 - h)) / (2 * h)) < 1e-6


def test_transforms_still_work_after_a_refused_nesting():
    with pytest.raises(NotImplementedError):
        NESTED[0]()
    np.testing.assert_allclose(pat.grad(lambda x: x * x)(3.0), 6.0)
    np.testing.assert_allclose(pat.hessian(lambda x: (x * x * x).sum())(np.ones(1)), [[6.0]])
