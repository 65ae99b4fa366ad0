"""Fuzzing the optimizer's state, not only the ops: random sequences of mutations a user
can make (replace a parameter, append one, remove one, retype a group, add a group
valid or not, load a state dict valid or not, change hyperparameters) interleaved with
steps, eager and under ``pat.compile``. After every action the optimizer must not have
crashed, a refused action must have changed nothing, and every parameter must equal a
NumPy reference computed from scratch with PyTorch's semantics (state follows the
tensor; a new tensor starts fresh).

``FUZZ`` examples per mode: 40 by default (a few seconds), 2000 with
``PYAUTOTAPE_HYPOTHESIS_PROFILE=intense`` (run it under the sanitizer build)."""

import os
import tempfile

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pyautotape as pat

FUZZ = 2000 if os.environ.get("PYAUTOTAPE_HYPOTHESIS_PROFILE") == "intense" else 40

CONFIGS = [
    (pat.optim.SGD, {"lr": 0.1}),
    (pat.optim.SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    (pat.optim.SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (pat.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (pat.optim.AdamW, {"lr": 0.01}),
]


class Reference:
    """The optimizer in NumPy float64 with state keyed by the tensor, as PyTorch."""

    def __init__(self, cls):
        self.cls = cls
        self.state = {}

    def step(self, group, p, g):
        h = group
        x = p.numpy().astype(np.float64)
        g = g.astype(np.float64)
        st_ = self.state.setdefault(id(p), {})
        if self.cls is pat.optim.SGD:
            g = g + h["weight_decay"] * x
            if h["momentum"] != 0:
                buf = st_.get("buf")
                buf = g.copy() if buf is None else h["momentum"] * buf + (1 - h["dampening"]) * g
                st_["buf"] = buf
                g = g + h["momentum"] * buf if h["nesterov"] else buf
            x = x - h["lr"] * g
        else:
            b1, b2 = h["betas"]
            t = st_.get("step", 0) + 1
            st_["step"] = t
            if self.cls is pat.optim.AdamW:
                x = x * (1 - h["lr"] * h["weight_decay"])
            else:
                g = g + h["weight_decay"] * x
            m = b1 * st_.get("m", 0) + (1 - b1) * g
            v = b2 * st_.get("v", 0) + (1 - b2) * g * g
            st_["m"], st_["v"] = m, v
            denom = np.sqrt(v) / (1 - b2**t) ** 0.5 + h["eps"]
            x = x - h["lr"] / (1 - b1**t) * m / denom
        return x


def _snap(opt):
    sd = opt.state_dict()
    return (repr(sorted((k, sorted((n, np.asarray(v).tobytes()) for n, v in e.items()))
                        for k, e in sd["state"].items())),
            repr(sd["param_groups"]),
            [p._data.tobytes() for g in opt.param_groups for p in g["params"]])


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["step", "step", "step", "partial", "replace", "append", "remove",
                         "retype", "group", "bad_group", "load", "bad_load", "lr",
                         "momentum", "save_load"]),
        st.integers(0, 2**31),
    ),
    min_size=1, max_size=14,
)


