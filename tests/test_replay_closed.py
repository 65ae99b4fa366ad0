"""pat.compile traces a closed world: what fn does with its arguments is recorded or
refused, every value read guards, and what changes between calls (aliasing, optimizer,
global settings, replaced .data, captured arrays) is seen -- never a stale result."""

import math
import warnings

import numpy as np
import pytest

import pyautotape as pat


def _digits(seed=0, dtype=np.float32):
    X, y = pat.data.load_digits()
    pat.manual_seed(seed)
    model = pat.nn.MLP([64, 32, 10], dtype=dtype)
    opt = pat.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return X.astype(dtype), y, model, opt


def _scaled_step(model, opt):
    def step(xb, yb):
        loss = pat.cross_entropy(model(xb / 16.0), yb)  # NumPy-style scaling inside fn
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def test_scaling_inside_the_step_is_recorded_not_frozen():
    X, y, m1, o1 = _digits()
    _, _, m2, o2 = _digits()
    eager, compiled = _scaled_step(m1, o1), pat.compile(_scaled_step(m2, o2))
    for epoch in range(3):
        for i in range(0, 1280, 64):
            a = eager(X[i:i + 64], y[i:i + 64])
            b = compiled(X[i:i + 64], y[i:i + 64])
            assert a.numpy().tobytes() == b.numpy().tobytes(), (epoch, i)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()
    assert compiled.stats["records"] == 1 and compiled.stats["retapes"] == 0
    with pat.no_grad():
        pred = m2(pat.tensor(X[1280:] / 16.0)).numpy().argmax(1)
    assert (pred == y[1280:]).mean() > 0.75  # frozen first batch: about 0.1


def test_arguments_are_traced_tensors_and_numpy_ufuncs_record():
    seen = []

    @pat.compile
    def f(x):
        seen.append(type(x).__name__)
        return np.add(x, 1.0) + np.sqrt(x) * 2.0 - np.negative(x)

    for v in (1.0, 2.0, 3.0):
        x = np.full(3, v)
        assert f(x).numpy().tobytes() == ((x + 1.0) + np.sqrt(x) * 2.0 + x).tobytes()
    assert seen == ["TracedArg"] and f.stats["replays"] == 2


@pytest.mark.parametrize("work", [
    lambda x, y: np.mean(x),
    lambda x, y: np.sin(x),
    lambda x, y: np.exp(x),
    lambda x, y: x.astype(np.float16),
    lambda x, y: y % 2,
    lambda x, y: np.where(y > 0, 1, 0),
    lambda x, y: y[0],
    lambda x, y: y.astype(np.int32),
])
def test_numpy_work_on_arguments_raises_saying_how_to_move_it_out(work):
    f = pat.compile(lambda x, y: work(x, y))
    with pytest.raises(TypeError, match="compile: .*argument.*before calling"):
        f(np.ones(3), np.arange(3))


def test_astype_of_an_argument_is_recorded():
    f = pat.compile(lambda x: x.astype(np.float64) * 3.0)
    for v in (1.0, 2.0):
        assert f(np.full(2, v)).numpy().tolist() == [3 * v, 3 * v]
    assert f.stats["replays"] == 1
    g = pat.compile(lambda x: x.astype(np.float32) * 3.0)
    for v in (0.1, 0.2, 0.3):
        x = np.full(2, v)
        assert g(x).numpy().tobytes() == (x.astype(np.float32) * np.float32(3.0)).tobytes()
    assert g.stats["replays"] == 2


def test_integer_argument_read_as_values_guards():
    f = pat.compile(lambda x, y: pat.tensor(x) * float(np.asarray(y).sum()))
    x = np.ones(2)
    assert f(x, np.arange(3)).numpy().tolist() == [3.0, 3.0]
    assert f(x, np.arange(3)).numpy().tolist() == [3.0, 3.0]
    assert f(x, np.arange(3) * 2).numpy().tolist() == [6.0, 6.0]
    assert f.stats == {"records": 2, "replays": 1, "retapes": 1, "eager": 0}


