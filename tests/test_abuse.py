"""The public API under a hostile user: the optimizer's C step never trusts a pointer
table Python can change, a failed call changes nothing, and every misuse found raises a
clear Python exception naming the op and the fix."""

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.errors import DTypeError, ShapeError

OPTIMIZERS = [
    (pat.optim.SGD, {"lr": 0.1}),
    (pat.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (pat.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (pat.optim.Adam, {"lr": 0.1}),
    (pat.optim.AdamW, {"lr": 0.1}),
]
IDS = ["sgd", "momentum", "nesterov", "adam", "adamw"]


def _param(n, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return pat.tensor(rng.standard_normal(n).astype(dtype), requires_grad=True)


def _grad(p, scale=1.0):
    p.grad = np.full(p.shape, scale, p.dtype) + np.arange(p.size, dtype=p.dtype).reshape(p.shape)


def _snapshot(opt):
    sd = opt.state_dict()
    flat = [(k, v.tobytes() if isinstance(v, np.ndarray) else v)
            for i, e in sorted(sd["state"].items()) for k, v in sorted(e.items())]
    return flat, [{k: v for k, v in g.items()} for g in sd["param_groups"]]


# -- 1. no crash: the group's list is revalidated before each C step --------------------
@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=IDS)
def test_replaced_parameter_of_another_size_gets_fresh_state(cls, kw):
    a, b = _param(3), _param(2, seed=1)
    opt = cls([a, b], **kw)
    for _ in range(2):
        _grad(a), _grad(b)
        opt.step()
    big = _param(1000, seed=2)
    opt.param_groups[0]["params"][0] = big  # the segfault / heap overflow of old
    ref_big = _param(1000, seed=2)
    ref = cls([ref_big], **kw)
    ref_b = pat.tensor(b.numpy(), requires_grad=True)
    for _ in range(3):
        _grad(big), _grad(b), _grad(ref_big)
        opt.step()
        ref.step()
    assert np.array_equal(big.numpy(), ref_big.numpy())  # state follows the tensor
    assert len(opt.state_dict()["state"]) == (0 if cls._buffers and kw.get("momentum", 1) == 0
                                              else 2) or cls is pat.optim.SGD
    assert not np.array_equal(b.numpy(), ref_b.numpy())  # b kept being updated


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=IDS)
def test_appended_parameter_is_updated_like_a_fresh_one(cls, kw):
    a = _param(3)
    opt = cls([a], **kw)
    ref_a = _param(3)
    ref = cls([ref_a], **kw)
    _grad(a), _grad(ref_a)
    opt.step(), ref.step()
    extra = _param(5, seed=3)
    opt.param_groups[0]["params"].append(extra)
    ref_extra = _param(5, seed=3)
    ref2 = cls([ref_extra], **kw)
    for _ in range(3):
        _grad(a), _grad(ref_a), _grad(extra), _grad(ref_extra)
        opt.step(), ref.step(), ref2.step()
    assert np.array_equal(a.numpy(), ref_a.numpy())  # a kept its state
    assert np.array_equal(extra.numpy(), ref_extra.numpy())


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=IDS)
def test_every_parameter_retyped_works_and_a_mixed_group_is_refused(cls, kw):
    a = _param(4)
    opt = cls([a], **kw)
    _grad(a)
    opt.step()
    f32 = _param(4, np.float32)
    opt.param_groups[0]["params"][0] = f32
    ref32 = _param(4, np.float32)
    ref = cls([ref32], **kw)
    for _ in range(2):
        _grad(f32), _grad(ref32)
        opt.step(), ref.step()
    assert np.array_equal(f32.numpy(), ref32.numpy())
    f64 = _param(4, seed=5)
    opt.param_groups[0]["params"].append(f64)
    _grad(f64)
    before = f32.numpy()
    with pytest.raises(DTypeError, match="share a dtype.*separate groups"):
        opt.step()
    assert np.array_equal(f32.numpy(), before)  # refused before any update
    opt.param_groups[0]["params"].pop()
    opt.step()  # back to a valid layout: works again


