"""Forward mode: the tangent sweep (pat_tape_tangent) for every op, against central
differences and against the reverse sweep through the transposition identity
<u, J v> = <Jᵀu, v>; batched seeds against single sweeps; what jvp does not do (no
reverse sweep, no adjoint buffer); the C sweep's own checks; streaming forward mode,
which keeps no tape and no activation."""

import tracemalloc

import numpy as np
import pytest
from test_ops import OP_SPECS

import pyautotape as pat
from pyautotape import _ffi, transforms
from pyautotape._ffi import ffi, lib
from pyautotape.ops import REGISTRY

CASES = [(name, i) for name, rows in OP_SPECS.items() for i in range(len(rows))]
ZERO_GRADIENT = {"sign", "floor", "ceil", "round", "trunc"}  # piecewise constant ops


def _inputs(name, i, seed=11):
    fn, _, make = OP_SPECS[name][i]
    return fn, [np.asarray(a, np.float64) for a in make(np.random.default_rng(seed))]


def _program(fn, args):
    """f's tape packed for the batched sweeps, as the transforms build it."""
    return transforms._program(fn, args, list(range(len(args))), "test")


# ---- coverage ------------------------------------------------------------------------


def test_op_table_exercises_every_opcode_in_forward_mode():
    # OP_SPECS covers the registry (test_ops checks it); here: tracing its rows records
    # every opcode C knows, so every case of the tangent switch runs below
    assert set(OP_SPECS) == set(REGISTRY) == set(_ffi.op_names())
    seen = set()
    for name, i in CASES:
        fn, args = _inputs(name, i)
        seen |= {r.op for r in _program(fn, args).rows}
    assert seen == set(range(lib.PAT_OP_COUNT))


# ---- every op: tangents against central differences and against the reverse sweep ----


@pytest.mark.parametrize("name,i", CASES)
def test_jvp_matches_central_differences(name, i):
    fn, args = _inputs(name, i)
    rng = np.random.default_rng(3)
    tans = [rng.standard_normal(a.shape) for a in args]
    out, tout = pat.jvp(fn, tuple(args), tuple(tans))
    np.testing.assert_array_equal(out, fn(*[pat.tensor(a) for a in args]).numpy())
    h = 1e-6
    fp = fn(*[pat.tensor(a + h * t) for a, t in zip(args, tans, strict=True)]).numpy()
    fm = fn(*[pat.tensor(a - h * t) for a, t in zip(args, tans, strict=True)]).numpy()
    np.testing.assert_allclose(tout, (fp - fm) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,i", CASES)
def test_transposition_identity_to_1e12(name, i):
    # <u, J v> from the tangent sweep equals <Jᵀ u, v> from the reverse sweep
    fn, args = _inputs(name, i)
    rng = np.random.default_rng(5)
    v = [rng.standard_normal(a.shape) for a in args]
    out, jv = pat.jvp(fn, tuple(args), tuple(v))
    u = rng.standard_normal(out.shape)
    _, vjp_fn = pat.vjp(fn, *args)
    jtu = vjp_fn(u)
    lhs = float(np.sum(u * jv))
    rhs = float(sum(np.sum(g * t) for g, t in zip(jtu, v, strict=True)))
    scale = np.sum(np.abs(u * jv)) + sum(np.sum(np.abs(g * t)) for g, t in zip(jtu, v, strict=True))
    if name in ZERO_GRADIENT:  # piecewise constant: both sweeps give exact zeros
        assert not np.any(jv) and not any(np.any(g) for g in jtu)
        return
    assert scale > 0
    assert abs(lhs - rhs) <= 1e-12 * scale, (lhs, rhs)


@pytest.mark.parametrize("name,i", CASES)
def test_jvp_float32_agrees_with_float64(name, i):
    fn, args = _inputs(name, i)
    rng = np.random.default_rng(9)
    tans = [rng.standard_normal(a.shape) for a in args]
    _, t64 = pat.jvp(fn, tuple(args), tuple(tans))
    _, t32 = pat.jvp(fn, tuple(a.astype(np.float32) for a in args),
                     tuple(t.astype(np.float32) for t in tans))
    assert t32.dtype == np.float32
    np.testing.assert_allclose(t32, t64, rtol=2e-4, atol=2e-4)


# ---- batched seeds: one sweep for k seeds equals k sweeps ------------------------------


@pytest.mark.parametrize("name,i", CASES)
def test_batched_tangents_and_cotangents_equal_single_sweeps(name, i):
    fn, args = _inputs(name, i)
    rng = np.random.default_rng(2)
    k = 5
    prog = _program(fn, args)
    seeds = [rng.standard_normal((k, *a.shape)) for a in args]
    batched = prog.out_tangent(prog.tangents(seeds, k), k)
    cots = rng.standard_normal((k, *prog.out.shape))
    rev = prog.adjoints(cots)
    for j in range(k):
        _, single = pat.jvp(fn, tuple(args), tuple(s[j] for s in seeds))
        np.testing.assert_allclose(batched[j], single, rtol=1e-12, atol=1e-14)
        _, vjp_fn = pat.vjp(fn, *args)
        for a, g in enumerate(vjp_fn(cots[j])):
            np.testing.assert_allclose(rev[a][j], g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape_x,shape_w,argnum", [
    ((7,), (5, 7), 0),        # m = 1: the seed rows stack as they are
    ((3, 7), (5, 7), 0),      # x tangents (k, 3, 7) stacked as (3k, 7) @ Wᵀ
    ((3, 7), (5, 7), 1),      # x @ tWᵀ: W tangents stacked, product scattered from scratch
    ((7,), (5, 7), 1),        # m = 1: x @ tWᵀ written straight into the tangent
])
def test_dense_rules_use_one_gemm_for_all_seeds(shape_x, shape_w, argnum):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape_x), rng.standard_normal(shape_w), rng.standard_normal(5)

    def f(x, w):
        return pat.tanh(pat.linear(x, w, pat.tensor(b)))

    jf = pat.jacfwd(f, argnums=argnum)(x, w)
    fwd = transforms.last_sweep_stats()
    jr = pat.jacrev(f, argnums=argnum)(x, w)
    rev = transforms.last_sweep_stats()
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    assert fwd["gemm_calls"] == 1  # one GEMM for the (x.size or w.size) seeds
    assert rev["gemm_calls"] == 1  # one GEMM for the out.size cotangents


