"""Fit a 1-D function with an MLP and mean squared error.

python examples/regression.py --epochs 300 --plot fit.png
"""

import argparse
import sys

import numpy as np

import pyautotape as pat
from pyautotape import data, nn, optim

parser = argparse.ArgumentParser(description="Fit y = sin(3x) + x/2 with an MLP.")
parser.add_argument("--epochs", type=int, default=300)
parser.add_argument("--lr", type=float, default=1e-2)
parser.add_argument("--plot", metavar="PATH", help="save data, fit and loss curve as a PNG")
args = parser.parse_args()


def target(x):
    return np.sin(3 * x) + 0.5 * x


pat.manual_seed(0)
rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (256, 1)).astype(np.float32)
Y = (target(X) + 0.05 * rng.standard_normal(X.shape)).astype(np.float32)

model = nn.MLP([1, 64, 64, 1], activation="tanh")
loss_fn = nn.MSELoss()
opt = optim.Adam(model.parameters(), lr=args.lr)
history = []
for epoch in range(1, args.epochs + 1):
    total = 0.0
    for xb, yb in data.DataLoader(X, Y, batch_size=64):
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        total += loss.item() * len(xb)
    history.append(total / len(X))
    if epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
        print(f"epoch {epoch:4d}  mse {history[-1]:.5f}")

grid = np.linspace(-2, 2, 200, dtype=np.float32).reshape(-1, 1)
with pat.no_grad():
    fit = model(grid).numpy()
print(f"max |fit - f| on [-2, 2]: {np.abs(fit - target(grid)).max():.4f}")

if args.plot:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: pip install 'pyautotape[plot]'")
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.scatter(X[:, 0], Y[:, 0], s=6, alpha=0.5, label="data")
    a.plot(grid[:, 0], target(grid)[:, 0], "k--", label="sin(3x) + x/2")
    a.plot(grid[:, 0], fit[:, 0], label="MLP")
    a.legend()
    b.plot(np.arange(1, len(history) + 1), history)
    b.set_yscale("log")
    b.set_xlabel("epoch")
    b.set_ylabel("training MSE")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"saved {args.plot}")
