"""Advanced indexing (integer arrays, bool masks) in reads and writes, and index_select,
gather, scatter_add, take_along_dim, masked_fill, nonzero and where(cond): PyTorch's
semantics, exact gradients with repeated indices, gradcheck in float64 (reverse and
forward mode), second order, replay == eager, and the errors."""

import numpy as np
import pytest

import pyautotape as pat

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5))
MASK2 = RNG.random((3, 4)) < 0.5
IDX = np.array([2, 0, 2])

# (index builder from (np-side) arrays) pairs, valid for X of shape (3, 4, 5)
READS = [
    lambda: IDX,
    lambda: [1, 1],
    lambda: (slice(None), [3, 0, 3]),
    lambda: (IDX, [1, 2, 1]),
    lambda: (0, slice(None), [1, 2]),  # ints select first: shape (4, 2) as in torch
    lambda: ([[0, 1]], [[1], [2]]),
    lambda: MASK2,
    lambda: X > 0,
    lambda: (Ellipsis, [4, 0]),
    lambda: (None, IDX, None, slice(1, 3)),
    lambda: (slice(None), MASK2[0]),
    lambda: (IDX, slice(None), [0, -1, 0]),  # not adjacent: the index dims go first
    lambda: np.array([], np.int64),
    lambda: (slice(None, None, -1), [-1, 0]),
]


