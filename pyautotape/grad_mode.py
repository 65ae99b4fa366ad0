"""Grad mode (per thread): ``no_grad``, ``enable_grad``, ``set_grad_enabled`` and
``inference_mode``, each a context manager and a decorator (also of generator functions,
whose every resumption then runs in the mode), with PyTorch's names and behaviour.

>>> import pyautotape as pat
>>> with pat.set_grad_enabled(False):
...     pat.is_grad_enabled()
False
>>> pat.is_grad_enabled()
True
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from ._state import state as _state

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]


def is_grad_enabled() -> bool:
    """Whether ops run in this thread are recorded on the tape.

    >>> import pyautotape as pat
    >>> pat.is_grad_enabled()
    True
    >>> with pat.no_grad():
    ...     pat.is_grad_enabled()
    False
    """
    return _state.grad_enabled


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside :class:`inference_mode`.

    >>> import pyautotape as pat
    >>> with pat.inference_mode():
    ...     pat.is_inference_mode_enabled(), pat.is_grad_enabled()
    (True, False)
    """
    return _state.inference


class _GradMode:
    """Base of the grad-mode managers: ``__enter__`` sets the mode (``_target()``) and
    keeps the previous one on a per-instance stack, so one instance may be nested or
    reused; calling an instance on a function returns a wrapper that runs it in the mode
    (each resumption of a generator too)."""

    def __init__(self) -> None:
        self._prev: list[tuple[bool, bool]] = []

    def _target(self) -> tuple[bool, bool]:  # (grad_enabled, inference)
        raise NotImplementedError(f"{type(self).__name__}: a grad-mode class defines _target")

    def __enter__(self) -> None:
        self._prev.append((_state.grad_enabled, _state.inference))
        _state.grad_enabled, _state.inference = self._target()

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled, _state.inference = self._prev.pop()

    def _fresh(self) -> _GradMode:
        """A new manager with the same mode (each call of a decorated function gets one)."""
        return type(self)()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__}: as a decorator it takes a function, got "
                f"{type(fn).__name__}"
            )
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)
        fresh = self._fresh

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return fn(*args, **kwargs)

        return wrapper

    def _wrap_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        fresh = self._fresh

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            gen = fn(*args, **kwargs)
            try:
                with fresh():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with fresh():
                            gen.close()
                        raise
                    except BaseException:
                        with fresh():
                            response = gen.throw(*sys.exc_info())
                    else:
                        with fresh():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return wrapper


class _NoArgMode(_GradMode):
    """A mode without arguments: usable as ``@no_grad()`` and as bare ``@no_grad``."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __init__(self, orig_func: Callable[..., Any] | None = None) -> None:
        super().__init__()


class no_grad(_NoArgMode):
    """Run ops without recording them (this thread only); a context manager or a
    decorator (``@pat.no_grad`` or ``@pat.no_grad()``, also on generator functions).

    >>> import pyautotape as pat
    >>> w = pat.tensor([1.0, 2.0], requires_grad=True)
    >>> with pat.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    >>> @pat.no_grad
    ... def double(t):
    ...     return t * 2
    >>> double(w).requires_grad
    False
    """

    def _target(self) -> tuple[bool, bool]:
        return False, _state.inference


class enable_grad(_NoArgMode):
    """Record ops again inside a ``no_grad`` block (this thread only).

    >>> import pyautotape as pat
    >>> w = pat.tensor([1.0], requires_grad=True)
    >>> with pat.no_grad():
    ...     with pat.enable_grad():
    ...         y = w * 2
    >>> y.requires_grad
    True
    """

    def _target(self) -> tuple[bool, bool]:
        return True, _state.inference


class set_grad_enabled(_GradMode):
    """Turn recording on or off for this thread. As a function call it sets the mode
    (until changed again); as a context manager it restores the previous mode on exit;
    as a decorator it runs the function in the mode and leaves the mode alone when
    applied (PyTorch's behaviour).

    >>> import pyautotape as pat
    >>> _ = pat.set_grad_enabled(False)
    >>> (pat.tensor([1.0], requires_grad=True) * 2).requires_grad
    False
    >>> _ = pat.set_grad_enabled(True)
    >>> with pat.set_grad_enabled(False):
    ...     pat.is_grad_enabled()
    False
    >>> pat.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        super().__init__()
        if not isinstance(mode, (bool, int)) or isinstance(mode, float):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self.mode = bool(mode)
        # the call itself sets the mode; __exit__ restores what it was before the call
        self._prev.append((_state.grad_enabled, _state.inference))
        self._set_by_call = True
        _state.grad_enabled = self.mode

    def _target(self) -> tuple[bool, bool]:
        return self.mode, _state.inference

    def __enter__(self) -> None:
        if self._set_by_call:  # `with set_grad_enabled(m):` -- the call already set it
            self._set_by_call = False
            return
        super().__enter__()

    def _fresh(self) -> _GradMode:
        new = set_grad_enabled.__new__(set_grad_enabled)
        _GradMode.__init__(new)
        new.mode = self.mode
        new._set_by_call = False
        return new

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if self._set_by_call:  # decorator use: undo what the call set, run fn in the mode
            self._set_by_call = False
            _state.grad_enabled, _state.inference = self._prev.pop()
        return super().__call__(fn)

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self.mode})"


class inference_mode(_GradMode):
    """No recording, as :class:`no_grad` (``inference_mode(False)`` records again), and
    :func:`is_inference_mode_enabled` reports it. A context manager or a decorator.

    >>> import pyautotape as pat
    >>> w = pat.tensor([1.0], requires_grad=True)
    >>> with pat.inference_mode():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # bare @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        super().__init__()
        if callable(mode):
            mode = True
        self.mode = bool(mode)

    def _target(self) -> tuple[bool, bool]:
        return (not self.mode), self.mode

    def _fresh(self) -> _GradMode:
        return inference_mode(self.mode)
