"""The C kernels called directly through pat_exec_fwd / pat_exec_bwd, against float64
NumPy formulas over a sweep of shapes (1x1, odd, primes, around powers of two, empty),
and the accumulate rule of every backward kernel (called twice, it adds twice)."""

import numpy as np
import pytest

from pyautotape import _ffi
from pyautotape._ffi import ffi, lib
from pyautotape.ops.core import bcast_strides as _bcast_strides
from pyautotape.ops.core import cstrides as _cstrides
from pyautotape.ops.core import pack_iter as _pack_iter

SIZES = [(1, 1, 1), (1, 7, 3), (5, 1, 2), (3, 2, 1), (7, 13, 11), (63, 65, 17),
         (127, 129, 33), (2, 0, 3), (0, 4, 5), (4, 3, 0)]
DTYPES = [np.float32, np.float64]


def P(a, w=False):
    return _ffi.ptr(a, writable=w) if a is not None else ffi.NULL


def fwd(op, y, aux=None, s0=None, s1=None, s2=None, it=None, m=0, k=0, n=0, alpha=0.0):
    itp = ffi.from_buffer("pat_iter *", it) if it is not None else ffi.NULL
    rc = lib.pat_exec_fwd(op, _ffi.DTYPE_CODE[y.dtype], P(y, True), P(aux, True), P(s0), P(s1),
                          P(s2), itp, m, k, n, alpha, ffi.NULL)
    assert rc == lib.PAT_OK


def bwd(op, dt, dy, y=None, aux=None, s=(None, None, None), g=(None, None, None), it=None,
        m=0, k=0, n=0, alpha=0.0):
    itp = ffi.from_buffer("pat_iter *", it) if it is not None else ffi.NULL
    rc = lib.pat_exec_bwd(op, _ffi.DTYPE_CODE[np.dtype(dt)], P(dy), P(y), P(aux), P(s[0]),
                          P(s[1]), P(s[2]), P(g[0], True), P(g[1], True), P(g[2], True), itp,
                          m, k, n, alpha, ffi.NULL)
    assert rc == lib.PAT_OK


def tol(dt):
    return 1e-12 if dt == np.float64 else 1e-4


@pytest.mark.parametrize("m,k,n", SIZES)
@pytest.mark.parametrize("dt", DTYPES)
def test_linear_kernels(m, k, n, dt):
    r = np.random.default_rng(m * 100 + k * 10 + n)
    x, w, b = r.normal(size=(m, k)), r.normal(size=(n, k)), r.normal(size=n)
    dy = r.normal(size=(m, n))
    xs, ws, bs, dys = (a.astype(dt) for a in (x, w, b, dy))
    y = np.empty((m, n), dt)
    fwd(lib.PAT_OP_LINEAR, y, s0=xs, s1=ws, s2=bs, m=m, k=k, n=n)
    scale = max(k, 1) * tol(dt)
    np.testing.assert_allclose(y, x @ w.T + b, atol=scale, rtol=scale)
    dx, dw, db = np.zeros((m, k), dt), np.zeros((n, k), dt), np.zeros(n, dt)
    for _ in range(2):  # accumulates
        bwd(lib.PAT_OP_LINEAR, dt, dys, s=(xs, ws, None), g=(dx, dw, db), m=m, k=k, n=n)
    np.testing.assert_allclose(dx, 2 * dy @ w, atol=10 * scale, rtol=scale)
    np.testing.assert_allclose(dw, 2 * dy.T @ x, atol=10 * max(m, 1) * tol(dt), rtol=scale)
    np.testing.assert_allclose(db, 2 * dy.sum(0), atol=10 * max(m, 1) * tol(dt))


@pytest.mark.parametrize("m,k,n", SIZES)
@pytest.mark.parametrize("dt", DTYPES)
def test_matmul_kernels(m, k, n, dt):
    r = np.random.default_rng(1 + m + k + n)
    a, b, dy = r.normal(size=(2, m, k)), r.normal(size=(k, n)), r.normal(size=(2, m, n))
    it = _pack_iter((2,), ([m * n], [m * k], [0]), "matmul")
    y = np.empty((2, m, n), dt)
    fwd(lib.PAT_OP_MATMUL, y, s0=a.astype(dt), s1=b.astype(dt), it=it, m=m, k=k, n=n)
    t = max(k, 1) * tol(dt)
    np.testing.assert_allclose(y, a @ b, atol=t, rtol=t)
    da, db = np.zeros((2, m, k), dt), np.zeros((k, n), dt)
    bwd(lib.PAT_OP_MATMUL, dt, dy.astype(dt), s=(a.astype(dt), b.astype(dt), None), g=(da, db, None),
        it=it, m=m, k=k, n=n)
    np.testing.assert_allclose(da, dy @ b.T, atol=10 * t, rtol=t)
    # b is broadcast over the batch: its gradient sums the batch
    np.testing.assert_allclose(db, (a.transpose(0, 2, 1) @ dy).sum(0), atol=20 * max(m, 1) * tol(dt))


