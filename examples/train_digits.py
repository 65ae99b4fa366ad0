"""Train an MLP on the bundled 8x8 handwritten digits: the script a user would write.

python examples/train_digits.py --epochs 30
"""

import argparse

import pyautotape as pat
from pyautotape import data, nn, optim

parser = argparse.ArgumentParser(description="Train an MLP on the 8x8 digits.")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--save", metavar="PATH", help="save the trained weights (.npz)")
args = parser.parse_args()

pat.manual_seed(0)  # initialisation and shuffling are reproducible
X, y = data.load_digits()
X_train, X_test, y_train, y_test = data.train_test_split(X / 16.0, y, test_size=0.2, seed=0)
loader = data.DataLoader(X_train, y_train, batch_size=args.batch_size)

model = nn.MLP([64, 128, 64, 10])  # Linear-ReLU-Linear-ReLU-Linear
loss_fn = nn.CrossEntropyLoss()
opt = optim.Adam(model.parameters(), lr=args.lr)

for epoch in range(1, args.epochs + 1):
    total = 0.0
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        total += loss.item() * len(yb)
    with pat.no_grad():
        accuracy = (model(X_test).numpy().argmax(axis=1) == y_test).mean()
    print(f"epoch {epoch:3d}  loss {total / len(y_train):.4f}  test accuracy {accuracy:.2%}")

if args.save:
    pat.save(model.state_dict(), args.save)
    print(f"saved {args.save}")
