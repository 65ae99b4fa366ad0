"""Train a regularised MLP on the bundled 8x8 digits the PyTorch way: Dropout, LayerNorm,
AdamW with weight decay, a one-cycle learning-rate schedule and gradient-norm clipping.
The same script runs the step eagerly and compiled (pat.compile records it once and
replays it in C), and checks that both train to bitwise the same weights.

python examples/train_digits_regularized.py --epochs 30
"""

import argparse

import numpy as np

import pyautotape as pat
from pyautotape import data, nn, optim

parser = argparse.ArgumentParser(description="Regularised MLP on the 8x8 digits.")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
parser.add_argument("--dropout", type=float, default=0.1)
parser.add_argument("--weight-decay", type=float, default=1e-2)
parser.add_argument("--clip", type=float, default=1.0, help="max gradient 2-norm")
args = parser.parse_args()

X, y = data.load_digits()
X_train, X_test, y_train, y_test = data.train_test_split(X / 16.0, y, test_size=0.2, seed=0)
X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)


def train(compiled: bool) -> tuple[nn.Module, float]:
    pat.manual_seed(0)  # initialisation, shuffling and the dropout masks
    model = nn.Sequential(
        nn.Linear(64, 128), nn.LayerNorm(128), nn.ReLU(), nn.Dropout(args.dropout),
        nn.Linear(128, 64), nn.LayerNorm(64), nn.ReLU(), nn.Dropout(args.dropout),
        nn.Linear(64, 10),
    )
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    loader = data.DataLoader(X_train, y_train, batch_size=args.batch_size, shuffle=True)

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        return loss

    if compiled:
        step = pat.compile(step)
    # torch's OneCycleLR: lr from peak/25 up to the peak and down to peak/(25 * 1e4), beta1
    # the other way; the compiled step reads the new values without re-recording
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr,
                                          total_steps=args.epochs * len(loader))
    for epoch in range(1, args.epochs + 1):
        model.train()
        running = 0.0
        for xb, yb in loader:
            running += step(xb, yb).item() * len(yb)
            sched.step()
        model.eval()
        with pat.no_grad():
            acc = float((model(X_test).numpy().argmax(axis=1) == y_test).mean())
        if epoch == args.epochs or epoch % 10 == 0:
            mode = "compiled" if compiled else "eager   "
            print(f"{mode} epoch {epoch:3d}  loss {running / len(y_train):.4f}  "
                  f"test accuracy {acc:.2%}")
    if compiled:
        print(f"compiled steps: {step.stats}")
    return model, acc


eager_model, eager_acc = train(compiled=False)
compiled_model, compiled_acc = train(compiled=True)
same = all(a.tobytes() == b.tobytes() for a, b in zip(
    eager_model.state_dict().values(), compiled_model.state_dict().values(), strict=True))
print(f"eager {eager_acc:.2%}, compiled {compiled_acc:.2%}, same weights bitwise: {same}")
