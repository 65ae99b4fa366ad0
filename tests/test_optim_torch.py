"""The optimizers against torch.optim: 50-step float64 trajectories (to 1e-10), every
flag, state_dict keys, validation, and replay == eager bitwise under pat.compile."""

from __future__ import annotations

import numpy as np
import pytest

import pyautotape as pat


def _torch():
    return pytest.importorskip("torch")


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "maximize": True, "betas": (0.8, 0.9)}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True, "weight_decay": 0.3}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "alpha": 0.9}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.3, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
]


def _loss_pat(w, b, x, y):
    return (((x @ w + b) - y) ** 2).mean() + (w * w * w).sum() * 0.01


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((8, 4)),
            rng.standard_normal((8, 3)))


@pytest.fixture
def f64_default():
    torch = _torch()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps NAdam's mu_product in this dtype
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch(name, kw, f64_default):
    torch = _torch()
    w0, b0, x, y = _data()
    w, b = pat.tensor(w0, requires_grad=True), pat.tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = getattr(pat.optim, name)([w, b], **kw)
    topt = getattr(torch.optim, name)([tw, tb], foreach=False, **kw)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(50):
        opt.zero_grad()
        _loss_pat(w, b, pat.tensor(x), pat.tensor(y)).backward()
        opt.step()
        topt.zero_grad()
        (((tx @ tw + tb) - ty) ** 2).mean().add((tw * tw * tw).sum() * 0.01).backward()
        topt.step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=0, atol=1e-10)
    ours, theirs = opt.state_dict(), topt.state_dict()
    tstate = {k: v for k, v in theirs["state"].get(0, {}).items() if v is not None}
    ostate = ours["state"].get(0, {})
    assert set(ostate) == set(tstate)
    for k, v in tstate.items():
        np.testing.assert_allclose(np.asarray(ostate[k]), v.numpy(), atol=1e-10)
    tg = {k: v for k, v in theirs["param_groups"][0].items()
          if k not in ("foreach", "capturable", "differentiable", "fused")}
    og = ours["param_groups"][0]
    if name in ("Adam", "AdamW"):
        tg.pop("decoupled_weight_decay", None)
    assert set(og) == set(tg)
    for k in og:
        assert og[k] == pytest.approx(tg[k]) if k != "betas" else tuple(og[k]) == tuple(tg[k])


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_replay_equals_eager(name, kw):
    w0, b0, x, y = _data(1)
    runs = []
    for compiled in (False, True):
        w, b = pat.tensor(w0, requires_grad=True), pat.tensor(b0, requires_grad=True)
        opt = getattr(pat.optim, name)([w, b], **kw)

        def step(xb, yb, w=w, b=b, opt=opt):
            opt.zero_grad()
            loss = _loss_pat(w, b, xb, yb)
            loss.backward()
            opt.step()
            return loss

        fn = pat.compile(step) if compiled else step
        for i in range(12):
            fn(pat.tensor(x * (1 + 0.1 * i)), pat.tensor(y))
        runs.append((w.numpy().copy(), b.numpy().copy(), opt.state_dict()))
    (w1, b1, s1), (w2, b2, s2) = runs
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    for k, v in s1["state"].get(0, {}).items():
        assert np.array_equal(np.asarray(v), np.asarray(s2["state"][0][k])), k


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"])
def test_float32_close_to_torch(name):
    torch = _torch()
    w0, b0, x, y = (a.astype(np.float32) for a in _data(2))
    w, b = pat.tensor(w0, requires_grad=True), pat.tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = getattr(pat.optim, name)([w, b], lr=0.01)
    topt = getattr(torch.optim, name)([tw, tb], lr=0.01, foreach=False)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(20):
        opt.zero_grad()
        _loss_pat(w, b, pat.tensor(x), pat.tensor(y)).backward()
        opt.step()
        topt.zero_grad()
        (((tx @ tw + tb) - ty) ** 2).mean().add((tw * tw * tw).sum() * 0.01).backward()
        topt.step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)


