"""nn.Ensemble and stacked_linear: shapes, per-member gradients against separately
trained models (bitwise in float64), state_dict, replay == eager, and the errors."""

import numpy as np
import pytest

import pyautotape as pat

K = 16


def _models(sizes, k=K, dtype=np.float64, seed=0):
    pat.manual_seed(seed)
    return [pat.nn.MLP(sizes, dtype=dtype) for _ in range(k)]


def _data(sizes, batch, dtype, loss, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if loss == "mse":
        y = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    else:
        y = rng.integers(0, sizes[-1], batch)
    return x, y


def _criterion(loss):
    return pat.nn.MSELoss() if loss == "mse" else pat.nn.CrossEntropyLoss()


@pytest.mark.parametrize("shape", [(5, 3), (K, 5, 3), (3,), (2, 5, 3)])
def test_shapes_shared_and_per_member(shape):
    models = _models([3, 4, 2], dtype=np.float64)
    ens = pat.nn.Ensemble(models)
    x = np.random.default_rng(0).standard_normal(shape)
    per_member = len(shape) >= 3 and shape[0] == K
    out = ens(x, shared=None if shape != (2, 5, 3) else True)
    assert out.shape == (K,) + (shape[1:] if per_member else shape)[:-1] + (2,)
    for i, m in enumerate(models):
        xi = x[i] if per_member else x
        assert np.array_equal(out.numpy()[i], m(xi).numpy())  # bitwise the member alone


def test_parameters_are_stacked_and_named_as_a_member():
    models = _models([2, 16, 16, 1])
    ens = pat.nn.Ensemble(models)
    names = [n for n, _ in ens.named_parameters()]
    assert names == [n for n, _ in models[0].named_parameters()]
    for n, p in ens.named_parameters():
        ref = np.stack([dict(m.named_parameters())[n].numpy() for m in models])
        assert p.shape == (K,) + ref.shape[1:] and np.array_equal(p.numpy(), ref)


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_each_member_gets_exactly_its_own_gradient(loss):
    sizes = [2, 16, 16, 1] if loss == "mse" else [6, 8, 8, 4]
    models = _models(sizes)
    ens = pat.nn.Ensemble(models)
    x, y = _data(sizes, 32, np.float64, loss)
    losses = ens.losses(_criterion(loss), ens(x), y)
    assert losses.shape == (K,)
    losses.sum().backward()
    for i, m in enumerate(models):
        li = _criterion(loss)(m(x), y)
        li.backward()
        assert abs(losses.numpy()[i] - li.item()) <= 1e-12 * max(1.0, abs(li.item()))
        for (n, p), q in zip(ens.named_parameters(), m.parameters(), strict=True):
            assert np.array_equal(p.grad.numpy()[i], q.grad.numpy()), (i, n)


def test_per_member_targets():
    models = _models([3, 5, 2], k=3)
    ens = pat.nn.Ensemble(models)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 7, 3)), rng.standard_normal((3, 7, 2))
    losses = ens.losses(pat.nn.MSELoss(), ens(x), y)
    ref = [pat.mse_loss(m(x[i]), y[i]).item() for i, m in enumerate(models)]
    np.testing.assert_allclose(losses.numpy(), ref, rtol=1e-12)
    labels = rng.integers(0, 2, (3, 7))
    losses = ens.losses(pat.nn.CrossEntropyLoss(), ens(x), labels)
    ref = [pat.cross_entropy(m(x[i]), labels[i]).item() for i, m in enumerate(models)]
    np.testing.assert_allclose(losses.numpy(), ref, rtol=1e-12)


def _train_separately(models, x, y, loss, opt_cls, steps, **hyper):
    outs = []
    for m in models:
        opt = opt_cls(m.parameters(), **hyper)

        @pat.compile
        def step(x, y, m=m, opt=opt):
            opt.zero_grad()
            out = _criterion(loss)(m(x), y)
            out.backward()
            opt.step()
            return out

        for _ in range(steps):
            step(x, y)
        outs.append(m)
    return outs


