"""The chain rule on scalar functions: the tape composes exact local derivatives.

For f(x) = tanh(x²) the tape records two ops, u = x² and f = tanh(u). The reverse sweep
multiplies their local derivatives, df/dx = (1 - tanh²u) · 2x: exactly the hand
derivative, with no step size and no truncation error. This script checks four
compositions against their derivatives worked out by hand, at 2,001 points each, and prints
the tape of one of them.

    python examples/course/c01_chain_rule.py
"""

import numpy as np
from _common import parse, pyplot, save

import pyautotape as pat

args = parse(__doc__)
n = 201 if args.small else 2001


def sig(x):
    return 1 / (1 + np.exp(-x))


# name: (f on Tensors, f in NumPy, f' by hand, domain)
CASES = {
    "tanh(x^2)": (lambda x: pat.tanh(x**2), lambda x: np.tanh(x**2),
                  lambda x: (1 - np.tanh(x**2) ** 2) * 2 * x, (-2, 2)),
    "exp(sqrt(x))": (lambda x: pat.exp(pat.sqrt(x)), lambda x: np.exp(np.sqrt(x)),
                     lambda x: np.exp(np.sqrt(x)) / (2 * np.sqrt(x)), (0.05, 4)),
    "sigmoid(x^3 - x)": (lambda x: pat.sigmoid(x**3 - x), lambda x: sig(x**3 - x),
                         lambda x: sig(x**3 - x) * (1 - sig(x**3 - x)) * (3 * x**2 - 1), (-2, 2)),
    "x * log(1 + exp(-x^2))": (lambda x: x * pat.log(1 + pat.exp(-(x**2))),
                               lambda x: x * np.log1p(np.exp(-(x**2))),
                               lambda x: np.log1p(np.exp(-(x**2)))
                               - 2 * x**2 * np.exp(-(x**2)) / (1 + np.exp(-(x**2))), (-3, 3)),
}

head = ("f(x)", "points", "max |tape - hand|", "max |f'|")
print(f"{head[0]:<26}{head[1]:>8}{head[2]:>20}{head[3]:>10}")
worst = 0.0
for name, (f, f_np, df, (lo, hi)) in CASES.items():
    x = np.linspace(lo, hi, n)
    # f is elementwise, so the gradient of sum(f(x)) is f'(x) at every point at once
    g = pat.grad(lambda t, f=f: f(t).sum())(x)
    err = float(np.max(np.abs(g - df(x))))
    val = pat.tensor(x)
    assert np.allclose(f(val).numpy(), f_np(x), rtol=1e-13, atol=1e-15)
    print(f"{name:<26}{n:>8}{err:>20.2e}{np.max(np.abs(df(x))):>10.3f}")
    worst = max(worst, err)
assert worst < 1e-12, worst  # exact up to float64 round-off: no step size involved

# the tape of one composition at one point, and the chain rule read off it
x0 = 0.7
x = pat.tensor(np.array(x0), requires_grad=True)
with pat.Tape() as tape:
    u = x**2
    y = pat.tanh(u)
print("\nthe tape of tanh(x^2) at x = 0.7:")
print(tape.summary())
(gx,) = pat.autograd.grad(y, [x])
local = [2 * x0, 1 - np.tanh(x0**2) ** 2]  # du/dx, dy/du
print(f"du/dx = 2x = {local[0]:.6f}; dy/du = 1 - tanh(u)^2 = {local[1]:.6f}")
print(f"chain rule: dy/dx = {local[0] * local[1]:.15f}")
print(f"reverse sweep:      {gx.item():.15f}")
_, tangent = pat.jvp(lambda t: pat.tanh(t**2), (np.array(x0),), (np.array(1.0),))
print(f"forward (jvp):      {float(tangent):.15f}")
assert abs(gx.item() - local[0] * local[1]) < 1e-15
assert abs(float(tangent) - local[0] * local[1]) < 1e-15
assert [e.op for e in tape] == ["pow", "tanh"]

plt = pyplot()
if plt is not None:
    fig, axes = plt.subplots(1, len(CASES), figsize=(13, 3))
    for ax, (name, (f, f_np, df, (lo, hi))) in zip(axes, CASES.items(), strict=True):
        x = np.linspace(lo, hi, 400)
        ax.plot(x, f_np(x), label="f")
        ax.plot(x, pat.grad(lambda t, f=f: f(t).sum())(x), label="f' (tape)")
        ax.plot(x[::25], df(x[::25]), "k.", label="f' (hand)")
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=8)
    save(fig, args.png_dir, "c01_chain_rule.png")
print("claims hold: the tape's derivative equals the hand derivative to round-off")
