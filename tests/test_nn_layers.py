"""nn modules beyond Linear: Parameter and containers, buffers, hooks, apply/to; Dropout,
LayerNorm, BatchNorm1d, Bilinear, activations against torch (float64); nn.init and
nn.utils; and replay == eager bitwise for each stateful piece."""

from collections import OrderedDict

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import nn
from pyautotape.nn import functional as F


def test_parameter_is_a_registered_tensor_even_when_frozen():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(pat.tensor([1.0, 2.0]))
            self.plain = pat.tensor([3.0], requires_grad=True)

    m = M()
    assert isinstance(m.w, pat.Tensor) and m.w.requires_grad
    m.requires_grad_(False)
    assert [n for n, _ in m.named_parameters()] == ["w"]  # the plain tensor stops counting
    assert not m.w.requires_grad


def test_containers_name_their_parameters_as_torch():
    seq = nn.Sequential(OrderedDict(fc1=nn.Linear(2, 3), act=nn.ReLU(), fc2=nn.Linear(3, 1)))
    assert [n for n, _ in seq.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                      "fc2.bias"]
    assert seq.fc2 is seq[2] and len(seq) == 3 and isinstance(seq[:2], nn.Sequential)
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 2))
    ml.extend([nn.ReLU()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear", "ReLU"]
    assert [n for n, _ in ml.named_parameters()][:2] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(2, 1)})
    md["b"] = nn.Linear(1, 1)
    assert list(md.keys()) == ["a", "b"] and "b.bias" in md.state_dict()
    with pytest.raises(TypeError, match="not a Module"):
        nn.ModuleList([3])


def test_modules_in_dict_attributes_are_found_and_sets_refused():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = {"x": nn.Linear(2, 1), "y": nn.Linear(2, 1)}

    assert [n for n, _ in M().named_parameters()] == ["heads.x.weight", "heads.x.bias",
                                                      "heads.y.weight", "heads.y.bias"]

    class S(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = {nn.Linear(2, 1)}

    with pytest.raises(TypeError, match="set"):
        list(S().parameters())


def test_buffers_hooks_apply_to_and_recurse():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert [n for n, _ in m.named_buffers()] == ["1.running_mean", "1.running_var",
                                                 "1.num_batches_tracked"]
    assert list(m.parameters(recurse=False)) == []
    m[0].register_buffer("scratch", pat.tensor([0.0]), persistent=False)
    assert "0.scratch" not in m.state_dict()
    seen = []
    h = m[0].register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    pre = m[0].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    m(pat.tensor(np.ones((3, 2), np.float32)))
    h.remove()
    pre.remove()
    m(pat.tensor(np.ones((3, 2), np.float32)))
    assert seen == [(3, 2)]
    names = []
    m.apply(lambda mod: names.append(type(mod).__name__))
    assert names == ["Linear", "BatchNorm1d", "Sequential"]
    m.double()
    assert {p.dtype for p in m.parameters()} == {np.dtype(np.float64)}
    assert m[1].running_mean.dtype == np.float64
    assert [type(c).__name__ for c in m.children()] == ["Linear", "BatchNorm1d"]
    with pytest.raises(ValueError, match="CPU"):
        m.to("cuda")


def test_print_model_as_before():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1), nn.LayerNorm(3)))
    assert "(0): Linear(" in text and "(1): Dropout(p=0.1" in text and "(2): LayerNorm((3,)" in text


def test_dropout_statistics_eval_and_errors():
    pat.manual_seed(0)
    x = pat.tensor(np.ones(100000))
    y = F.dropout(x, 0.3).numpy()
    assert abs((y == 0).mean() - 0.3) < 0.01 and set(np.unique(y)) == {0.0, 1 / 0.7}
    assert not np.array_equal(y, F.dropout(x, 0.3).numpy())  # a fresh mask per call
    pat.manual_seed(0)
    assert np.array_equal(y, F.dropout(x, 0.3).numpy())  # manual_seed reproduces it
    d = nn.Dropout(0.5).eval()
    assert d(x) is x
    assert np.array_equal(F.dropout(x, 1.0).numpy(), np.zeros(100000))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def _train(model, compiled, steps=4, clip=None, seed=0, dtype=np.float64):
    pat.manual_seed(seed)
    opt = pat.optim.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip) if clip else loss
        opt.step()
        return loss, norm

    fn = pat.compile(step) if compiled else step
    r = np.random.default_rng(1)
    out = []
    for _ in range(steps):
        x = r.standard_normal((8, 5)).astype(dtype)
        loss, norm = fn(x, r.integers(0, 3, 8))
        out += [loss.numpy(), norm.numpy()]
    state = [v for v in model.state_dict().values()]
    return out, state, fn


