"""pat.optim: closed-form steps against a NumPy transcription of PyTorch's formulas,
trajectories against torch.optim (float64, 1e-10, when torch is installed), state dicts,
validation, and the interplay with the tape's read-only locks."""

import doctest

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import optim
from pyautotape._ffi import ffi, lib

# ---------------------------------------------------------------------------------------
# reference: PyTorch's single-tensor formulas, transcribed in NumPy


def ref_sgd(p, g, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum:
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def ref_adam(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    if weight_decay:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = m + (1 - b1) * (g - m)
    v = b2 * v + (1 - b2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - b2**t) + eps
    return p - (lr / (1 - b1**t)) * m / denom, m, v


def _quadratic_grad(p):
    """The gradient of sum(p**4 / 4 - p) at p: nonlinear, so steps differ from each other."""
    return p**3 - 1


def _run(opt_cls, kwargs, steps, dtype=np.float64):
    p0 = np.array([0.5, -1.5, 2.0, 0.0], dtype)
    w = pat.tensor(p0, requires_grad=True)
    opt = opt_cls([w], **kwargs)
    traj = []
    for _ in range(steps):
        loss = (w**4 / 4 - w).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        traj.append(w.numpy())
    return p0, traj


SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3},
    {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
]
ADAM_CASES = [
    (optim.Adam, {"lr": 0.1}, False),
    (optim.Adam, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}, False),
    (optim.Adam, {"lr": 0.1, "weight_decay": 0.1}, False),
    (optim.AdamW, {"lr": 0.1}, True),
    (optim.AdamW, {"lr": 0.1, "weight_decay": 0.2, "betas": (0.5, 0.9)}, True),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(kw))
def test_sgd_matches_closed_form(kw):
    p, traj = _run(optim.SGD, kw, 5)
    buf = None
    for got in traj:
        p, buf = ref_sgd(p, _quadratic_grad(p), buf, **kw)
        np.testing.assert_allclose(got, p, rtol=1e-15, atol=1e-15)


def test_sgd_first_steps_by_hand():
    _, traj = _run(optim.SGD, {"lr": 0.1, "momentum": 0.9}, 2)
    # p = 0.5: g = -0.875, buf = g, p1 = 0.5875; then g1 = 0.5875^3 - 1, buf = 0.9 g + g1
    g1 = 0.5875**3 - 1
    assert traj[0][0] == pytest.approx(0.5875, abs=1e-15)
    assert traj[1][0] == pytest.approx(0.5875 - 0.1 * (0.9 * -0.875 + g1), abs=1e-15)


@pytest.mark.parametrize("cls,kw,decoupled", ADAM_CASES, ids=lambda c: str(c))
def test_adam_matches_closed_form(cls, kw, decoupled):
    p, traj = _run(cls, kw, 5)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    defaults = {"weight_decay": 0.01} if cls is optim.AdamW else {}
    for t, got in enumerate(traj, start=1):
        p, m, v = ref_adam(p, _quadratic_grad(p), m, v, t, **{**defaults, **kw},
                           decoupled=decoupled)
        np.testing.assert_allclose(got, p, rtol=1e-14, atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    _, traj = _run(optim.Adam, {"lr": 0.1, "eps": 0.0}, 1)
    # grad of p**4/4 - p at (0.5, -1.5, 2, 0): (-0.875, -4.375, 7, -1)
    np.testing.assert_allclose(traj[0], [0.6, -1.4, 1.9, 0.1], rtol=1e-15)


def test_float32_matches_reference_to_rounding():
    for cls, kw in [(optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {"lr": 0.05})]:
        p, traj = _run(cls, kw, 5, dtype=np.float32)
        assert traj[-1].dtype == np.float32
        p, buf, m, v = p.astype(np.float64), None, np.zeros(4), np.zeros(4)
        for t, got in enumerate(traj, start=1):
            if cls is optim.SGD:
                p, buf = ref_sgd(p, _quadratic_grad(p), buf, **kw)
            else:
                p, m, v = ref_adam(p, _quadratic_grad(p), m, v, t, **kw)
            np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-6)


def test_decayed_state_is_flushed_to_zero_not_left_denormal():
    """A moment under a zero gradient decays into the denormal range, where m - 0.1 m
    rounds back to m: it would stick there and slow every step. It is stored as 0."""
    tiny = np.finfo(np.float32).tiny
    for opt_cls, kw, key in [(optim.Adam, {"lr": 0.1}, "exp_avg"),
                             (optim.SGD, {"lr": 0.1, "momentum": 0.9}, "momentum_buffer")]:
        w = pat.tensor(np.ones(4, np.float32), requires_grad=True)
        opt = opt_cls([w], **kw)
        w.grad = np.ones(4, np.float32)
        opt.step()
        w.grad = np.zeros(4, np.float32)
        for _ in range(1000):  # 0.9**1000 * 0.1 is far below float32's smallest normal
            opt.step()
        m = opt.state[w][key]
        assert not ((np.abs(m) < tiny) & (m != 0)).any(), m
        np.testing.assert_array_equal(m, 0.0)
        assert np.isfinite(w.numpy()).all()


