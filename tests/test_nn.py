"""pat.nn: parameter discovery, state dicts, layers, losses, manual_seed, and (with torch)
initialisation statistics and a 784-256-128-10 SGD loss curve against torch."""

import doctest

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.scale = pat.tensor(np.ones(4, np.float32), requires_grad=True)
        self.frozen = pat.tensor(np.zeros(2, np.float32))  # state, not a parameter
        self.heads = [nn.Linear(4, 2), nn.Linear(4, 1, bias=False)]
        self.note = "not a member"

    def forward(self, x):
        h = self.proj(x) * self.scale
        return [head(h) for head in self.heads]


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = self.a  # the same module twice
        self.w = self.a.weight  # and the same tensor under another name
        self.seq = nn.Sequential(self.a, nn.ReLU())


def test_named_parameters_definition_order_and_dotted_names():
    names = [n for n, _ in Block().named_parameters()]
    assert names == [
        "proj.weight", "proj.bias", "scale", "heads.0.weight", "heads.0.bias", "heads.1.weight",
    ]


def test_shared_modules_and_tensors_listed_once():
    m = Tied()
    params = list(m.parameters())
    assert len(params) == 2
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "a.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "a", "seq", "seq.1"]


def test_mlp_names_and_structure():
    mlp = nn.MLP([5, 7, 6, 3], activation="tanh")
    assert [n for n, _ in mlp.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
        "layers.4.weight", "layers.4.bias",
    ]
    kinds = [type(m).__name__ for m in mlp.layers]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert mlp.layers[-1].weight.shape == (3, 6)
    assert len(mlp.layers) == 5 and isinstance(mlp.layers[1:3], nn.Sequential)
    assert type(nn.MLP([2, 2, 2], activation="sigmoid").layers[1]) is nn.Sigmoid


def test_repr_is_readable():
    text = repr(nn.MLP([4, 8, 2]))
    assert text.splitlines()[0] == "MLP(sizes=[4, 8, 2], activation='relu'"
    assert "(layers): Sequential(" in text
    assert "(0): Linear(in_features=4, out_features=8, bias=True, dtype=float32)" in text
    assert "(1): ReLU()" in text and text.endswith(")")


def test_forward_matches_numpy_and_call_is_forward():
    lin = nn.Linear(3, 2, dtype=np.float64)
    x = np.arange(6.0).reshape(2, 3)
    want = x @ lin.weight.numpy().T + lin.bias.numpy()
    np.testing.assert_allclose(lin(x).numpy(), want, rtol=1e-14)
    np.testing.assert_array_equal(lin(x).numpy(), lin.forward(x).numpy())
    nobias = nn.Linear(3, 2, bias=False)
    assert nobias.bias is None and [n for n, _ in nobias.named_parameters()] == ["weight"]


def test_dtype_follows_argument_or_default():
    assert nn.Linear(2, 2).weight.dtype == np.float32
    assert nn.MLP([2, 3, 1], dtype=np.float64).layers[2].bias.dtype == np.float64
    pat.set_default_dtype(np.float64)
    assert nn.Linear(2, 2).weight.dtype == np.float64
    with pytest.raises(pat.DTypeError):
        nn.Linear(2, 2, dtype=np.int32)


def test_init_bounds_and_seed_reproducibility():
    pat.manual_seed(3)
    a = nn.MLP([100, 50, 10])
    pat.manual_seed(3)
    b = nn.MLP([100, 50, 10])
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=na)
    w = a.layers[0].weight.numpy()
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.09  # U(-1/sqrt(100), 1/sqrt(100))
    assert abs(w.mean()) < 0.01 and abs(w.std() - 0.1 / np.sqrt(3)) < 0.005
    assert np.abs(a.layers[0].bias.numpy()).max() <= 0.1
    assert not np.array_equal(nn.Linear(100, 50).weight.numpy(), w)


def test_manual_seed_also_seeds_shuffling():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    pat.manual_seed(5)
    first = [yb.tolist() for _, yb in pat.data.DataLoader(X, y, 4)]
    pat.manual_seed(5)
    again = [yb.tolist() for _, yb in pat.data.DataLoader(X, y, 4)]
    assert first == again
    with pytest.raises(ValueError):
        pat.manual_seed(-1)
    with pytest.raises(TypeError):
        pat.manual_seed(1.5)
    pat.data._seed(None)


def test_zero_grad_train_eval():
    m = Block()
    outs = m(np.ones((2, 3), np.float32))
    (outs[0].sum() + outs[1].sum()).backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.eval() is m and not m.training and not m.heads[0].training
    assert m.train().training and m.proj.training


def test_state_dict_copies_and_includes_frozen_tensors():
    m = Block()
    sd = m.state_dict()
    assert list(sd) == [
        "proj.weight", "proj.bias", "scale", "frozen", "heads.0.weight", "heads.0.bias",
        "heads.1.weight",
    ]
    sd["scale"][:] = 7
    assert not (m.scale.numpy() == 7).any()


