"""Tape semantics: accumulation, release, retain_graph, autograd.grad, grad mode per
thread, bounded memory, deep graphs, in-place protection, and the C sweep's own checks."""

import gc
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import _ffi
from pyautotape._ffi import ffi, lib
from pyautotape.tensor import last_sweep_stats


def test_value_used_twice_gets_summed_gradient():
    x = pat.tensor([3.0], requires_grad=True)
    y = x * x + x
    y.backward()
    assert x.grad.item() == 7.0


def test_backward_accumulates_into_grad_like_pytorch():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_second_backward_on_released_tape_raises_naming_retain_graph():
    x = pat.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(pat.TapeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = pat.tensor([1.0], dtype=np.float64, requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * np.e])


def test_non_scalar_backward_needs_gradient_of_the_right_shape():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(pat.ShapeError, match="non-scalar"):
        y.backward()
    with pytest.raises(pat.ShapeError, match=r"gradient has shape \(3,\)"):
        y.backward(np.ones(3, np.float32))
    y.backward(np.array([1.0, 10.0], np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(pat.TapeError, match="does not require grad"):
        pat.tensor([1.0]).sum().backward()


def test_leaf_backward_is_identity():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([3.0, 4.0], np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_autograd_grad_returns_tuple_and_leaves_grads_untouched():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    w = pat.tensor([3.0, 4.0], requires_grad=True)
    out = (x * w).sum()
    gx, gw = pat.autograd.grad(out, [x, w], retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None
    (gx,) = pat.autograd.grad(out, x)
    assert isinstance(gx, pat.Tensor)


def test_autograd_grad_of_intermediate_and_unused():
    x = pat.tensor([2.0], requires_grad=True)
    h = x * 3
    z = pat.tensor([1.0], requires_grad=True)
    y = (h * h).sum()
    (gh,) = pat.autograd.grad(y, [h], retain_graph=True)
    assert gh.item() == 12.0
    with pytest.raises(pat.TapeError, match="allow_unused"):
        pat.autograd.grad(y, [z], retain_graph=True)
    assert pat.autograd.grad(y, [z], allow_unused=True) == (None,)


def test_grad_wrt_input_skips_weight_gemms():
    rng = np.random.default_rng(0)
    x = pat.tensor(rng.normal(size=(8, 20)), requires_grad=True)
    w1 = pat.tensor(rng.normal(size=(16, 20)), requires_grad=True)
    w2 = pat.tensor(rng.normal(size=(4, 16)), requires_grad=True)
    b2 = pat.tensor(rng.normal(size=(4,)), requires_grad=True)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])

    def loss():
        return pat.cross_entropy(pat.linear(pat.relu(pat.linear(x, w1)), w2, b2), labels)

    pat.autograd.grad(loss(), [x, w1, w2, b2])
    full = last_sweep_stats()
    (gx,) = pat.autograd.grad(loss(), [x])
    only_x = last_sweep_stats()
    assert full["gemm_calls"] == 4  # dx, dW for each layer
    assert only_x["gemm_calls"] == 2  # dx through both layers, no dW
    assert only_x["gemm_flops"] == 2 * 8 * 20 * 16 + 2 * 8 * 16 * 4
    assert gx.shape == (8, 20)


def test_no_grad_and_enable_grad_are_thread_local():
    x = pat.tensor([1.0], requires_grad=True)
    seen = {}

    def worker():
        seen["other"] = (x * 2).requires_grad

    with pat.no_grad():
        assert not (x * 2).requires_grad
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        with pat.enable_grad():
            assert (x * 2).requires_grad
    assert seen["other"] is True
    assert (x * 2).requires_grad


def test_no_grad_as_decorator():
    x = pat.tensor([1.0], requires_grad=True)

    @pat.no_grad()
    def f():
        return x * 2

    assert not f().requires_grad
    assert pat.is_grad_enabled()


def test_requires_grad_on_integer_data_is_a_type_error():
    with pytest.raises(TypeError, match="requires_grad"):
        pat.tensor(np.arange(3), requires_grad=True)


def test_forward_loop_without_backward_does_not_grow_memory():
    rng = np.random.default_rng(0)
    w = pat.tensor(rng.normal(size=(32, 16)), requires_grad=True)
    x = pat.tensor(rng.normal(size=(8, 16)))
    tracemalloc.start()
    for _ in range(1000):  # warm up NumPy's and our caches
        out = pat.relu(pat.linear(x, w)).sum()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(3000):
        out = pat.relu(pat.linear(x, w)).sum()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del out
    assert grown < 32_000, grown  # one step's records are ~1 KB: no accumulation


def test_outputs_dropped_free_the_records_without_gc():
    x = pat.tensor(np.ones(4), requires_grad=True)
    gc.disable()
    try:
        y = pat.exp(x * 2)
        refs = [weakref.ref(y._node), weakref.ref(y._node.parents[0])]
        saved = weakref.ref(y._node.out) if hasattr(y._node.out, "__weakref__") else None
        del y
        assert all(r() is None for r in refs)
        del saved
    finally:
        gc.enable()


def test_deep_chain_of_100k_ops_backward_and_free():
    x = pat.tensor([0.5], dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0000001**100_000], rtol=1e-9)
    # a second chain freed without backward must not recurse in deallocation
    y = x
    for _ in range(100_000):
        y = y + 1.0
    del y
    assert sys.getrecursionlimit() > 0


def test_saved_arrays_are_read_only_until_backward():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    y = pat.exp(x).sum()  # exp keeps its output; x itself is not kept
    h = pat.tensor([1.0, 2.0], requires_grad=True)
    z = (h * x).sum()  # mul keeps both
    with pytest.raises(ValueError, match="read-only"):
        h.data[0] = 5.0
    z.backward()
    h.data[0] = 5.0  # released: writable again
    y.backward()


def test_optimizer_style_write_bumps_version_and_stale_backward_raises():
    from pyautotape.tensor import _writable

    w = pat.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with _writable(w) as arr:
        arr -= 1.0
    with pytest.raises(pat.TapeError, match="modified in place"):
        y.backward()


def test_inputs_are_never_modified():
    a = np.array([1.0, -2.0, 3.0])
    b = a.copy()
    x = pat.tensor(a, requires_grad=True)
    pat.relu(x * 2).sum().backward()
    np.testing.assert_array_equal(a, b)
    assert a.flags.writeable


def test_non_contiguous_big_endian_and_read_only_inputs_are_copied():
    base = np.arange(12.0).reshape(3, 4)
    ro = base.copy()
    ro.flags.writeable = False
    for arr in (base[:, ::2], base.T, base.astype(">f8"), ro):
        t = pat.tensor(arr)
        np.testing.assert_array_equal(t.numpy(), np.asarray(arr, dtype=np.float64))
        assert t.data.flags.c_contiguous and t.dtype == np.float64
        np.testing.assert_array_equal((pat.tensor(np.ones(arr.shape)) * arr).numpy(), arr)


def test_forged_bad_opcode_returns_an_error_code():
    tape = np.zeros(1, dtype=_ffi.INSTR_DTYPE)
    tape[0]["op"] = 999
    tape[0]["src"] = -1
    tape[0]["aux"] = -1
    tape[0]["iter"] = -1
    buf = np.zeros(1)
    vals = _ffi.addresses([buf])
    grads = _ffi.addresses([buf])
    failed = ffi.new("int64_t *", -1)
    rc = lib.pat_tape_backward(
        ffi.cast("pat_instr *", _ffi.ptr(tape)), 1, ffi.NULL, 0,
        ffi.cast("void **", _ffi.ptr(vals)), ffi.cast("void **", _ffi.ptr(grads)), 1,
        ffi.NULL, failed,
    )
    assert rc == lib.PAT_EBADOP and failed[0] == 0
    tape[0]["op"] = lib.PAT_OP_EXP
    tape[0]["dst"] = 5  # out of range slot
    rc = lib.pat_tape_backward(
        ffi.cast("pat_instr *", _ffi.ptr(tape)), 1, ffi.NULL, 0,
        ffi.cast("void **", _ffi.ptr(vals)), ffi.cast("void **", _ffi.ptr(grads)), 1,
        ffi.NULL, failed,
    )
    assert rc == lib.PAT_EBADARG


def test_tape_order_is_execution_order():
    x = pat.tensor([1.0], requires_grad=True)
    a = x * 2
    b = a + 1
    c = b.exp()
    assert a._node.seq < b._node.seq < c._node.seq


def test_leaf_used_in_two_layers_gets_one_gradient():
    w = pat.tensor(np.ones((2, 2)), requires_grad=True)
    x = pat.tensor(np.ones((1, 2)))
    pat.linear(pat.linear(x, w), w).sum().backward()
    # d/dw of 1ᵀ W (W x) : both uses accumulate into one buffer
    np.testing.assert_allclose(w.grad.numpy(), [[4.0, 4.0], [4.0, 4.0]])


def test_two_threads_backward_on_one_tape_one_wins():
    for _ in range(100):
        x = pat.tensor(np.ones(1000), requires_grad=True)
        y = pat.exp(x * 2).sum()
        errors, done = [], []

        def run(y=y, errors=errors, done=done):
            try:
                y.backward()
                done.append(1)
            except pat.TapeError:
                errors.append(1)

        ts = [threading.Thread(target=run) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(done) == 1 and len(errors) == 1