def test_matmul_seeded_right_operand_and_batched_walk():
    rng = np.random.default_rng(1)
    a, bm = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    for argnum in (0, 1):
        jf = pat.jacfwd(pat.matmul, argnums=argnum)(a, bm)
        assert transforms.last_sweep_stats()["gemm_calls"] == 1
        jr = pat.jacrev(pat.matmul, argnums=argnum)(a, bm)
        assert transforms.last_sweep_stats()["gemm_calls"] == 1
        np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    # batched operands on both sides take the per-batch-element path
    a3, b3 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 2))
    for argnum in (0, 1):
        jf = pat.jacfwd(pat.matmul, argnums=argnum)(a3, b3)
        jr = pat.jacrev(pat.matmul, argnums=argnum)(a3, b3)
        np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-14)
    want = np.zeros((2, 3, 2, 2, 3, 4))
    for bi in range(2):
        for r in range(3):
            want[bi, r, :, bi, r, :] = b3[bi].T
    np.testing.assert_allclose(pat.jacfwd(pat.matmul)(a3, b3), want, atol=1e-15)


# ---- what jvp does not do ---------------------------------------------------------------


def _mlp(x, w1, w2):
    return pat.linear(pat.tanh(pat.linear(x, w1)), w2)


def test_jvp_runs_no_reverse_sweep_and_allocates_no_adjoint():
    rng = np.random.default_rng(0)
    x, w1, w2 = rng.standard_normal(6), rng.standard_normal((8, 6)), rng.standard_normal((3, 8))
    before = transforms.engine_counts()
    out, t = pat.jvp(_mlp, (x, w1, w2), (np.ones(6), np.zeros((8, 6)), np.zeros((3, 8))))
    after = transforms.engine_counts()
    assert after["reverse_sweeps"] == before["reverse_sweeps"]
    assert after["adjoint_buffers"] == before["adjoint_buffers"]
    assert after["hvp_sweeps"] == before["hvp_sweeps"]
    assert after["tangent_sweeps"] == before["tangent_sweeps"] + 1
    assert after["tangent_buffers"] > before["tangent_buffers"]
    assert transforms.last_sweep_stats()["instrs"] == 3  # linear, tanh, linear: forward only
    # the counters do see reverse work: vjp allocates adjoints and runs a reverse sweep
    _, vjp_fn = pat.vjp(_mlp, x, w1, w2)
    vjp_fn(np.ones(3))
    later = transforms.engine_counts()
    assert later["reverse_sweeps"] == after["reverse_sweeps"] + 1
    assert later["adjoint_buffers"] > after["adjoint_buffers"]
    # and so does the core's backward
    xt = pat.tensor(x, requires_grad=True)
    _mlp(xt, pat.tensor(w1), pat.tensor(w2)).sum().backward()
    assert transforms.engine_counts()["reverse_sweeps"] == later["reverse_sweeps"] + 1