def test_parameter_whose_buffer_changed_shape_gets_fresh_state():
    a = _param(3)
    opt = pat.optim.Adam([a], lr=0.1)
    _grad(a)
    opt.step()
    a._data = np.ones(7)  # private, but Python can do it: the C step must not trust it
    _grad(a)
    opt.step()
    assert opt.state[a]["step"] == 1 and opt.state[a]["exp_avg"].shape == (7,)


@pytest.mark.parametrize(
    "bad,err,match",
    [
        ([np.ones(3)], TypeError, "not a Tensor"),
        ("abc", TypeError, "list of Tensors"),
        ([], ValueError, "no parameters"),
    ],
)
def test_invalid_params_entry_is_a_clear_error(bad, err, match):
    a = _param(3)
    opt = pat.optim.SGD([a], lr=0.1)
    opt.param_groups[0]["params"] = bad
    _grad(a)
    with pytest.raises(err, match=match):
        opt.step()


def test_params_as_tuple_non_leaf_and_duplicates():
    a, b = _param(3), _param(2)
    opt = pat.optim.SGD([a], lr=0.1)
    opt.param_groups[0]["params"] = (a, b)  # a tuple: accepted, normalised to a list
    _grad(a), _grad(b)
    opt.step()
    assert opt.param_groups[0]["params"] == [a, b]
    opt.param_groups[0]["params"].append(a * 2)
    with pytest.raises(ValueError, match="not a leaf"):
        opt.step()
    opt.param_groups[0]["params"][-1] = a
    with pytest.raises(ValueError, match="appears twice"):
        opt.step()


def test_group_dicts_added_or_removed_directly():
    a, b = _param(3), _param(2, seed=1)
    opt = pat.optim.SGD([a], lr=0.1, momentum=0.9)
    opt.param_groups.append({"params": [b], "lr": 0.01})
    _grad(a), _grad(b)
    before = b.numpy()
    opt.step()
    assert opt.param_groups[1]["momentum"] == 0.9  # defaults filled in
    assert np.allclose(b.numpy(), before - 0.01 * b.grad.numpy())
    del opt.param_groups[0]
    opt.step()
    assert len(opt.state_dict()["param_groups"]) == 1
    opt.param_groups.append(opt.param_groups[0])
    with pytest.raises(ValueError, match="same dict"):
        opt.step()


# -- 1b. thread settings -----------------------------------------------------------------
@pytest.mark.parametrize(
    "var,value",
    [("PYAUTOTAPE_NUM_THREADS", "99999999999"), ("OPENBLAS_NUM_THREADS", "4294967297"),
     ("PYAUTOTAPE_NUM_THREADS", "-5"), ("PYAUTOTAPE_NUM_THREADS", "many"),
     ("PYAUTOTAPE_NUM_THREADS", "0")],
)
def test_absurd_thread_variables_never_fail_the_import(var, value):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYAUTOTAPE_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env[var] = value
    env["PYTHONPATH"] = os.getcwd()
    out = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         "import pyautotape as pat; print(pat.get_num_threads())"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 1


def test_absurd_thread_variable_warns():
    from pyautotape import runtime

    old = os.environ.get("PYAUTOTAPE_NUM_THREADS")
    n = pat.get_num_threads()
    try:
        os.environ["PYAUTOTAPE_NUM_THREADS"] = "99999999999"
        with pytest.warns(RuntimeWarning, match="PYAUTOTAPE_NUM_THREADS.*outside"):
            runtime._default_threads()
    finally:
        if old is None:
            os.environ.pop("PYAUTOTAPE_NUM_THREADS", None)
        else:
            os.environ["PYAUTOTAPE_NUM_THREADS"] = old
        pat.set_num_threads(n)