def _train_ensemble(ens, x, y, loss, opt_cls, steps, compiled=True, **hyper):
    opt = opt_cls(ens.parameters(), **hyper)

    def step(x, y):
        opt.zero_grad()
        losses = ens.losses(_criterion(loss), ens(x), y)
        losses.sum().backward()
        opt.step()
        return losses

    fn = pat.compile(step) if compiled else step
    for _ in range(steps):
        fn(x, y)
    if compiled:
        assert fn.stats["replays"] == steps - 1
    return ens


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss,sizes,batch", [("mse", [2, 16, 16, 1], 32),
                                              ("xent", [64, 128, 128, 10], 64)])
@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_ensemble_training_matches_separate_models(dtype, loss, sizes, batch, opt):
    """k = 16 models trained as one ensemble replay, against 16 replayed models from the
    same initialisation: bitwise in float64, to 1e-6 in float32."""
    opt_cls, hyper = ((pat.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3})
                      if opt == "sgd" else (pat.optim.AdamW, {"lr": 1e-3, "weight_decay": 1e-2}))
    if loss == "xent" and opt == "adamw" and dtype == np.float64:
        pytest.skip("covered by the other rows; keeps the file fast")
    x, y = _data(sizes, batch, dtype, loss)
    ens = pat.nn.Ensemble(_models(sizes, dtype=dtype))
    _train_ensemble(ens, x, y, loss, opt_cls, 6, **hyper)
    separate = _train_separately(_models(sizes, dtype=dtype), x, y, loss, opt_cls, 6, **hyper)
    for i, (m, alone) in enumerate(zip(ens.unstack(), separate, strict=True)):
        for (n, p), q in zip(m.named_parameters(), alone.parameters(), strict=True):
            if dtype == np.float64:
                assert np.array_equal(p.numpy(), q.numpy()), (i, n)
            else:
                np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-6)


def test_replay_equals_eager_bitwise():
    sizes = [2, 16, 16, 1]
    x, y = _data(sizes, 32, np.float32, "mse")
    a = _train_ensemble(pat.nn.Ensemble(_models(sizes, dtype=np.float32)), x, y, "mse",
                        pat.optim.Adam, 5, lr=1e-2)
    b = _train_ensemble(pat.nn.Ensemble(_models(sizes, dtype=np.float32)), x, y, "mse",
                        pat.optim.Adam, 5, compiled=False, lr=1e-2)
    for (n, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy()), n


def test_replay_is_one_c_call_with_stacked_kernels():
    sizes = [2, 16, 16, 1]
    x, y = _data(sizes, 32, np.float32, "mse")
    ens = pat.nn.Ensemble(_models(sizes, dtype=np.float32))
    opt = pat.optim.SGD(ens.parameters(), lr=0.1)

    @pat.compile
    def step(x, y):
        opt.zero_grad()
        ens.losses(pat.nn.MSELoss(), ens(x), y).sum().backward()
        opt.step()

    step(x, y)
    step(x, y)
    plan = step.last
    ops = [pat.ops.OP_NAMES[int(r["op"])] for r in plan.instrs]
    assert ops.count("stacked_linear") == 3 and "linear" not in ops
    before = plan.stats.gemm_calls
    step(x, y)
    # 3 forward + 3 dW + 2 dX GEMMs for each of the 16 members, all in the one replay
    assert plan.stats.gemm_calls - before == 8 * K


def test_state_dict_round_trip_and_independent_members():
    sizes = [3, 5, 2]
    ens = pat.nn.Ensemble(_models(sizes, k=4, seed=0))
    other = pat.nn.Ensemble(_models(sizes, k=4, seed=1))
    sd = ens.state_dict()
    assert sd["layers.0.weight"].shape == (4, 5, 3)
    other.load_state_dict(sd)
    for (n, p), q in zip(ens.named_parameters(), other.parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy()), n
    members = ens.unstack()
    assert [type(m) for m in members] == [pat.nn.MLP] * 4
    assert type(members[0].layers[0]) is pat.nn.Linear
    for i, m in enumerate(members):
        assert np.array_equal(m.layers[2].bias.numpy(), sd["layers.2.bias"][i])
    with pat.no_grad():
        members[0].layers[0].weight.data[...] = 7.0  # a copy: the ensemble is untouched
    assert not np.any(ens.state_dict()["layers.0.weight"][0] == 7.0)
    # a member's state_dict loads into a fresh model of the same architecture
    fresh = pat.nn.MLP(sizes, dtype=np.float64)
    fresh.load_state_dict(members[1].state_dict())
    x = np.ones((2, 3))
    assert np.array_equal(fresh(x).numpy(), ens(x).numpy()[1])
    with pytest.raises(pat.ShapeError, match="layers.0.weight"):
        pat.nn.Ensemble(_models(sizes, k=3)).load_state_dict(sd)


