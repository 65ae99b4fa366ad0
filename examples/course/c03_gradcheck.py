"""A gradient check that explains itself: the step it chose, the V-curve it chose it
from, and the entries it could not judge because the step crossed a kink.

1. float32, smooth f: a fixed float64-sized step (1e-6) fails honestly-correct
   gradients (round-off ε/h ≈ 0.1 dominates); the eps sweep finds the bottom of the V
   (about 1e-2) by itself, without looking at the analytic gradient, and passes.
2. A ReLU MLP at a point where one pre-activation is exactly 0: every step crosses the
   kink, so the secant averages the two one-sided slopes and matches no derivative.
   gradcheck lists those entries as "kink crossed" and checks all the others.
3. The same check still catches a backward rule that is wrong by 0.1 %.

    python examples/course/c03_gradcheck.py
"""

import numpy as np
from _common import parse, pyplot

import pyautotape as pat

args = parse(__doc__)
rng = np.random.default_rng(3)

# ---- 1. float32: the step matters --------------------------------------------------


def smooth(x, w):
    return pat.log_softmax(pat.tanh(pat.linear(x, w)))


xs = [rng.standard_normal((4, 5)).astype(np.float32),
      rng.standard_normal((3, 5)).astype(np.float32)]
fixed = pat.gradcheck(smooth, xs, eps=1e-6, raise_exception=False)
auto = pat.gradcheck(smooth, xs)
print("float32, eps fixed at 1e-6 (float64's step):",
      "passed" if fixed else "FAILED", f"(max abs err {fixed.inputs[0].max_abs_err:.1e})")
print("float32, eps='auto':")
print(auto)
assert not fixed and auto
assert all(1e-3 <= c.eps <= 1e-1 for c in auto.checks)
if pyplot() is not None:
    import os

    os.makedirs(args.png_dir, exist_ok=True)
    print("wrote", auto.plot(os.path.join(args.png_dir, "c03_gradcheck_sweep.png")))

# ---- 2. a ReLU MLP exactly at a kink -------------------------------------------------


def mlp_args():
    r = np.random.default_rng(0)
    x = r.standard_normal((5, 4)).astype(np.float32)
    w1 = (0.5 * r.standard_normal((8, 4))).astype(np.float32)
    b1 = (0.1 * r.standard_normal(8)).astype(np.float32)
    w2 = (0.5 * r.standard_normal((3, 8))).astype(np.float32)
    b2 = (0.1 * r.standard_normal(3)).astype(np.float32)
    x[0] = [1.0, 0.5, -0.25, 2.0]  # dyadic values: the float32 dot product is exact
    w1[2] = [0.5, 1.0, 2.0, -0.25]
    b1[2] = 0.0  # z[0, 2] = 0.5 + 0.5 - 0.5 - 0.5 + 0 = 0
    return [x, w1, b1, w2, b2]


def mlp(x, w1, b1, w2, b2):
    return pat.linear(pat.relu(pat.linear(x, w1, b1)), w2, b2)


report = pat.gradcheck(mlp, mlp_args())
print("\nReLU MLP 4-8-3 (float32) with the pre-activation z[0, 2] exactly 0:")
print(report)
assert report and len(report.kinks) >= 9
assert all("relu #1" in k.ops for k in report.kinks)

# ---- 3. a wrong backward is still caught ---------------------------------------------


class Off(pat.Function):
    """The identity, with a backward wrong by 0.1 %."""

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g * 1.001

    @staticmethod
    def jvp(ctx, t):
        return t * 1.0


def mlp_off(x, w1, b1, w2, b2):
    return pat.linear(Off.apply(pat.relu(pat.linear(x, w1, b1))), w2, b2)


bad = pat.gradcheck(mlp_off, mlp_args(), raise_exception=False)
print("\nthe same MLP with a backward scaled by 1.001 between the layers:",
      "passed" if bad else "FAILED")
for c in bad.inputs:
    print(f"  input {c.index}: max rel err {c.max_rel_err:.2e} "
          f"({'ok' if c.passed else 'caught'})")
assert not bad and [c.passed for c in bad.inputs] == [False, False, False, True, True]
print("claims hold: the sweep finds the step; kinks are named, not failed; 0.1 % is caught")
