"""cffi builder for pyautotape's C core (used by setup.py through ``cffi_modules``).

The cdef is ``pat_api.h`` read verbatim: the header the C sources include is the only
description of the ABI. GEMMs link OpenBLAS from the ``scipy-openblas32`` wheel, found
through that package at build time, with an rpath relative to the installed extension
(``$ORIGIN/../scipy_openblas32/lib``) so no environment variable is needed; the package
also imports ``scipy_openblas32`` first, which loads the same library for editable
installs, where the extension lives in the source tree.

Environment switches:
- ``PYAUTOTAPE_SANITIZE=1``: build with AddressSanitizer and UBSan (-O1 -g).
- ``PYAUTOTAPE_CANARY=1``: compile in a deliberate out-of-bounds write (sanitizer proof).
"""

from __future__ import annotations

import hashlib
import os
import pathlib

import scipy_openblas32
from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = [
    "tape.c", "eltwise.c", "reduce.c", "dense.c", "loss.c", "optim.c", "replay.c", "tangent.c"
]


def source_hash(folder: pathlib.Path = HERE) -> str:
    """sha256 over csrc/*.c, *.h in name order; pyautotape._ffi computes the same."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.[ch]")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def compile_flags() -> list[str]:
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror=switch", "-fno-math-errno"]
    if os.environ.get("PYAUTOTAPE_SANITIZE") == "1":
        flags += [
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]
    else:
        flags += ["-O3"]
    if os.environ.get("PYAUTOTAPE_CANARY") == "1":
        flags += ["-DPAT_CANARY=1"]
    return flags


def _relative(path: pathlib.Path) -> str:
    """setuptools wants source paths relative to the project root (the build's cwd)."""
    try:
        return str(path.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


ffibuilder = FFI()
# pat_api.h is the ABI; pat_callbacks.h adds the extern "Python+C" callbacks (cffi syntax)
ffibuilder.cdef((HERE / "pat_api.h").read_text() + (HERE / "pat_callbacks.h").read_text())

_flags = compile_flags()
_info = f"sources={source_hash()};flags={' '.join(_flags)}"
_link = ["-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib"]
if os.environ.get("PYAUTOTAPE_SANITIZE") == "1":
    _link += ["-fsanitize=address,undefined"]
_sources = list(SOURCES)
if os.environ.get("PYAUTOTAPE_CANARY") == "1":
    # test-only: canary.c wraps the unary forward with an out-of-bounds write, to prove
    # the sanitizer job fails on one (scripts/canary.sh); never in a normal build
    _sources.append("canary.c")
    _link += ["-Wl,--wrap=pat_k_unary_fwd"]

ffibuilder.set_source(
    "pyautotape._pat",
    '#include "pat.h"\n#include "tangent.h"\n',
    sources=[_relative(HERE / s) for s in _sources],
    include_dirs=[str(HERE), scipy_openblas32.get_include_dir()],
    library_dirs=[scipy_openblas32.get_lib_dir()],
    libraries=[scipy_openblas32.get_library()],
    extra_compile_args=_flags + [f'-DPAT_BUILD_INFO="{_info}"'],
    extra_link_args=_link,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
