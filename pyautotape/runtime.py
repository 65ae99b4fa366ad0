"""Runtime settings: BLAS threads.

pyautotape starts with ONE OpenBLAS thread unless the environment says otherwise
(``PYAUTOTAPE_NUM_THREADS``, else ``OPENBLAS_NUM_THREADS``). Measured on the 2-core
development machine (bench/RESULTS.md): a second thread does nothing for the tiny and
small MLP steps, speeds up the mnist and large ones by about 1.4x and 1.7x when the
machine is idle, and makes steps many times slower whenever the other core is busy
(OpenBLAS threads spin while they wait; one run measured 88 ms instead of 1.4 ms for the
mnist step's GEMMs). One thread is the safe default for small networks; call
``pat.set_num_threads(2)`` (or set the variable) for wide layers on an idle machine.

``pat.set_num_threads(n)`` and an explicit ``PYAUTOTAPE_NUM_THREADS`` limit every BLAS
library loaded in the process, NumPy's own OpenBLAS included, through threadpoolctl; the
built-in default of one thread applies to pyautotape's OpenBLAS only, so importing
pyautotape leaves NumPy's threads alone.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings

from threadpoolctl import ThreadpoolController

from ._ffi import ffi, lib

__all__ = ["set_num_threads", "get_num_threads", "blas_config"]

MAX_THREADS = 1024  # far beyond any machine here; OpenBLAS caps at its own build limit


def set_num_threads(n: int) -> None:
    """Set the number of OpenBLAS threads used by matmul and linear, and limit every other
    BLAS library loaded in the process (NumPy's) to ``n`` threads too (threadpoolctl).

    >>> import pyautotape as pat
    >>> pat.set_num_threads(1); pat.get_num_threads()
    1
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r:.40}")
    n = int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"set_num_threads: n must be in [1, {MAX_THREADS}], got {n}; pass the number of "
            f"cores to use (this machine has {os.cpu_count()})"
        )
    _limit_all_blas(n)


def _limit_all_blas(n: int) -> None:
    """pyautotape's OpenBLAS through its own C entry, then every BLAS threadpoolctl finds
    loaded now (a fresh scan: a library imported since the last call is covered)."""
    lib.pat_blas_set_num_threads(n)
    ThreadpoolController().limit(limits=n, user_api="blas")


def get_num_threads() -> int:
    """The number of OpenBLAS threads.

    >>> import pyautotape as pat
    >>> pat.get_num_threads() >= 1
    True
    """
    return int(lib.pat_blas_get_num_threads())


def blas_config() -> str:
    """OpenBLAS's build description (version, kernel, thread limit)."""
    return ffi.string(lib.pat_blas_config()).decode()


def _warn(message: str) -> None:
    with contextlib.suppress(Warning):  # even under -W error the import goes on
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _default_threads() -> None:
    """Apply the default described in the module docstring (called once at import). A
    value that is not a whole number in [1, MAX_THREADS] is ignored (one thread) or
    clamped, with a RuntimeWarning: a bad environment never stops the import."""
    for var in ("PYAUTOTAPE_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env = os.environ.get(var, "").strip()
        if env:
            break
    else:
        lib.pat_blas_set_num_threads(1)
        return
    try:
        n = int(env)
    except ValueError:
        _warn(f"pyautotape: {var}={env!r:.40} is not a whole number; using 1 thread")
        n = 1
    if not 1 <= n <= MAX_THREADS:
        clamped = min(max(n, 1), MAX_THREADS)
        _warn(f"pyautotape: {var}={env:.40} is outside [1, {MAX_THREADS}]; using {clamped}")
        n = clamped
    if var == "PYAUTOTAPE_NUM_THREADS":
        _limit_all_blas(n)  # the front door: NumPy's BLAS too
    else:
        lib.pat_blas_set_num_threads(n)


_default_threads()