def _torch_index(torch, idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    out = []
    for i in items:
        if isinstance(i, np.ndarray):
            i = torch.from_numpy(i)
        out.append(i)
    return tuple(out) if isinstance(idx, tuple) else out[0]


@pytest.mark.parametrize("k", range(len(READS)))
def test_reads_match_torch_values_and_gradients(k):
    torch = pytest.importorskip("torch")
    idx = READS[k]()
    for dt in (np.float32, np.float64):
        x = pat.tensor(X.astype(dt), requires_grad=True)
        y = x[idx]
        xt = torch.tensor(X.astype(dt), requires_grad=True)
        if isinstance(idx, tuple) and any(isinstance(i, slice) and (i.step or 1) < 0
                                          for i in idx):
            xt_v = xt.flip(0)  # torch has no negative steps
            yt = xt_v[_torch_index(torch, (slice(None),) + idx[1:])]
        else:
            yt = xt[_torch_index(torch, idx)]
        assert y.shape == tuple(yt.shape) and y.dtype == dt
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        w = RNG.standard_normal(y.shape).astype(dt)
        (y * w).sum().backward()
        (yt * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_repeated_indices_accumulate_exactly():
    x = pat.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 0.0, 1.0]
    x.grad = None
    pat.index_select(x, 0, [1, 1]).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 2.0, 0.0]
    m = pat.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = pat.gather(m, 1, [[1, 1, 1], [0, 1, 0]])
    assert y.numpy().tolist() == [[2.0, 2.0, 2.0], [3.0, 4.0, 3.0]]
    y.sum().backward()
    assert m.grad.numpy().tolist() == [[0.0, 3.0], [2.0, 1.0]]
    src = pat.tensor([1.0, 2.0, 4.0, 8.0], requires_grad=True)
    base = pat.tensor([0.5, 0.25, 0.125], requires_grad=True)
    out = pat.scatter_add(base, 0, [2, 0, 2, 2], src)
    assert out.numpy().tolist() == [2.5, 0.25, 13.125]
    (out * pat.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert src.grad.numpy().tolist() == [100.0, 1.0, 100.0, 100.0]
    assert base.grad.numpy().tolist() == [1.0, 10.0, 100.0]


IDX2 = np.array([[0, 2, 1, 2], [1, 0, 0, 1]])

FUNCS = [
    ("x[idx]", lambda x: x[IDX], [X[:, :2, 0]]),
    ("x[mask]", lambda x: x[MASK2], [X[:, :, 1]]),
    ("x[:, idx]", lambda x: x[:, [3, 0, 3]], [X[:, :, 0]]),
    ("x[i0, i1]", lambda x: x[IDX, [1, 2, 1]], [X[:, :, 0]]),
    ("gather", lambda x: pat.gather(x, 0, IDX2), [X[:, :, 0]]),
    ("index_select", lambda x: pat.index_select(x, 1, [2, 2, 0]), [X[:, :, 0]]),
    ("take_along_dim", lambda x: pat.take_along_dim(x, IDX2[:, :1], 1), [X[:2, :, 0]]),
    ("take_along_dim flat", lambda x: pat.take_along_dim(x, IDX2), [X[:, :, 0]]),
    ("scatter_add", lambda x, s: pat.scatter_add(x, 0, IDX2, s), [X[:, :, 0], X[:2, :, 1]]),
    ("scatter_add dim 1", lambda x, s: pat.scatter_add(x, 1, IDX2[:, :3], s),
     [X[:2, :3, 0], X[:2, :, 2]]),
    ("masked_fill", lambda x, v: pat.masked_fill(x, MASK2, v), [X[:, :, 0], np.array(0.7)]),
    ("then curved", lambda x: pat.tanh(x[IDX]) * x[[0, 0, 1]], [X[:, :2, 0]]),
]


@pytest.mark.parametrize("name,f,args", FUNCS, ids=[f[0] for f in FUNCS])
def test_gradcheck_float64_reverse_and_forward(name, f, args):
    report = pat.gradcheck(f, [a.copy() for a in args], eps=1e-6)
    assert report and report.forward is not None


def test_hessian_through_a_gather():
    x0 = X[:, 0, 0]
    f = lambda x: (pat.tanh(x[[0, 2, 2]]) ** 2).sum()  # noqa: E731
    h = np.asarray(pat.hessian(f)(x0))
    t = np.tanh(x0)
    d2 = 2 * (1 - t**2) * (1 - 3 * t**2)  # d²/dx² tanh(x)²
    np.testing.assert_allclose(h, np.diag(d2 * np.array([1, 0, 2])), rtol=1e-10, atol=1e-12)


def test_torch_parity_of_the_functions():
    torch = pytest.importorskip("torch")
    x = X[:, :, 0]
    i2 = torch.from_numpy(IDX2)
    for f, g in [
        (lambda t: pat.gather(t, 0, IDX2), lambda t: torch.gather(t, 0, i2)),
        (lambda t: t.index_select(1, [2, 2, 0]),
         lambda t: t.index_select(1, torch.tensor([2, 2, 0]))),
        (lambda t: t.take_along_dim(IDX2[:, :1], 1),
         lambda t: t[:2].take_along_dim(i2[:, :1], 1)),
        (lambda t: t.masked_fill(MASK2, -1.5),
         lambda t: t.masked_fill(torch.from_numpy(MASK2), -1.5)),
        (lambda t: t.scatter_add(0, IDX2, pat.tensor(X[:2, :, 1])),
         lambda t: t.scatter_add(0, i2, torch.from_numpy(X[:2, :, 1]))),
    ]:
        a = pat.tensor(x if "take" not in str(f.__code__.co_names) else x[:2],
                       requires_grad=True)
        b = torch.tensor(x if "take" not in str(f.__code__.co_names) else x[:2],
                         requires_grad=True)
        ya, yb = f(a), g(b)
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-12)
        w = RNG.standard_normal(ya.shape)
        (ya * w).sum().backward()
        (yb * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_nonzero_and_one_argument_where_match_torch():
    torch = pytest.importorskip("torch")
    m = pat.tensor(MASK2, dtype=pat.bool)
    assert pat.nonzero(m).tolist() == torch.nonzero(torch.from_numpy(MASK2)).tolist()
    got = pat.where(m)
    want = torch.where(torch.from_numpy(MASK2))
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    assert m.nonzero(as_tuple=True)[1].dtype == np.int64
    x = pat.tensor(X[:, :, 0], requires_grad=True)
    np.testing.assert_array_equal(x[pat.where(m)].numpy(), X[:, :, 0][MASK2])
    assert pat.nonzero(pat.tensor(X[:, :, 0] > 9, dtype=pat.bool)).shape == (0, 2)


def test_int_and_bool_tensors_index_and_are_indexed_without_gradient():
    labels = pat.tensor(np.array([3, 1, 4, 1, 5]), dtype=pat.int64)
    assert labels[[0, 0, 4]].tolist() == [3, 3, 5]
    assert labels[labels > 2].tolist() == [3, 4, 5]
    x = pat.tensor(np.arange(6.0), requires_grad=True)
    y = x[labels]
    assert y.numpy().tolist() == [3.0, 1.0, 4.0, 1.0, 5.0]
    y.sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 2.0, 0.0, 1.0, 1.0, 1.0]


