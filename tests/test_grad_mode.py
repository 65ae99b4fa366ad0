"""Grad mode: set_grad_enabled as a function, a context manager and a decorator; no_grad /
enable_grad / inference_mode as context managers and decorators, also on generators."""

import threading

import pytest

import pyautotape as pat


def _w():
    return pat.tensor([1.0, 2.0], requires_grad=True)


def test_set_grad_enabled_as_context_manager_restores():
    with pat.set_grad_enabled(False):
        assert not pat.is_grad_enabled()
        assert not (_w() * 2).requires_grad
    assert pat.is_grad_enabled()
    with pat.no_grad():
        with pat.set_grad_enabled(True):
            assert (_w() * 2).requires_grad
        assert not pat.is_grad_enabled()
    assert pat.is_grad_enabled()


def test_set_grad_enabled_as_function_and_on_exception():
    pat.set_grad_enabled(False)
    try:
        assert not pat.is_grad_enabled()
    finally:
        pat.set_grad_enabled(True)
    assert pat.is_grad_enabled()
    with pytest.raises(RuntimeError):
        with pat.set_grad_enabled(False):
            raise RuntimeError("boom")
    assert pat.is_grad_enabled()
    with pytest.raises(TypeError, match="bool"):
        pat.set_grad_enabled("no")
    assert pat.is_grad_enabled()


def test_set_grad_enabled_as_decorator_leaves_mode_alone():
    @pat.set_grad_enabled(False)
    def f(w):
        return w * 2

    assert pat.is_grad_enabled()  # applying the decorator did not switch it off
    assert not f(_w()).requires_grad
    assert pat.is_grad_enabled()


@pytest.mark.parametrize("deco", [pat.no_grad, pat.no_grad(), pat.inference_mode,
                                  pat.inference_mode()])
def test_no_grad_decorators(deco):
    @deco
    def f(w):
        return w * 2

    assert not f(_w()).requires_grad
    assert pat.is_grad_enabled()


def test_enable_grad_decorator_inside_no_grad():
    @pat.enable_grad
    def f(w):
        return w * 2

    with pat.no_grad():
        assert f(_w()).requires_grad
        assert not pat.is_grad_enabled()


def test_decorated_generator_runs_each_step_in_the_mode():
    seen = []

    @pat.no_grad()
    def gen(w):
        for _ in range(3):
            seen.append(pat.is_grad_enabled())
            got = yield w * 2
            seen.append(("sent", got))
        return "done"

    g = gen(_w())
    outs = [next(g)]
    assert pat.is_grad_enabled()  # between steps the caller's mode holds
    outs.append(g.send(5))
    assert pat.is_grad_enabled()
    outs.append(next(g))
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"
    assert not any(o.requires_grad for o in outs)
    assert seen[0] is False and ("sent", 5) in seen
    assert pat.is_grad_enabled()


def test_generator_throw_and_close_keep_mode():
    @pat.enable_grad()
    def gen():
        try:
            yield pat.is_grad_enabled()
        except ValueError:
            yield ("caught", pat.is_grad_enabled())

    with pat.no_grad():
        g = gen()
        assert next(g) is True
        assert g.throw(ValueError) == ("caught", True)
        g.close()
        assert not pat.is_grad_enabled()


def test_inference_mode():
    assert not pat.is_inference_mode_enabled()
    with pat.inference_mode():
        assert pat.is_inference_mode_enabled() and not pat.is_grad_enabled()
        with pat.inference_mode(False):
            assert pat.is_grad_enabled() and not pat.is_inference_mode_enabled()
        assert not pat.is_grad_enabled()
    assert pat.is_grad_enabled() and not pat.is_inference_mode_enabled()


def test_one_instance_nested_and_reused():
    ng = pat.no_grad()
    with ng:
        with ng:
            assert not pat.is_grad_enabled()
        assert not pat.is_grad_enabled()
    assert pat.is_grad_enabled()
    with ng:
        assert not pat.is_grad_enabled()
    assert pat.is_grad_enabled()


def test_grad_mode_is_per_thread():
    out = []
    with pat.set_grad_enabled(False):
        t = threading.Thread(target=lambda: out.append(pat.is_grad_enabled()))
        t.start()
        t.join()
    assert out == [True]
