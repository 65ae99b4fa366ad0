"""The gradient with respect to the input does not need the gradients of the weights.

Backpropagating through y = x Wᵀ + b can produce dX = dY W (to keep going towards the
input) and dW = dYᵀ X (to update the weights): two GEMMs of the same size. When only the
input's gradient is wanted (saliency maps, adversarial examples, a physics model's force
from its energy) the second GEMM is wasted work. ``pat.autograd.grad(out, [x])`` marks
which values lie on a path from x before the sweep, and the C core then skips every dW
(and every bias sum): half the backward GEMM FLOPs, whatever the weights'
``requires_grad`` says. This script measures it with the C core's own counters
(``pyautotape.tensor.last_sweep_stats()``) and the tape's table.

    python examples/course/c09_input_gradient.py
"""

import numpy as np
from _common import best_time, parse, pyplot, save, table

import pyautotape as pat
from pyautotape.tensor import last_sweep_stats

args = parse(__doc__)
sizes = [64, 256, 256, 10] if args.small else [784, 1024, 1024, 10]
batch = 64 if args.small else 256
pat.manual_seed(0)
model = pat.nn.MLP(sizes)
X = np.random.default_rng(0).random((batch, sizes[0]), dtype=np.float32)
labels = np.arange(batch) % 10
x = pat.tensor(X, requires_grad=True)


def loss_fn():
    return pat.cross_entropy(model(x), labels)


def everything():
    model.zero_grad()
    x.grad = None
    loss_fn().backward()


def input_only():
    return pat.autograd.grad(loss_fn(), [x])


everything()
all_stats = last_sweep_stats()
(gx,) = input_only()
x_stats = last_sweep_stats()
assert np.allclose(gx.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-7)  # the same dX

with pat.Tape() as tape:
    loss_fn()
t_all = best_time(everything, repeat=5 if args.small else 20)
t_x = best_time(input_only, repeat=5 if args.small else 20)
lin = [e for e in tape if e.op == "linear"]
names = dict(model.named_parameters()) | {"x": x}
dx_flops = sum(2 * e.m * e.k * e.n for e in lin)  # one dX GEMM per layer
rows = [
    ("every gradient (backward())", all_stats["gemm_calls"], f"{all_stats['gemm_flops']:,}",
     f"{t_all * 1e3:.3f}"),
    ("input only (autograd.grad)", x_stats["gemm_calls"], f"{x_stats['gemm_flops']:,}",
     f"{t_x * 1e3:.3f}"),
]
print(f"MLP {'-'.join(map(str, sizes))}, batch {batch}, float32: one training-sized forward "
      "+ backward")
print(table(rows, ("gradients", "GEMM calls", "GEMM FLOPs (C counters)", "time ms")))
print("\nthe tape's view (backward FLOPs by record, for wrt=[x]):")
print(tape.summary(wrt=[x], names=names))
saved = 1 - x_stats["gemm_flops"] / all_stats["gemm_flops"]
print(f"\nskipping the weight gradients saves {saved:.0%} of the backward GEMM FLOPs and "
      f"{1 - t_x / t_all:.0%} of the time (forward pass included)")
assert x_stats["gemm_flops"] == dx_flops  # dX GEMMs only
assert all_stats["gemm_flops"] == 2 * dx_flops  # dX and dW, the same size each
assert x_stats["gemm_calls"] == len(lin) and all_stats["gemm_calls"] == 2 * len(lin)
assert all(p.grad is None for p in model.parameters()) is False  # backward() filled them
model.zero_grad()
input_only()
assert all(p.grad is None for p in model.parameters())  # autograd.grad touched none

plt = pyplot()
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([r[0] for r in rows], [all_stats["gemm_flops"] / 1e6, x_stats["gemm_flops"] / 1e6])
    ax.set_xlabel("backward GEMM MFLOPs")
    save(fig, args.png_dir, "c09_input_gradient.png")
print("claims hold: the input gradient alone runs only the dX GEMMs, half the FLOPs")