def _run(config, actions, compiled, check=True):
    cls, kw = config
    rng = np.random.default_rng(0)
    coef = {}  # id(tensor) -> its constant gradient
    born = []  # every tensor made stays alive, so no id is reused

    def new(n=None, dtype=np.float64):
        n = int(rng.integers(1, 6)) if n is None else n
        t = pat.tensor(rng.standard_normal(n).astype(dtype), requires_grad=True)
        coef[id(t)] = rng.standard_normal(n).astype(dtype)
        born.append(t)
        return t

    opt = cls([new(), new()], **kw)
    ref = Reference(cls)
    expect = {}  # id -> the reference value (float64)
    alive = {id(p): p for p in opt.param_groups[0]["params"]}
    for p in alive.values():
        expect[id(p)] = p.numpy().astype(np.float64)

    def body():
        opt.zero_grad()
        for g in opt.param_groups:  # one backward per parameter: groups differ in dtype
            for p in g["params"]:
                (p * coef[id(p)]).sum().backward()
        opt.step()

    step = pat.compile(body) if compiled else body

    def reference_step(which=None):
        if not check:
            return
        for g in opt.param_groups:
            for p in g["params"]:
                if which is None or id(p) in which:
                    expect[id(p)] = ref.step(g, p, coef[id(p)])

    for kind, seed in actions:
        r = np.random.default_rng(seed)
        groups = opt.param_groups
        gi = int(r.integers(len(groups)))
        params = groups[gi]["params"]
        before = _snap(opt)
        refused = False
        if kind == "step":
            reference_step()
            step()
        elif kind == "partial":  # an eager step with some gradients None
            which = set()
            for g in groups:
                for p in g["params"]:
                    if r.random() < 0.5:
                        p.grad = coef[id(p)]
                        which.add(id(p))
                    else:
                        p.grad = None
            reference_step(which)
            opt.step()
        elif kind == "replace":
            i = int(r.integers(len(params)))
            t = new(dtype=params[0].dtype)
            params[i] = t
            expect[id(t)] = t.numpy().astype(np.float64)
        elif kind == "append":
            t = new(dtype=params[0].dtype)
            params.append(t)
            expect[id(t)] = t.numpy().astype(np.float64)
        elif kind == "remove" and len(params) > 1:
            params.pop(int(r.integers(len(params))))
        elif kind == "retype":
            other = np.float32 if params[0].dtype == np.float64 else np.float64
            fresh = [new(p.size, other) for p in params]
            groups[gi]["params"] = fresh
            for t in fresh:
                expect[id(t)] = t.numpy().astype(np.float64)
        elif kind == "group":
            ts = [new(), new()]
            opt.add_param_group({"params": ts, "lr": 0.02})
            for t in ts:
                expect[id(t)] = t.numpy().astype(np.float64)
        elif kind == "bad_group":
            bad = [
                {"params": [params[0]]},
                {"params": [new()], "lr": -1.0},
                {"params": [new(), new(dtype=np.float32)]},
                {"params": [new()], "nope": 1},
            ][int(r.integers(4))]
            with pytest.raises((ValueError, TypeError)):
                opt.add_param_group(bad)
            refused = True
        elif kind == "load":
            opt.load_state_dict(opt.state_dict())
        elif kind == "save_load":
            sd = opt.state_dict()
            path = os.path.join(_TMP, f"{seed}.npz")
            pat.save(sd, path)
            opt.load_state_dict(pat.load(path))
        elif kind == "bad_load":
            sd = opt.state_dict()
            sd["param_groups"][0]["lr"] = 123.0  # would land if the load were not atomic
            choice = int(r.integers(4))
            if choice == 0 or not sd["state"]:
                sd["param_groups"][-1]["lr"] = -1.0
            else:
                k = sorted(sd["state"])[-1]
                entry = sd["state"][k]
                if choice == 1 and "step" in entry:
                    entry["step"] = [2**63, 1e30, float("nan")][seed % 3]
                else:
                    name = sorted(n for n in entry if n != "step")[0]
                    entry[name] = np.ones(entry[name].size + 1, entry[name].dtype)
            with pytest.raises((ValueError, TypeError)):
                opt.load_state_dict(sd)
            refused = True
        elif kind == "lr":
            groups[gi]["lr"] = float(r.choice([0.001, 0.01, 0.05]))
        elif kind == "momentum" and cls is pat.optim.SGD and not groups[gi]["nesterov"]:
            groups[gi]["momentum"] = float(r.choice([0.0, 0.5, 0.9]))
        if refused:
            assert _snap(opt) == before, f"a refused {kind} changed the optimizer"
        if not check:
            continue
        for g in opt.param_groups:
            for p in g["params"]:
                tol = 1e-4 if p.dtype == np.float32 else 1e-9
                np.testing.assert_allclose(p.numpy(), expect[id(p)], rtol=tol, atol=tol,
                                           err_msg=f"after {kind}")


