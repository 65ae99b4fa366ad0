"""pat.compile's call path for a repeated signature: it takes the fast path, keeps every
check of the general one (a replaced parameter, a cleared gradient, an aliased or
non-contiguous argument, other global settings), copies in only the inputs the program
reads, and stays bitwise equal to eager."""

import numpy as np
import pytest

import pyautotape as pat


def _setup(seed=0):
    pat.manual_seed(seed)
    model = pat.nn.MLP([3, 8, 2], dtype=np.float32)
    opt = pat.optim.SGD(model.parameters(), lr=0.05)

    def step(x, y):
        loss = pat.mse_loss(model(pat.tensor(x)), pat.tensor(y))
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return model, opt, step


def _batches(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(5, 3)).astype(np.float32),
             rng.normal(size=(5, 2)).astype(np.float32)) for _ in range(n)]


def test_fast_path_is_taken_and_equals_eager_bitwise_with_any_layout():
    m1, _, eager = _setup()
    m2, _, step = _setup()
    compiled = pat.compile(step)
    for i, (x, y) in enumerate(_batches()):
        # non-contiguous and Fortran-ordered arguments are converted, not memmoved
        xs = np.asfortranarray(x) if i % 3 == 1 else (x.T.copy().T if i % 3 == 2 else x)
        a, b = eager(x, y), compiled(xs, y)
        assert a.numpy().tobytes() == b.numpy().tobytes(), i
    assert compiled._fast is not None
    assert compiled.stats == {"records": 1, "replays": 5, "retapes": 0, "eager": 0}
    from pyautotape.replay.compiled import _MISS

    x, y = _batches(1)[0]
    assert compiled._fast((x, y)) is not _MISS  # the fast path itself takes the call
    eager(x, y)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()


def test_only_inputs_the_program_reads_are_copied_and_new_values_are_seen():
    _, _, step = _setup()
    compiled = pat.compile(step)
    x, y = _batches(1)[0]
    compiled(x, y)
    plan = compiled.last
    # fn reads pat.tensor(x) and pat.tensor(y): the traced arguments' buffers are dead,
    # and let go (a recording holds one copy of each input, not two)
    assert len(plan.copy_in) == len(plan.inputs) == 2
    assert plan.memory_report()["inputs"] == x.nbytes + y.nbytes
    before = compiled(x, y).item()
    changed = compiled(x + 1.0, y).item()
    assert before != changed


def test_fast_path_keeps_the_guards():
    model, opt, step = _setup()
    compiled = pat.compile(step)
    x, y = _batches(1)[0]
    compiled(x, y)
    compiled(x, y)
    p = next(iter(model.parameters()))
    p.data = p.numpy() * 1.0  # a replaced .data records again
    compiled(x, y)
    assert compiled.stats["retapes"] == 1
    compiled(x, x[:, :2].copy())  # both distinct arrays: fast path again
    opt.param_groups[0]["lr"] = 0.5  # a number only: patched, no new recording
    compiled(x, y)
    assert compiled.stats["retapes"] == 1 and compiled.stats["records"] == 2
    strict = pat.compile(step, strict=True)
    strict(x, y)
    strict(x, y)
    p.data = p.numpy() * 1.0
    with pytest.raises(pat.RetapeRequired):
        strict(x, y)


def test_aliased_arguments_and_parameter_views_leave_the_fast_path():
    model, _, _ = _setup()
    w = next(iter(model.parameters()))

    def f(a, b):
        return (pat.tensor(a) * pat.tensor(b)).sum()

    compiled = pat.compile(f)
    a = np.ones((2, 2), np.float32)
    compiled(a, a.copy())
    compiled(a, a.copy())
    assert compiled(a, a).item() == 4.0  # the same object twice: its own signature
    assert compiled.stats["records"] == 2

    def g(a):
        return (pat.tensor(a) * w).sum()

    cg = pat.compile(g)
    z = np.zeros(w.shape, np.float32)
    cg(z)
    cg(z)
    with pat.no_grad():
        eager = (w * w).sum().item()
    assert cg(w.data).item() == eager  # shares the parameter's memory: runs eagerly
    assert cg.stats["eager"] == 1


