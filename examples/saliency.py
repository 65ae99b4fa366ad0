"""Saliency: which pixels move the predicted class score? The gradient of that score with
respect to the input image only, via ``pat.autograd.grad(score, [x])``.

Reverse mode computes only what the requested input needs: no weight gradient is formed
(the backward sweep runs one GEMM per layer, for dX, instead of two), and no ``.grad``
is touched. The map is printed as 8x8 text; ``--plot PATH`` also draws it (matplotlib).

    python examples/saliency.py --epochs 20 --index 3
"""

import argparse
import sys

import numpy as np

import pyautotape as pat
from pyautotape import data, nn, optim
from pyautotape.tensor import last_sweep_stats

parser = argparse.ArgumentParser(description="Input-gradient saliency of a digits MLP.")
parser.add_argument("--epochs", type=int, default=20, help="training epochs first")
parser.add_argument("--index", type=int, default=0, help="which test image to explain")
parser.add_argument("--plot", metavar="PATH", help="also save image + saliency as a PNG")
args = parser.parse_args()

pat.manual_seed(0)
X, y = data.load_digits()
X_train, X_test, y_train, y_test = data.train_test_split(X / 16.0, y, test_size=0.2, seed=0)
model = nn.MLP([64, 64, 10])
loss_fn = nn.CrossEntropyLoss()
opt = optim.Adam(model.parameters(), lr=2e-3)
for _ in range(args.epochs):
    for xb, yb in data.DataLoader(X_train, y_train, batch_size=32):
        loss_fn(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()

# the input is the only tensor we ask a gradient for
x = pat.tensor(X_test[args.index : args.index + 1], requires_grad=True)
logits = model(x)
predicted = int(logits.numpy().argmax())
score = logits[0, predicted]  # the predicted class score, a scalar
(saliency,) = pat.autograd.grad(score, [x])
stats = last_sweep_stats()
assert all(p.grad is None for p in model.parameters())  # no weight gradients anywhere

sal = np.abs(saliency.numpy().reshape(8, 8))
print(f"test image {args.index}: label {y_test[args.index]}, predicted {predicted}")
print(f"backward sweep: {stats['gemm_calls']} GEMMs (dX only: weight gradients skipped)")
shades = " .:-=+*#%@"
image = X_test[args.index].reshape(8, 8)
print("image      saliency = |d score / d pixel|, scaled to its max")
for row_img, row_sal in zip(image, sal / sal.max(), strict=True):
    left = "".join(shades[int(v * 9.99)] for v in row_img)
    right = "".join(shades[int(v * 9.99)] for v in row_sal)
    print(f"{left}   {right}")

if args.plot:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: pip install 'pyautotape[plot]'")
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3))
    a.imshow(image, cmap="gray_r")
    a.set_title(f"label {y_test[args.index]}, predicted {predicted}")
    b.imshow(sal, cmap="hot")
    b.set_title("|d score / d pixel|")
    for ax in (a, b):
        ax.axis("off")
    fig.savefig(args.plot, dpi=100)
    print(f"saved {args.plot}")
