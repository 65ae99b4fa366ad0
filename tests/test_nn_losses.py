"""nn.functional losses and their modules against torch (float64), gradients included,
the error for one-hot targets, and replay == eager with new targets each step."""

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import nn
from pyautotape.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:reduction:UserWarning")
TF = torch.nn.functional

REDS = ["none", "mean", "sum"]


def _both(arr):
    return pat.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)


def _check(ours, theirs, pa, ta, tol=1e-10):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)
    w = np.random.default_rng(3).standard_normal(ours.shape)
    (ours * w).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    for p, t in zip(pa, ta, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 3)])
def test_cross_entropy_indices(red, weighted, smoothing, shape):
    r = np.random.default_rng(0)
    x = r.standard_normal(shape)
    rest = (shape[0],) + shape[2:]
    y = r.integers(0, shape[1], rest)
    y.reshape(-1)[1] = -100  # ignored
    w = r.uniform(0.5, 2.0, shape[1]) if weighted else None
    px, tx = _both(x)
    ours = F.cross_entropy(px, y, weight=w, reduction=red, label_smoothing=smoothing)
    theirs = TF.cross_entropy(tx, torch.tensor(y), weight=None if w is None else torch.tensor(w),
                              reduction=red, label_smoothing=smoothing)
    _check(ours, theirs, [px], [tx])


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_probabilities(red, smoothing):
    r = np.random.default_rng(1)
    x = r.standard_normal((4, 5))
    p = r.dirichlet(np.ones(5), 4)
    w = r.uniform(0.5, 2.0, 5)
    px, tx = _both(x)
    ours = F.cross_entropy(px, p, weight=w, reduction=red, label_smoothing=smoothing)
    theirs = TF.cross_entropy(tx, torch.tensor(p), weight=torch.tensor(w), reduction=red,
                              label_smoothing=smoothing)
    _check(ours, theirs, [px], [tx])


def test_cross_entropy_one_hot_is_refused():
    x = pat.tensor(np.zeros((3, 4)))
    onehot = np.eye(4, dtype=np.int64)[[0, 1, 2]]
    with pytest.raises(pat.ShapeError, match="one-hot.*class indices.*probabilities"):
        F.cross_entropy(x, onehot)
    with pytest.raises(pat.ShapeError, match="one-hot"):
        nn.CrossEntropyLoss()(x, onehot)


@pytest.mark.parametrize("red", REDS)
def test_nll_loss(red):
    r = np.random.default_rng(2)
    x = r.standard_normal((6, 3))
    y = np.array([0, 2, 1, -100, 2, 0])
    w = np.array([0.5, 1.0, 2.0])
    px, tx = _both(x)
    ours = nn.NLLLoss(weight=w, reduction=red)(px, y)
    theirs = torch.nn.NLLLoss(weight=torch.tensor(w), reduction=red)(tx, torch.tensor(y))
    _check(ours, theirs, [px], [tx])


def _pointwise_cases():
    r = np.random.default_rng(4)
    a = r.standard_normal((3, 4))
    a[0, 0] = 0.0  # a kink of |.| and of softplus
    b = r.standard_normal((3, 4))
    b[0, 0] = 0.0
    b[1, 1] = a[1, 1] + 1.0  # exactly at beta / delta
    prob = r.uniform(0.05, 0.95, (3, 4))
    tgt = r.uniform(0.0, 1.0, (3, 4))
    return [
        ("mse", lambda x, t, red: F.mse_loss(x, t, red), lambda x, t, red: TF.mse_loss(x, t, reduction=red), a, b),
        ("l1", lambda x, t, red: F.l1_loss(x, t, red), lambda x, t, red: TF.l1_loss(x, t, reduction=red), a, b),
        ("smooth_l1", lambda x, t, red: F.smooth_l1_loss(x, t, red, beta=1.0),
         lambda x, t, red: TF.smooth_l1_loss(x, t, reduction=red, beta=1.0), a, b),
        ("huber", lambda x, t, red: F.huber_loss(x, t, red, delta=1.0),
         lambda x, t, red: TF.huber_loss(x, t, reduction=red, delta=1.0), a, b),
        ("bce", lambda x, t, red: F.binary_cross_entropy(x, t, reduction=red),
         lambda x, t, red: TF.binary_cross_entropy(x, t, reduction=red), prob, tgt),
        ("bce_logits", lambda x, t, red: F.binary_cross_entropy_with_logits(
            x, t, reduction=red, pos_weight=np.full(4, 2.5)),
         lambda x, t, red: TF.binary_cross_entropy_with_logits(
            x, t, reduction=red, pos_weight=torch.full((4,), 2.5, dtype=torch.float64)), a, tgt),
        ("kl", lambda x, t, red: F.kl_div(x, t, red), lambda x, t, red: TF.kl_div(x, t, reduction=red),
         np.log(prob), np.where(tgt > 0.3, tgt, 0.0)),
    ]


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("case", _pointwise_cases(), ids=lambda c: c[0])
def test_pointwise_losses_match_torch_with_gradients_at_kinks(case, red):
    name, ours_fn, theirs_fn, a, b = case
    pa, ta = _both(a)
    pb, tb = _both(b)
    if name == "kl":  # d/dt of t log t at t = 0 is -inf: torch gives NaN; compare d/dx
        pb, tb = pat.tensor(b), torch.tensor(b)
        _check(ours_fn(pa, pb, red), theirs_fn(ta, tb, red), [pa], [ta])
        return
    _check(ours_fn(pa, pb, red), theirs_fn(ta, tb, red), [pa, pb], [ta, tb])


