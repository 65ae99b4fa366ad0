"""Guards on the buffers records save for backward: a lock count (the array is read-only
while a live record reads it) and a version (pyautotape's own writes), so a tape that
saved an old value refuses backward instead of computing with a new one."""

from __future__ import annotations

from typing import Any

import numpy as np

# set_writeable(arr, flag) is what ``arr.flags.writeable = flag`` does (the flags object's
# setter calls setflags by name), at a quarter of the cost: locks toggle on every op
set_writeable: Any = np.ndarray.setflags


class _Guard:
    """Lock count and version of one tensor's buffer.

    While ``count > 0`` some live record reads the buffer in its backward, and the array
    is read-only. ``version`` counts writes pyautotape made through :func:`_writable`."""

    __slots__ = ("arr", "count", "version", "writer", "exposed", "__weakref__")

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.count = 0
        self.version = 0
        self.writer: str | None = None  # the last in-place op that wrote, for messages
        self.exposed = False  # .data was handed out while writable: views may exist

    def lock(self) -> None:
        self.count += 1
        if self.count == 1:
            set_writeable(self.arr, False)

    def unlock(self) -> None:
        self.count -= 1
        if self.count == 0:
            set_writeable(self.arr, True)


class _writable:
    """Context manager for writes pyautotape makes into a tensor's buffer (optimizer
    steps, gradient accumulation): lifts the read-only lock for the write and bumps the
    version, so a record that saved the old values refuses to run backward."""

    __slots__ = ("t", "g", "name")

    def __init__(self, t: Any, name: str | None = None) -> None:  # t: a Tensor
        self.t = t
        self.g = t._guard
        self.name = name

    def __enter__(self) -> np.ndarray:
        if self.g is not None and self.g.count > 0:
            set_writeable(self.g.arr, True)
        return self.t._data

    def __exit__(self, *exc: object) -> None:
        g = self.g
        if g is not None:
            g.version += 1
            g.writer = self.name
            if g.count > 0:
                set_writeable(g.arr, False)