UNARY = {
    "NEG": (np.negative, lambda x, y: -np.ones_like(x)),
    "EXP": (np.exp, lambda x, y: y),
    "LOG": (np.log, lambda x, y: 1 / x),
    "SQRT": (np.sqrt, lambda x, y: 0.5 / y),
    "TANH": (np.tanh, lambda x, y: 1 - y * y),
    "SIGMOID": (lambda x: 1 / (1 + np.exp(-x)), lambda x, y: y * (1 - y)),
    "RELU": (lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(float)),
    "LEAKY_RELU": (lambda x: np.where(x > 0, x, 0.1 * x), lambda x, y: np.where(x > 0, 1, 0.1)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("n", [0, 1, 7, 64, 129])
@pytest.mark.parametrize("dt", DTYPES)
def test_unary_kernels(name, n, dt):
    f, df = UNARY[name]
    op = getattr(lib, f"PAT_OP_{name}")
    r = np.random.default_rng(n)
    x = r.normal(size=n) + 0.0
    if name in ("LOG", "SQRT"):
        x = np.abs(x) + 0.1
    alpha = 0.1 if name == "LEAKY_RELU" else 0.0
    xs = x.astype(dt)
    y = np.empty(n, dt)
    fwd(op, y, s0=xs, n=n, alpha=alpha)
    want = f(xs.astype(np.float64))
    np.testing.assert_allclose(y, want, rtol=tol(dt) * 10, atol=tol(dt))
    dy = r.normal(size=n).astype(dt)
    dx = np.zeros(n, dt)
    for _ in range(2):
        bwd(op, dt, dy, y=y, s=(xs, None, None), g=(dx, None, None), n=n, alpha=alpha)
    np.testing.assert_allclose(dx, 2 * dy * df(xs.astype(np.float64), want), rtol=tol(dt) * 10,
                               atol=tol(dt) * 10)


@pytest.mark.parametrize("shapes", [((1,), (1,)), ((3, 4), (4,)), ((5, 1, 3), (1, 7, 1)),
                                    ((0, 3), (3,)), ((63, 65), (63, 1)), ((2, 3, 4, 5), ())])
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name,f", [("ADD", np.add), ("MUL", np.multiply), ("DIV", np.divide)])
def test_binary_broadcast_kernels(shapes, dt, name, f):
    sa, sb = shapes
    r = np.random.default_rng(3)
    a, b = r.normal(size=sa), r.normal(size=sb) + 3.0
    out = np.broadcast_shapes(sa, sb)
    it = _pack_iter(out, (_cstrides(out), _bcast_strides(sa, out), _bcast_strides(sb, out)), "t")
    y = np.empty(out, dt)
    op = getattr(lib, f"PAT_OP_{name}")
    fwd(op, y, s0=a.astype(dt), s1=b.astype(dt), it=it)
    np.testing.assert_allclose(y, f(a.astype(dt), b.astype(dt)), rtol=tol(dt))
    dy = r.normal(size=out).astype(dt)
    da, db = np.zeros(sa, dt), np.zeros(sb, dt)
    bwd(op, dt, dy, s=(a.astype(dt), b.astype(dt), None), g=(da, db, None), it=it)
    pa = {"ADD": np.ones(out), "MUL": np.broadcast_to(b, out), "DIV": 1 / np.broadcast_to(b, out)}[name]
    pb = {"ADD": np.ones(out), "MUL": np.broadcast_to(a, out), "DIV": -np.broadcast_to(a, out) / b**2}[name]
    red_a = tuple(range(len(out) - len(sa))) + tuple(
        len(out) - len(sa) + i for i, s in enumerate(sa) if s == 1 and out[len(out) - len(sa) + i] != 1)
    red_b = tuple(range(len(out) - len(sb))) + tuple(
        len(out) - len(sb) + i for i, s in enumerate(sb) if s == 1 and out[len(out) - len(sb) + i] != 1)
    want_a = (dy * pa).sum(axis=red_a).reshape(sa) if red_a else (dy * pa).reshape(sa)
    want_b = (dy * pb).sum(axis=red_b).reshape(sb) if red_b else (dy * pb).reshape(sb)
    np.testing.assert_allclose(da, want_a, rtol=tol(dt) * 100, atol=tol(dt) * 100)
    np.testing.assert_allclose(db, want_b, rtol=tol(dt) * 100, atol=tol(dt) * 100)


@pytest.mark.parametrize("m,k", [(1, 1), (3, 10), (64, 129), (0, 4)])
@pytest.mark.parametrize("dt", DTYPES)
def test_cross_entropy_and_softmax_kernels(m, k, dt):
    r = np.random.default_rng(m + k)
    x = (3 * r.normal(size=(m, k))).astype(dt)
    lab = r.integers(0, k, m).astype(np.int64)
    y, probs = np.empty((), dt), np.empty((m, k), dt)
    fwd(lib.PAT_OP_CROSS_ENTROPY, y, aux=probs, s0=x, s1=lab, m=m, k=k, n=2)
    x64 = x.astype(np.float64)
    p = np.exp(x64 - x64.max(1, keepdims=True)) if m else np.zeros((0, k))
    p = p / p.sum(1, keepdims=True) if m else p
    np.testing.assert_allclose(probs, p, rtol=tol(dt) * 10, atol=tol(dt))
    want = -np.log(p[np.arange(m), lab]).sum() if m else 0.0
    np.testing.assert_allclose(float(y), want, rtol=tol(dt) * 10, atol=tol(dt))
    dx = np.zeros((m, k), dt)
    bwd(lib.PAT_OP_CROSS_ENTROPY, dt, np.array(2.0, dt), aux=probs, s=(None, lab, None),
        g=(dx, None, None), m=m, k=k, n=2)
    onehot = np.zeros((m, k))
    onehot[np.arange(m), lab] = 1
    np.testing.assert_allclose(dx, 2 * (p - onehot), rtol=tol(dt) * 10, atol=tol(dt) * 10)


def test_cross_entropy_kernel_rejects_bad_label_with_a_code():
    x = np.zeros((2, 3))
    lab = np.array([0, 7], np.int64)
    y, probs = np.empty(()), np.empty((2, 3))
    rc = lib.pat_exec_fwd(lib.PAT_OP_CROSS_ENTROPY, lib.PAT_F64, P(y, True), P(probs, True), P(x),
                          P(lab), ffi.NULL, ffi.NULL, 2, 3, 1, 0.0, ffi.NULL)
    assert rc == lib.PAT_EINDEX


def test_missing_saved_buffer_is_an_error_code_not_a_crash():
    dy = np.ones(3)
    dx = np.zeros(3)
    rc = lib.pat_exec_bwd(lib.PAT_OP_EXP, lib.PAT_F64, P(dy), ffi.NULL, ffi.NULL, ffi.NULL,
                          ffi.NULL, ffi.NULL, P(dx, True), ffi.NULL, ffi.NULL, ffi.NULL, 0, 0,
                          3, 0.0, ffi.NULL)
    assert rc == lib.PAT_ENULL


def test_abi_layout_and_names():
    assert lib.pat_abi_version() == _ffi.ABI_VERSION
    assert ffi.sizeof("pat_instr") == 64 == _ffi.INSTR_DTYPE.itemsize
    assert ffi.offsetof("pat_instr", "src") == 12
    names = _ffi.op_names()
    assert len(names) == lib.PAT_OP_COUNT and len(set(names)) == len(names)
    assert ffi.string(lib.pat_op_name(-1)) == b"?"


def test_stale_extension_is_refused(monkeypatch):
    monkeypatch.setattr(_ffi, "build_info", lambda: {"sources": "0000", "flags": ""})
    with pytest.raises(ImportError, match="pip install -e"):
        _ffi._check_fresh()


def test_a_gemm_over_int_max_is_refused_before_blas():
    # 4 seeds fold into one GEMM of 4 * 2**30 rows: more than a 32-bit BLAS takes. The
    # kernel refuses it with PAT_ETOOBIG before reading any buffer (they are tiny here).
    m, k, n, seeds = 2**30, 1, 1, 4
    tape = np.zeros(1, _ffi.INSTR_DTYPE)
    tape[0] = (lib.PAT_OP_LINEAR, lib.PAT_F32, 0, [1, 2, -1], -1, -1, m, k, n, 0.0)
    small = [np.zeros(8, np.float32) for _ in range(3)]
    vals, vkeep = _ffi.pointer_table(small)
    grads, gkeep = _ffi.pointer_table(small)
    sizes = np.array([m * n, m * k, n * k], np.int64)
    failed = ffi.new("int64_t *", -1)
    rc = lib.pat_tape_backward_batch(ffi.from_buffer("pat_instr *", tape), 1, ffi.NULL, 0, vals,
                                     grads, ffi.from_buffer("int64_t *", sizes), 3, seeds,
                                     ffi.NULL, 0, ffi.NULL, ffi.NULL, failed)
    assert rc == lib.PAT_ETOOBIG and failed[0] == 0
    with pytest.raises(ValueError, match="linear: a matrix size exceeds 2\\*\\*31 - 1"):
        _ffi.check(rc, "linear")
