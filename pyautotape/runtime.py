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

import os

from threadpoolctl import ThreadpoolController

from ._ffi import ffi, lib

__all__ = ["set_num_threads", "get_num_threads", "blas_config"]


def set_num_threads(n: int) -> None:
    """Set the number of OpenBLAS threads used by matmul and linear, and limit every other
    BLAS library loaded in the process (NumPy's) to ``n`` threads too (threadpoolctl).

    >>> import pyautotape as pat
    >>> pat.set_num_threads(1); pat.get_num_threads()
    1
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
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


def _default_threads() -> None:
    """Apply the default described in the module docstring (called once at import)."""
    env = os.environ.get("PYAUTOTAPE_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS")
    try:
        n = int(env) if env else 1
    except ValueError:
        n = 1
    if os.environ.get("PYAUTOTAPE_NUM_THREADS"):
        _limit_all_blas(max(n, 1))  # the front door: NumPy's BLAS too
    else:
        lib.pat_blas_set_num_threads(max(n, 1))


_default_threads()
