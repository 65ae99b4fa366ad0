"""torch-style graph inspection (``x.grad_fn``) and ``pat.autograd.backward``, against
torch where installed and closed forms otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import pyautotape as pat

X = np.array([0.5, -1.0, 2.0])

GRAD_FN = [
    (lambda x: x * 2.0, "MulBackward", "mul", 2),
    (lambda x: x + x, "AddBackward", "add", 2),
    (lambda x: pat.exp(x), "ExpBackward", "exp", 1),
    (lambda x: x.sum(), "SumBackward", "sum", 1),
    (lambda x: x.reshape((3, 1)), "ReshapeBackward", "reshape", 1),
    (lambda x: pat.log_softmax(x, axis=0), "LogSoftmaxBackward", "log_softmax", 1),
    (lambda x: pat.linear(x.reshape((1, 3)), pat.tensor(np.ones((2, 3)))), "LinearBackward",
     "linear", 3),
]


@pytest.mark.parametrize(("f", "name", "op", "n_inputs"), GRAD_FN, ids=[g[1] for g in GRAD_FN])
def test_grad_fn_names_the_op(f, name, op, n_inputs):
    x = pat.tensor(X, requires_grad=True)
    y = f(x)
    node = y.grad_fn
    assert node.name() == name and node.op == op and repr(node) == f"<{name}>"
    assert node == y.grad_fn and hash(node) == hash(y.grad_fn)
    nxt = node.next_functions
    assert len(nxt) == n_inputs and all(i == 0 for _, i in nxt)
    kinds = {type(n).__name__ for n, _ in nxt}
    assert kinds <= {"AccumulateGrad", "Node", "NoneType"}
    leaves = [n.variable for n, _ in nxt if type(n).__name__ == "AccumulateGrad"]
    assert leaves and all(t is x for t in leaves) or op == "linear"


def test_grad_fn_is_none_for_leaves_constants_and_no_grad():
    x = pat.tensor(X, requires_grad=True)
    assert x.grad_fn is None
    assert (pat.tensor(X) * 2.0).grad_fn is None
    with pat.no_grad():
        assert (x * 2.0).grad_fn is None
    assert (x * 2.0).detach().grad_fn is None


def test_next_functions_walk_back_to_the_leaves():
    x = pat.tensor(X, requires_grad=True)
    w = pat.tensor(X * 2, requires_grad=True)
    y = (pat.tanh(x) * w).sum()
    (mul, _), = y.grad_fn.next_functions
    (tanh, _), (acc_w, _) = mul.next_functions
    assert tanh.name() == "TanhBackward" and acc_w.variable is w
    assert tanh.next_functions[0][0].variable is x and acc_w.next_functions == ()


def test_grad_fn_of_a_custom_function():
    class Double(pat.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    x = pat.tensor(X, requires_grad=True)
    y = Double.apply(x)
    assert repr(y.grad_fn) == "<DoubleBackward>" and y.grad_fn.op == "custom"
    assert y.grad_fn.next_functions[0][0].variable is x


def test_grad_fn_matches_torch_structure():
    torch = pytest.importorskip("torch")
    x = pat.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    ours, theirs = (x * 3.0).sum().grad_fn, (tx * 3.0).sum().grad_fn
    assert ours.name() == "SumBackward" and theirs.name().startswith("SumBackward")
    (o_mul, _), = ours.next_functions
    (t_mul, _), = theirs.next_functions
    assert t_mul.name().startswith(o_mul.name())
    assert [n is None for n, _ in o_mul.next_functions] == \
        [n is None for n, _ in t_mul.next_functions]
    assert t_mul.next_functions[0][0].name().endswith(o_mul.next_functions[0][0].name())


# ---- pat.autograd.backward -------------------------------------------------------------

BACKWARD = [  # (outputs from (module, x, w), grad_tensors, inputs (indices into (x, w)))
    ("one scalar", lambda m, x, w: (x * w).sum(), None, None),
    ("a list", lambda m, x, w: [(x * x).sum(), (w * x).sum()], None, None),
    ("seeded", lambda m, x, w: [x * w, w.sum()], [np.array([1.0, -2.0, 3.0]), None], None),
    ("tuple seeds", lambda m, x, w: (m.tanh(x) * w,), (np.ones(3),), None),
    ("inputs=[x]", lambda m, x, w: (m.exp(x) * w).sum(), None, [0]),
    ("inputs=w", lambda m, x, w: [(x * w).sum(), (w * w).sum()], None, 1),
]


@pytest.mark.parametrize(("name", "build", "seeds", "inputs"), BACKWARD,
                         ids=[b[0] for b in BACKWARD])
def test_autograd_backward_matches_torch(name, build, seeds, inputs):
    torch = pytest.importorskip("torch")
    w0 = np.array([2.0, 0.5, -1.0])
    x, w = pat.tensor(X, requires_grad=True), pat.tensor(w0, requires_grad=True)
    tx, tw = torch.tensor(X, requires_grad=True), torch.tensor(w0, requires_grad=True)
    outs, touts = build(pat, x, w), build(torch, tx, tw)
    def pick(ts, i):
        return (None if i is None else
                [ts[j] for j in i] if isinstance(i, list) else ts[i])
    pseeds = None if seeds is None else type(seeds)(
        None if s is None else pat.tensor(s) for s in seeds)
    tseeds = None if seeds is None else type(seeds)(
        None if s is None else torch.tensor(s) for s in seeds)
    pat.autograd.backward(outs, pseeds, inputs=pick((x, w), inputs))
    torch.autograd.backward(touts, tseeds, inputs=pick((tx, tw), inputs))
    for ours, theirs in ((x, tx), (w, tw)):
        if theirs.grad is None:
            assert ours.grad is None
        else:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-14)


def test_autograd_backward_accumulates_and_retains():
    x = pat.tensor(X, requires_grad=True)
    y = (x * x).sum()
    pat.autograd.backward(y, retain_graph=True)
    pat.autograd.backward([y], [pat.tensor(2.0)], inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), 2 * X + 4 * X)
    with pytest.raises(pat.TapeError, match="retain_graph"):
        pat.autograd.backward(y)
    h = pat.tanh(x)
    z = (h * 3.0).sum()
    pat.autograd.backward(z, inputs=h)  # a non-leaf input gets its .grad too
    np.testing.assert_allclose(h.grad.numpy(), np.full(3, 3.0))


ERRORS = [
    (lambda x: pat.autograd.backward(x * 2.0), pat.ShapeError, r"backward: .*gradient="),
    (lambda x: pat.autograd.backward([x.sum(), x.sum()], [None]), ValueError,
     r"2 tensors but 1 grad_tensors"),
    (lambda x: pat.autograd.backward(3.0), TypeError, r"backward: tensors must be a Tensor"),
    (lambda x: pat.autograd.backward([x.sum(), 3.0]), TypeError, r"tensors\[1\] is a float"),
    (lambda x: pat.autograd.backward(pat.tensor(X).sum()), pat.TapeError,
     r"tensors\[0\] .* does not require grad"),
    (lambda x: pat.autograd.backward(x.sum(), inputs=[pat.tensor(X)]), pat.TapeError,
     r"inputs\[0\] must be a Tensor that requires grad"),
    (lambda x: pat.autograd.backward(x.sum(), create_graph=True), ValueError, r"pat.hvp"),
    (lambda x: pat.autograd.backward(x * 2.0, pat.tensor(np.ones(2))), pat.ShapeError,
     r"gradient has shape \(2,\)"),
]


@pytest.mark.parametrize(("call", "exc", "match"), ERRORS)
def test_autograd_backward_errors(call, exc, match):
    x = pat.tensor(X, requires_grad=True)
    with pytest.raises(exc, match=match):
        call(x)
    assert x.grad is None  # a failed call changes no state