# -- value reads ------------------------------------------------------------------------
READS = {
    "float": lambda t: float(t),
    "float_item": lambda t: float(t.item()),
    "int_item": lambda t: float(int(t.item() * 10)),
    "int": lambda t: float(int(t * 10.0)),
    "isnan": lambda t: 1.0 if math.isnan(t.item()) else 2.0,
    "isfinite": lambda t: 1.0 if math.isfinite(t.item()) else 2.0,
    "asarray": lambda t: float(np.asarray(t).sum()),
    "numpy": lambda t: float(t.numpy().sum()),
    "bool": lambda t: 1.0 if t else 2.0,
    "compare": lambda t: 1.0 if (t > 0.5).all() else 2.0,
    "item_compare": lambda t: 1.0 if t.item() > 0.5 else 2.0,
    "format": lambda t: float(f"{t.item():.3f}"),
    "round": lambda t: float(round(t.item(), 1)),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_every_value_read_guards(name):
    read = READS[name]

    def fn(x):
        s = x.sum() * 0.25
        return s * read(s)

    f = pat.compile(fn)
    values = [0.4, 0.4, 3.0, float("nan"), 3.0, 0.4]
    if name.startswith("int"):
        values.pop(3)  # int(nan) fails eagerly too
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float(t) must not warn (DeprecationWarning)
        for v in values:
            x = np.full(4, v)
            got, want = f(x).numpy(), fn(pat.tensor(x)).numpy()
            assert got.tobytes() == want.tobytes(), (name, v)
    assert f.stats["records"] + f.stats["replays"] == len(values)


def test_strict_raises_when_a_guard_fails():
    f = pat.compile(lambda x: x * float(x.sum()), strict=True)
    f(np.ones(2))
    f(np.ones(2))
    with pytest.raises(pat.RetapeRequired):
        f(np.full(2, 2.0))


def test_data_read_runs_eagerly_and_strict_refuses():
    w = pat.tensor(np.ones(2))

    def fn(x):
        return x * pat.tensor(w.data.copy())

    f = pat.compile(fn)
    for v in (1.0, 2.0):
        w.data[:] = v
        assert f(np.ones(2)).numpy().tolist() == [v, v]
    assert f.stats["eager"] == 1
    with pytest.raises(pat.RetapeRequired, match="Tensor.data"):
        pat.compile(fn, strict=True)(np.ones(2))


def test_traced_float_escaping_the_recording_is_a_number():
    kept = []

    @pat.compile
    def f(x):
        t = x.sum()
        kept.append(t.item())
        return t

    f(np.ones(2))
    v = kept[0]
    assert float(v) == 2.0 and v + 1 == 3.0 and math.isclose(v, 2.0) and f"{v:.1f}" == "2.0"


# -- aliasing and argument kinds ----------------------------------------------------------
def test_same_tensor_twice_is_one_leaf_as_in_eager():
    def fn(a, b):
        (a * b).sum().backward()
        return a.grad

    f = pat.compile(fn)
    for v in (1.0, 2.0, 3.0):
        x = pat.tensor(np.full(2, v), requires_grad=True)
        assert f(x, x).numpy().tolist() == [2 * v, 2 * v]
        assert x.grad.numpy().tolist() == [2 * v, 2 * v]
        y = pat.tensor(np.full(2, v), requires_grad=True)
        z = pat.tensor(np.full(2, 5.0), requires_grad=True)
        assert f(y, z).numpy().tolist() == [5.0, 5.0]
        assert y.grad.numpy().tolist() == [5.0, 5.0] and z.grad.numpy().tolist() == [v, v]
    assert f.stats["records"] == 2


def test_tensor_argument_grad_accumulates_as_eager():
    def fn(a):
        (a * a).sum().backward()
        return a * 1.0

    f = pat.compile(fn)
    for _ in range(3):
        x1 = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
        x2 = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
        for _ in range(3):
            fn(x1)
            f(x2)
            assert x2.grad.numpy().tobytes() == x1.grad.numpy().tobytes()
    assert f.stats["replays"] > 0


def test_argument_aliasing_a_parameter_runs_eagerly():
    w = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = pat.optim.SGD([w], lr=0.1)

    def fn(x):
        (w * w).sum().backward()
        opt.step()
        opt.zero_grad()
        return (w * x).sum()

    f = pat.compile(fn)
    f(np.ones(2))
    f(np.ones(2))
    ref_w = pat.tensor(w.numpy(), requires_grad=True)
    ref_opt = pat.optim.SGD([ref_w], lr=0.1)

    def ref(x):
        (ref_w * ref_w).sum().backward()
        ref_opt.step()
        ref_opt.zero_grad()
        return (ref_w * x).sum()

    got = f(w.data)  # the argument is the parameter's own array
    want = ref(ref_w.data)
    assert got.numpy().tobytes() == want.numpy().tobytes()
    assert f.stats["eager"] >= 1


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_memmap_is_accepted_and_matrix_refused(tmp_path):
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=(3,))
    mm[:] = [1.0, 2.0, 3.0]
    f = pat.compile(lambda x: x * 2.0)
    assert f(mm).numpy().tolist() == [2.0, 4.0, 6.0]
    mm[:] = 5.0
    assert f(mm).numpy().tolist() == [10.0] * 3
    with pytest.raises(TypeError, match="matrix"):
        f(np.matrix([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="MaskedArray"):
        f(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))


# -- optimizer changes ------------------------------------------------------------------
def _lin_step(opt_cls, **kw):
    pat.manual_seed(1)
    model = pat.nn.Linear(3, 2, dtype=np.float64)
    opt = opt_cls(model.parameters(), **kw)

    def step(x):
        (model(x) ** 2).sum().backward()
        opt.step()
        opt.zero_grad()
        return model.weight * 1.0

    return model, opt, step


def _pair(opt_cls, **kw):
    m1, o1, s1 = _lin_step(opt_cls, **kw)
    m2, o2, s2 = _lin_step(opt_cls, **kw)
    return (m1, o1, s1), (m2, o2, pat.compile(s2))


def _agree(a, b, x):
    ra, rb = a[2](x), b[2](x)
    assert ra.numpy().tobytes() == rb.numpy().tobytes()


X3 = np.arange(6.0).reshape(2, 3) / 10


@pytest.mark.parametrize("change", [
    lambda o, m: o.param_groups[0].update(lr=0.05),
    lambda o, m: o.param_groups[0].update(momentum=0.9),
    lambda o, m: o.param_groups[0].update(momentum=0.9, nesterov=True),
    lambda o, m: o.param_groups[0].update(weight_decay=0.1),
    lambda o, m: o.param_groups[0].update(dampening=0.5),
])
def test_sgd_hyperparameter_changes_apply(change):
    a, b = _pair(pat.optim.SGD, lr=0.1)
    for i in range(6):
        if i == 2:
            change(a[1], a[0])
            change(b[1], b[0])
        _agree(a, b, X3 + i)


@pytest.mark.parametrize("change", [
    lambda g: g.update(lr=0.5),
    lambda g: g.update(betas=(0.5, 0.9)),
    lambda g: g.update(eps=1e-3),
    lambda g: g.update(weight_decay=0.1),
])
def test_adam_hyperparameter_changes_apply(change):
    a, b = _pair(pat.optim.Adam, lr=0.1)
    for i in range(5):
        if i == 2:
            change(a[1].param_groups[0])
            change(b[1].param_groups[0])
        _agree(a, b, X3 + i)


@pytest.mark.parametrize("opt_cls,key,value", [
    (pat.optim.SGD, "lr", float("nan")),
    (pat.optim.SGD, "lr", -1.0),
    (pat.optim.SGD, "momentum", -0.5),
    (pat.optim.Adam, "betas", (0.9, 1.0)),
    (pat.optim.Adam, "betas", (1.5, 0.9)),
    (pat.optim.Adam, "eps", -1e-8),
    (pat.optim.Adam, "lr", float("nan")),
])
def test_invalid_hyperparameters_raise_as_eager(opt_cls, key, value):
    kw = {"lr": 0.1}
    a, b = _pair(opt_cls, **kw)
    for i in range(3):
        _agree(a, b, X3 + i)
    before = [p.numpy() for p in b[0].parameters()]
    a[1].param_groups[0][key] = value
    b[1].param_groups[0][key] = value
    with pytest.raises(ValueError) as eager_err:
        a[2](X3)
    with pytest.raises(ValueError) as compiled_err:
        b[2](X3)
    assert str(eager_err.value) == str(compiled_err.value)
    for p, q in zip(b[0].parameters(), before, strict=True):
        assert np.isfinite(p.numpy()).all() and p.numpy().tobytes() == q.tobytes()


def test_replaced_parameters_and_added_groups_are_seen():
    a, b = _pair(pat.optim.SGD, lr=0.1)
    for i in range(3):
        _agree(a, b, X3 + i)
    for _m, o, _ in (a, b):  # replace the bias in the group by a fresh leaf of its shape
        o.param_groups[0]["params"][1] = pat.tensor(np.zeros(2), requires_grad=True)
    for i in range(2):
        _agree(a, b, X3 + i)
        assert a[0].bias.numpy().tobytes() == b[0].bias.numpy().tobytes()
    for m, o, _ in (a, b):  # the bias comes back, in a group of its own
        o.add_param_group({"params": [m.bias], "lr": 0.5})
    for i in range(3):
        _agree(a, b, X3 + i)
        assert a[0].bias.numpy().tobytes() == b[0].bias.numpy().tobytes()
    assert b[2].stats["retapes"] >= 2


@pytest.mark.parametrize("opt_cls,kw", [(pat.optim.Adam, {"lr": 0.1}),
                                        (pat.optim.SGD, {"lr": 0.1, "momentum": 0.9})])
def test_load_state_dict_continues_from_the_loaded_state(opt_cls, kw):
    a, b = _pair(opt_cls, **kw)
    for i in range(3):
        _agree(a, b, X3 + i)
    saved = a[1].state_dict()
    for i in range(2):
        _agree(a, b, X3 + i)
    a[1].load_state_dict(saved)
    b[1].load_state_dict(saved)
    for i in range(3):
        _agree(a, b, X3 - i)


# -- global settings, replaced .data, captured arrays ---------------------------------------
def test_relu_subgradient_is_part_of_the_signature():
    w = pat.tensor(np.array([0.0, 1.0]), requires_grad=True)

    def fn(x):
        pat.relu(w * x).sum().backward()
        g = w.grad * 1.0
        w.grad = None
        return g

    f = pat.compile(fn)
    try:
        for s in (0.0, 0.0, 1.0, 1.0, 0.5):
            pat.set_relu_subgradient(s)
            assert f(np.ones(2)).numpy().tolist() == fn(pat.tensor(np.ones(2))).numpy().tolist()
    finally:
        pat.set_relu_subgradient(0.0)


def test_default_dtype_is_part_of_the_signature():
    f = pat.compile(lambda x: (pat.tensor([1.0 / 3.0]) * 3.0, x * 1.0))
    try:
        a, _ = f(np.ones(2))
        pat.set_default_dtype(np.float64)
        b, _ = f(np.ones(2))
    finally:
        pat.set_default_dtype(np.float32)
    assert a.dtype == np.float32 and b.dtype == np.float64
    assert f.stats["records"] == 2


def test_replaced_data_of_a_frozen_tensor_is_seen():
    c = pat.tensor(np.array([1.0, 2.0]))  # captured, never trained
    f = pat.compile(lambda x: x * c)
    assert f(np.ones(2)).numpy().tolist() == [1.0, 2.0]
    c.data = np.array([5.0, 6.0])
    assert f(np.ones(2)).numpy().tolist() == [5.0, 6.0]
    assert f.stats["retapes"] == 1


def test_captured_array_changed_between_calls_is_seen():
    c = np.array([1.0, 2.0])
    f = pat.compile(lambda x: x * c)
    assert f(np.ones(2)).numpy().tolist() == [1.0, 2.0]
    c[:] = [3.0, 4.0]
    assert f(np.ones(2)).numpy().tolist() == [3.0, 4.0]


def test_saliency_step_with_its_own_leaf_replays():
    pat.manual_seed(0)
    model = pat.nn.MLP([8, 16, 4])

    def saliency(img):
        x = pat.tensor(img, requires_grad=True)  # a leaf of the step's own, every call
        model(x)[0, 2].backward()
        return x.grad

    f = pat.compile(saliency)
    rng = np.random.default_rng(0)
    for _ in range(5):
        img = rng.random((1, 8)).astype(np.float32)
        assert f(img).numpy().tobytes() == saliency(img).numpy().tobytes()
        for p in model.parameters():
            p.grad = None
    assert f.stats["records"] == 1 and f.stats["replays"] == 4


def test_item_used_in_tensor_arithmetic_and_integer_argument_to_tensor():
    f = pat.compile(lambda x, k: x * x.sum().item() + pat.tensor(k, dtype=x.dtype))
    for v in (1.0, 2.0):
        x, k = np.full(2, v), np.array([1, 2])
        want = np.full(2, v) * (2 * v) + k
        assert f(x, k).numpy().tobytes() == want.tobytes()
    assert f(np.full(2, 2.0), np.array([3, 4])).numpy().tolist() == [11.0, 12.0]


def test_fn_writing_its_argument_in_place_runs_eagerly_and_writes_the_caller():
    def fn(x):
        d = x._data if isinstance(x, pat.Tensor) else x  # the eager calls get the array
        d[...] = d * 2.0  # an in-place write the replay could not repeat
        return pat.tensor(d) * 1.0

    f = pat.compile(fn)
    for v in (1.0, 2.0):
        a = np.full(2, v)
        assert f(a).numpy().tolist() == [2 * v, 2 * v]
        assert a.tolist() == [2 * v, 2 * v]
    with pytest.raises(pat.RetapeRequired, match="in place"):
        pat.compile(fn, strict=True)(np.ones(2))


def test_read_after_backward_runs_eagerly_and_strict_refuses():
    w = pat.tensor(np.ones(2), requires_grad=True)

    def fn(x):
        loss = (w * x).sum()
        loss.backward()
        scale = 2.0 if w.grad.sum().item() > 3.0 else 1.0  # read after backward
        w.grad = None
        return loss * scale

    f = pat.compile(fn)
    for v in (1.0, 2.0, 1.0):
        assert f(np.full(2, v)).item() == fn(pat.tensor(np.full(2, v))).item()
        w.grad = None
    assert f.stats["eager"] == 2
    with pytest.raises(pat.RetapeRequired, match="after backward"):
        pat.compile(fn, strict=True)(np.ones(2))


def test_parameter_passed_as_argument_to_its_optimizer_is_an_error():
    w = pat.tensor(np.ones(2), requires_grad=True)
    opt = pat.optim.SGD([w], lr=0.1)

    def fn(p):
        (p * p).sum().backward()
        opt.step()
        opt.zero_grad()

    with pytest.raises(pat.TapeError, match="capture the parameter"):
        pat.compile(fn)(w)


def test_mask_argument_and_captured_mask_of_where():
    f = pat.compile(lambda x, m: pat.where(m, x, x * 0.0))
    x = np.arange(3.0)
    for m in ([True, False, True], [False, True, True], [True, True, False]):
        m = np.array(m)
        assert f(x, m).numpy().tolist() == np.where(m, x, 0.0).tolist()
    assert f.stats["replays"] == 2
    cap = np.array([True, False, True])
    g = pat.compile(lambda x: pat.where(cap, x, x * 0.0))
    assert g(x).numpy().tolist() == [0.0, 0.0, 2.0]
    cap[:] = [False, True, False]
    assert g(x).numpy().tolist() == [0.0, 1.0, 0.0]
