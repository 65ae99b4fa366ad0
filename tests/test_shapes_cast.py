"""The differentiable float32 <-> float64 cast (pat.cast, x.double(), x.float(), x.to,
x.astype, x.type): values and gradients against torch, tangents, batched sweeps and
Hessian-vector products across the dtype change, replay equal to eager bitwise, anomaly
detection in both passes, and that integer casts stay off the tape."""

import numpy as np
import pytest

import pyautotape as pat

X32 = np.array([[0.3, -1.2, 2.5], [1.1, 0.7, -0.4]], np.float32)


def _up(x):  # float32 in, float64 computed, float32 out
    y = x.double()
    return (pat.tanh(y) * y).float() * x


def _down(x):  # float64 in, float32 computed, float64 out
    return pat.exp(x.float() * 0.5).to(pat.float64) * x


def test_every_spelling_is_on_the_tape():
    for up in (lambda t: t.double(), lambda t: t.to(pat.float64), lambda t: t.astype("float64"),
               lambda t: t.type(pat.float64), lambda t: t.to("cpu", pat.float64),
               lambda t: pat.cast(t, np.float64)):
        x = pat.tensor(X32, requires_grad=True)
        y = up(x)
        assert y.dtype == np.float64 and y.requires_grad
        np.testing.assert_array_equal(y.numpy(), X32.astype(np.float64))
        (y * y).sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_array_equal(x.grad.numpy(), 2 * X32)
    x = pat.tensor(X32, requires_grad=True)
    assert x.float() is x  # already float32: itself, as torch
    assert x.long().dtype == np.int64 and not x.long().requires_grad


@pytest.mark.parametrize("f,dtype", [(_up, np.float32), (_down, np.float64)])
def test_gradients_match_torch(f, dtype):
    torch = pytest.importorskip("torch")
    a = X32.astype(dtype)
    x = pat.tensor(a, requires_grad=True)
    out = f(x)
    w = np.random.default_rng(0).standard_normal(a.shape).astype(dtype)
    (out * w).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    if f is _up:
        ty = tx.double()
        tout = (torch.tanh(ty) * ty).float() * tx
    else:
        tout = torch.exp(tx.float() * 0.5).to(torch.float64) * tx
    (tout * torch.tensor(w)).sum().backward()
    assert out.dtype == tout.detach().numpy().dtype and x.grad.dtype == dtype
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_tangents_jacobians_and_hvp_cross_the_cast():
    x = X32.ravel()

    def f(t):  # float32 -> float64 -> float32
        return (t.double() ** 3).float()

    _, jv = pat.jvp(f, (x,), (np.ones_like(x),))
    assert jv.dtype == np.float32
    np.testing.assert_allclose(jv, 3 * x.astype(np.float64) ** 2, rtol=1e-6)
    for jac in (pat.jacrev(f), pat.jacfwd(f)):  # K-seed reverse and tangent sweeps
        np.testing.assert_allclose(jac(x), np.diag(3 * x.astype(np.float64) ** 2), rtol=1e-6)
    v = np.linspace(-1, 1, x.size).astype(np.float32)
    _, hv = pat.hvp(lambda t: (t.double() ** 3).sum(), x, v)
    assert hv.dtype == np.float32
    np.testing.assert_allclose(hv, 6 * x.astype(np.float64) * v, rtol=1e-6)
    x64 = x.astype(np.float64)
    _, hv = pat.hvp(lambda t: (t.float() ** 3).sum().double(), x64, v.astype(np.float64))
    assert hv.dtype == np.float64
    np.testing.assert_allclose(hv, 6 * x64 * v, rtol=1e-6)
    h = pat.hessian(lambda t: (t.double() ** 3).sum())(x)
    np.testing.assert_allclose(h, np.diag(6 * x.astype(np.float64)), rtol=1e-6)


def test_replay_equals_eager_bitwise_across_dtypes():
    def run(compiled):
        w = pat.tensor(X32, requires_grad=True)
        opt = pat.optim.Adam([w], lr=0.05)

        def step():
            loss = (pat.tanh(w.double()) ** 2).sum() + (w * w).sum().double()
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        step = pat.compile(step) if compiled else step
        return [step().numpy() for _ in range(3)] + [w.numpy()], step

    eager, _ = run(False)
    replayed, step = run(True)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(eager, replayed, strict=True))
    assert step.stats["replays"] == 2 and eager[0].dtype == np.float64


def test_anomaly_detection_reads_each_side_in_its_dtype():
    with pat.detect_anomaly():
        x = pat.tensor(np.array([1.0, np.nan], np.float32), requires_grad=True)
        with pytest.raises(pat.AnomalyError) as info:
            x.double()
        assert info.value.op == "cast" and info.value.pass_ == "forward"
        x = pat.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
        y = x.double() * 1e300  # finite in float64; the gradient overflows float32
        with pytest.raises(pat.AnomalyError) as info:
            y.sum().backward()
        assert info.value.op == "cast" and info.value.pass_ == "backward"
        with pytest.raises(pat.AnomalyError) as info:  # the K-seed sweep, too
            pat.jacrev(lambda t: t.double() * 1e300)(np.ones(2, np.float32))
        assert info.value.op == "cast"


def test_cast_refuses_non_float_targets():
    with pytest.raises(pat.DTypeError, match="cast: dtype int64 is not a float dtype"):
        pat.cast(pat.tensor([1.0]), pat.int64)
    with pytest.raises(pat.DTypeError, match="cast: 'f16' is not a dtype|not supported"):
        pat.cast(pat.tensor([1.0]), "f16")


@pytest.mark.parametrize("sweep", ["tangent", "backward", "hvp"])
def test_a_forged_cast_source_dtype_is_an_error_code(sweep):
    from test_forward_mode import _call

    from pyautotape import _ffi
    from pyautotape._ffi import lib

    buf = np.zeros(2)
    tape = np.zeros(1, dtype=_ffi.INSTR_DTYPE)
    tape[0]["op"], tape[0]["dtype"], tape[0]["m"], tape[0]["n"] = lib.PAT_OP_CAST, lib.PAT_F64, 7, 2
    tape[0]["src"], tape[0]["aux"], tape[0]["iter"] = [0, -1, -1], -1, -1
    cfunc, ntab = {"tangent": (lib.pat_tape_tangent, 2), "backward": (lib.pat_tape_backward_batch, 2),
                   "hvp": (lib.pat_tape_hvp, 4)}[sweep]
    assert _call(cfunc, tape, [[buf]] * ntab, np.array([2], np.int64)) == (lib.PAT_EBADDTYPE, 0)
    out = np.zeros(2)
    for m in (7, lib.PAT_F32):  # a bad dtype, and a kernel-level call with NULL pointers
        rc = lib.pat_exec_fwd(lib.PAT_OP_CAST, lib.PAT_F64, _ffi.ffi.from_buffer(out), _ffi.ffi.NULL,
                              _ffi.ffi.NULL, _ffi.ffi.NULL, _ffi.ffi.NULL, _ffi.ffi.NULL, m, 0, 2,
                              0.0, _ffi.ffi.NULL)
        assert rc == (lib.PAT_EBADDTYPE if m == 7 else lib.PAT_ENULL)


def test_an_integer_tensor_casts_exactly():
    big = pat.tensor(np.array([2**40 + 1, -3]), dtype=pat.int64)
    y = pat.cast(big, pat.float64)
    assert y.dtype == np.float64 and y.tolist() == [2.0**40 + 1, -3.0] and not y.requires_grad
