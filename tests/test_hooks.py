"""Tensor.register_hook and Tensor.retain_grad, checked against torch's semantics."""

import numpy as np
import pytest

import pyautotape as pat

XV = np.array([1.0, -2.0, 0.5])


def _both(build, torch):
    """Run build(lib, x) for pyautotape and torch; return both x.grad arrays."""
    x = pat.tensor(XV, requires_grad=True)
    tx = torch.tensor(XV, requires_grad=True)
    mine, theirs = build(pat, x), build(torch, tx)
    return x, tx, mine, theirs


PROGRAMS = {
    "nonleaf_scale": lambda m, x: _chain(m, x, lambda g: g * 10),
    "nonleaf_observe": lambda m, x: _chain(m, x, lambda g: None),
    "leaf_scale": lambda m, x: _leaf(m, x, lambda g: g * 3),
    "two_hooks_in_order": lambda m, x: _chain(m, x, lambda g: g + 1, lambda g: g * 2),
    "root": lambda m, x: _root(m, x),
}


def _sin(m, t):
    return m.sin(t)


def _chain(m, x, *fns):
    h = x * 3
    h.retain_grad()
    for fn in fns:
        h.register_hook(fn)
    y = (_sin(m, h) * h).sum()
    y.backward()
    return h.grad


def _leaf(m, x, fn):
    x.register_hook(fn)
    (x * x).sum().backward()
    (x * 2).sum().backward()  # accumulates, each call hooked
    return x.grad


def _root(m, x):
    y = (x * x).sum()
    y.register_hook(lambda g: g * 5)
    y.backward()
    return None


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_hooks_match_torch(name):
    torch = pytest.importorskip("torch")
    x, tx, mine, theirs = _both(PROGRAMS[name], torch)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    if theirs is not None:
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12)


def test_autograd_grad_runs_hooks_and_captures_as_torch():
    torch = pytest.importorskip("torch")
    out = []
    for m in (pat, torch):
        x = m.tensor([1.0], requires_grad=True)
        h = x * 2
        h.register_hook(lambda g: g * 100)
        x.register_hook(lambda g: g * 7)
        gx, gh = (a.numpy() for a in m.autograd.grad((h * h).sum(), [x, h]))
        out.append((gx, gh, x.grad))
    np.testing.assert_allclose(out[0][0], out[1][0])  # the input's hook applies
    np.testing.assert_allclose(out[0][1], out[1][1])  # an intermediate: before its hook
    assert out[0][2] is None and out[1][2] is None


def test_retain_grad_accumulates_and_reports():
    x = pat.tensor(XV, requires_grad=True)
    h = x * 2
    assert not h.retains_grad and not x.retains_grad
    h.retain_grad()
    x.retain_grad()  # a leaf: no-op
    assert h.retains_grad and not x.retains_grad
    y = (h * h).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    y.backward()
    np.testing.assert_allclose(h.grad.numpy(), 4 * h.numpy())
    assert (x * 3).grad is None  # not retained: no .grad


def test_handle_remove_and_errors():
    x = pat.tensor([1.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    handle.remove()  # idempotent
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])
    with pytest.raises(pat.TapeError, match="does not require grad"):
        pat.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="callable"):
        x.register_hook(3)
    h = x * 2
    h.register_hook(lambda g: pat.tensor(np.ones(3)))
    with pytest.raises(pat.ShapeError, match="shape"):
        h.sum().backward()


def test_a_hook_error_propagates_and_the_next_backward_works():
    x = pat.tensor([1.0], requires_grad=True)
    h = x * 2

    def boom(g):
        raise RuntimeError("hook failed")

    handle = h.register_hook(boom)
    with pytest.raises(RuntimeError, match="hook failed"):
        (h * h).sum().backward(retain_graph=True)
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0])


def test_leaf_hooks_with_create_graph_and_nonleaf_refusal():
    x = pat.tensor([0.5], requires_grad=True)
    x.register_hook(lambda g: g * 2)
    (x * x * x).sum().backward(create_graph=True)  # hooked: 2 * 3x²
    g = x.grad
    np.testing.assert_allclose(g.numpy(), [1.5])
    assert g.requires_grad
    x.grad = None  # as torch advises: x -> .grad -> its record -> x is a cycle
    y = pat.tensor([0.5], requires_grad=True)
    h = y * y
    h.retain_grad()
    with pytest.raises(pat.TapeError, match="create_graph"):
        (h * h).sum().backward(create_graph=True)


def test_a_hook_makes_a_compiled_step_run_eagerly():
    w = pat.tensor(np.ones(2), requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(1))

    def step(x):
        w.grad = None
        (pat.tensor(x) * w).sum().backward()
        return w.grad.numpy()

    compiled = pat.compile(step)
    for v in (1.0, 2.0, 3.0):
        np.testing.assert_array_equal(compiled(np.full(2, v)), np.full(2, v))
    assert len(seen) == 3  # the hook ran on every call: no replay skipped it


def test_hooks_see_the_sweep_after_backward_kept_its_tables():
    """backward() keeps the packed tables of a repeated tape structure; a hook or
    retain_grad registered afterwards must still see this sweep's gradients."""
    w = pat.tensor([1.0, 2.0], dtype=pat.float64, requires_grad=True)
    for _ in range(3):  # the same structure each time: its tables are kept
        (pat.tanh(w * 3.0)).sum().backward()
    w.grad = None
    seen = []
    h = w * 3.0
    h.retain_grad()
    handle = w.register_hook(lambda g: seen.append(g.numpy().copy()))
    pat.tanh(h).sum().backward()
    expect = 3.0 * (1.0 - np.tanh(3.0 * np.array([1.0, 2.0])) ** 2)
    np.testing.assert_allclose(seen[0], expect, rtol=1e-6)
    np.testing.assert_allclose(h.grad.numpy(), expect / 3.0, rtol=1e-6)
    handle.remove()
    del h
    assert not pat.tensor_hooks.active()  # a removed hook leaves nothing registered


def test_a_hook_closing_over_its_tensor_does_not_leak():
    """The hook tables hold entries weakly: a hook that references its own tensor is a
    cycle the garbage collector frees, after which no hook is registered."""
    import gc

    def run():
        x = pat.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: g + x)
        y = x * 2.0
        y.retain_grad()
        y.register_hook(lambda g: g * y)
        (y * 5.0).sum().backward()

    run()
    gc.collect()
    assert not pat.tensor_hooks.active()