@pytest.mark.parametrize(
    "n,err", [(0, ValueError), (-1, ValueError), (2**31, ValueError), (10**30, ValueError),
              (1.5, TypeError), ("2", TypeError), (True, TypeError), (None, TypeError)]
)
def test_set_num_threads_refuses_bad_values(n, err):
    before = pat.get_num_threads()
    with pytest.raises(err, match="set_num_threads"):
        pat.set_num_threads(n)
    assert pat.get_num_threads() == before


def test_set_num_threads_accepts_numpy_ints():
    before = pat.get_num_threads()
    pat.set_num_threads(np.int64(1))
    assert pat.get_num_threads() == 1
    pat.set_num_threads(before)


# -- 2. failed calls change nothing ---------------------------------------------------------
def _trained(cls, kw):
    a, b = _param(3), _param((2, 2), seed=1)
    opt = cls([a, b], **kw)
    for _ in range(2):
        _grad(a), _grad(b)
        opt.step()
    return opt, a, b


@pytest.mark.parametrize("step", [2**63, 1e30, float("nan"), float("inf"), -1, 2.5, "3",
                                  [1, 2], None, np.array([1.0, 2.0])])
def test_adam_bad_step_changes_nothing(step):
    opt, a, b = _trained(pat.optim.Adam, {"lr": 0.1})
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    sd["state"][1]["step"] = step
    before = _snapshot(opt)
    with pytest.raises(ValueError, match="load_state_dict: state 'step' of parameter 1"):
        opt.load_state_dict(sd)
    assert _snapshot(opt) == before
    assert opt.param_groups[0]["lr"] == 0.1


def test_step_saved_as_float_or_array_like_torch_loads():
    opt, a, b = _trained(pat.optim.Adam, {"lr": 0.1})
    sd = opt.state_dict()
    sd["state"][0]["step"] = 2.0
    sd["state"][1]["step"] = np.array(2.0, np.float32)
    sd["state"] = {str(k): v for k, v in sd["state"].items()}
    opt.load_state_dict(sd)
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 2


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize(
    "mutate,err",
    [
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), ValueError),
        (lambda sd: sd["param_groups"][0].update(lr="fast"), TypeError),
        (lambda sd: sd["param_groups"][0].update(bogus=1), ValueError),
        (lambda sd: sd["param_groups"][0].update(params=[0, 1, 2]), ValueError),
        (lambda sd: sd["param_groups"][0].update(params=["x", 1]), ValueError),
        (lambda sd: sd["param_groups"][0].update(params=7), ValueError),
        (lambda sd: sd.update(param_groups=[]), ValueError),
        (lambda sd: sd.update(state=[1]), ValueError),
        (lambda sd: sd["state"].update({"zero": {}}), ValueError),
        (lambda sd: sd["state"].update({1: 5}), ValueError),
        (lambda sd: sd["state"].update({1: {"nonsense": np.ones(4)}}), ValueError),
    ],
)
def test_bad_state_dicts_change_nothing(cls, kw, mutate, err):
    opt, a, b = _trained(cls, kw)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5  # a valid change that must not land
    mutate(sd)
    before = _snapshot(opt)
    with pytest.raises(err):
        opt.load_state_dict(sd)
    assert _snapshot(opt) == before


@pytest.mark.parametrize("cls,kw", OPTIMIZERS[1:], ids=IDS[1:])
@pytest.mark.parametrize("bad", [np.ones(5), np.ones((2, 2), np.float32), [[1, 2], [3]],
                                 np.array([object()] * 4).reshape(2, 2)])
def test_bad_state_buffer_changes_nothing(cls, kw, bad):
    opt, a, b = _trained(cls, kw)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    name = cls._buffers[-1]
    sd["state"][1][name] = bad
    before = _snapshot(opt)
    with pytest.raises((ValueError, ShapeError, DTypeError)):
        opt.load_state_dict(sd)
    assert _snapshot(opt) == before


