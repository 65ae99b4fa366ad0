"""pat.optim.lr_scheduler against torch.optim.lr_scheduler: lr (and momentum / beta1)
sequences over many steps, state_dict round trips, warnings, and schedules seen by a
pat.compile'd step without re-recording."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.optim import lr_scheduler as S

try:
    import torch

    T = torch.optim.lr_scheduler
except ImportError:  # the tests against torch skip; the pat.compile ones still run
    torch = T = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _pair(opt_name="SGD", groups=2, **kw):
    ours = [pat.tensor(np.ones(2), requires_grad=True) for _ in range(groups)]
    lrs = [0.1 * (i + 1) for i in range(groups)]
    o = getattr(pat.optim, opt_name)(
        [{"params": [p], "lr": lr} for p, lr in zip(ours, lrs, strict=True)], **kw)
    if torch is None:
        return o, None
    theirs = [torch.ones(2, requires_grad=True) for _ in range(groups)]
    t = getattr(torch.optim, opt_name)([{"params": [p], "lr": lr}
                                        for p, lr in zip(theirs, lrs, strict=True)], **kw)
    return o, t


def _lambda(e):
    return 0.95 ** e


def _mult(e):
    return 0.9


SCHEDS = [
    ("StepLR", {"step_size": 7, "gamma": 0.3}, {}),
    ("MultiStepLR", {"milestones": [3, 10, 10, 25], "gamma": 0.5}, {}),
    ("ExponentialLR", {"gamma": 0.93}, {}),
    ("CosineAnnealingLR", {"T_max": 13, "eta_min": 0.001}, {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 0.01}, {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4}, {}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 12}, {}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 6}, {}),
    ("LambdaLR", {"lr_lambda": _lambda}, {}),
    ("MultiplicativeLR", {"lr_lambda": _mult}, {}),
    ("PolynomialLR", {"total_iters": 20, "power": 2.0}, {}),
    ("OneCycleLR", {"max_lr": [0.5, 1.0], "total_steps": 60}, {"momentum": 0.9}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 60, "three_phase": True,
                    "anneal_strategy": "linear"}, {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 7, "step_size_down": 4},
     {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 5, "mode": "triangular2"},
     {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 5, "mode": "exp_range",
                  "gamma": 0.97}, {"momentum": 0.9}),
]


def _group_view(groups, key):
    return [g[key] for g in groups]


@needs_torch
@pytest.mark.parametrize("name,kw,okw", SCHEDS, ids=[f"{s[0]}-{i}" for i, s in
                                                      enumerate(SCHEDS)])
def test_sequence_matches_torch(name, kw, okw):
    o, t = _pair(**okw)
    so, st = getattr(S, name)(o, **kw), getattr(T, name)(t, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opt.step() then sched.step(): no warning
        for _ in range(59):
            assert so.get_last_lr() == st.get_last_lr()
            assert so.last_epoch == st.last_epoch
            for key in ("lr", "momentum", "initial_lr"):
                assert _group_view(o.param_groups, key) == _group_view(t.param_groups, key)
            o.step()
            t.step()
            so.step()
            st.step()


@needs_torch
@pytest.mark.parametrize("name,kw", [
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 40}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 6}),
])
def test_betas_cycle_like_torch(name, kw):
    o, t = _pair("Adam")
    so, st = getattr(S, name)(o, **kw), getattr(T, name)(t, **kw)
    for _ in range(39):
        assert _group_view(o.param_groups, "betas") == [tuple(b) for b in
                                                        _group_view(t.param_groups, "betas")]
        assert so.get_last_lr() == st.get_last_lr()
        o.step(); t.step(); so.step(); st.step()  # noqa: E702


@needs_torch
def test_sequential_and_chained_match_torch():
    o, t = _pair()
    seq_o = S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=5), S.ExponentialLR(o, 0.9),
                              S.StepLR(o, 3)], milestones=[5, 12])
    seq_t = T.SequentialLR(t, [T.LinearLR(t, 0.1, total_iters=5), T.ExponentialLR(t, 0.9),
                              T.StepLR(t, 3)], milestones=[5, 12])
    for _ in range(30):
        assert seq_o.get_last_lr() == seq_t.get_last_lr()
        o.step(); t.step(); seq_o.step(); seq_t.step()  # noqa: E702
    o, t = _pair()
    ch_o = S.ChainedScheduler([S.ConstantLR(o, 0.5, total_iters=4), S.ExponentialLR(o, 0.9)])
    ch_t = T.ChainedScheduler([T.ConstantLR(t, 0.5, total_iters=4), T.ExponentialLR(t, 0.9)])
    for _ in range(20):
        assert ch_o.get_last_lr() == ch_t.get_last_lr()
        o.step(); t.step(); ch_o.step(); ch_t.step()  # noqa: E702


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"mode": "max", "threshold_mode": "abs", "cooldown": 2,
                                     "patience": 2, "factor": 0.5, "min_lr": [0.01, 0.02]}])
def test_plateau_matches_torch(kw):
    o, t = _pair()
    so, st = S.ReduceLROnPlateau(o, **kw), T.ReduceLROnPlateau(t, **kw)
    rng = np.random.default_rng(0)
    metric = 1.0
    for _ in range(80):
        metric = metric * 0.999 + 0.01 * rng.standard_normal()
        so.step(metric)
        st.step(metric)
        assert so.get_last_lr() == st.get_last_lr()
        assert (so.best, so.num_bad_epochs, so.cooldown_counter) == (
            st.best, st.num_bad_epochs, st.cooldown_counter)


@pytest.mark.parametrize("name,kw,okw", SCHEDS[:11] + SCHEDS[13:14],
                         ids=[s[0] for s in SCHEDS[:11] + SCHEDS[13:14]])
def test_state_dict_resumes(name, kw, okw):
    o, _ = _pair(**okw)
    s = getattr(S, name)(o, **kw)
    for _ in range(9):
        o.step(); s.step()  # noqa: E702
    sd_s, sd_o = s.state_dict(), o.state_dict()
    assert "optimizer" not in sd_s and "last_epoch" in sd_s
    rest = []
    for _ in range(9):
        o.step(); s.step(); rest.append(s.get_last_lr())  # noqa: E702
    o2, _ = _pair(**okw)
    s2 = getattr(S, name)(o2, **kw)
    o2.load_state_dict(sd_o)  # initial_lr and the like travel with the groups
    s2.load_state_dict(sd_s)
    again = []
    for _ in range(9):
        o2.step(); s2.step(); again.append(s2.get_last_lr())  # noqa: E702
    assert again == rest


def test_warns_when_stepped_before_the_optimizer():
    o, _ = _pair()
    s = S.StepLR(o, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()


def test_resuming_without_initial_lr_is_a_key_error():
    o, _ = _pair()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(o, 2, last_epoch=3)


def test_validation_like_torch():
    o, _ = _pair()
    with pytest.raises(ValueError, match="Constant multiplicative factor"):
        S.ConstantLR(o, factor=2)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(o, max_lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 2)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(o, factor=1.0)


@pytest.mark.parametrize("opt_name,sched", [
    ("SGD", lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=30)),
    ("Adam", lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=30)),
    ("AdamW", lambda o: S.CyclicLR(o, base_lr=0.001, max_lr=0.05, step_size_up=4)),
    ("RMSprop", lambda o: S.CosineAnnealingLR(o, T_max=7)),
    ("NAdam", lambda o: S.ExponentialLR(o, 0.9)),
])
def test_schedule_under_compile_needs_no_retape(opt_name, sched):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    runs = []
    for compiled in (False, True):
        pat.manual_seed(0)
        model = pat.nn.Linear(3, 1, dtype="float64")
        kw = {"momentum": 0.9} if opt_name == "SGD" else {}
        opt = getattr(pat.optim, opt_name)(model.parameters(), **kw)
        s = sched(opt)

        def step(xb, yb, model=model, opt=opt):
            opt.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = pat.compile(step) if compiled else step
        for _ in range(25):
            fn(pat.tensor(x), pat.tensor(y))
            s.step()
        if compiled:
            assert fn.stats["records"] == 1 and fn.stats["retapes"] == 0, fn.stats
            assert fn.stats["replays"] == 24
        runs.append([p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)


def test_replay_sees_an_lr_that_returns_to_the_recorded_value():
    # the C call is patched with the new lr, then must be patched back
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = pat.optim.SGD([w], lr=0.1)

    @pat.compile
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    values = [1.0]
    for lr in (0.1, 0.1, 0.5, 0.1, 0.0):
        opt.param_groups[0]["lr"] = lr
        step()
        values.append(values[-1] * (1 - 2 * lr))
        assert w.numpy()[0] == pytest.approx(values[-1], abs=1e-15)
    assert step.stats["records"] == 1


def test_an_invalid_lr_set_between_compiled_calls_is_refused():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = pat.optim.Adam([w], lr=0.1)

    @pat.compile
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    step()
    step()
    before = w.numpy().copy()
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate"):
        step()
    assert np.array_equal(w.numpy(), before)