def _model(norm, dtype=np.float64):
    pat.manual_seed(3)
    layer = {"layer": nn.LayerNorm(16, dtype=dtype), "batch": nn.BatchNorm1d(16, dtype=dtype),
             "none": nn.Identity()}[norm]
    return nn.Sequential(nn.Linear(5, 16, dtype=dtype), layer, nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(16, 3, dtype=dtype))


@pytest.mark.parametrize("norm", ["layer", "batch", "none"])
@pytest.mark.parametrize("clip", [None, 0.5])
def test_dropout_norms_and_clipping_replay_bitwise(norm, clip):
    eager, se, _ = _train(_model(norm), False, clip=clip)
    replayed, sr, fn = _train(_model(norm), True, clip=clip)
    assert fn.stats["replays"] == 3, fn.stats
    for a, b in zip(eager + se, replayed + sr, strict=True):
        assert a.tobytes() == b.tobytes()


def test_clip_grad_value_and_vector_roundtrip():
    w = pat.tensor([3.0, -4.0, 0.5], requires_grad=True)
    (w * w).sum().backward()
    nn.utils.clip_grad_value_([w], 2.0)
    assert w.grad.numpy().tolist() == [2.0, -2.0, 1.0]
    lin = nn.Linear(2, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    nn.utils.vector_to_parameters(vec * 2, lin.parameters())
    assert np.allclose(nn.utils.parameters_to_vector(lin.parameters()).numpy(), vec.numpy() * 2)
    with pytest.raises(pat.ShapeError, match="6 elements"):
        nn.utils.vector_to_parameters(np.zeros(5), lin.parameters())


def test_clip_grad_norm_nonfinite():
    w = pat.tensor([np.inf, 1.0], requires_grad=True)
    (w * 1.0).sum().backward()
    w._grad._data[0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite|cannot be clipped"):
        nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)


def test_init_functions():
    pat.manual_seed(0)
    w = pat.tensor(np.zeros((300, 200)), requires_grad=True)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - np.sqrt(2 / 200)) < 0.002
    nn.init.xavier_uniform_(w)
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 500)
    nn.init.trunc_normal_(w, std=0.02)
    assert np.abs(w.numpy()).max() <= 2.0
    nn.init.zeros_(w)
    assert not w.numpy().any()
    with pytest.raises(pat.ShapeError, match="fewer than 2"):
        nn.init.xavier_uniform_(pat.tensor(np.zeros(3)))
    pat.manual_seed(5)
    a = nn.init.normal_(pat.tensor(np.zeros(4))).numpy()
    pat.manual_seed(5)
    assert np.array_equal(a, nn.init.normal_(pat.tensor(np.zeros(4))).numpy())


# ---------------------------------------------------------------------------------------
# against torch

def _pair(arr):
    torch = pytest.importorskip("torch")
    return pat.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(a, b.detach().numpy() if hasattr(b, "detach") else b,
                               rtol=tol, atol=tol)