def test_jvp_leaves_inputs_and_grads_alone():
    w = pat.tensor(np.ones((2, 3)), requires_grad=True)  # captured, requires grad
    x = np.array([1.0, 2.0, 3.0])
    keep = x.copy()
    out, t = pat.jvp(lambda x: pat.linear(x, w), (x,), (np.array([1.0, 0.0, 0.0]),))
    np.testing.assert_array_equal(t, [1.0, 1.0])
    np.testing.assert_array_equal(x, keep)
    assert w.grad is None


def test_jvp_of_output_that_ignores_the_input_is_zero():
    out, t = pat.jvp(lambda x: pat.tensor([1.0, 2.0]) * 3, (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(t, [0.0, 0.0])
    out, t = pat.jvp(lambda x: x, (np.arange(3.0),), (np.ones(3),))  # the input itself
    np.testing.assert_array_equal(t, np.ones(3))


def test_jvp_shape_checks():
    with pytest.raises(pat.ShapeError, match="tangent 0 has shape"):
        pat.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        pat.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(3), np.ones(3)))


# ---- kinks, NaN and depth ------------------------------------------------------------


@pytest.mark.parametrize("s", [0.0, 0.25, 1.0])
def test_relu_tangent_at_zero_uses_the_subgradient(s):
    x = np.array([-1.0, 0.0, 2.0])
    _, t = pat.jvp(lambda x: pat.relu(x, subgradient=s), (x,), (np.full(3, 2.0),))
    np.testing.assert_array_equal(t, [0.0, 2.0 * s, 2.0])


def test_nan_tangent_of_a_dead_unit_does_not_leak():
    x = np.array([-1.0, 2.0])
    _, t = pat.jvp(pat.relu, (x,), (np.array([np.nan, 1.0]),))
    np.testing.assert_array_equal(t, [0.0, 1.0])
    _, t = pat.jvp(lambda a, b: pat.maximum(a, b), (np.array([1.0]), np.array([0.0])),
                   (np.array([1.0]), np.array([np.inf])))
    np.testing.assert_array_equal(t, [1.0])


def test_deep_chain_tangent_sweep_has_no_recursion():
    def f(x):
        for _ in range(20_000):
            x = x * 1.0001
        return x

    _, t = pat.jvp(f, (np.array([1.0]),), (np.array([1.0]),))
    np.testing.assert_allclose(t, [1.0001**20_000], rtol=1e-10)


# ---- the C sweeps check what they are given ---------------------------------------------


def _call(cfunc, tape, tables, sizes, nseeds=1, nslots=None):
    ptrs = [ffi.cast("void **", _ffi.ptr(_ffi.addresses(t))) for t in tables]
    failed = ffi.new("int64_t *", -1)
    rc = cfunc(ffi.from_buffer("pat_instr *", tape), len(tape), ffi.NULL, 0, *ptrs,
               ffi.from_buffer("int64_t *", sizes), len(sizes) if nslots is None else nslots,
               nseeds, ffi.NULL, 0, ffi.NULL, ffi.NULL, failed)
    return rc, failed[0]


@pytest.mark.parametrize("sweep", ["tangent", "backward", "hvp"])
def test_forged_tapes_return_error_codes(sweep):
    buf = np.zeros(2)
    sizes = np.array([2], np.int64)
    tape = np.zeros(1, dtype=_ffi.INSTR_DTYPE)
    tape[0]["src"] = -1
    tape[0]["aux"] = -1
    tape[0]["iter"] = -1
    cfunc, ntab = {
        "tangent": (lib.pat_tape_tangent, 2),
        "backward": (lib.pat_tape_backward_batch, 2),
        "hvp": (lib.pat_tape_hvp, 4),
    }[sweep]
    tables = [[buf]] * ntab
    tape[0]["op"] = 999
    assert _call(cfunc, tape, tables, sizes) == (lib.PAT_EBADOP, 0)
    tape[0]["op"] = lib.PAT_OP_EXP
    tape[0]["dtype"] = 7
    assert _call(cfunc, tape, tables, sizes) == (lib.PAT_EBADDTYPE, 0)
    tape[0]["dtype"] = lib.PAT_F64
    tape[0]["dst"] = 5
    assert _call(cfunc, tape, tables, sizes) == (lib.PAT_EBADARG, 0)
    tape[0]["dst"] = 0
    assert _call(cfunc, tape, tables, sizes, nseeds=0)[0] == lib.PAT_EBADARG
    tape[0]["src"][0] = 0  # exp whose output value (its derivative) was not kept
    assert _call(cfunc, tape, [[buf]] + [[buf]] * (ntab - 1), sizes)[0] in (
        lib.PAT_ENULL, lib.PAT_OK)