def test_replay_equals_eager_and_new_index_values_retrace():
    w0 = RNG.standard_normal((4, 3))

    def run(compiled):
        w = pat.tensor(w0, requires_grad=True)
        opt = pat.optim.SGD([w], lr=0.1)

        def step(idx):
            opt.zero_grad()
            loss = (pat.tanh(w[idx]) ** 2).sum() + w[w > -9.0].sum() \
                + pat.gather(w, 1, np.array([[0, 0], [2, 1], [1, 1], [0, 2]])).sum()
            loss.backward()
            opt.step()
            return loss

        f = pat.compile(step) if compiled else step
        outs = [f(np.array(i)).numpy() for i in ([0, 0, 3], [0, 0, 3], [1, 2, 2], [0, 0, 3])]
        return outs, w.numpy(), f

    eager, we, _ = run(False)
    replayed, wr, f = run(True)
    for a, b in zip(eager + [we], replayed + [wr], strict=True):
        assert a.tobytes() == b.tobytes()
    assert f.stats["replays"] >= 1


# -- writes ---------------------------------------------------------------------------------


def test_writes_match_torch_on_plain_tensors():
    torch = pytest.importorskip("torch")
    cases = [(IDX, 7.0), (MASK2, -1.0), ((slice(None), [1, 3]), np.arange(5.0)),
             ((0, slice(None), [1, 2]), np.ones((4, 2))), (slice(1, None), 2.0),
             (X > 0, X[X > 0] * 2)]
    for idx, v in cases:
        a = pat.tensor(X)
        b = torch.tensor(X)
        a[idx] = v
        b[_torch_index(torch, idx)] = torch.as_tensor(v, dtype=torch.float64)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    labels = pat.tensor(np.array([1, 2, 3]), dtype=pat.int64)
    labels[labels > 1] = 0
    assert labels.tolist() == [1, 0, 0]


def test_write_under_no_grad_bumps_the_version_so_the_old_tape_refuses():
    w = pat.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (w * w).sum()
    with pat.no_grad():
        w[[0, 2]] = 0.0
    assert w.numpy().tolist() == [0.0, 2.0, 0.0] and w.requires_grad
    with pytest.raises(pat.TapeError):
        loss.backward()


def test_write_into_a_leaf_that_requires_grad_is_refused_and_changes_nothing():
    w = pat.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(pat.TapeError, match="leaf"):
        w[0] = 5.0
    assert w.numpy().tolist() == [1.0, 2.0]


def test_write_into_a_computed_tensor_is_recorded_like_torch():
    torch = pytest.importorskip("torch")
    a = pat.tensor(X[:, :, 0], requires_grad=True)
    v = pat.tensor(np.array([1.5, -2.0]), requires_grad=True)
    at = torch.tensor(X[:, :, 0], requires_grad=True)
    vt = torch.tensor([1.5, -2.0], dtype=torch.float64, requires_grad=True)
    y = a * 2.0
    y[[0, 2], 1:3] = v
    yt = at * 2.0
    yt[[0, 2], 1:3] = vt
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    w = RNG.standard_normal(y.shape)
    (y * w).sum().backward()
    (yt * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), vt.grad.numpy(), rtol=1e-12)