def test_layernorm_batchnorm_bilinear_activations_match_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    x = r.standard_normal((6, 4))
    # LayerNorm
    ln, tln = nn.LayerNorm(4, dtype=np.float64), torch.nn.LayerNorm(4, dtype=torch.float64)
    with torch.no_grad():
        tln.weight.copy_(torch.tensor(r.standard_normal(4)))
    ln.load_state_dict({k: v.numpy() for k, v in tln.state_dict().items()})
    px, tx = _pair(x)
    _close(ln(px).numpy(), tln(tx))
    (ln(px) ** 2).sum().backward()
    (tln(tx) ** 2).sum().backward()
    _close(px.grad.numpy(), tx.grad)
    _close(ln.weight.grad.numpy(), tln.weight.grad)
    # BatchNorm1d, (N, C) and (N, C, L), train then eval, running stats and state_dict
    for shape in [(6, 4), (5, 4, 3)]:
        bn = nn.BatchNorm1d(4, momentum=0.3, dtype=np.float64)
        tbn = torch.nn.BatchNorm1d(4, momentum=0.3, dtype=torch.float64)
        assert list(bn.state_dict()) == list(tbn.state_dict())
        bn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})  # int64 count
        for _ in range(3):
            xb = r.standard_normal(shape)
            px, tx = _pair(xb)
            _close(bn(px).numpy(), tbn(tx))
            (bn(px) ** 3).sum().backward()
            (tbn(tx) ** 3).sum().backward()
            _close(px.grad.numpy(), tx.grad)
        # two forwards per step above: both update the running stats, as in torch
        _close(bn.running_mean.numpy(), tbn.running_mean)
        _close(bn.running_var.numpy(), tbn.running_var)
        assert bn.num_batches_tracked.item() == tbn.num_batches_tracked.item()
        bn.eval()
        tbn.eval()
        xe = r.standard_normal(shape)
        _close(bn(xe).numpy(), tbn(torch.tensor(xe)))
    # Bilinear
    bl = nn.Bilinear(3, 2, 4, dtype=np.float64)
    tbl = torch.nn.Bilinear(3, 2, 4, dtype=torch.float64)
    bl.load_state_dict({k: v.numpy() for k, v in tbl.state_dict().items()})
    a, b = r.standard_normal((5, 3)), r.standard_normal((5, 2))
    pa, ta = _pair(a)
    _close(bl(pa, b).numpy(), tbl(ta, torch.tensor(b)))
    bl(pa, b).sum().backward()
    tbl(ta, torch.tensor(b)).sum().backward()
    _close(pa.grad.numpy(), ta.grad)
    _close(bl.weight.grad.numpy(), tbl.weight.grad)
    # Flatten / Unflatten
    z = r.standard_normal((2, 3, 4))
    assert nn.Flatten()(z).shape == tuple(torch.nn.Flatten()(torch.tensor(z)).shape)
    assert nn.Unflatten(1, (2, 6))(nn.Flatten()(z)).shape == (2, 2, 6)
    # activations, with a point at 0
    v = np.concatenate([r.standard_normal(7), [0.0, -1.0, 1.0, 6.0, -0.5, 0.5, 3.0, -3.0]])
    pairs = [(nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.SiLU(), torch.nn.SiLU()),
             (nn.LogSigmoid(), torch.nn.LogSigmoid()), (nn.Softsign(), torch.nn.Softsign()),
             (nn.Tanhshrink(), torch.nn.Tanhshrink()), (nn.Softmax(0), torch.nn.Softmax(0)),
             (nn.LogSoftmax(0), torch.nn.LogSoftmax(0)), (nn.Tanh(), torch.nn.Tanh()),
             (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Hardtanh(), torch.nn.Hardtanh()),
             (nn.Hardtanh(-0.5, 0.5), torch.nn.Hardtanh(-0.5, 0.5)),
             (nn.ReLU6(), torch.nn.ReLU6()), (nn.ELU(), torch.nn.ELU()),
             (nn.ELU(0.3), torch.nn.ELU(0.3)), (nn.SELU(), torch.nn.SELU()),
             (nn.CELU(2.0), torch.nn.CELU(2.0)), (nn.GELU(), torch.nn.GELU()),
             (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.Softplus(), torch.nn.Softplus()),
             (nn.Softplus(2.0, 1.0), torch.nn.Softplus(2.0, 1.0)), (nn.Mish(), torch.nn.Mish()),
             (nn.Hardswish(), torch.nn.Hardswish())]
    w = r.standard_normal(len(v))
    for ours, theirs in pairs:
        pv, tv = _pair(v)
        _close(ours(pv).numpy(), theirs(tv))
        (ours(pv) * w).sum().backward()
        (theirs(tv) * torch.tensor(w)).sum().backward()
        _close(pv.grad.numpy(), tv.grad)
    # torch's hardsigmoid backward multiplies by 1/6 rounded to float32 even in float64
    pv, tv = _pair(v)
    _close(nn.Hardsigmoid()(pv).numpy(), torch.nn.Hardsigmoid()(tv))
    (nn.Hardsigmoid()(pv) * w).sum().backward()
    (torch.nn.Hardsigmoid()(tv) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(pv.grad.numpy(), tv.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(2)
    arrs = [r.standard_normal((3, 4)), r.standard_normal(5)]
    for norm_type in (2.0, 1.0, 3.0, float("inf")):
        ours = [pat.tensor(a, requires_grad=True) for a in arrs]
        theirs = [torch.tensor(a, requires_grad=True) for a in arrs]
        for o, t in zip(ours, theirs, strict=True):
            (o * o * o).sum().backward()
            (t * t * t).sum().backward()
        n1 = nn.utils.clip_grad_norm_(ours, 0.7, norm_type=norm_type)
        n2 = torch.nn.utils.clip_grad_norm_(theirs, 0.7, norm_type=norm_type)
        _close(n1.numpy(), n2)
        for o, t in zip(ours, theirs, strict=True):
            _close(o.grad.numpy(), t.grad)


def test_calculate_gain_and_init_bounds_match_torch():
    torch = pytest.importorskip("torch")
    for nl, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None),
                      ("linear", None), ("sigmoid", None)]:
        assert nn.init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param))
    e = nn.init.eye_(pat.tensor(np.zeros((3, 5)))).numpy()
    assert np.array_equal(e, torch.nn.init.eye_(torch.zeros(3, 5)).numpy())
    q = nn.init.orthogonal_(pat.tensor(np.zeros((3, 6))), gain=2.0).numpy()
    assert np.allclose(q @ q.T, 4 * np.eye(3))