@pytest.mark.parametrize(
    "group,err",
    [
        ({"params": []}, ValueError),
        ({"lr": 0.1}, TypeError),
        ({"params": [np.ones(2)]}, TypeError),
        ({"params": "w"}, TypeError),
        ({"params": [_param(2)], "lr": -1.0}, ValueError),
        ({"params": [_param(2)], "lr": "x"}, TypeError),
        ({"params": [_param(2)], "weird": 1}, ValueError),
        ({"params": [_param(2), _param(2, np.float32)]}, DTypeError),
    ],
)
def test_bad_add_param_group_changes_nothing(group, err):
    opt, a, b = _trained(pat.optim.SGD, {"lr": 0.1, "momentum": 0.9})
    before = _snapshot(opt)
    with pytest.raises(err):
        opt.add_param_group(group)
    assert _snapshot(opt) == before and len(opt.param_groups) == 1


def test_add_param_group_with_a_parameter_already_held_changes_nothing():
    opt, a, b = _trained(pat.optim.SGD, {"lr": 0.1, "momentum": 0.9})
    before = _snapshot(opt)
    with pytest.raises(ValueError, match="appears twice"):
        opt.add_param_group({"params": [_param(2), a]})
    assert _snapshot(opt) == before and len(opt.param_groups) == 1


def _module_bits(m):
    return {k: v.tobytes() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(
    "bad,err",
    [
        (np.ones((5, 5)), ShapeError),
        (np.ones(2, np.float64), DTypeError),
        ([[1.0, 2.0], [3.0]], TypeError),
        (object(), ShapeError),
        ("weights", ShapeError),
        (np.array([object(), object()]), DTypeError),
    ],
)
def test_module_load_state_dict_is_all_or_nothing(bad, err):
    net = pat.nn.Sequential(pat.nn.Linear(2, 3), pat.nn.Linear(3, 2))
    sd = {k: np.zeros_like(v) for k, v in net.state_dict().items()}
    last = list(sd)[-1]
    sd[last] = bad  # the earlier keys are valid: none of them may land
    before = _module_bits(net)
    with pytest.raises(err):
        net.load_state_dict(sd)
    assert _module_bits(net) == before


def test_module_load_state_dict_read_only_destination_changes_nothing():
    net = pat.nn.Sequential(pat.nn.Linear(2, 3), pat.nn.Linear(3, 2))
    sd = {k: np.zeros_like(v) for k, v in net.state_dict().items()}
    list(net.parameters())[-1]._data.flags.writeable = False
    before = _module_bits(net)
    with pytest.raises(ValueError, match="read-only"):
        net.load_state_dict(sd)
    assert _module_bits(net) == before


def test_checkpoint_into_existing_objects_is_all_or_nothing(tmp_path):
    net = pat.nn.Linear(2, 2)
    opt = pat.optim.Adam(net.parameters(), lr=0.1)
    for p in net.parameters():
        _grad(p)
    opt.step()
    path = tmp_path / "ckpt.npz"
    sd = opt.state_dict()
    sd["state"][0]["step"] = float("nan")
    pat.save({"model": {k: v * 0 for k, v in net.state_dict().items()}, "optim": sd}, path)
    ckpt = pat.load(path)
    before_m, before_o = _module_bits(net), _snapshot(opt)
    ckpt["model"]["bias"] = np.ones(3)
    with pytest.raises(ShapeError):
        net.load_state_dict(ckpt["model"])
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict(ckpt["optim"])
    assert _module_bits(net) == before_m and _snapshot(opt) == before_o


# -- 4. errors that name the op and the fix -------------------------------------------------
@pytest.fixture
def t():
    return pat.tensor(np.ones((2, 3)), requires_grad=True)


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda t: pat.softmax(t, axis=None), TypeError, "softmax: axis must be one int"),
        (lambda t: pat.log_softmax(t, axis=None), TypeError, "log_softmax: axis must be one"),
        (lambda t: pat.softmax(t, axis=(0, 1)), TypeError, "softmax: axis must be one int"),
        (lambda t: pat.concatenate([t, t], axis=None), TypeError, "concatenate: axis must"),
        (lambda t: pat.transpose(t, (1.5, 0.2)), TypeError, r"transpose: axes must be ints.*\(1, 0\)"),
        (lambda t: pat.transpose(t, "ab"), TypeError, "transpose: axes must be a tuple"),
        (lambda t: t[np.uint64(2**63)], IndexError, "index: .*out of range.*shape"),
        (lambda t: t[::0], ValueError, "index: slice step cannot be zero.*nonzero step"),
        (lambda t: t * 10**400, OverflowError, "mul: b is a Python int of 401 digits"),
        (lambda t: 10**400 + t, OverflowError, "add: a is a Python int"),
        (lambda t: t - (-(10**400)), OverflowError, "sub: b is a Python int"),
        (lambda t: pat.where(t > 0, t, 10**400), OverflowError, "where"),
    ],
)
def test_clear_errors(t, call, err, match):
    with pytest.raises(err, match=match):
        call(t)