def test_load_state_dict_round_trip_in_place():
    a, b = Block(), Block()
    weight = b.proj.weight
    assert b.load_state_dict(a.state_dict()) == ([], [])
    assert b.proj.weight is weight  # copied into the same tensors: optimizers keep working
    for (_, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        np.testing.assert_array_equal(va, vb)
    tensors = {k: pat.tensor(v) for k, v in a.state_dict().items()}
    b.load_state_dict(tensors)


def test_load_state_dict_errors_and_strict_false():
    a = nn.MLP([3, 4, 2])
    sd = a.state_dict()
    before = a.state_dict()
    missing = dict(sd)
    del missing["layers.2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['layers.2.bias'\]"):
        a.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        a.load_state_dict({**sd, "extra": np.zeros(1)})
    bad_shape = {**sd, "layers.0.weight": np.zeros((3, 4), np.float32)}
    with pytest.raises(pat.ShapeError, match="layers.0.weight.*\\(3, 4\\).*\\(4, 3\\)"):
        a.load_state_dict(bad_shape)
    bad_dtype = {k: v.astype(np.float64) for k, v in sd.items()}
    with pytest.raises(pat.DTypeError, match="float64.*float32"):
        a.load_state_dict(bad_dtype)
    for k, v in a.state_dict().items():  # nothing was written by the failed loads
        np.testing.assert_array_equal(v, before[k])
    zeros = {"layers.0.weight": np.zeros((4, 3), np.float32), "junk": np.ones(2)}
    res = a.load_state_dict(zeros, strict=False)
    assert res.missing_keys == ["layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert res.unexpected_keys == ["junk"]
    assert not a.layers[0].weight.numpy().any()
    with pytest.raises(TypeError):
        a.load_state_dict([1, 2])


def test_load_state_dict_refuses_stale_graph():
    lin = nn.Linear(2, 1)
    x = pat.tensor(np.ones((1, 2), np.float32), requires_grad=True)
    out = lin(x).sum()  # saves the weight for dx
    lin.load_state_dict(nn.Linear(2, 1).state_dict())
    with pytest.raises(pat.TapeError, match="modified"):
        out.backward()


def test_activations_and_losses():
    x = pat.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    nn.ReLU(subgradient=0.5)(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError):
        nn.ReLU(subgradient=2.0)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp([1.0, 0.0, -2.0])))
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 0.0])
    assert nn.MSELoss()(pred, target).item() == pytest.approx(20 / 3)
    assert nn.MSELoss(reduction="sum")(pred, target).item() == pytest.approx(20.0)
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    ce = nn.CrossEntropyLoss(reduction="none")(logits, np.array([0, 2])).numpy()
    np.testing.assert_allclose(ce, -np.log([0.5, 0.8]), rtol=1e-12)
    with pytest.raises(ValueError):
        nn.CrossEntropyLoss(reduction="avg")


def test_bad_construction():
    with pytest.raises(ValueError):
        nn.MLP([3])
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError):
        nn.Linear(0, 2)
    with pytest.raises(TypeError):
        nn.Linear(2.5, 2)
    with pytest.raises(TypeError):
        nn.Sequential(nn.ReLU(), "relu")
    with pytest.raises(TypeError, match="forward"):
        nn.Module()(1)


def test_doctests():
    for module in (nn, pat.random):
        failures, _ = doctest.testmod(module)
        assert failures == 0, module.__name__


# ---------------------------------------------------------------------------------------
# against torch


def test_linear_init_distribution_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tw = torch.nn.Linear(400, 300).weight.detach().numpy().ravel()
    pw = nn.Linear(400, 300).weight.numpy().ravel()
    # same support and same moments (uniform on ±1/20): variance 1/1200
    assert abs(tw.max() - pw.max()) < 1e-3 and abs(tw.min() - pw.min()) < 1e-3
    assert abs(tw.std() - pw.std()) < 2e-4


def test_mlp_784_256_128_10_sgd_loss_curve_matches_torch():
    """Acceptance: 20 float32 SGD steps from the same initial weights, relative
    loss difference <= 1e-4 at every step."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    sizes = [784, 256, 128, 10]
    pat.manual_seed(0)
    model = nn.MLP(sizes)
    tmodel = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.numpy()))
    opt = pat.optim.SGD(model.parameters(), lr=0.1)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    teacher = rng.standard_normal((784, 10))  # a learnable task: labels from a linear map
    worst = 0.0
    losses = []
    for _ in range(20):
        X = rng.uniform(0, 1, (64, 784)).astype(np.float32)
        y = (X @ teacher).argmax(axis=1)
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        tloss = tloss_fn(tmodel(torch.from_numpy(X)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        topt.zero_grad()
        a, b = loss.item(), tloss.item()
        losses.append(a)
        worst = max(worst, abs(a - b) / abs(b))
    print(f"784-256-128-10 float32 SGD, 20 steps: largest relative loss difference {worst:.2e}")
    assert worst <= 1e-4
    assert losses[-1] < losses[0]  # it trains
