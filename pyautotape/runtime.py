"""Runtime settings: BLAS threads."""

from __future__ import annotations

from ._ffi import ffi, lib

__all__ = ["set_num_threads", "get_num_threads", "blas_config"]


def set_num_threads(n: int) -> None:
    """Set the number of OpenBLAS threads used by matmul and linear.

    >>> import pyautotape as pat
    >>> pat.set_num_threads(1); pat.get_num_threads()
    1
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    lib.pat_blas_set_num_threads(n)


def get_num_threads() -> int:
    """The number of OpenBLAS threads."""
    return int(lib.pat_blas_get_num_threads())


def blas_config() -> str:
    """OpenBLAS's build description (version, kernel, thread limit)."""
    return ffi.string(lib.pat_blas_config()).decode()
