"""Timing for bench/compare.py and its peer workers: medians of batches of calls."""

from __future__ import annotations

import os
import time

LR = 0.01


def _clock():
    """CPU time of the process with one thread (what other jobs on the machine do not
    inflate), wall time with more (CPU time would add the threads up)."""
    return time.process_time if os.environ.get("BENCH_THREADS", "1") == "1" else time.perf_counter


def _median_us(fn, reps: int, warm: int = 3) -> float:
    """Median µs of one call: ``reps`` samples, each timing a batch of calls long enough
    (~0.2 ms) that the clock's own cost and resolution do not count."""
    clock = _clock()
    for _ in range(warm):
        fn()
    t = clock()
    for _ in range(5):
        fn()
    per = max((clock() - t) / 5, 1e-7)
    batch = max(1, min(1000, int(2e-4 / per)))
    samples = max(15, reps // batch) if batch > 1 else reps
    times = []
    for _ in range(samples):
        t = clock()
        for _ in range(batch):
            fn()
        times.append((clock() - t) / batch)
    times.sort()
    return times[len(times) // 2] * 1e6


def _reps(name: str, quick: bool) -> int:
    base = {"tiny": 3000, "small": 600, "mnist": 150, "large": 15}[name]
    return max(5, base // 5) if quick else base


# ---------------------------------------------------------------------------------------
# workers: each runs in a fresh process with the thread count set before any import
