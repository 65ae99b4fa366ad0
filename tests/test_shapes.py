"""PyTorch's shape functions (ops/shapes_view.py, ops/shapes_join.py): values, gradients
and Hessian-vector products against torch (where installed), gradcheck, tangents, Hessian-vector products, replay equal to eager
bitwise and anomaly detection for every row of one table; then the torch-only forms
(methods, -1 in expand, dim lists), integer tensors, and the errors."""

import numpy as np
import pytest

import pyautotape as pat

torch = None  # set by _need_torch(): only the comparisons with torch need it


def _need_torch():
    global torch
    torch = pytest.importorskip("torch")


def _cat_flat(parts, lib):
    """Join a tuple of outputs into one tensor (the outputs of split, chunk, unbind)."""
    return lib.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(parts)])


# id -> (pat function, torch function, input shapes); both take the same positional tensors
ROWS = {
    "view": (lambda x: x.view(4, -1), lambda x: x.view(4, -1), [(2, 6)]),
    "flatten": (lambda x: pat.flatten(x, 1), lambda x: torch.flatten(x, 1), [(2, 3, 2)]),
    "flatten_mid": (lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1), [(2, 3, 2)]),
    "unflatten": (lambda x: pat.unflatten(x, 1, (2, -1)), lambda x: torch.unflatten(x, 1, (2, -1)),
                  [(3, 4)]),
    "squeeze": (lambda x: pat.squeeze(x), lambda x: torch.squeeze(x), [(1, 3, 1)]),
    "squeeze_dims": (lambda x: x.squeeze((0, 1)), lambda x: x.squeeze((0, 1)), [(1, 3, 1)]),
    "unsqueeze": (lambda x: pat.unsqueeze(x, -2), lambda x: torch.unsqueeze(x, -2), [(3, 2)]),
    "expand": (lambda x: x.expand(2, -1, 4), lambda x: x.expand(2, -1, 4), [(3, 1)]),
    "expand_as": (lambda x, y: x.expand_as(y) * y, lambda x, y: x.expand_as(y) * y,
                  [(1, 3), (2, 3)]),
    "broadcast_to": (lambda x: pat.broadcast_to(x, (2, 3)), lambda x: torch.broadcast_to(x, (2, 3)),
                     [(3,)]),
    "permute": (lambda x: pat.permute(x, (2, 0, 1)), lambda x: torch.permute(x, (2, 0, 1)),
                [(2, 3, 4)]),
    "permute_method": (lambda x: x.permute(1, 2, 0), lambda x: x.permute(1, 2, 0), [(2, 3, 4)]),
    "swapaxes": (lambda x: pat.swapaxes(x, 0, -1), lambda x: torch.swapaxes(x, 0, -1), [(2, 3, 4)]),
    "swapdims": (lambda x: x.swapdims(1, 2), lambda x: x.swapdims(1, 2), [(2, 3, 4)]),
    "transpose_2": (lambda x: pat.transpose(x, 0, 1), lambda x: torch.transpose(x, 0, 1),
                    [(2, 3, 4)]),
    "transpose_method": (lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1), [(2, 3)]),
    "t": (lambda x: x.t(), lambda x: x.t(), [(2, 3)]),
    "movedim": (lambda x: pat.movedim(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)),
                [(2, 3, 4)]),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), [(2, 3)]),
    "tile": (lambda x: pat.tile(x, (2,)), lambda x: torch.tile(x, (2,)), [(2, 3)]),
    "flip": (lambda x: pat.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), [(2, 3, 4)]),
    "narrow": (lambda x: pat.narrow(x, 1, -3, 2), lambda x: torch.narrow(x, 1, -3, 2), [(2, 4)]),
    "select": (lambda x: pat.select(x, 0, -1), lambda x: torch.select(x, 0, -1), [(3, 4)]),
    "diagonal": (lambda x: pat.diagonal(x, -1, 0, 2), lambda x: torch.diagonal(x, -1, 0, 2),
                 [(3, 2, 4)]),
    "cat": (lambda a, b: pat.cat([a, b, a], dim=-1), lambda a, b: torch.cat([a, b, a], dim=-1),
            [(2, 2), (2, 3)]),
    "stack": (lambda a, b: pat.stack([a, b], dim=1), lambda a, b: torch.stack([a, b], dim=1),
              [(2, 3), (2, 3)]),
    "hstack": (lambda a, b: pat.hstack([a, b]), lambda a, b: torch.hstack([a, b]), [(2, 1), (2, 3)]),
    "vstack": (lambda a, b: pat.vstack([a, b]), lambda a, b: torch.vstack([a, b]), [(3,), (2, 3)]),
    "split": (lambda x: _cat_flat(pat.split(x, 2, 1), pat),
              lambda x: _cat_flat(torch.split(x, 2, 1), torch), [(2, 5)]),
    "split_sizes": (lambda x: _cat_flat(x.split([1, 3], 0), pat),
                    lambda x: _cat_flat(x.split([1, 3], 0), torch), [(4, 2)]),
    "chunk": (lambda x: _cat_flat(pat.chunk(x, 3, -1), pat),
              lambda x: _cat_flat(torch.chunk(x, 3, -1), torch), [(2, 7)]),
    "unbind": (lambda x: _cat_flat(pat.unbind(x, 1), pat),
               lambda x: _cat_flat(torch.unbind(x, 1), torch), [(2, 3)]),
    "roll": (lambda x: pat.roll(x, (1, -2), (0, 1)), lambda x: torch.roll(x, (1, -2), (0, 1)),
             [(3, 4)]),
    "roll_flat": (lambda x: x.roll(2), lambda x: x.roll(2), [(2, 3)]),
    "pad": (lambda x: pat.pad(x, (1, 2, 0, 1), value=0.5),
            lambda x: torch.nn.functional.pad(x, (1, 2, 0, 1), value=0.5), [(2, 3)]),
    "pad_crop": (lambda x: pat.nn.functional.pad(x, (-1, 1, 2, -1)),
                 lambda x: torch.nn.functional.pad(x, (-1, 1, 2, -1)), [(3, 4)]),
    "tril": (lambda x: pat.tril(x, -1), lambda x: torch.tril(x, -1), [(2, 3, 4)]),
    "triu": (lambda x: x.triu(1), lambda x: x.triu(1), [(4, 3)]),
    "diag_vec": (lambda x: pat.diag(x, 1), lambda x: torch.diag(x, 1), [(3,)]),
    "diag_vec_low": (lambda x: pat.diag(x, -2), lambda x: torch.diag(x, -2), [(2,)]),
    "diag_mat": (lambda x: x.diag(-1), lambda x: x.diag(-1), [(3, 4)]),
}
IDS = list(ROWS)


