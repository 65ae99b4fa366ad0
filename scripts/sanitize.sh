#!/usr/bin/env bash
# The sanitizer job: build the C core with AddressSanitizer + UBSan into a virtual
# environment of its own and run the whole test suite against that build.
#
#   scripts/sanitize.sh [pytest arguments...]
#
# Environment:
#   PYAUTOTAPE_CANARY=1         also compile in csrc/canary.c, a deliberate out-of-bounds
#                               write: the job must then fail (scripts/canary.sh checks it)
#   PYAUTOTAPE_SANITIZE_DIR     where the copy of the sources and the venv live
#                               (default: build/sanitize, ignored by git)
#   PYAUTOTAPE_SANITIZE_TESTS   what to run, relative to the repository (default: tests)
#   PYAUTOTAPE_SANITIZE_PYTHONMALLOC  PYTHONMALLOC for the run (default: malloc); pymalloc
#                               halves the time of long fuzz runs and still leaves every
#                               buffer C touches (NumPy array data, from malloc) guarded
#   PYAUTOTAPE_SANITIZE_JOBS    run the tests in that many processes (pytest-xdist,
#                               installed into the venv; .ci/run uses 2, one per core);
#                               a sanitizer abort in a worker still fails the run
#
# Why each step is there:
# - The sources are copied (tracked and untracked-but-not-ignored files) so the build has
#   a tree of its own: the editable build in the checkout, its build/ folder and the
#   extension next to the sources are never touched, and setuptools cannot skip the
#   compile because it finds an up-to-date extension built with other flags.
# - pip install (not editable) into a fresh venv; the tests then run from a folder that
#   holds no pyautotape/ package, so `python -m pytest` and the tests' own
#   `python -c` subprocesses import the sanitized install, not the source tree.
# - Python itself is not built with ASan, so libasan is preloaded (it must come first),
#   PYTHONMALLOC=malloc sends Python's small objects through ASan's malloc too, and leak
#   detection is off (the interpreter keeps memory alive at exit on purpose).
# - PYAUTOTAPE_SANITIZED=1 tells tests/conftest.py to check the build really has the
#   sanitizers and lets slow tests scale themselves down (tests marked `asan_slow`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${PYAUTOTAPE_SANITIZE_DIR:-$ROOT/build/sanitize}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
SRC="$WORK/src"
VENV="$WORK/venv"

echo "== sanitizer job: sources -> $SRC"
rm -rf "$SRC"
mkdir -p "$SRC"
python - "$ROOT" "$SRC" <<'PY'
import pathlib, shutil, subprocess, sys
root, dst = map(pathlib.Path, sys.argv[1:])
names = subprocess.run(
    ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd=root, check=True, capture_output=True,
).stdout.decode().split("\0")
for name in filter(None, names):
    if (root / name).is_file():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dst / name)
PY

if [ ! -x "$VENV/bin/python" ]; then
    echo "== venv -> $VENV"
    python -m venv "$VENV"
fi
"$VENV/bin/python" -m pip uninstall -q -y pyautotape >/dev/null 2>&1 || true
echo "== pip install '.[test]' with PYAUTOTAPE_SANITIZE=1 PYAUTOTAPE_CANARY=${PYAUTOTAPE_CANARY:-0}"
PYAUTOTAPE_SANITIZE=1 "$VENV/bin/python" -m pip install -q "$SRC[test]"
JOBS=()
if [ "${PYAUTOTAPE_SANITIZE_JOBS:-1}" -gt 1 ]; then
    "$VENV/bin/python" -m pip install -q pytest-xdist
    JOBS=(-n "$PYAUTOTAPE_SANITIZE_JOBS")
fi
# Some tests run the source tree itself (PYTHONPATH=<repo>, pytest --doctest-modules over
# pyautotape/): give the copy the same sanitized extension, as an in-place build would.
cp "$("$VENV/bin/python" -c 'import glob, sysconfig; print(glob.glob(sysconfig.get_paths()["platlib"] + "/pyautotape/_pat*.so")[0])')" "$SRC/pyautotape/"

ASAN_LIB="$(gcc -print-file-name=libasan.so)"
UBSAN_LIB="$(gcc -print-file-name=libubsan.so)"
if [ ! -e "$ASAN_LIB" ] || [ ! -e "$UBSAN_LIB" ]; then
    echo "sanitize.sh: gcc's libasan/libubsan not found ($ASAN_LIB, $UBSAN_LIB)" >&2
    exit 2
fi

export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB"
export PYTHONMALLOC="${PYAUTOTAPE_SANITIZE_PYTHONMALLOC:-malloc}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:verify_asan_link_order=0:detect_stack_use_after_return=0:handle_segv=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYAUTOTAPE_SANITIZED=1

cd "$WORK"  # no pyautotape/ here: imports resolve to the venv's sanitized install
"$VENV/bin/python" - <<'PY'
import pyautotape, pyautotape._ffi as f
flags = f.build_info()["flags"]
print(f"== testing {pyautotape.__file__}\n   built with: {flags}")
if "-fsanitize=address" not in flags:
    raise SystemExit("sanitize.sh: the installed extension was not built with ASan")
PY
echo "== pytest under ASan + UBSan"
# --capture=sys: pytest captures Python's streams only, so a sanitizer report (written to
# file descriptor 2 just before the abort) reaches the job's output instead of a capture
# file that dies with the process. test_stale_extension_is_refused checks the
# editable-install guard, which a regular install (no csrc/ beside it) rightly skips.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q --capture=sys "${JOBS[@]}" \
    "$SRC/${PYAUTOTAPE_SANITIZE_TESTS:-tests}" \
    --deselect tests/test_kernels.py::test_stale_extension_is_refused "$@"