def _mlp_step(model, opt, clip=False, zero=True):
    def step(x, y):
        loss = pat.mse_loss(model(pat.tensor(x)), pat.tensor(y))
        loss.backward()
        if clip:
            pat.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if zero:
            opt.zero_grad()
        return loss

    return step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fuse_update_folds_plain_sgd_into_the_weight_gemm(dtype):
    pat.manual_seed(0)
    m1 = pat.nn.MLP([3, 8, 2], dtype=dtype)
    pat.manual_seed(0)
    m2 = pat.nn.MLP([3, 8, 2], dtype=dtype)
    o1, o2 = pat.optim.SGD(m1.parameters(), lr=0.05), pat.optim.SGD(m2.parameters(), lr=0.05)
    eager, fused = _mlp_step(m1, o1), pat.compile(_mlp_step(m2, o2), fuse_update=True)
    for i, (x, y) in enumerate(_batches(8)):
        if i == 5:  # a new learning rate reaches the fused GEMM too
            o1.param_groups[0]["lr"] = o2.param_groups[0]["lr"] = 0.2
        x, y = x.astype(dtype), y.astype(dtype)
        a, b = eager(x, y).item(), fused(x, y).item()
        assert a == pytest.approx(b, rel=1e-5 if dtype == np.float32 else 1e-12)
    assert fused.last.fused == 2  # both weights; the biases keep the recorded update
    assert fused.stats["replays"] == 7 and fused.stats["retapes"] == 0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(p1.numpy(), p2.numpy(), rtol=tol, atol=tol)
        assert p2.grad is None


@pytest.mark.parametrize("case", ["momentum", "grad_kept", "clipped", "tied"])
def test_fuse_update_leaves_other_steps_bitwise_eager(case):
    def make():
        pat.manual_seed(0)
        model = pat.nn.MLP([3, 8, 2], dtype=np.float32)
        opt = pat.optim.SGD(model.parameters(), lr=0.05,
                            momentum=0.9 if case == "momentum" else 0.0)
        if case == "tied":
            w = pat.tensor(np.full((3, 3), 0.1, np.float32), requires_grad=True)
            opt = pat.optim.SGD([w], lr=0.05)

            def step(x, y):
                h = pat.relu(pat.linear(pat.tensor(x), w))
                loss = pat.mse_loss(pat.linear(h, w)[:, :2], pat.tensor(y))
                loss.backward()
                opt.step()
                opt.zero_grad()
                return loss

            return step, [w]
        return (_mlp_step(model, opt, clip=case == "clipped", zero=case != "grad_kept"),
                list(model.parameters()))

    (eager, p1), (step, p2) = make(), make()
    fused = pat.compile(step, fuse_update=True)
    for x, y in _batches(4):
        assert eager(x, y).numpy().tobytes() == fused(x, y).numpy().tobytes()
    assert fused.last.fused == 0
    for a, b in zip(p1, p2, strict=True):
        assert a.numpy().tobytes() == b.numpy().tobytes()


@pytest.mark.parametrize("changes", [["", "plain", "", "swap", ""],
                                     ["plain", "", "swap", "", ""]])
def test_a_group_params_list_replaced_or_mutated_is_checked_in_full(changes):
    # the optimizer's own list is checked in O(1) by its version; a plain list put in its
    # place (even holding the same tensors, and before the recording) or a mutation of
    # it takes the full check
    m1, o1, eager = _setup()
    m2, o2, step = _setup()
    compiled = pat.compile(step)
    batches = _batches(5)
    for (x, y), change in zip(batches, changes, strict=True):
        for o in (o1, o2):
            group = o.param_groups[0]
            if change == "plain":
                group["params"] = list(group["params"])
            elif change == "swap":  # same tensors, reversed twice: the version moved
                group["params"].reverse()
                group["params"].reverse()
        a, b = eager(x, y), compiled(x, y)
        assert a.numpy().tobytes() == b.numpy().tobytes(), change
    assert compiled.stats["replays"] + compiled.stats["retapes"] == 4
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()


def test_an_evicted_recording_is_freed_without_the_cycle_collector():
    # a recording holds every buffer of its step: its call paths must not keep it alive
    import gc
    import weakref

    _, _, step = _setup()
    compiled = pat.compile(step, cache_size=1)
    x, y = _batches(1)[0]
    for _ in range(3):
        compiled(x, y)
    assert compiled._fast is not None
    old = weakref.ref(compiled.last)
    gc.disable()
    try:
        for _ in range(3):
            compiled(x[:4], y[:4])  # another signature evicts the first recording
        assert old() is None
    finally:
        gc.enable()


