"""``nn.Parameter`` and the handle hooks return."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, get_default_dtype

__all__ = ["Parameter", "RemovableHandle"]


class Parameter(Tensor):
    """A tensor that is a module parameter (``torch.nn.Parameter``): a leaf with
    ``requires_grad=True`` by default. A Module lists a Parameter among its parameters even
    after ``requires_grad_(False)`` (a plain tensor attribute counts only while it requires
    grad). The data is copied.

    >>> import pyautotape as pat
    >>> p = pat.nn.Parameter(pat.tensor([1.0, 2.0]))
    >>> p.requires_grad, p.is_leaf, isinstance(p, pat.Tensor)
    (True, True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.zeros((0,), get_default_dtype())
        if isinstance(data, Tensor):
            data = data._data.copy()
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """What ``register_forward_hook`` and friends return: ``remove()`` unregisters.

    >>> import pyautotape as pat
    >>> lin = pat.nn.Linear(1, 1)
    >>> with lin.register_forward_hook(lambda m, a, out: out * 0 + 1):
    ...     print(lin(pat.tensor([[3.0]])).item())
    1.0
    >>> lin._forward_hooks
    {}
    """

    _next = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = RemovableHandle._next
        RemovableHandle._next += 1

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