def test_save_and_load(tmp_path):
    ens = pat.nn.Ensemble(_models([3, 4, 2], k=2))
    pat.save(ens.state_dict(), tmp_path / "ens.pat")
    back = pat.nn.Ensemble(_models([3, 4, 2], k=2, seed=5))
    back.load_state_dict(pat.load(tmp_path / "ens.pat"))
    assert np.array_equal(back(np.ones((1, 3))).numpy(), ens(np.ones((1, 3))).numpy())


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one"):
        pat.nn.Ensemble([])
    with pytest.raises(ValueError, match="architecture"):
        pat.nn.Ensemble([pat.nn.MLP([2, 3, 1]), pat.nn.MLP([2, 4, 1])])
    with pytest.raises(TypeError, match="not a Module"):
        pat.nn.Ensemble([pat.nn.Linear(2, 1), 3])

    class Scale(pat.nn.Module):
        def __init__(self):
            super().__init__()
            self.s = pat.tensor([2.0], requires_grad=True)

        def forward(self, x):
            return x * self.s

    with pytest.raises(TypeError, match="Scale with its own tensors"):
        pat.nn.Ensemble([Scale(), Scale()])
    ens = pat.nn.Ensemble(_models([3, 4, 2], k=2))
    with pytest.raises(pat.ShapeError, match=r"\(2, batch, \.\.\.\)"):
        ens(np.ones((3, 5, 3)), shared=False)
    with pytest.raises(pat.ShapeError, match="must be one member's output"):
        ens.losses(pat.nn.MSELoss(), ens(np.ones((5, 3))), np.ones(5))
    with pytest.raises(pat.ShapeError, match="weight must be 3-D"):
        pat.stacked_linear(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(pat.ShapeError, match="3 member batches"):
        pat.stacked_linear(np.ones((3, 2, 3)), np.ones((2, 4, 3)))
    with pytest.raises(pat.ShapeError, match=r"bias must have shape \(2, 4\)"):
        pat.stacked_linear(np.ones((2, 3)), np.ones((2, 4, 3)), np.ones(4))


def test_per_member_int_labels_refused_inside_compile():
    ens = pat.nn.Ensemble(_models([3, 4, 2], k=2))

    @pat.compile
    def step(x, y):
        return ens.losses(pat.nn.CrossEntropyLoss(), ens(x), y).sum()

    with pytest.raises(TypeError, match="per-member integer labels"):
        step(np.ones((4, 3)), np.zeros((2, 4), np.int64))


def test_stacked_linear_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 6, 5))
    tx, tw, tb = (pat.tensor(a, requires_grad=True) for a in (x, w, b))
    (pat.stacked_linear(tx, tw, tb) * g).sum().backward()
    qx, qw, qb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.baddbmm(qb[:, None, :], qx, qw.transpose(1, 2))
    (y * torch.tensor(g)).sum().backward()
    for mine, ref in ((tx, qx), (tw, qw), (tb, qb)):
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_containers_and_dropout_members():
    pat.manual_seed(0)
    nets = [pat.nn.Sequential(pat.nn.Linear(3, 8), pat.nn.ReLU(), pat.nn.Dropout(0.5),
                              pat.nn.Linear(8, 2)) for _ in range(3)]
    ens = pat.nn.Ensemble(nets)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert ens(x).shape == (3, 4, 2)  # training: dropout masks per member and row
    ens.eval()
    out = ens(x).numpy()
    for i, m in enumerate(ens.unstack()):
        assert not m.training
        assert np.array_equal(out[i], m(x).numpy())
    with pytest.raises(TypeError, match="LayerNorm"):
        pat.nn.Ensemble([pat.nn.Sequential(pat.nn.Linear(3, 4), pat.nn.LayerNorm(4))
                         for _ in range(2)])
