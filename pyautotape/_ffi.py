"""The one door into C: loading the extension, checking it is current, and turning arrays
into pointers.

Everything that crosses into C goes through :func:`ptr` (one array), :func:`pointer_table`
or :func:`addresses` (tables of arrays). ``ffi.from_buffer`` checks C-contiguity and
writability but not the dtype, so :func:`ptr` checks it where the caller did not make the
array itself. The caller keeps the arrays referenced
for the whole C call. :func:`check` turns a C status code into a Python exception.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._srchash import source_hash
from ._state import raise_callback_error
from .errors import RetapeRequired, ShapeError


def _missing_extension(exc: ImportError) -> str:
    """What to do when the extension does not load: in a source checkout without one (which
    shadows a ``pip install .`` made elsewhere when Python runs from the checkout's root),
    build it there; anywhere else, reinstall."""
    package = pathlib.Path(__file__).resolve().parent
    if (package.parent / "csrc" / "pat_api.h").is_file() and not any(package.glob("_pat*.so")):
        return (
            f"pyautotape's C extension is not built in the source checkout {package}, which "
            "Python imported because the current directory comes first on sys.path (it "
            "shadows a copy installed with `pip install .`); build it in place with "
            f"`pip install -e .` in {package.parent}, or run from another directory"
        )
    return (
        "pyautotape's C extension is missing or cannot load "
        f"({exc}); build it with `pip install -e .` (or `pip install .`)"
    )


try:
    # Importing scipy_openblas32 loads libscipy_openblas with RTLD_GLOBAL, so the extension
    # finds it even where its rpath ($ORIGIN/../scipy_openblas32/lib) does not lead there,
    # as in an editable install.
    import scipy_openblas32  # noqa: F401

    from ._pat import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(_missing_extension(exc)) from exc

# The ABI version lives in csrc/pat_api.h only; this is what the loaded extension says.
ABI_VERSION = lib.pat_abi_version()


def build_info() -> dict[str, str]:
    """What the extension was built from: ``sources`` (hash of csrc/) and ``flags``.

    >>> import pyautotape as pat
    >>> {"sources", "flags"} <= set(pat.build_info())
    True
    """
    text = ffi.string(lib.pat_build_info()).decode()
    return dict(part.split("=", 1) for part in text.split(";"))


def _check_fresh() -> None:
    """In a source checkout (editable install), refuse an extension built from other C."""
    csrc = pathlib.Path(__file__).resolve().parent.parent / "csrc"
    if not (csrc / "pat_api.h").is_file():
        return
    built = build_info().get("sources")
    if built != source_hash(csrc):
        raise ImportError(
            "pyautotape's C extension is out of date: csrc/ changed since it was built "
            f"(built from {built}); rebuild with pip install -e ."
        )


_check_fresh()

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
DTYPE_CODE = {F32: lib.PAT_F32, F64: lib.PAT_F64}

# Every pat_status but PAT_OK, as the exception Python raises for it (see check()). The
# internal ones mean a Python bug: Python validates everything before calling C.
_REFUSED = "the C kernel refused the call"
STATUS: dict[int, tuple[type[Exception], str]] = {
    lib.PAT_EBADOP: (RuntimeError, f"{_REFUSED} (bad opcode)"),
    lib.PAT_EBADDTYPE: (RuntimeError, f"{_REFUSED} (bad dtype)"),
    lib.PAT_ENULL: (RuntimeError, f"{_REFUSED} (a buffer the op reads was not kept)"),
    lib.PAT_EBADARG: (RuntimeError, f"{_REFUSED} (size, slot or iterator out of range)"),
    lib.PAT_EINDEX: (ValueError, "a class label or an index is out of range"),
    lib.PAT_EGUARD: (RetapeRequired, "a replay guard failed: the recorded step no longer applies"),
    lib.PAT_ECALLBACK: (RuntimeError, "a custom op's callback failed"),
    lib.PAT_EANOMALY: (FloatingPointError, "a checked sweep found a NaN or an infinity"),
    lib.PAT_ETOOBIG: (ShapeError, "a matrix size exceeds 2**31 - 1, the limit of the 32-bit "
                      "BLAS; split the work (a smaller batch, or fewer seeds per call)"),
}

def c_struct_dtype(cname: str, fields: list[tuple]) -> np.dtype:
    """The NumPy mirror of the C struct ``cname``, refused at import when its field offsets
    or its size differ from what the compiler made of pat_api.h (a stale extension).

    >>> c_struct_dtype("pat_stats", [("gemm_calls", np.int64), ("gemm_flops", np.int64),
    ...                              ("instrs", np.int64)]).itemsize
    24
    """
    dt = np.dtype(fields)
    offsets: Mapping[str, tuple[Any, ...]] = dt.fields or {}
    for name in dt.names or ():
        if offsets[name][1] != ffi.offsetof(cname, name):  # pragma: no cover
            raise ImportError(
                f"{cname}.{name} layout differs from C; rebuild with pip install -e ."
            )
    if dt.itemsize != ffi.sizeof(cname):  # pragma: no cover
        raise ImportError(f"{cname} size differs from C; rebuild with pip install -e .")
    return dt


# pat_instr as NumPy sees it: a packed tape is an array of these (packing.py)
INSTR_DTYPE = c_struct_dtype("pat_instr", [
    ("op", np.int32),
    ("dtype", np.int32),
    ("dst", np.int32),
    ("src", np.int32, (3,)),
    ("aux", np.int32),
    ("iter", np.int32),
    ("m", np.int64),
    ("k", np.int64),
    ("n", np.int64),
    ("alpha", np.float64),
])
ITER_WORDS = 1 + lib.PAT_MAXDIM + lib.PAT_MAXOPERANDS * lib.PAT_MAXDIM
if ITER_WORDS * 8 != ffi.sizeof("pat_iter"):  # pragma: no cover
    raise ImportError("pat_iter size differs from C; rebuild with pip install -e .")

NULL = ffi.NULL


def filled(a: np.ndarray | None) -> np.ndarray:
    """A buffer a sweep filled (a live slot always has one); None would be a Python bug."""
    if a is None:
        raise RuntimeError("internal: a live slot has no buffer after the sweep")
    return a


def ptr(a: np.ndarray, dtype: np.dtype | None = None, writable: bool = False) -> Any:
    """A C pointer to ``a``'s data. ``ffi.from_buffer`` refuses non-contiguous arrays
    (ValueError) and, with ``writable``, read-only ones; what it does not check is the
    dtype, so callers that did not make the array themselves pass ``dtype``."""
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"internal: expected a {dtype} buffer, got {a.dtype}")
    return _from_buffer(a, require_writable=writable)


_from_buffer = ffi.from_buffer


def pointer_table(arrays: list[np.ndarray | None]) -> tuple[Any, list[Any]]:
    """A C ``void *[]`` of the arrays' data (NULL for None), for the sweeps' tables.

    Returns the table and the list of buffer objects that keep the arrays pinned: the
    caller holds both until the C call returns (a pointer array does not own what its
    elements point to)."""
    keep = [_from_buffer(a) if a is not None else NULL for a in arrays]
    return ffi.new("void *[]", keep), keep


def addresses(arrays: list[np.ndarray | None]) -> np.ndarray:
    """A uintp array of data addresses (0 for None), for the sweeps' pointer tables.

    The caller must keep every array alive until the C call returns."""
    out = np.zeros(len(arrays), dtype=np.uintp)
    for i, a in enumerate(arrays):
        if a is not None:
            if not a.flags.c_contiguous or not a.flags.aligned:
                raise TypeError("internal: buffer passed to C must be C-contiguous and aligned")
            out[i] = a.__array_interface__["data"][0]
    return out


def check(rc: int, opname: str) -> None:
    """Raise the exception of a C call's error status, naming ``opname``; a custom op's own
    exception (PAT_ECALLBACK) is raised again as it was.

    >>> check(lib.PAT_OK, "add")
    >>> try:
    ...     check(lib.PAT_ETOOBIG, "linear")
    ... except ShapeError as exc:
    ...     print(str(exc)[:29])
    linear: a matrix size exceeds
    """
    if rc == lib.PAT_OK:
        return
    if rc == lib.PAT_ECALLBACK:
        raise_callback_error()
    cls, text = STATUS.get(rc, (RuntimeError, f"{_REFUSED} (status {rc})"))
    raise cls(f"{opname}: {text}")


def op_names() -> list[str]:
    """Op names in opcode order, as the C table (csrc/ops.def) has them."""
    return [ffi.string(lib.pat_op_name(i)).decode() for i in range(lib.PAT_OP_COUNT)]


OP_NAMES = op_names()
# per opcode, the pat_reads bits of what its rules read (what a record keeps)
OP_READS = [lib.pat_op_reads(i) for i in range(lib.PAT_OP_COUNT)]