def test_custom_function_backward_returning_objects_is_a_clear_error(t):
    class Bad(pat.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return np.array([object()] * 6, dtype=object).reshape(2, 3)

    with pytest.raises(TypeError, match="Bad.backward's gradient 0 has dtype object"):
        Bad.apply(t).sum().backward()


def test_nan_step_in_load_state_dict_names_the_fix():
    opt, a, b = _trained(pat.optim.Adam, {"lr": 0.1})
    sd = opt.state_dict()
    sd["state"][0]["step"] = math.nan
    with pytest.raises(ValueError, match=r"whole number in \[0, 2\*\*62\].*state_dict\(\)"):
        opt.load_state_dict(sd)


# -- 4b. pat.compile cases ------------------------------------------------------------------
def _train(compiled, changes):
    """Three steps per phase; ``changes`` mutates the optimizer between phases."""
    lin = pat.nn.Linear(3, 2)
    for i, p in enumerate(lin.parameters()):
        p.data = np.linspace(-1, 1, p.size).reshape(p.shape).astype(np.float32) * (i + 1)
    opt = pat.optim.SGD(lin.parameters(), lr=0.1)

    def body(x):
        opt.zero_grad()
        loss = (lin(pat.tensor(x)) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step = pat.compile(body) if compiled else body
    x = np.linspace(0, 1, 12).reshape(4, 3).astype(np.float32)
    losses = []
    for change in [None, *changes]:
        if change is not None:
            change(opt, lin)
        losses += [float(step(x).item()) for _ in range(3)]
    return losses, [p.numpy() for p in lin.parameters()], step


def _replace_weight(opt, lin):
    new = pat.tensor(np.full((2, 3), 0.25, np.float32), requires_grad=True)
    lin.weight = new
    opt.param_groups[0]["params"][0] = new


@pytest.mark.parametrize(
    "changes",
    [
        [lambda o, m: o.param_groups[0].update(momentum=0.9)],
        [lambda o, m: o.param_groups[0].update(momentum=0.9),
         lambda o, m: o.param_groups[0].update(nesterov=True),
         lambda o, m: o.param_groups[0].update(lr=0.01)],
        [_replace_weight],
        [lambda o, m: o.load_state_dict(o.state_dict())],
    ],
    ids=["momentum_on", "nesterov_lr", "replace", "load"],
)
def test_compiled_training_follows_optimizer_changes(changes):
    eager_losses, eager_params, _ = _train(False, changes)
    losses, params, step = _train(True, changes)
    assert losses == eager_losses
    for a, b in zip(params, eager_params, strict=True):
        assert np.array_equal(a, b)


def test_lr_change_under_compile_is_patched_not_retaped():
    _, _, step = _train(True, [lambda o, m: o.param_groups[0].update(lr=0.01)])
    assert step.stats["retapes"] == 0 and step.stats["records"] == 1


def test_bad_hyperparameter_under_compile_is_a_clear_error():
    lin = pat.nn.Linear(3, 1)
    opt = pat.optim.SGD(lin.parameters(), lr=0.1)

    @pat.compile
    def step(x):
        opt.zero_grad()
        (lin(pat.tensor(x)) ** 2).sum().backward()
        opt.step()

    x = np.ones((2, 3), np.float32)
    step(x)
    step(x)
    opt.param_groups[0]["lr"] = "fast"
    with pytest.raises(TypeError, match="SGD: lr must be a number"):
        step(x)


def test_memmap_batch_in_compile(tmp_path):
    mm = np.memmap(tmp_path / "batch.dat", dtype=np.float32, mode="w+", shape=(4, 3))
    mm[:] = 1.0
    step = pat.compile(lambda x: (pat.tensor(x) * 2.0).sum())
    assert step(mm).item() == 24.0
    mm[0, 0] = 4.0
    assert step(mm).item() == 30.0
    assert step.stats["records"] == 1 and step.stats["replays"] == 1


def test_float_of_a_tensor_under_compile_warns_nothing_and_stays_exact():
    @pat.compile
    def f(x):
        return float((pat.tensor(x) * 2).sum())

    x = np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(x) == 6.0
        assert type(f(x)) is float
        assert f(x * 2) == 12.0  # the value escaped into Python: a new value re-records


def test_a_users_own_list_stays_the_groups_list():
    a, b = _param(3), _param(2, seed=1)
    opt = pat.optim.SGD([a], lr=0.1)
    mine = [a]
    opt.param_groups[0]["params"] = mine
    _grad(a)
    opt.step()
    assert opt.param_groups[0]["params"] is mine
    mine.append(b)  # PyTorch semantics: the group is this list
    _grad(b)
    before = b.numpy()
    opt.step()
    assert not np.array_equal(b.numpy(), before)


def test_every_list_mutation_is_seen():
    a, b, c = _param(3), _param(2, seed=1), _param(4, seed=2)
    opt = pat.optim.Adam([a, b], lr=0.1)
    ps = opt.param_groups[0]["params"]
    for mutate in (lambda: ps.insert(0, c), lambda: ps.reverse(), lambda: ps.sort(key=id),
                   lambda: ps.__delitem__([i for i, p in enumerate(ps) if p is c][0]),
                   lambda: ps.__setitem__(slice(0, 2), [b, a]),
                   lambda: ps.extend([c]), lambda: ps.pop(), lambda: ps.__iadd__([c]),
                   lambda: ps.__delitem__(-1)):
        mutate()
        for p in ps:
            _grad(p)
        opt.step()
        assert sorted(opt.state[p]["exp_avg"].size for p in ps) == sorted(p.size for p in ps)


def test_huge_int_hyperparameter_and_junk_in_zero_grad():
    a = _param(2)
    opt = pat.optim.SGD([a], lr=0.1)
    opt.param_groups[0]["lr"] = 10**400
    _grad(a)
    with pytest.raises(ValueError, match="SGD: lr is an int of 401 digits"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.1
    opt.param_groups[0]["params"].append(3)
    with pytest.raises(TypeError, match="zero_grad: parameter 1 is a int"):
        opt.zero_grad()


def test_a_non_float_parameter_is_refused_before_the_c_call():
    a = _param(2)
    opt = pat.optim.SGD([a], lr=0.1)
    odd = pat.tensor(np.ones(2))
    odd._data = np.ones(2, np.int64)  # whatever tensor kinds exist, C takes floats only
    opt.param_groups[0]["params"][0] = odd
    odd._grad = pat.tensor(np.ones(2))
    with pytest.raises(DTypeError, match="float32 or float64 tensors only"):
        opt.step()
