"""Derivatives through an MLP, the output layer and the bias terms, by hand and by tape.

For a 2-layer MLP with softmax cross-entropy (mean over N samples):

    z1 = X W1ᵀ + b1,  a1 = relu(z1),  z2 = a1 W2ᵀ + b2,  L = mean_i CE(z2_i, y_i)

the backward pass by hand is

    dz2 = (softmax(z2) - onehot(y)) / N          the output layer: probabilities minus targets
    dW2 = dz2ᵀ a1,   db2 = Σ_i dz2_i            a bias is added to every row, so its
    da1 = dz2 W2,    dz1 = da1 ⊙ [z1 > 0]        gradient sums the rows' gradients
    dW1 = dz1ᵀ X,    db1 = Σ_i dz1_i

This script checks pyautotape's gradients against these formulas (float64), and that a
bias is exactly a weight on a constant input of 1: folding b into W as an extra column
gives the same gradient in that column.

    python examples/course/c07_mlp_and_bias.py
"""

import numpy as np
from _common import parse

import pyautotape as pat

args = parse(__doc__)
rng = np.random.default_rng(0)
N, D, H, C = (16, 5, 12, 4) if args.small else (128, 20, 64, 10)
X = rng.standard_normal((N, D))
y = rng.integers(0, C, N)
W1, b1 = rng.standard_normal((H, D)) / np.sqrt(D), 0.1 * rng.standard_normal(H)
W2, b2 = rng.standard_normal((C, H)) / np.sqrt(H), 0.1 * rng.standard_normal(C)

# ---- by hand ----------------------------------------------------------------------
z1 = X @ W1.T + b1
a1 = np.maximum(z1, 0)
z2 = a1 @ W2.T + b2
p = np.exp(z2 - z2.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
loss_hand = -np.log(p[np.arange(N), y]).mean()
dz2 = (p - np.eye(C)[y]) / N
hand = {"W2": dz2.T @ a1, "b2": dz2.sum(0)}
dz1 = (dz2 @ W2) * (z1 > 0)
hand |= {"W1": dz1.T @ X, "b1": dz1.sum(0)}

# ---- by tape ----------------------------------------------------------------------
params = {k: pat.tensor(v, requires_grad=True) for k, v in
          {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items()}
logits = pat.linear(pat.relu(pat.linear(pat.tensor(X), params["W1"], params["b1"])),
                    params["W2"], params["b2"])
loss = pat.cross_entropy(logits, y)
loss.backward(retain_graph=True)  # the output layer is inspected below
print(f"MLP {D}-{H}-{C}, N = {N}, float64: loss {loss.item():.6f} (by hand {loss_hand:.6f})")
print(f"{'parameter':<10}{'shape':>10}{'max |tape - hand|':>20}")
worst = 0.0
for k in ("W1", "b1", "W2", "b2"):
    err = float(np.max(np.abs(params[k].grad.numpy() - hand[k])))
    worst = max(worst, err)
    print(f"{k:<10}{str(hand[k].shape):>10}{err:>20.2e}")
assert abs(loss.item() - loss_hand) < 1e-14 and worst < 1e-14

# the output layer: dL/dz2 is (probabilities - one-hot) / N
(g_logits,) = pat.autograd.grad(pat.cross_entropy(logits, y), [logits])
assert np.allclose(g_logits.numpy(), dz2, atol=1e-16)
print("dL/dlogits = (softmax - onehot) / N: matches")

# the bias sums over the batch: the same as a broadcast add, and as a weight on a 1-input
b_alone = pat.tensor(b1, requires_grad=True)
z_add = pat.linear(pat.tensor(X), pat.tensor(W1)) + b_alone  # broadcast over N rows
(g_add,) = pat.autograd.grad(z_add, [b_alone], grad_outputs=dz1)
assert np.allclose(g_add.numpy(), dz1.sum(0), atol=1e-15)
W1b = pat.tensor(np.hstack([W1, b1[:, None]]), requires_grad=True)  # [W1 | b1]
X1 = pat.tensor(np.hstack([X, np.ones((N, 1))]))  # [X | 1]
(g_fold,) = pat.autograd.grad(pat.linear(X1, W1b), [W1b], grad_outputs=dz1)
assert np.allclose(g_fold.numpy()[:, -1], hand["b1"], atol=1e-15)
assert np.allclose(g_fold.numpy()[:, :-1], hand["W1"], atol=1e-15)
print("db1 = sum over the batch of dz1 = the gradient of a weight on a constant input 1")

# the C sweep only forms the bias sum when the bias wants a gradient
for t in params.values():
    t.grad = None
params["b1"].requires_grad = False
pat.cross_entropy(pat.linear(pat.relu(pat.linear(pat.tensor(X), params["W1"], params["b1"])),
                             params["W2"], params["b2"]), y).backward()
assert params["b1"].grad is None and np.allclose(params["W1"].grad.numpy(), hand["W1"])
print("claims hold: tape gradients equal the hand derivation; a bias is a weight on 1")