# ---------------------------------------------------------------------------------------
# what step() updates


def test_parameters_without_grad_are_skipped():
    a = pat.tensor(np.ones(2), requires_grad=True)
    b = pat.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.numpy(), np.ones(3))
    state = opt.state_dict()["state"]
    assert list(state) == [0] and state[0]["step"] == 1
    (b * 2).sum().backward()
    opt.step()  # a still has its gradient: both move, each with its own step count
    state = opt.state_dict()["state"]
    assert state[0]["step"] == 2 and state[1]["step"] == 1
    np.testing.assert_allclose(b.numpy(), np.ones(3) - 0.1, rtol=1e-8)  # eps: 1e-9


def test_step_without_any_grad_is_a_no_op():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=1.0, momentum=0.9)
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0])
    assert opt.state_dict()["state"] == {}


def test_param_groups_own_hyperparameters_and_dtypes():
    a = pat.tensor(np.ones(2, np.float32), requires_grad=True)
    b = pat.tensor(np.ones(2, np.float64), requires_grad=True)
    with pytest.raises(pat.DTypeError, match="separate groups"):
        optim.SGD([a, b], lr=0.1)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a.sum() * 1).backward()
    (b.sum() * 1).backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9], rtol=1e-7)
    np.testing.assert_allclose(b.numpy(), [0.5, 0.5], rtol=1e-15)
    opt.param_groups[1]["lr"] = 0.25  # schedules edit the group, as in PyTorch
    opt.zero_grad()
    b.sum().backward()
    opt.step()
    np.testing.assert_allclose(b.numpy(), [0.25, 0.25], rtol=1e-15)


def test_step_lifts_the_tapes_lock_and_refuses_a_stale_graph():
    w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    out = (w * w).sum()  # saves w for its backward: w is now read-only
    with pytest.raises(ValueError):
        w.data[0] = 5.0
    opt.step()  # the optimizer's own write is allowed ...
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])
    with pytest.raises(ValueError):
        w.data[0] = 5.0  # ... and the lock is back afterwards
    with pytest.raises(pat.TapeError, match="modified in place"):
        out.backward()  # ... and the graph that saw the old value refuses


def test_zero_grad_modes():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None


def test_model_parameters_generator_is_accepted():
    model = pat.nn.MLP([3, 4, 2])
    opt = optim.AdamW(model.parameters())
    assert len(opt.param_groups[0]["params"]) == 4
    assert opt.param_groups[0]["weight_decay"] == 0.01
    assert "Parameter Group 0" in repr(opt) and "lr: 0.001" in repr(opt)


# ---------------------------------------------------------------------------------------
# validation, as PyTorch


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "Invalid momentum"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
        (lambda p: optim.Adam(p, lr=-1.0), "Invalid learning rate"),
        (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "index 0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "index 1"),
        (lambda p: optim.AdamW(p, weight_decay=-0.1), "Invalid weight_decay"),
        (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
        (lambda p: optim.SGD(p + p, lr=0.1), "twice"),
        (lambda p: optim.SGD([p[0] * 2], lr=0.1), "not a leaf"),
        (lambda p: optim.SGD([{"params": p, "momentum_typo": 1}], lr=0.1), "unknown"),
    ],
)
def test_bad_hyperparameters_raise_value_error(make, match):
    p = [pat.tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match=match):
        make(p)


def test_bad_types_raise_type_error():
    w = pat.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError):
        optim.SGD(w, lr=0.1)  # a single tensor, not an iterable of them
    with pytest.raises(TypeError):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD([w], lr="fast")
    with pytest.raises(TypeError):
        optim.Adam([w], betas=0.9)


def test_a_bad_lr_set_later_is_caught_at_step():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    opt.param_groups[0]["lr"] = -1.0
    w.sum().backward()
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.step()


