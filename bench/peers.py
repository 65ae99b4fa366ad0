"""The other frameworks' workers of bench/compare.py: PyTorch (eager, lean, torch.compile)
and jax.jit, each one float32 SGD step of a workload of bench/models.py."""

from __future__ import annotations

import os

from timing import LR, _median_us, _reps


def work_torch(name, quick, input_grad=False):
    import torch
    from models import make_data

    params, X, y, loss = make_data(name)
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    opt = torch.optim.SGD(ps, lr=LR)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    n = len(ps) // 2

    def step():
        x = Xt.clone().requires_grad_(input_grad)
        h = x
        for i in range(n):
            h = torch.nn.functional.linear(h, ps[2 * i], ps[2 * i + 1])
            if i < n - 1:
                h = torch.relu(h)
        value = (
            torch.nn.functional.mse_loss(h, yt)
            if loss == "mse"
            else torch.nn.functional.cross_entropy(h, yt)
        )
        if input_grad:
            return torch.autograd.grad(value, [x])
        value.backward()
        opt.step()
        opt.zero_grad()
        return value

    return _median_us(step, _reps(name, quick))


def _torch_setup(name):
    import torch
    from models import make_data

    params, X, y, loss = make_data(name)
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    return torch, ps, torch.from_numpy(X), torch.from_numpy(y), loss


def _torch_loss(torch, ps, x, yt, loss):
    F = torch.nn.functional
    h = x
    n = len(ps) // 2
    for i in range(n):
        h = torch.addmm(ps[2 * i + 1], h, ps[2 * i].t())
        if i < n - 1:
            h = torch.relu(h)
    return F.mse_loss(h, yt) if loss == "mse" else F.cross_entropy(h, yt)


def work_torch_lean(name, quick, input_grad=False):
    """PyTorch with the least framework around the math: addmm, autograd.grad and one
    _foreach_add_ for the update (no optimizer object, no .grad bookkeeping)."""
    torch, ps, Xt, yt, loss = _torch_setup(name)
    if input_grad:
        x = Xt.clone().requires_grad_(True)
        return _median_us(
            lambda: torch.autograd.grad(_torch_loss(torch, ps, x, yt, loss), [x]),
            _reps(name, quick))

    def step():
        value = _torch_loss(torch, ps, Xt, yt, loss)
        grads = torch.autograd.grad(value, ps)
        with torch.no_grad():
            torch._foreach_add_(ps, grads, alpha=-LR)
        return value

    return _median_us(step, _reps(name, quick))


def work_torch_compile(name, quick, input_grad=False):
    """torch.compile (inductor) of the loss and gradients, the update as in torch lean."""
    torch, ps, Xt, yt, loss = _torch_setup(name)
    if input_grad:
        x = Xt.clone().requires_grad_(True)
        g = torch.compile(lambda x: torch.autograd.grad(_torch_loss(torch, ps, x, yt, loss),
                                                        [x]))
        return _median_us(lambda: g(x), _reps(name, quick))

    @torch.compile
    def value_and_grads(X, y):
        value = _torch_loss(torch, ps, X, y, loss)
        value.backward()
        return value

    def step():
        value = value_and_grads(Xt, yt)
        with torch.no_grad():
            torch._foreach_add_(ps, [p.grad for p in ps], alpha=-LR)
        for p in ps:
            p.grad = None
        return value

    return _median_us(step, _reps(name, quick))


def work_jax(name, quick, input_grad=False):
    import jax
    import jax.numpy as jnp
    from models import make_data

    params, X, y, loss = make_data(name)
    ps = [jnp.asarray(p) for p in params]
    n = len(ps) // 2

    def loss_fn(ps, X, y):
        h = X
        for i in range(n):
            h = h @ ps[2 * i].T + ps[2 * i + 1]
            if i < n - 1:
                h = jax.nn.relu(h)
        if loss == "mse":
            return jnp.mean((h - y) ** 2)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(logp[jnp.arange(len(y)), y])

    if input_grad:
        g = jax.jit(jax.grad(loss_fn, argnums=1))
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        return _median_us(lambda: g(ps, Xj, yj).block_until_ready(), _reps(name, quick))

    @jax.jit
    def step(ps, X, y):
        value, grads = jax.value_and_grad(loss_fn)(ps, X, y)
        return [p - LR * g for p, g in zip(ps, grads, strict=True)], value

    state = {"ps": ps}
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def run():
        state["ps"], v = step(state["ps"], Xj, yj)
        v.block_until_ready()

    return _median_us(run, _reps(name, quick))
