"""Custom differentiable ops (pat.Function): recorded as one PAT_OP_CUSTOM instruction,
run by C sweeps through the extern "Python" callback, in reverse mode, forward mode and
batched sweeps; the ctx API; errors raised in user code propagate; wrong rules are caught
by gradcheck."""

import gc

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import function, transforms
from pyautotape._ffi import ffi, lib
from pyautotape._state import raise_callback_error as _raise_callback_error
from pyautotape._state import state as _state


class Cube(pat.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * x * x * t


class Affine(pat.Function):
    """y = a * x + b with a number a; records what the ctx saw."""

    seen: list = []

    @staticmethod
    def forward(ctx, x, a, b):
        Affine.seen.append(ctx.needs_input_grad)
        ctx.a = a
        return x * a + b

    @staticmethod
    def backward(ctx, g):
        return g * ctx.a, None, g

    @staticmethod
    def jvp(ctx, tx, ta, tb):
        assert ta is None  # the number gets no tangent
        return tx * ctx.a + tb


class NoJvp(pat.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return pat.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * pat.exp(x)


class Boom(pat.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        raise ZeroDivisionError("boom in backward")

    @staticmethod
    def jvp(ctx, t):
        raise KeyError("boom in jvp")


def test_custom_op_gradients_match_the_builtin_composition():
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((3, 4))
    x1 = pat.tensor(xa, requires_grad=True)
    x2 = pat.tensor(xa, requires_grad=True)
    y1 = pat.tanh(Cube.apply(x1)).sum()
    y2 = pat.tanh(x2 * x2 * x2).sum()
    np.testing.assert_allclose(y1.numpy(), y2.numpy())
    y1.backward()
    y2.backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-12)
    assert x1.grad.shape == (3, 4)


def test_ctx_needs_input_grad_and_non_tensor_arguments():
    Affine.seen.clear()
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    b = pat.tensor([0.5, 0.5])
    y = Affine.apply(x, 3.0, b)
    assert Affine.seen[-1] == (True, False, False)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    with pat.no_grad():
        z = Affine.apply(x, 2.0, b)
    assert Affine.seen[-1] == (False, False, False) and not z.requires_grad
    # forward mode sees None for the number and a zero tangent for b
    out, t = pat.jvp(lambda x, b: Affine.apply(x, 2.0, b), (np.ones(2), np.ones(2)),
                     (np.ones(2), np.full(2, 0.25)))
    np.testing.assert_array_equal(t, [2.25, 2.25])


def test_custom_op_in_every_transform():
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(pat.grad(lambda x: Cube.apply(x).sum())(x), 3 * x * x)
    want = np.diag(3 * x * x)
    np.testing.assert_allclose(pat.jacrev(Cube.apply)(x), want)  # 3 cotangents: 3 callbacks
    np.testing.assert_allclose(pat.jacfwd(Cube.apply)(x), want)
    _, t = pat.jvp(Cube.apply, (x,), (np.ones(3),))
    np.testing.assert_allclose(t, 3 * x * x)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        pat.hessian(lambda x: Cube.apply(x).sum())(x)


def test_gradcheck_checks_both_modes_of_a_custom_op():
    x = np.array([0.3, -0.7])
    report = pat.gradcheck(Cube.apply, x)
    assert report and report.forward is not None and all(c.passed for c in report.forward)
    report = pat.gradcheck(NoJvp.apply, x)  # reverse only: forward mode is skipped
    assert report and report.forward is None
    assert "forward mode: not checked" in str(report)


def test_gradcheck_catches_a_wrong_backward():
    class WrongBackward(Cube):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * x * g  # should be 3 x²

    with pytest.raises(pat.GradcheckError, match="FAILED"):
        pat.gradcheck(WrongBackward.apply, np.array([0.3, -0.7, 1.1]))
    report = pat.gradcheck(WrongBackward.apply, np.array([0.3, -0.7]), raise_exception=False)
    assert not all(c.passed for c in report.inputs)
    assert all(c.passed for c in report.forward)  # its jvp is right: only reverse fails


def test_gradcheck_catches_a_wrong_jvp():
    class WrongJvp(Cube):
        @staticmethod
        def jvp(ctx, t):
            return t  # should be 3 x² t

    report = pat.gradcheck(WrongJvp.apply, np.array([0.3, -0.7]), raise_exception=False)
    assert all(c.passed for c in report.inputs) and not report.passed
    assert not report.forward[0].passed


def test_errors_in_user_rules_propagate_as_python_exceptions():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ZeroDivisionError, match="boom in backward"):
        Boom.apply(x).sum().backward()  # the core reverse sweep
    with pytest.raises(ZeroDivisionError, match="boom in backward") as info:
        pat.jacrev(Boom.apply)(np.ones(2))  # the batched reverse sweep
    assert any(f.name == "backward" for f in info.traceback)  # the user's frame is kept
    with pytest.raises(KeyError, match="boom in jvp"):
        pat.jvp(Boom.apply, (np.ones(2),), (np.ones(2),))
    with pytest.raises(NotImplementedError, match="defines no jvp"):
        pat.jacfwd(NoJvp.apply)(np.ones(2))
    # the engine is unharmed: the next sweeps work, and nothing is left pending
    y = pat.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 12.0])
    assert getattr(_state, "callback_error", None) is None