_TMP = tempfile.mkdtemp(prefix="pat-state-fuzz-")


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@settings(max_examples=FUZZ, deadline=None)
@given(config=st.sampled_from(CONFIGS), actions=ACTIONS)
@example(
    config=(pat.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    actions=[("group", 0), ("step", 0), ("append", 1), ("remove", 29689840), ("step", 0),
             ("partial", 0)],
).via("discovered failure")
def test_random_optimizer_mutations(compiled, config, actions):
    _run(config, actions, compiled)


@pytest.mark.parametrize("look", [True, False], ids=["state_dict_between", "untouched"])
def test_compiled_step_after_append_then_remove(look):
    """A parameter appended then removed leaves the group's list as recorded; when the
    optimizer rebuilt its state in between (state_dict() syncs it), the step counters
    live in a new array, so the recorded step must record again rather than advance the
    old counters (Adam's bias correction then used a stale step on the next eager step).
    Either way compiled steps then eager steps equal the NumPy reference."""
    rng = np.random.default_rng(0)
    a, b, c = (pat.tensor(rng.standard_normal(n), requires_grad=True) for n in (3, 4, 2))
    coef = {id(t): rng.standard_normal(t.size) for t in (a, b, c)}
    opt = pat.optim.Adam([a, b], lr=0.01, weight_decay=0.1)
    ref = Reference(pat.optim.Adam)
    expect = {id(t): t.numpy().copy() for t in (a, b)}

    def body():
        opt.zero_grad()
        for p in opt.param_groups[0]["params"]:
            (p * coef[id(p)]).sum().backward()
        opt.step()

    def reference_step():
        for p in (a, b):
            expect[id(p)] = ref.step(opt.param_groups[0], p, coef[id(p)])

    step = pat.compile(body)
    reference_step()  # from the values before the step
    step()
    params = opt.param_groups[0]["params"]
    params.append(c)
    if look:
        opt.state_dict()
    params.pop()  # c (list.remove compares with ==, elementwise on tensors)
    if look:
        opt.state_dict()
    reference_step()
    step()
    assert step.stats["records"] + step.stats["replays"] == 2
    assert step.stats["retapes"] == (1 if look else 0)
    for p in (a, b):  # an eager step reads the counters the compiled one advanced
        p.grad = coef[id(p)]
    reference_step()
    opt.step()
    reference_step()
    step()
    assert [int(s["step"]) for s in opt.state_dict()["state"].values()] == [4, 4]
    for p in (a, b):
        np.testing.assert_allclose(p.numpy(), expect[id(p)], rtol=1e-12, atol=1e-12)


MODULE_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["load", "partial", "bad_shape", "bad_dtype", "bad_value",
                               "unexpected", "missing", "rebind", "train"]),
              st.integers(0, 2**31)),
    min_size=1, max_size=12,
)


@settings(max_examples=FUZZ, deadline=None)
@given(actions=MODULE_ACTIONS)
def test_random_module_loads(actions):
    """Module.load_state_dict, valid and not, interleaved with rebinding a parameter and
    an optimizer step: the module always equals a dict model of what should have landed."""
    net = pat.nn.Sequential(pat.nn.Linear(3, 4), pat.nn.Linear(4, 2))
    opt = pat.optim.SGD(net.parameters(), lr=0.1)
    model = {k: v.copy() for k, v in net.state_dict().items()}
    keys = list(model)
    for kind, seed in actions:
        r = np.random.default_rng(seed)
        new = {k: r.standard_normal(v.shape).astype(v.dtype) for k, v in model.items()}
        victim = keys[int(r.integers(len(keys)))]
        if kind == "load":
            net.load_state_dict(new)
            model = new
        elif kind == "partial":
            del new[victim]
            net.load_state_dict(new, strict=False)
            model.update(new)
        elif kind in ("bad_shape", "bad_dtype", "bad_value", "unexpected", "missing"):
            if kind == "bad_shape":
                new[victim] = np.ones(new[victim].size + 1, new[victim].dtype)
            elif kind == "bad_dtype":
                new[victim] = new[victim].astype(np.float64)
            elif kind == "bad_value":
                new[victim] = [object()]
            elif kind == "unexpected":
                new["extra.weight"] = np.ones(2)
            else:
                del new[victim]
            with pytest.raises((ValueError, TypeError)):
                net.load_state_dict(new)
        elif kind == "rebind":  # a new tensor in the module and in the optimizer
            mod_name, attr = victim.rsplit(".", 1)
            layer = net[int(mod_name)]
            old = getattr(layer, attr)
            t = pat.tensor(new[victim], requires_grad=True)
            setattr(layer, attr, t)
            ps = opt.param_groups[0]["params"]
            ps[[i for i, p in enumerate(ps) if p is old][0]] = t
            model[victim] = new[victim]
        elif kind == "train":
            opt.zero_grad()
            x = pat.tensor(r.standard_normal((5, 3)).astype(np.float32))
            (net(x) ** 2).mean().backward()
            grads = {k: p.grad.numpy() for k, p in zip(keys, net.parameters(), strict=True)}
            opt.step()
            model = {k: (model[k] - np.float32(0.1) * grads[k]).astype(np.float32)
                     for k in keys}
        got = net.state_dict()
        for k in keys:
            np.testing.assert_allclose(got[k], model[k], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{k} after {kind}")


ALL = [getattr(pat.optim, n) for n in pat.optim.__all__]
ALL = [c for c in ALL if isinstance(c, type) and issubclass(c, pat.optim.Optimizer)
       and c is not pat.optim.Optimizer]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@settings(max_examples=max(FUZZ // 4, 10), deadline=None)
@given(cls=st.sampled_from(ALL), actions=ACTIONS)
def test_every_optimizer_survives_mutations(compiled, cls, actions):
    """Every optimizer class (subclasses inherit the base's revalidation): no crash, a
    refused change changes nothing; values are checked against the reference only for
    the classes it models (above)."""
    _run((cls, {}), actions, compiled, check=False)