def _args(i, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in ROWS[i][2]]


def _torch_value_and_grads(i, args, w):
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    out = ROWS[i][1](*ts)
    (out * torch.tensor(w)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("i", IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_and_gradient_match_torch(i, dtype):
    _need_torch()
    args = _args(i, dtype)
    ps = [pat.tensor(a, requires_grad=True) for a in args]
    out = ROWS[i][0](*ps)
    w = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    (out * w).sum().backward()
    want, grads = _torch_value_and_grads(i, args, w)
    assert out.dtype == dtype and out.shape == want.shape
    np.testing.assert_array_equal(out.numpy(), want)  # data movement is exact
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for p, g in zip(ps, grads, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=tol, atol=tol)


@pytest.mark.parametrize("i", IDS)
def test_gradcheck_tangents_and_transposition(i):
    fn, args = ROWS[i][0], _args(i)
    report = pat.gradcheck(fn, list(args))
    assert report, str(report)
    rng = np.random.default_rng(3)
    v = [rng.standard_normal(a.shape) for a in args]
    out, jv = pat.jvp(fn, tuple(args), tuple(v))
    h = 1e-6
    fp = fn(*[pat.tensor(a + h * t) for a, t in zip(args, v, strict=True)]).numpy()
    fm = fn(*[pat.tensor(a - h * t) for a, t in zip(args, v, strict=True)]).numpy()
    np.testing.assert_allclose(jv, (fp - fm) / (2 * h), rtol=1e-6, atol=1e-8)
    u = rng.standard_normal(out.shape)
    _, vjp_fn = pat.vjp(fn, *args)
    lhs = float(np.sum(u * jv))
    rhs = float(sum(np.sum(g * t) for g, t in zip(vjp_fn(u), v, strict=True)))
    assert abs(lhs - rhs) <= 1e-12 * (1 + abs(lhs))


@pytest.mark.parametrize("i", IDS)
def test_hessian_vector_product_matches_torch(i):
    _need_torch()
    args = _args(i)
    w = np.random.default_rng(4).standard_normal(ROWS[i][0](*map(pat.tensor, args)).shape)
    v = [np.random.default_rng(6).standard_normal(a.shape) for a in args]
    _, hv = pat.hvp(lambda *xs: (ROWS[i][0](*xs) ** 3 * w).sum(), tuple(args), tuple(v))

    def f(*ts):
        return (ROWS[i][1](*ts) ** 3 * torch.tensor(w)).sum()

    _, want = torch.autograd.functional.hvp(f, tuple(map(torch.tensor, args)),
                                            tuple(map(torch.tensor, v)))
    for a, b in zip(hv, want, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i", IDS)
def test_replay_equals_eager_bitwise(i):
    args = _args(i, np.float32)

    def run(compiled):
        params = [pat.tensor(a, requires_grad=True) for a in args]
        opt = pat.optim.SGD(params, lr=0.1)

        def step():
            loss = (ROWS[i][0](*params) ** 2).sum()
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        step = pat.compile(step) if compiled else step
        return [step().numpy() for _ in range(3)] + [p.numpy() for p in params], step

    eager, _ = run(False)
    replayed, step = run(True)
    for a, b in zip(eager, replayed, strict=True):
        assert a.tobytes() == b.tobytes()
    assert step.stats["replays"] == 2, step.stats


@pytest.mark.parametrize("i", ["expand", "flip", "cat", "pad", "tril", "diag_vec"])
def test_anomaly_detection_sees_nan_through_them(i):
    bad = [np.full(a.shape, np.nan) for a in _args(i)]
    with pat.detect_anomaly(), pytest.raises(pat.AnomalyError):
        ROWS[i][0](*[pat.tensor(a, requires_grad=True) for a in bad])


def test_gather_backward_adds_every_repeat():
    # stride 0 (expand) and repeats of a repeat: each source element gets the sum
    x = pat.tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    (x.expand(2, 5).repeat(3, 2) * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 1), 60.0, np.float32))


def test_transpose_keeps_numpy_permutations_beside_torch_pairs():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = pat.tensor(a)
    assert pat.transpose(x).shape == (4, 3, 2)
    np.testing.assert_array_equal(pat.transpose(x, (1, 2, 0)).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.transpose(1, 2, 0).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.transpose((0, 2, 1)).numpy(), a.transpose(0, 2, 1))
    np.testing.assert_array_equal(x.transpose(2, 0).numpy(), np.swapaxes(a, 2, 0))
    np.testing.assert_array_equal(pat.transpose(x, -1, 0).numpy(), np.swapaxes(a, -1, 0))
    with pytest.raises(TypeError, match="transpose: got one dim"):
        pat.transpose(x, 1)


def test_integer_and_bool_tensors_keep_their_dtype():
    a = np.arange(12).reshape(3, 4)
    x = pat.tensor(a, dtype=pat.int64)
    m = x > 5
    cases = [
        (pat.flip(x, 0), np.flip(a, 0)), (x.expand(2, 3, 4), np.broadcast_to(a, (2, 3, 4))),
        (x.repeat(1, 2), np.tile(a, (1, 2))), (x.permute(1, 0), a.T), (x.t(), a.T),
        (pat.cat([x, x], dim=1), np.concatenate([a, a], 1)), (pat.stack([x, x]), np.stack([a, a])),
        (pat.tril(x), np.tril(a)), (pat.roll(x, 1, 1), np.roll(a, 1, 1)),
        (pat.pad(x, (1, 1)), np.pad(a, ((0, 0), (1, 1)))), (pat.diag(x), np.diag(a)),
        (x.flatten(), a.ravel()), (x.unsqueeze(0), a[None]), (x.narrow(0, 1, 2), a[1:3]),
        (m.flip(1), np.flip(a > 5, 1)), (pat.split(x, 2)[1], a[2:]), (x.transpose(0, 1), a.T),
    ]
    for got, want in cases:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)