def _big_setup(seed=0):
    # inputs of 32 KiB and more are bound (the tables point at the caller's array)
    pat.manual_seed(seed)
    model = pat.nn.Sequential(pat.nn.Linear(128, 64), pat.nn.ReLU(), pat.nn.Linear(64, 128))
    opt = pat.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = pat.mse_loss(model(pat.tensor(x)), pat.tensor(y))
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


def _tables_hold_own_buffers(plan):
    from pyautotape._ffi import ffi

    def addr(c):
        return int(ffi.cast("uintptr_t", c))

    for _, _, _, _, entries in plan.copy_in:
        for tab, i, own in entries or ():
            assert addr(tab[i]) == addr(own)


def test_large_inputs_are_bound_not_copied_and_stay_bitwise_eager():
    m1, _, eager = _big_setup()
    m2, _, step = _big_setup()
    compiled = pat.compile(step)
    rng = np.random.default_rng(3)
    for i in range(6):
        x = rng.normal(size=(64, 128)).astype(np.float32)
        y = rng.normal(size=(64, 128)).astype(np.float32)
        xs = np.asfortranarray(x) if i == 3 else x  # not C-contiguous: copied
        with pat.detect_anomaly() if i == 4 else _nullcontext():  # checked: copied
            a, b = eager(x, y), compiled(xs, y)
        assert a.numpy().tobytes() == b.numpy().tobytes(), i
        _tables_hold_own_buffers(compiled.last)  # bound only for the call
    plan = compiled.last
    assert sum(e is not None for *_, e in plan.copy_in) == 2
    assert compiled.stats["replays"] == 5
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()


def test_an_input_in_the_recordings_own_memory_is_copied_not_bound():
    # a gradient buffer of the recording passed back in as the input: the program writes
    # it while it reads the input, so the input must be the value at the call
    m1, _, eager = _big_setup()
    m2, _, step = _big_setup()
    compiled = pat.compile(step)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 128)).astype(np.float32)
    y = rng.normal(size=(64, 128)).astype(np.float32)
    for _ in range(2):
        eager(x, y), compiled(x, y)
    w1, w2 = m1[2].weight.grad._data, m2[2].weight.grad._data
    x1, x2 = w1.reshape(64, 128), w2.reshape(64, 128)  # views of the gradients
    base = x2.base if x2.base is not None else x2
    assert id(base) in compiled.last.owned  # the recording writes this memory
    a, b = eager(x1, y), compiled(x2, y)
    assert a.numpy().tobytes() == b.numpy().tobytes()
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_dead_input_buffer_is_freed_after_the_recording(monkeypatch):
    import weakref

    from pyautotape.replay import recorder

    made = []
    bind = recorder.Recorder.bind

    def spy(self, pos, out):
        made.append(weakref.ref(out))
        return bind(self, pos, out)

    monkeypatch.setattr(recorder.Recorder, "bind", spy)
    _, _, step = _setup()
    compiled = pat.compile(step)
    x, y = _batches(1)[0]
    compiled(x, y)
    # the traced arguments' buffers (read only through pat.tensor's copies) are gone
    assert [r() is None for r in made] == [True, True, False, False]
    compiled(x, y)  # and the replay runs without them (bitwise eager: the tests above)
    assert compiled.stats["replays"] == 1


def test_an_equal_but_distinct_dtype_takes_the_general_path_and_still_replays():
    m1, _, eager = _setup()
    m2, _, step = _setup()
    compiled = pat.compile(step)
    odd = np.dtype(np.float32, metadata={"origin": "loader"})  # == float32, not `is`
    assert odd == np.float32 and odd is not np.dtype(np.float32)
    for i, (x, y) in enumerate(_batches(4)):
        xs = x.astype(odd) if i % 2 else x
        a, b = eager(x, y), compiled(xs, y)
        assert a.numpy().tobytes() == b.numpy().tobytes(), i
    assert compiled.stats == {"records": 1, "replays": 3, "retapes": 0, "eager": 0}


def test_a_dropped_compiled_function_is_freed_without_the_cycle_collector():
    import gc
    import weakref

    def make():
        _, _, step = _setup()
        compiled = pat.compile(step)
        x, y = _batches(1)[0]
        for _ in range(3):
            compiled(x, y)
        assert compiled._fast is not None
        return weakref.ref(compiled), weakref.ref(compiled.last)

    gc.collect()
    gc.disable()
    try:
        compiled, plan = make()
        assert compiled() is None and plan() is None
    finally:
        gc.enable()