BAD = [
    ("RMSprop", {"lr": -1}, "Invalid learning rate"),
    ("RMSprop", {"alpha": -0.1}, "Invalid alpha value"),
    ("RMSprop", {"momentum": -0.1}, "Invalid momentum value"),
    ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value"),
    ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value"),
    ("Adadelta", {"rho": 1.5}, "Invalid rho value"),
    ("Adamax", {"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0"),
    ("NAdam", {"momentum_decay": -1}, "Invalid momentum_decay value"),
    ("RAdam", {"eps": -1}, "Invalid epsilon value"),
    ("Adam", {"weight_decay": -1}, "Invalid weight_decay value"),
]


@pytest.mark.parametrize("name,kw,msg", BAD)
def test_validation_like_torch(name, kw, msg):
    torch = _torch()
    w = pat.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=msg):
        getattr(pat.optim, name)([w], **kw)
    with pytest.raises(ValueError, match=msg):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kw)


def test_flags_must_be_bools():
    w = pat.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="maximize"):
        pat.optim.RMSprop([w], maximize=1)


@pytest.mark.parametrize("name,kw", CASES[8:], ids=[f"{n}-{i}" for i, (n, _) in
                                                    enumerate(CASES[8:])])
def test_state_dict_round_trip_continues_the_trajectory(name, kw):
    w0, b0, x, y = _data(3)
    ws = []
    for reload in (False, True):
        w, b = pat.tensor(w0, requires_grad=True), pat.tensor(b0, requires_grad=True)
        opt = getattr(pat.optim, name)([w, b], **kw)
        for i in range(10):
            if reload and i == 5:
                sd = opt.state_dict()
                opt = getattr(pat.optim, name)([w, b], **kw)
                opt.load_state_dict(sd)
            opt.zero_grad()
            _loss_pat(w, b, pat.tensor(x), pat.tensor(y)).backward()
            opt.step()
        ws.append(w.numpy().copy())
    assert np.array_equal(ws[0], ws[1])


def test_kernels_reject_bad_tables():
    from pyautotape._ffi import ffi, lib

    null = ffi.NULL
    i64 = ffi.new("int64_t[1]", [4])
    assert lib.pat_rmsprop_step(7, 1, null, null, null, null, null, i64, i64, 0.1, 0.9, 0,
                                0, 0, 0) == lib.PAT_EBADDTYPE
    assert lib.pat_nadam_step(lib.PAT_F64, 1, null, null, null, null, null, i64, i64, 0.1,
                              0.9, 0.9, 0, 0, 0, 0) == lib.PAT_ENULL
    assert lib.pat_adagrad_step(lib.PAT_F64, -1, null, null, null, i64, i64, 0.1, 0, 0, 0,
                                0) == lib.PAT_EBADARG


@pytest.mark.parametrize("name,change", [
    ("Adam", {"maximize": True}),
    ("Adam", {"amsgrad": True}),
    ("SGD", {"nesterov": True}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.5}),
    ("NAdam", {"decoupled_weight_decay": True}),
])
def test_changing_a_flag_between_compiled_calls_re_records(name, change):
    w0, b0, x, y = _data(4)
    base = {"momentum": 0.9} if name == "SGD" else {}
    runs = []
    for compiled in (False, True):
        w, b = pat.tensor(w0, requires_grad=True), pat.tensor(b0, requires_grad=True)
        opt = getattr(pat.optim, name)([w, b], **base)

        def step(w=w, b=b, opt=opt):
            opt.zero_grad()
            _loss_pat(w, b, pat.tensor(x), pat.tensor(y)).backward()
            opt.step()

        fn = pat.compile(step) if compiled else step
        for i in range(6):
            if i == 3:
                opt.param_groups[0].update(change)
            fn()
        if compiled:
            assert fn.stats["retapes"] == 1, fn.stats
        runs.append(w.numpy().copy())
    assert np.array_equal(runs[0], runs[1])