def test_embedding_matches_torch_padding_idx_gets_no_gradient():
    torch = pytest.importorskip("torch")
    idx = np.array([[1, 0, 3], [3, 3, 2]])
    emb = nn.Embedding(5, 4, padding_idx=3, dtype=np.float64)
    temb = torch.nn.Embedding(5, 4, padding_idx=3, dtype=torch.float64)
    emb.load_state_dict({k: v.numpy() for k, v in temb.state_dict().items()})
    w = np.random.default_rng(0).standard_normal((2, 3, 4))
    out, tout = emb(idx), temb(torch.tensor(idx))
    _close(out.numpy(), tout)
    (out * w).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    _close(emb.weight.grad.numpy(), temb.weight.grad)
    assert not emb.weight.grad.numpy()[3].any()
    with pytest.raises(IndexError, match="outside"):
        emb(np.array([5]))


def test_embedding_replays_with_new_indices():
    def run(compiled):
        pat.manual_seed(0)
        emb = nn.Embedding(6, 3, padding_idx=0, dtype=np.float64)
        head = nn.Linear(3, 2, dtype=np.float64)
        opt = pat.optim.SGD([*emb.parameters(), *head.parameters()], lr=0.5)

        def step(i, y):
            opt.zero_grad()
            loss = F.cross_entropy(head(emb(i)), y)
            loss.backward()
            opt.step()
            return loss

        fn = pat.compile(step) if compiled else step
        r = np.random.default_rng(2)
        losses = [fn(r.integers(0, 6, 5), r.integers(0, 2, 5)).numpy() for _ in range(4)]
        return losses + [emb.weight.numpy(), head.weight.numpy()], fn

    eager, _ = run(False)
    replayed, fn = run(True)
    assert fn.stats["replays"] == 3
    for a, b in zip(eager, replayed, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_a_compiled_step_records_again_after_eval(norm):
    model = _model(norm)

    def forward(x):
        return model(x)

    fn = pat.compile(forward)
    x = np.random.default_rng(0).standard_normal((8, 5))
    fn(x)
    fn(x)
    model.eval()
    with pat.no_grad():
        expect = model(x).numpy()
    got = fn(x).numpy()
    assert fn.stats["retapes"] == 1, fn.stats
    assert got.tobytes() == expect.tobytes()
    model.train()
    fn(x)
    assert fn.stats["retapes"] == 2