def test_kl_div_batchmean_and_log_target():
    r = np.random.default_rng(5)
    x = np.log(r.dirichlet(np.ones(4), 3))
    t = np.log(r.dirichlet(np.ones(4), 3))
    pa, ta = _both(x)
    _check(nn.KLDivLoss(reduction="batchmean", log_target=True)(pa, t),
           torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(ta, torch.tensor(t)),
           [pa], [ta])


@pytest.mark.parametrize("red", REDS)
def test_pair_losses(red):
    r = np.random.default_rng(6)
    a, b = r.standard_normal((5, 3)), r.standard_normal((5, 3))
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    pa, ta = _both(a)
    pb, tb = _both(b)
    _check(nn.CosineEmbeddingLoss(margin=0.1, reduction=red)(pa, pb, y),
           torch.nn.CosineEmbeddingLoss(margin=0.1, reduction=red)(ta, tb, torch.tensor(y)),
           [pa, pb], [ta, tb])
    pa, ta = _both(a[:, 0])
    pb, tb = _both(b[:, 0])
    _check(nn.MarginRankingLoss(margin=0.2, reduction=red)(pa, pb, y),
           torch.nn.MarginRankingLoss(margin=0.2, reduction=red)(ta, tb, torch.tensor(y)),
           [pa, pb], [ta, tb])


def test_loss_state_dicts_hold_weights_as_torch():
    w = np.array([1.0, 2.0, 3.0])
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == list(
        torch.nn.CrossEntropyLoss(weight=torch.tensor(w)).state_dict())
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == list(
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)).state_dict())


def test_bad_reduction_and_shapes_raise():
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(pat.ShapeError, match="same shape"):
        F.l1_loss(pat.tensor([1.0, 2.0]), pat.tensor([1.0]))
    with pytest.raises(ValueError, match="outside"):
        F.cross_entropy(pat.tensor(np.zeros((2, 3))), np.array([0, 3]))


def test_losses_replay_with_new_targets_each_step():
    def run(compiled):
        pat.manual_seed(0)
        lin = nn.Linear(4, 3, dtype=np.float64)
        opt = pat.optim.SGD(lin.parameters(), lr=0.1)
        ce = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1)

        def step(x, y, t):
            out = lin(x)
            loss = ce(out, y) + F.smooth_l1_loss(out, t) + F.binary_cross_entropy_with_logits(
                out, pat.sigmoid(t))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        step = pat.compile(step) if compiled else step
        r = np.random.default_rng(9)
        out = []
        for _ in range(4):
            x = r.standard_normal((6, 4))
            y = r.integers(0, 3, 6)
            y[r.integers(0, 6)] = -100
            out.append(step(x, y, r.standard_normal((6, 3))).numpy())
        return out, [p.numpy() for p in lin.parameters()], step

    eager, pe, _ = run(False)
    replayed, pr, step = run(True)
    assert step.stats["replays"] == 3, step.stats
    for a, b in zip(eager + pe, replayed + pr, strict=True):
        assert a.tobytes() == b.tobytes()
