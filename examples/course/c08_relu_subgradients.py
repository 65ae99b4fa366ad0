"""ReLU at exactly 0: any value in [0, 1] is a valid subgradient. Does the choice matter?

relu is not differentiable at 0; its subgradients there are every s in [0, 1], and
``pat.relu(x, subgradient=s)`` (or ``pat.nn.ReLU(subgradient=s)``, or the global
``pat.set_relu_subgradient(s)``) picks one. ``pat.Tape().kinks()`` counts how many ReLU
arguments were *exactly* 0 in each pass, which tells when the choice can matter:

1. Ordinary training (random initialisation, float data): exact zeros essentially never
   happen, so s = 0, 0.5 and 1 give bitwise the same training run.
2. A first layer initialised to exactly zero: every pre-activation is exactly 0 in the
   first pass. With s = 0 no gradient ever reaches that layer and the network is stuck;
   with s = 0.5 or 1 the first step moves it off the kink and it learns.

    python examples/course/c08_relu_subgradients.py
"""

import numpy as np
from _common import parse, pyplot, save, table

import pyautotape as pat
from pyautotape import data, nn, optim

args = parse(__doc__)
steps = 150 if args.small else 600
X, y = data.make_moons(n_samples=256, noise=0.15, seed=0, dtype=np.float32)
SUBS = (0.0, 0.5, 1.0)


def train(s, zero_first_layer=False):
    pat.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(subgradient=s), nn.Linear(32, 32),
                          nn.ReLU(subgradient=s), nn.Linear(32, 2))
    if zero_first_layer:
        model[0].weight.data[...] = 0.0
        model[0].bias.data[...] = 0.0
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses, hits, first = [], 0, None
    for _ in range(steps):
        with pat.Tape() as tape:
            loss = pat.cross_entropy(model(X), y)
        at_kink = sum(k.at_kink for k in tape.kinks())
        hits += at_kink
        first = at_kink if first is None else first
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    acc = float((model(X).numpy().argmax(1) == y).mean())
    return np.array(losses), hits, first, acc, model


rows, runs = [], {}
for zero in (False, True):
    for s in SUBS:
        losses, hits, first, acc, model = train(s, zero)
        runs[(zero, s)] = (losses, hits, first, acc, model)
        rows.append(("zero first layer" if zero else "random init", s, f"{first:,}",
                     f"{hits:,}", f"{losses[-1]:.4f}", f"{acc:.1%}"))
n_args = len(X) * 64
print(f"moons (256 points), MLP 2-32-32-2, SGD momentum 0.9, {steps} full-batch steps;")
print(f"each pass has {n_args:,} ReLU arguments")
print(table(rows, ("init", "s", "exact zeros, step 1", "exact zeros, all steps",
                   "final loss", "accuracy")))

# 1. no exact zero was ever hit: the subgradient never entered the arithmetic
base = runs[(False, 0.0)]
assert base[1] == 0
for s in SUBS[1:]:
    assert np.array_equal(runs[(False, s)][0], base[0])  # bitwise the same losses
print("\nrandom init: no ReLU argument was ever exactly 0, so s = 0, 0.5, 1 train bitwise alike")

# 2. at a zero-initialised layer every argument of the first ReLU is exactly 0
stuck = runs[(True, 0.0)]
assert stuck[2] >= len(X) * 32
assert not stuck[4][0].weight.numpy().any()  # s = 0: W1 never moves
for s in SUBS[1:]:
    assert runs[(True, s)][4][0].weight.numpy().any()
    assert runs[(True, s)][0][-1] < stuck[0][-1] - 0.05  # and the network learns
print("zero-initialised first layer: with s = 0 it never leaves the kink (W1 stays 0); "
      "s > 0 lets it learn")

plt = pyplot()
if plt is not None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, zero in zip(axes, (False, True), strict=True):
        for s in SUBS:
            ax.plot(runs[(zero, s)][0], label=f"s = {s}", ls="-" if s == 0 else "--")
        ax.set_title("zero-initialised first layer" if zero else "random initialisation")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend()
    axes[0].set_ylabel("training loss")
    save(fig, args.png_dir, "c08_relu_subgradients.png")
print("claims hold: the subgradient matters exactly when arguments sit at 0")