def test_c_kernel_rejects_bad_calls_without_crashing():
    null = ffi.cast("void **", 0)
    i64 = ffi.new("int64_t[1]", [1])
    assert lib.pat_sgd_step(7, 1, null, null, null, i64, i64, 0.1, 0, 0, 0, 0) == lib.PAT_EBADDTYPE
    assert lib.pat_sgd_step(lib.PAT_F64, 1, null, null, null, i64, i64, 0.1, 0, 0, 0, 0) == lib.PAT_ENULL
    assert lib.pat_sgd_step(lib.PAT_F64, -1, null, null, null, i64, i64, 0.1, 0, 0, 0, 0) == lib.PAT_EBADARG
    assert lib.pat_adam_step(lib.PAT_F32, 0, null, null, null, null, null, i64, i64, 0.1, 0.9, 0.9, 0, 0, 0) == lib.PAT_OK
    # a parameter with a gradient but no state buffer: refused before anything is written
    p, g = np.ones(1), np.ones(1)
    ptab = np.array([p.ctypes.data], np.uintp)
    gtab = np.array([g.ctypes.data], np.uintp)
    zero = np.zeros(1, np.uintp)
    cast = lambda t: ffi.cast("void **", t.ctypes.data)  # noqa: E731
    rc = lib.pat_adam_step(lib.PAT_F64, 1, cast(ptab), cast(gtab), cast(zero), cast(zero), null, i64,
                           ffi.new("int64_t[1]", [0]), 0.1, 0.9, 0.9, 0, 0, 0)
    assert rc == lib.PAT_ENULL and p[0] == 1.0


# ---------------------------------------------------------------------------------------
# state dicts


def _train(model, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        X = rng.standard_normal((8, 3))
        y = rng.integers(0, 2, 8)
        pat.cross_entropy(model(X), y).backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adam", "adamw"])
def test_state_dict_round_trip_resumes_exactly(name, tmp_path):
    make = {
        "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
        "nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
        "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    }[name]
    pat.manual_seed(0)
    a = pat.nn.MLP([3, 5, 2], dtype=np.float64)
    opt_a = make(a.parameters())
    _train(a, opt_a, 3, seed=1)
    pat.save({"model": a.state_dict(), "optim": opt_a.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = pat.load(tmp_path / "ckpt.npz")

    b = pat.nn.MLP([3, 5, 2], dtype=np.float64)
    b.load_state_dict(ckpt["model"])
    opt_b = make(b.parameters())
    opt_b.load_state_dict(ckpt["optim"])
    _train(a, opt_a, 3, seed=2)
    _train(b, opt_b, 3, seed=2)
    for (n, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        np.testing.assert_array_equal(va, vb, err_msg=n)
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i, entry in sa["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(v, sb["state"][i][k])


def test_state_dict_is_a_copy_and_load_copies_too():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.sum().backward()
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][:] = 100.0
    assert opt.state[w]["momentum_buffer"][0] == 1.0
    opt.load_state_dict(sd)
    sd["state"][0]["momentum_buffer"][:] = -5.0
    assert opt.state[w]["momentum_buffer"][0] == 100.0


def test_load_state_dict_errors_change_nothing():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.sum().backward()
    opt.step()
    good = opt.state_dict()
    other = optim.Adam([pat.tensor(np.ones(3), requires_grad=True)], lr=0.5)
    with pytest.raises(pat.ShapeError, match="exp_avg"):
        other.load_state_dict(good)
    assert other.param_groups[0]["lr"] == 0.5 and other.state_dict()["state"] == {}
    two = optim.Adam([{"params": [w]}, {"params": [pat.tensor(np.ones(2), requires_grad=True)]}])
    with pytest.raises(ValueError, match="parameter groups"):
        two.load_state_dict(good)
    bad = {"state": {0: {"step": 1, "exp_avg": np.zeros(2)}}, "param_groups": good["param_groups"]}
    with pytest.raises(ValueError, match="lacks"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    sgd_state = {"state": {0: {"momentum_buffer": np.zeros(2, np.float32)}},
                 "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                   "nesterov": False, "weight_decay": 0.0, "params": [0]}]}
    with pytest.raises(pat.DTypeError):
        optim.SGD([w], lr=0.1).load_state_dict(sgd_state)


def test_doctests():
    failures, _ = doctest.testmod(optim)
    assert failures == 0


# ---------------------------------------------------------------------------------------
# against torch.optim


TORCH_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1, "betas": (0.85, 0.99)}),
]


@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CASES)])
def test_trajectory_matches_torch_optim_float64(name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    pat.manual_seed(1)
    model = pat.nn.MLP([6, 16, 8, 3], dtype=np.float64)
    tmodel = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    ).double()
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.numpy()))
    opt = getattr(optim, name)(model.parameters(), **kw)
    topt = getattr(torch.optim, name)(tmodel.parameters(), **kw, foreach=False)
    worst = 0.0
    for _ in range(10):
        X = rng.standard_normal((16, 6))
        y = rng.integers(0, 3, 16)
        pat.cross_entropy(model(X), y).backward()
        opt.step()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
        topt.zero_grad()
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            worst = max(worst, float(np.abs(tp.detach().numpy() - p.numpy()).max()))
    assert worst <= 1e-10, worst