def test_edge_shapes_follow_torch():
    _need_torch()
    z = np.zeros((0, 3))
    assert pat.flatten(pat.tensor(2.0)).shape == (1,)
    assert pat.squeeze(pat.zeros(2, 3), 0).shape == (2, 3)  # a non-1 dim stays, as torch
    assert pat.diag(pat.zeros(0), 2).shape == (2, 2)
    assert pat.diag(pat.zeros(2, 3), 5).shape == (0,)
    assert [p.shape for p in pat.split(pat.tensor(z), 2)] == [(0, 3)]
    assert pat.chunk(pat.zeros(4), 3)[-1].shape == (2,) and len(pat.chunk(pat.zeros(4), 3)) == 2
    assert pat.roll(pat.zeros(2, 3), 3, 1).shape == (2, 3)
    assert pat.repeat(pat.zeros(2), 0, 1).shape == (0, 2)
    for got, want in [(pat.chunk(pat.zeros(6, 2), 4, 0), torch.chunk(torch.zeros(6, 2), 4, 0)),
                      (pat.split(pat.zeros(3), [0, 3]), torch.split(torch.zeros(3), [0, 3]))]:
        assert [p.shape for p in got] == [tuple(p.shape) for p in want]
    x = pat.tensor(np.ones((2, 2)), requires_grad=True)
    y = pat.pad(x, ())
    assert y is not x and y.requires_grad


