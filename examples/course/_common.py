"""Helpers shared by the course scripts: argument parsing, timing, optional plots.

Every script takes ``--small`` (the settings CI runs, a few seconds each) and
``--png-dir DIR`` (where pictures go; default the current directory). Pictures are drawn
only when matplotlib is installed (``pip install 'pyautotape[plot]'``); without it the
scripts run the same and skip them quietly. Each script checks its claims with ``assert``,
so a wrong claim makes it exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any


def parse(doc: str | None) -> argparse.Namespace:
    """The common command line: ``--small`` and ``--png-dir``."""
    first = (doc or "").strip().splitlines()[0] if doc else ""
    parser = argparse.ArgumentParser(description=first)
    parser.add_argument("--small", action="store_true", help="small settings (what CI runs)")
    parser.add_argument("--png-dir", default=".", help="where to write pictures (if matplotlib)")
    return parser.parse_args()


def best_time(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """The best of ``repeat`` timings of ``number`` calls, in seconds per call."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def pyplot() -> Any:
    """matplotlib.pyplot with a file backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save(fig: Any, png_dir: str, name: str) -> str:
    """Save ``fig`` as ``png_dir/name`` and say so."""
    os.makedirs(png_dir, exist_ok=True)
    path = os.path.join(png_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    return path


def table(rows: list[tuple], head: tuple) -> str:
    """Rows as an aligned text table (first column left, the others right)."""
    cells = [tuple(str(c) for c in head)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    out = []
    for r in cells:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)