def test_dense_sweep_refuses_too_little_scratch():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    prog = _program(pat.linear, [x, w])
    k = 8
    seeds = [np.zeros((k, 3, 4)), rng.standard_normal((k, 2, 4))]
    tans = prog._zeros(k, "tangent_buffers")
    tans[0], tans[1] = seeds
    keep = [_ffi.pointer_table(t) for t in (prog.vals, tans)]
    head = (ffi.from_buffer("pat_instr *", prog.tape), 1, ffi.NULL, 0, keep[0][0], keep[1][0],
            ffi.from_buffer("int64_t *", prog.size_arr), len(prog.vals), k)
    need = ffi.new("int64_t *", 0)
    assert lib.pat_tape_tangent(*head, ffi.NULL, 0, need, ffi.NULL, ffi.NULL) == lib.PAT_OK
    assert need[0] == 3 * k * 2 * 8  # the (m, k*n) product, float64
    small = np.empty(need[0] // 8 - 1)
    rc = lib.pat_tape_tangent(*head, ffi.from_buffer(small), small.nbytes, ffi.NULL, ffi.NULL,
                              ffi.NULL)
    assert rc == lib.PAT_EBADARG
    assert not tans[2].any()  # refused before touching memory


def test_gradcheck_checks_forward_mode_too():
    report = pat.gradcheck(lambda x, w: pat.tanh(pat.linear(x, w)),
                           [np.ones((2, 3)), np.full((4, 3), 0.1)])
    assert report.forward is not None and len(report.forward) == 2
    assert all(c.passed for c in report.forward)
    assert "forward mode (jvp" in str(report)


# ---- streaming forward mode: no tape at all ---------------------------------------------


@pytest.mark.parametrize("name,i", CASES)
def test_streaming_jvp_equals_the_tape_sweep_bitwise(name, i):
    fn, args = _inputs(name, i)
    rng = np.random.default_rng(4)
    tans = tuple(rng.standard_normal(a.shape) for a in args)
    out, t = pat.jvp(fn, tuple(args), tans)
    out_s, t_s = pat.jvp(fn, tuple(args), tans, stream=True)
    np.testing.assert_array_equal(out_s, out)
    np.testing.assert_array_equal(t_s, t)
    nums = tuple(range(len(args)))
    for a, b in zip(pat.jacfwd(fn, nums)(*args), pat.jacfwd(fn, nums, stream=True)(*args),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def _chain(depth):
    def f(x):
        for _ in range(depth):
            x = pat.tanh(x) * 1.5
        return x.sum()

    return f


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_forward_mode_needs_no_stored_activations():
    x, v = np.random.default_rng(0).standard_normal(5000), np.ones(5000)  # 40 KB per value
    taped = _peak(lambda: pat.jvp(_chain(100), (x,), (v,)))
    shallow = _peak(lambda: pat.jvp(_chain(25), (x,), (v,), stream=True))
    deep = _peak(lambda: pat.jvp(_chain(100), (x,), (v,), stream=True))
    assert taped > 100 * 40_000  # the tape keeps every tanh output and product input
    assert deep < 20 * 40_000  # streaming keeps a few live values and tangents
    assert deep < 1.5 * shallow  # ... however deep f is


def test_streaming_keeps_no_record_and_no_adjoint():
    seen = []
    before = transforms.engine_counts()

    def f(x):
        y = pat.exp(x) * x
        seen.append((y._node, y.requires_grad))
        return y

    out, t = pat.jvp(f, (np.array([0.5, 1.0]),), (np.ones(2),), stream=True)
    np.testing.assert_allclose(t, np.exp([0.5, 1.0]) * (1 + np.array([0.5, 1.0])))
    assert seen == [(None, True)]
    after = transforms.engine_counts()
    assert after["adjoint_buffers"] == before["adjoint_buffers"]
    assert after["reverse_sweeps"] == before["reverse_sweeps"]


def test_a_transform_inside_a_streaming_jvp_is_differentiated():
    def f(x):  # the inner gradient 3x² is recorded on the stream: d(3x³)/dx = 9x²
        return x * pat.grad(lambda z: (z * z * z).sum())(x)

    x = np.array([1.0, 2.0])
    out, t = pat.jvp(f, (x,), (np.ones(2),), stream=True)
    np.testing.assert_allclose(out, 3 * x**3)
    np.testing.assert_allclose(t, 9 * x**2)
    with pytest.raises(pat.TapeError, match=r"stream=True.*stream=False"):  # inner stream
        pat.grad(lambda x: pat.jvp(lambda z: z * x, (x,), (np.ones(2),), stream=True)[1].sum())(x)

    def h(x):  # an inner transform of constants only is exact
        return x * pat.tensor(pat.grad(lambda z: (z * z * z).sum())(np.ones(2)))

    out, t = pat.jvp(h, (x,), (np.ones(2),), stream=True)
    np.testing.assert_allclose(out, 3 * x)
    np.testing.assert_allclose(t, [3.0, 3.0])