ERRORS = [
    (lambda: pat.zeros(2, 3).view(4, 2), pat.ShapeError, r"view: cannot view \(2, 3\)"),
    (lambda: pat.flatten(pat.zeros(2, 3), 1, 0), pat.ShapeError, "flatten: start_dim 1"),
    (lambda: pat.unflatten(pat.zeros(2, 6), 1, (4, 2)), pat.ShapeError, "do not multiply to 6"),
    (lambda: pat.squeeze(pat.zeros(2), 1), pat.ShapeError, "squeeze: dim 1 is out of range"),
    (lambda: pat.unsqueeze(pat.zeros(2), 3), pat.ShapeError, r"expected one in \[-2, 1\]"),
    (lambda: pat.zeros(2, 3).expand(2, 4), pat.ShapeError, "expand: cannot expand"),
    (lambda: pat.zeros(3).expand(-1, 3), pat.ShapeError, "new leading dim"),
    (lambda: pat.zeros(2, 3).expand(3), pat.ShapeError, "give at least 2"),
    (lambda: pat.zeros(2, 3).permute(0, 0), pat.ShapeError, "repeat a dim"),
    (lambda: pat.zeros(2, 3).permute(0), pat.ShapeError, "give each of the 2 once"),
    (lambda: pat.zeros(2, 3).permute(0, 1.0), TypeError, "permute: sizes must be ints"),
    (lambda: pat.t(pat.zeros(2, 3, 4)), pat.ShapeError, "t: needs a tensor of at most 2 dims"),
    (lambda: pat.movedim(pat.zeros(2, 3), (0, 1), 0), pat.ShapeError, "different lengths"),
    (lambda: pat.zeros(2).repeat(2, -1), pat.ShapeError, "must be >= 0"),
    (lambda: pat.zeros(2, 3).repeat(2), pat.ShapeError, "give at least 2"),
    (lambda: pat.narrow(pat.zeros(4), 0, 3, 2), pat.ShapeError, "narrow: start 3 and length 2"),
    (lambda: pat.select(pat.zeros(4), 0, 4), IndexError, "select: index 4 is out of range"),
    (lambda: pat.cat([pat.zeros(2, 3), pat.zeros(3, 2)]), pat.ShapeError, "differ outside"),
    (lambda: pat.cat(pat.zeros(2)), TypeError, "cat: pass a list"),
    (lambda: pat.cat([]), ValueError, "cat: needs at least one tensor"),
    (lambda: pat.stack([pat.zeros(2), pat.zeros(3)]), pat.ShapeError, "stack needs one shape"),
    (lambda: pat.split(pat.zeros(4), [1, 2]), pat.ShapeError, "sum to 4"),
    (lambda: pat.split(pat.zeros(4), 0), pat.ShapeError, "split_size must be positive"),
    (lambda: pat.chunk(pat.zeros(4), 0), pat.ShapeError, "chunks must be a positive int"),
    (lambda: pat.roll(pat.zeros(2, 2), (1, 1)), pat.ShapeError, "pass dims="),
    (lambda: pat.pad(pat.zeros(2), (1, 1, 1, 1)), pat.ShapeError, "at most 2"),
    (lambda: pat.pad(pat.zeros(2), (1,)), pat.ShapeError, "even length"),
    (lambda: pat.pad(pat.zeros(2), (-2, -1)), pat.ShapeError, "below zero"),
    (lambda: pat.pad(pat.zeros(2), (1, 1), mode="reflect"), ValueError, "only mode='constant'"),
    (lambda: pat.pad(pat.zeros(2), (1, 1), value="a"), TypeError, "pad: value must be a number"),
    (lambda: pat.tril(pat.zeros(3)), pat.ShapeError, "tril: needs at least 2 dims"),
    (lambda: pat.diag(pat.zeros(2, 2, 2)), pat.ShapeError, "diag: needs a 1-d or 2-d"),
    (lambda: pat.diagonal(pat.zeros(2, 2), 0, 1, -1), pat.ShapeError, "both 1"),
    (lambda: pat.cat([pat.zeros(2), pat.zeros(2, dtype=pat.float64)]), pat.DTypeError, "mixing"),
]


@pytest.mark.parametrize("call,exc,match", ERRORS)
def test_errors_name_the_op_and_the_fix(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
