"""The benchmark workloads, written once for every framework compared in bench/.

A workload is an MLP (sizes), a batch size and a loss. Each ``*_step`` function runs one
training step: forward, loss, backward and (when ``lr`` is given) a plain SGD update.
"""

from __future__ import annotations

import numpy as np

import pyautotape as pat

WORKLOADS = {
    # name: (sizes, batch, loss)
    "tiny": ((2, 16, 16, 1), 32, "mse"),
    "small": ((64, 128, 128, 10), 64, "xent"),
    "mnist": ((784, 256, 128, 10), 128, "xent"),
    "large": ((784, 1024, 1024, 10), 256, "xent"),
}


def make_data(name: str, dtype=np.float32, seed: int = 0):
    sizes, batch, loss = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype))
        params.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    if loss == "mse":
        y = rng.normal(size=(batch, sizes[-1])).astype(dtype)
    else:
        y = rng.integers(0, sizes[-1], batch)
    return params, X, y, loss


def gemm_flops(name: str, input_grad: bool = False) -> int:
    """GEMM FLOPs of one forward + backward: 2mkn per GEMM; the first layer's dX is
    skipped (the input needs no gradient), and with ``input_grad`` all dW are skipped."""
    sizes, batch, _ = WORKLOADS[name]
    total = 0
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += 2 * batch * k * n  # forward
        if not input_grad:
            total += 2 * batch * k * n  # dW
        if i > 0 or input_grad:
            total += 2 * batch * k * n  # dX
    return total


def pat_step(params: list[pat.Tensor], X, y, loss: str, lr: float | None = None):
    h = pat.tensor(X)
    n = len(params) // 2
    for i in range(n):
        h = pat.linear(h, params[2 * i], params[2 * i + 1])
        if i < n - 1:
            h = pat.relu(h)
    out = pat.mse_loss(h, y) if loss == "mse" else pat.cross_entropy(h, y)
    out.backward()
    if lr is not None:
        with pat.no_grad():
            for p in params:
                p.data[...] -= lr * p.grad.data  # manual SGD, only for the eager bench
                p.grad = None
    return out


def numpy_step(params: list[np.ndarray], X, y, loss: str, lr: float | None = None):
    """The same step written by hand in NumPy (what a course exercise would write)."""
    n = len(params) // 2
    acts, pre = [X], []
    h = X
    for i in range(n):
        z = h @ params[2 * i].T + params[2 * i + 1]
        pre.append(z)
        h = np.maximum(z, 0) if i < n - 1 else z
        acts.append(h)
    b = len(X)
    if loss == "mse":
        diff = h - y
        value = (diff * diff).mean()
        d = 2 * diff / diff.size
    else:
        z = h - h.max(1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(1, keepdims=True)
        value = -np.log(p[np.arange(b), y]).mean()
        d = p
        d[np.arange(b), y] -= 1
        d /= b
    grads = [None] * len(params)
    for i in range(n - 1, -1, -1):
        grads[2 * i] = d.T @ acts[i]
        grads[2 * i + 1] = d.sum(0)
        if i > 0:
            d = (d @ params[2 * i]) * (pre[i - 1] > 0)
    if lr is not None:
        for p, g in zip(params, grads, strict=True):
            p -= lr * g
    return value, grads
