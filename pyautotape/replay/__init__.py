"""``pat.compile``: record a training step once, then run it again in one C call.

The package: traced.py is what fn's array arguments are while it records, recorder.py
watches the eager run, program.py orders its events and plans the buffers, plan.py packs,
checks and runs one recording, compiled.py caches them by call signature.

The first call of a compiled function for a given signature (the shapes and dtypes of its
array arguments) runs it eagerly while a recorder watches: every forward kernel call,
every reverse sweep (``backward()`` / ``autograd.grad``), every optimizer update, and every
place where Python read a tensor's value. The recording is packed once into a program of
C steps over the very buffers the eager run used. Later calls copy the new inputs into
their buffers and run the whole program -- forward, backward and update -- in one call of
``pat_replay``, with no Python per op and no NumPy allocation. Forward steps run the same
``pat_exec_fwd``, sweeps the same ``pat_tape_backward`` and updates the same optimizer
kernels as eager mode, in the same order, so the numbers are bitwise the same.

Guards: reading a value in Python while recording (``bool(t)``, ``float(t)``, a
comparison such as ``t > 0``, ``t.numpy()``, ``np.asarray(t)``, or any use of
``t.item()``) records the outcome; replay checks it in C, and if it changed the step is
recorded again (or ``RetapeRequired`` is raised with ``strict=True``).

>>> import numpy as np, pyautotape as pat
>>> double = pat.compile(lambda x: pat.tensor(x) * 2.0)
>>> [double(np.ones(2)).numpy().tolist() for _ in range(2)], double.stats["replays"]
([[2.0, 2.0], [2.0, 2.0]], 1)
"""

from __future__ import annotations

from .compiled import Compiled, compile

__all__ = ["compile", "Compiled"]