def test_a_recorded_write_with_repeated_indices_keeps_the_last_and_its_gradient():
    def f(a, v):
        y = a * 1.0
        y[[0, 2, 0], 1:3] = v  # row 0 written twice: the last write wins (as NumPy)
        return pat.tanh(y)

    args = [X[:, :, 0], X[:3, :2, 1]]
    y = f(pat.tensor(args[0]), pat.tensor(args[1]))
    ref = args[0].copy()
    ref[[0, 2, 0], 1:3] = args[1]
    np.testing.assert_allclose(y.numpy(), np.tanh(ref), rtol=1e-15)
    assert pat.gradcheck(f, args, eps=1e-6)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("call,exc,words", [
    (lambda x: x[[0, 3]], IndexError, ["index", "3", "(3, 4)"]),
    (lambda x: x[:, [-5]], IndexError, ["index", "-5", "dimension 1"]),
    (lambda x: x[np.array([0.5])], TypeError, ["index", "float"]),
    (lambda x: x[np.ones((2, 4), bool)], IndexError, ["mask", "[2, 4]", "[3, 4]"]),
    (lambda x: x[[0], [0], [0]], IndexError, ["too many"]),
    (lambda x: x[[0, 1], [0, 1, 2]], IndexError, ["index", "broadcast"]),
    (lambda x: x["a"], TypeError, ["index", "str"]),
    (lambda x: x[True], TypeError, ["bool"]),
    (lambda x: pat.gather(x, 2, [[0]]), IndexError, ["gather", "dim 2"]),
    (lambda x: pat.gather(x, 0, [0]), pat.ShapeError, ["gather", "dims"]),
    (lambda x: pat.gather(x, 0, [[0, 1, 2, 3, 0]]), pat.ShapeError, ["gather", "larger"]),
    (lambda x: pat.gather(x, 0, [[4]]), IndexError, ["gather", "4", "size 3"]),
    (lambda x: pat.index_select(x, 0, [[0]]), pat.ShapeError, ["index_select", "1-D"]),
    (lambda x: pat.index_select(x, 0, [0.0]), TypeError, ["index_select", "float"]),
    (lambda x: pat.scatter_add(x, 0, [[0, 1]], [[1.0]]), pat.ShapeError,
     ["scatter_add", "larger"]),
    (lambda x: pat.take_along_dim(x, [[9]], 1), IndexError, ["take_along_dim", "9"]),
    (lambda x: pat.masked_fill(x, np.ones(4), 0.0), pat.DTypeError, ["masked_fill", "bool"]),
    (lambda x: pat.masked_fill(x, np.ones(3, bool), 0.0), pat.ShapeError, ["masked_fill"]),
    (lambda x: pat.where(x > 0, x), TypeError, ["where"]),
])
def test_errors_name_the_op_the_index_and_the_shape(call, exc, words):
    x = pat.tensor(X[:, :, 0], requires_grad=True)
    with pytest.raises(exc) as info:
        call(x)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_a_failed_write_changes_nothing():
    a = pat.tensor(X[:, :, 0])
    before = a.numpy().copy()
    with pytest.raises(IndexError):
        a[[0, 7]] = 1.0
    with pytest.raises(pat.ShapeError):
        a[[0, 1]] = np.ones(3)
    with pytest.raises(TypeError):
        pat.tensor(np.array([1, 2]), dtype=pat.int64)[0] = 1.5
    np.testing.assert_array_equal(a.numpy(), before)


def test_in_place_masked_fill_and_scatter_add_follow_torch():
    torch = pytest.importorskip("torch")
    a, at = pat.tensor(X[:, :, 0]), torch.tensor(X[:, :, 0])
    assert a.masked_fill_(MASK2, -3.0) is a
    at.masked_fill_(torch.from_numpy(MASK2), -3.0)
    a.scatter_add_(0, IDX2, pat.tensor(X[:2, :, 1]))
    at.scatter_add_(0, torch.from_numpy(IDX2), torch.from_numpy(X[:2, :, 1]))
    np.testing.assert_allclose(a.numpy(), at.numpy(), rtol=1e-12)
    w = pat.tensor(X[:, :, 0], requires_grad=True)
    with pytest.raises(pat.TapeError, match="masked_fill_"):
        w.masked_fill_(MASK2, 0.0)
    y = w * 3.0
    y.masked_fill_(MASK2, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.where(MASK2, 0.0, 3.0))


def test_the_scatter_op_refuses_a_src_of_the_wrong_size():
    """The scatter kernel reads one src element per offset: a src with fewer elements
    than offsets is a ShapeError before C runs (the sanitizer job found the raw op's
    OpSpec example reading past a 0-d src)."""
    from pyautotape.ops.indexing import _scatter

    src = pat.tensor(0.5, requires_grad=True)
    with pytest.raises(pat.ShapeError, match="scatter_add: src of shape"):
        _scatter(src, np.array([[0, 1, 2], [3, 4, 5]]), (3, 3))
