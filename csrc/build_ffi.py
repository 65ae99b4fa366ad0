"""cffi builder for pyautotape's C core (used by setup.py through ``cffi_modules``).

The cdef is ``pat_api.h`` run through the C preprocessor (which expands the op enum from
``ops.def``, the single list of ops): the header the C sources include is the only
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

import importlib.util
import os
import pathlib
import shlex
import subprocess
import sysconfig

import scipy_openblas32
from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = [
    "exec.c", "sweeps.c", "check.c", "eltwise.c", "reduce.c", "dense.c", "loss.c", "optim.c",
    "replay.c", "nn.c", "index.c",
]


def _load_source_hash():
    """pyautotape/_srchash.py by path: the package itself cannot be imported before its
    extension exists."""
    spec = importlib.util.spec_from_file_location(
        "_pat_srchash", HERE.parent / "pyautotape" / "_srchash.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_hash


source_hash = _load_source_hash()


def preprocessed_api() -> str:
    """pat_api.h as the C preprocessor sees it (ops.def expanded), for ffi.cdef()."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    proc = subprocess.run(
        [*cc, "-E", "-P", "-x", "c", "-I", str(HERE), str(HERE / "pat_api.h")],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"preprocessing csrc/pat_api.h failed:\n{proc.stderr}")
    return proc.stdout


def compile_flags() -> list[str]:
    # -ffp-contract=off: no FMA contraction, so the SIMD clones (pat.h: PAT_SIMD) and
    # every compiler give the same bits
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror=switch", "-fno-math-errno",
             "-ffp-contract=off"]
    if os.environ.get("PYAUTOTAPE_SANITIZE") == "1":
        flags += [
            "-DPAT_NO_CLONES",
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
ffibuilder.cdef(preprocessed_api() + (HERE / "pat_callbacks.h").read_text())

_flags = compile_flags()
_info = f"sources={source_hash(HERE)};flags={' '.join(_flags)}"
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
    '#include "pat.h"\n',
    sources=[_relative(HERE / s) for s in _sources],
    # the headers and ops.def: a change to a rule (rules_t.h) alone rebuilds the extension
    depends=[_relative(p) for p in sorted([*HERE.glob("*.h"), HERE / "ops.def"])],
    include_dirs=[str(HERE), scipy_openblas32.get_include_dir()],
    library_dirs=[scipy_openblas32.get_lib_dir()],
    libraries=[scipy_openblas32.get_library()],
    extra_compile_args=_flags + [f'-DPAT_BUILD_INFO="{_info}"'],
    extra_link_args=_link,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
