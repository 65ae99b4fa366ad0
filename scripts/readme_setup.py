"""CI step: the README's set-up block run verbatim, the way a new user meets it.

    python scripts/readme_setup.py [--keep]

Clones the repository's committed HEAD into a temporary folder (uncommitted changes are not
in the clone: CI runs on a committed tree), makes a new virtual environment, and runs each
line of the README's first ``bash`` block under "## Two commands" with ``bash -c`` from the
clone's root, with that venv first on PATH, as if activated. The block is read out of
README.md, so what CI runs cannot drift from what the README says. Prints the time of each
line; exits non-zero at the first line that fails. ``--keep`` leaves the folder behind.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def setup_block(readme: pathlib.Path = ROOT / "README.md") -> list[str]:
    """The command lines of the README's set-up block (the ``bash`` block of "## Two
    commands"), in order; a line's trailing ``# comment`` stays (bash ignores it)."""
    text = readme.read_text()
    section = re.search(r"^## Two commands\n(.*?)(?=^## )", text, re.S | re.M)
    if section is None:
        raise SystemExit("README.md has no '## Two commands' section")
    block = re.search(r"```bash\n(.*?)```", section.group(1), re.S)
    if block is None:
        raise SystemExit("README.md's '## Two commands' section has no ```bash block")
    return [line for line in block.group(1).splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    lines = setup_block()
    work = pathlib.Path(tempfile.mkdtemp(prefix="pyautotape-fresh-"))
    clone, venv = work / "pyautotape", work / "venv"
    start = time.perf_counter()
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("PYAUTOTAPE_")}
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        print(f"== fresh clone of HEAD in {clone}, new venv {venv}", flush=True)
        for line in lines:
            print(f"== $ {line}", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.run(["bash", "-c", line], cwd=clone, env=env)
            print(f"== exit {proc.returncode} after {time.perf_counter() - t0:.0f} s", flush=True)
            if proc.returncode != 0:
                print(f"FAILED: the README's set-up line {line!r}", file=sys.stderr)
                return 1
        print(f"== README set-up block passed in {time.perf_counter() - start:.0f} s")
        return 0
    finally:
        if keep:
            print(f"== kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