def test_bad_results_of_user_rules_are_reported():
    class TwoGrads(Cube):
        @staticmethod
        def backward(ctx, g):
            return g, g

    class WrongShape(Cube):
        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = pat.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="returned 2 gradient"):
        TwoGrads.apply(x).sum().backward()
    with pytest.raises(pat.ShapeError, match=r"WrongShape.backward's gradient 0 has shape \(\)"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(TypeError, match="must return one Tensor"):
        Cube.apply.__func__(type("Bad", (Cube,), {"forward": staticmethod(lambda ctx, x: 1.0)}), x)


def test_more_than_three_tensor_arguments_is_refused():
    class Four(pat.Function):
        @staticmethod
        def forward(ctx, a, b, c, d):
            return a + b + c + d

    t = pat.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="at most 3"):
        Four.apply(t, t, t, t)


def test_output_never_aliases_an_input_and_saved_tensors_are_locked():
    class Identity(pat.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = pat.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert not np.shares_memory(y.data, x.data)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0  # saved by the custom op: locked until its backward
    y.sum().backward()
    x.data[0] = 5.0  # released
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_the_handle_table_forgets_dead_records():
    gc.collect()
    before = len(function._live)
    x = pat.tensor(np.ones(3), requires_grad=True)
    ys = [Cube.apply(x) for _ in range(5)]
    assert len(function._live) == before + 5
    del ys
    gc.collect()
    assert len(function._live) == before


def test_forward_callback_reruns_forward_for_replay():
    # pat_exec_fwd on a custom instruction (what a replay does) calls forward again
    x = pat.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Cube.apply(x)
    handle = y._node.m
    new_x = np.array([3.0, -1.0])
    out = np.zeros(2)
    rc = lib.pat_exec_fwd(lib.PAT_OP_CUSTOM, lib.PAT_F64, ffi.from_buffer(out), ffi.NULL,
                          ffi.from_buffer(new_x), ffi.NULL, ffi.NULL, ffi.NULL, handle, 0, 2,
                          0.0, ffi.NULL)
    assert rc == lib.PAT_OK
    np.testing.assert_array_equal(out, new_x**3)
    rc = lib.pat_exec_fwd(lib.PAT_OP_CUSTOM, lib.PAT_F64, ffi.from_buffer(out), ffi.NULL,
                          ffi.from_buffer(new_x), ffi.NULL, ffi.NULL, ffi.NULL, 10**12, 0, 2,
                          0.0, ffi.NULL)
    assert rc == lib.PAT_ECALLBACK
    with pytest.raises(RuntimeError, match="not live"):
        _raise_callback_error()


def test_batched_reverse_calls_backward_once_per_seed():
    calls = []

    class Counted(Cube):
        @staticmethod
        def backward(ctx, g):
            calls.append(g.shape)
            return Cube.backward(ctx, g)

    pat.jacrev(Counted.apply)(np.ones((2, 2)))
    assert calls == [(2, 2)] * 4
    assert transforms.engine_counts()["reverse_sweeps"] > 0


def test_custom_op_in_a_streaming_jvp_leaves_no_handle():
    gc.collect()
    before = len(function._live)
    x = np.array([0.5, -1.0])
    out, t = pat.jvp(lambda x: pat.tanh(Cube.apply(x)), (x,), (np.ones(2),), stream=True)
    np.testing.assert_allclose(t, (1 - np.tanh(x**3) ** 2) * 3 * x * x)
    assert len(function._live) == before
    with pytest.raises(NotImplementedError, match="defines no jvp"):
        pat.jvp(NoJvp.apply, (x,), (np.ones(2),), stream=True)


def test_doctests():
    import doctest

    failures, tried = doctest.testmod(function)
    assert tried > 0 and failures == 0


def test_a_rule_may_keep_its_arguments_after_the_sweep():
    kept = []

    class Keeper(Cube):
        @staticmethod
        def backward(ctx, g):
            kept.append(g)  # outlives the sweep's buffers
            return Cube.backward(ctx, g)

        @staticmethod
        def jvp(ctx, t):
            kept.append(t)
            return Cube.jvp(ctx, t)

    x = np.array([1.0, 2.0])
    pat.jacrev(Keeper.apply)(x)
    pat.jacfwd(Keeper.apply)(x)
    gc.collect()
    junk = [np.full(2, 7.0) for _ in range(100)]  # reuse freed memory, if any was kept
    assert [k.numpy().tolist() for k in kept] == [[1.0, 0.0], [0.0, 1.0]] * 2
    del junk
