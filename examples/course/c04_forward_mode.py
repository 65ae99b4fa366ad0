"""Computational graphs and forward mode: push a tangent through the same tape.

The tape *is* the computational graph, in execution order. Forward mode walks it from the
first record to the last, carrying next to each value its tangent (its derivative along
a direction u): one sweep gives J u, with the same local derivatives the reverse sweep
uses. ``pat.jvp(f, primals, tangents, stream=True)`` goes further and keeps no tape at
all: each op's tangent is pushed the moment the op runs and the op's inputs can be freed,
so memory stays that of the live values, however deep f is. Reverse mode cannot do that:
it needs the activations again on the way back.

    python examples/course/c04_forward_mode.py
"""

import os
import tracemalloc

import numpy as np
from _common import parse, save

import pyautotape as pat

args = parse(__doc__)
rng = np.random.default_rng(0)

# ---- the graph of a small f: R^4 -> R^3 -----------------------------------------------
W1, b1, W2 = rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal((3, 6))


def f(x):
    return pat.tanh(pat.linear(pat.relu(pat.linear(x, pat.tensor(W1), pat.tensor(b1))),
                               pat.tensor(W2)))


x0 = rng.standard_normal(4)
x = pat.tensor(x0, requires_grad=True)
with pat.Tape() as tape:
    y = f(x)
print("the tape of f(x) = tanh(W2 relu(W1 x + b1)) is its computational graph:")
print(tape.summary(names={"x": x}))
dot = tape.to_dot(names={"x": x})
print("\nits Graphviz DOT text begins:")
print("\n".join(dot.splitlines()[:8]) + "\n  ...")
try:
    os.makedirs(args.png_dir, exist_ok=True)
    print("wrote", tape.render(os.path.join(args.png_dir, "c04_graph.png"), names={"x": x}))
except (ImportError, RuntimeError):
    print("(graphviz is not installed: tape.render skipped; tape.to_dot() needs nothing)")
assert dot.count("[shape=box") == len(tape) == 4

# ---- one tangent sweep gives J u ------------------------------------------------------
u = rng.standard_normal(4)
out, ju = pat.jvp(f, (x0,), (u,))
J = pat.jacfwd(f)(x0)
h = 1e-6
with pat.no_grad():
    fd = (f(pat.tensor(x0 + h * u)).numpy() - f(pat.tensor(x0 - h * u)).numpy()) / (2 * h)
print(f"\nJ u by one tangent sweep:  {np.array2string(ju, precision=6)}")
print(f"J (jacfwd) @ u:            {np.array2string(J @ u, precision=6)}")
print(f"central difference along u: {np.array2string(fd, precision=6)}")
assert np.allclose(ju, J @ u, atol=1e-14) and np.allclose(ju, fd, atol=1e-8)
before = pat.transforms.engine_counts()
pat.jvp(f, (x0,), (u,))
after = pat.transforms.engine_counts()
assert after["reverse_sweeps"] == before["reverse_sweeps"]  # no reverse sweep ran
assert after["adjoint_buffers"] == before["adjoint_buffers"]  # and no adjoint buffer

# ---- memory: forward mode needs no stored activations ----------------------------------
depth = 60 if args.small else 200
width = 20_000 if args.small else 100_000
xd = rng.standard_normal(width)
ud = rng.standard_normal(width)
act = xd.nbytes


def deep(t):
    for _ in range(depth):
        t = pat.tanh(t * 1.01)
    return t


def peak(fn):
    tracemalloc.start()
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


xt = pat.tensor(xd, requires_grad=True)
with pat.Tape() as deep_tape:
    deep(xt).sum()
saved = sum(e.saved_bytes for e in deep_tape)
rows = [
    ("jvp, stream=True (no tape)", peak(lambda: pat.jvp(deep, (xd,), (ud,), stream=True))),
    ("jvp over the tape", peak(lambda: pat.jvp(deep, (xd,), (ud,)))),
    ("vjp (reverse mode)", peak(lambda: pat.vjp(deep, xd)[1](np.ones(width)))),
]
print(f"\n{depth} layers of tanh(1.01 x) on {width:,} float64 values "
      f"(one activation = {act / 2**20:.2f} MiB); the tape saves {saved / 2**20:.1f} MiB")
for name, top in rows:
    print(f"  {name:<28} peak memory {top / 2**20:8.2f} MiB = {top / act:6.1f} activations")
assert rows[0][1] < 12 * act  # streaming forward mode: a handful of live arrays, any depth
assert rows[2][1] > depth * act  # reverse mode holds every activation
assert saved >= depth * act
_, t_stream = pat.jvp(deep, (xd,), (ud,), stream=True)
_, t_tape = pat.jvp(deep, (xd,), (ud,))
assert np.array_equal(t_stream, t_tape)  # the same numbers either way

from _common import pyplot  # noqa: E402

plt = pyplot()
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([r[0] for r in rows], [r[1] / 2**20 for r in rows])
    ax.set_xlabel("peak memory (MiB)")
    ax.set_title(f"{depth}-layer chain: forward mode stores no activations")
    save(fig, args.png_dir, "c04_memory.png")
print("claims hold: one tangent sweep gives J u; streaming forward mode stores no activations")
