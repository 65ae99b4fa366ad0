"""Reverse mode stores activations on the way forward and reads them on the way back.

The backward rule of y = x Wᵀ + b needs x (for dW = dYᵀ x) and W (for dX = dY W); ReLU's
needs its output (the mask y > 0). So the tape must keep them until the backward sweep,
which is why training needs memory proportional to depth × batch, and why inference
under ``pat.no_grad()`` needs none of it. pyautotape keeps *exactly* what the requested
gradients read: nothing for a value no rule reads, x only when W needs a gradient, W only
when x does. ``pat.Tape().summary()`` shows the bytes per record; this script checks them
against the sum of the arrays, worked out by hand, for four cases.

    python examples/course/c06_reverse_mode_memory.py
"""

import numpy as np
from _common import parse, pyplot, save, table

import pyautotape as pat

args = parse(__doc__)
batch = 64 if args.small else 200
sizes = [64, 256, 128, 10]
pat.manual_seed(0)
model = pat.nn.MLP(sizes)
X = np.random.default_rng(0).random((batch, sizes[0]), dtype=np.float32)
labels = np.arange(batch) % 10
F = 4  # bytes per float32
params = list(model.parameters())  # (parameters() lists only tensors requiring grad)


def tape_of(x_grad, w_grad):
    for p in params:
        p.requires_grad = w_grad
    x = pat.tensor(X, requires_grad=x_grad)
    with pat.Tape() as tape:
        pat.cross_entropy(model(x), labels)
    for p in params:
        p.requires_grad = True
    return tape


acts = [batch * s * F for s in sizes]  # x, the two hidden activations, the logits
weights = [o * i * F for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
probs = acts[-1] + batch * 8  # cross_entropy keeps the probabilities and int64 labels
expect = {
    # x is kept for dW1; ReLU outputs (= next inputs) for the mask and dW2, dW3;
    # W2, W3 for dX of layers 2 and 3 (W1 is not needed: x wants no gradient)
    "train (weights)": acts[0] + acts[1] + acts[2] + weights[1] + weights[2] + probs,
    # input gradient only: no x for a dW; every W for its dX; ReLU outputs for the masks
    "input gradient only": weights[0] + weights[1] + weights[2] + acts[1] + acts[2] + probs,
    "weights and input": acts[0] + acts[1] + acts[2] + sum(weights) + probs,
}
rows = []
for name, (xg, wg) in {"train (weights)": (False, True), "input gradient only": (True, False),
                       "weights and input": (True, True)}.items():
    tape = tape_of(xg, wg)
    line = tape.summary().splitlines()
    total = [ln for ln in line if ln.startswith("saved for backward")][0]
    got = sum(nb for nb in {tok: nb for e in tape for tok, nb in e.saved_ids}.values())
    rows.append((name, f"{got:,}", f"{expect[name]:,}", total.split(":")[1].split("(")[0]))
    assert got == expect[name], (name, got, expect[name])
with pat.no_grad():
    with pat.Tape() as tape:
        pat.cross_entropy(model(pat.tensor(X)), labels)
rows.append(("inference (no_grad)", f"{len(tape)} records", "0", "0 B"))
assert len(tape) == 0

print(f"MLP {'-'.join(map(str, sizes))} (ReLU), batch {batch}, float32")
print(table(rows, ("gradients for", "saved bytes", "by hand", "summary says")))
print("\nthe tape of a training step:")
tape = tape_of(False, True)
print(tape.summary(names=dict(model.named_parameters())))

# memory grows with the batch (activations), not with the number of steps
per_batch = []
for b in (32, 64, 128):
    x = pat.tensor(X[:b] if b <= batch else np.tile(X, (b // batch + 1, 1))[:b])
    with pat.Tape() as t:
        pat.cross_entropy(model(x), labels[:b] if b <= batch else np.arange(b) % 10)
    per_batch.append(sum(e.saved_bytes for e in t))
print("\nsaved bytes (per record, summed) at batch 32, 64, 128:", per_batch)
slope1, slope2 = per_batch[1] - per_batch[0], per_batch[2] - per_batch[1]
assert slope2 == 2 * slope1  # linear in the batch: activations, plus fixed weights

plt = pyplot()
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar([r[0] for r in rows[:3]], [int(r[1].replace(",", "")) / 2**10 for r in rows[:3]])
    ax.set_ylabel("KiB kept for backward")
    ax.set_title("what the tape keeps depends on which gradients are asked for")
    save(fig, args.png_dir, "c06_saved_bytes.png")
print("claims hold: the tape keeps exactly the arrays the requested backward rules read")
