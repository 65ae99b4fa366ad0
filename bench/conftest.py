"""pytest configuration of bench/.

``python -m pytest bench/`` collects the ``bench_*.py`` files (the main suite's
``testpaths`` is ``tests/``, so a plain ``python -m pytest`` runs no benchmark), and every
benchmark runs with ``BENCH_THREADS`` threads in every BLAS library of the process:
pyautotape's OpenBLAS and NumPy's own, which the NumPy baselines use (threadpoolctl; the
figures in RESULTS.md are one-thread figures). Each result records the thread counts it
ran with in its ``extra_info``.
"""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import pyautotape as pat

BENCH_THREADS = 1


def pytest_collect_file(file_path, parent):
    """``bench_*.py`` are test modules here; a file named on the command line is collected
    by pytest itself already."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def blas_threads() -> dict[str, int]:
    """Threads of every BLAS library loaded now, by file name."""
    return {i["filepath"].rsplit("/", 1)[-1]: i["num_threads"]
            for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture(autouse=True)
def _bench_threads(request):
    """Every BLAS at BENCH_THREADS for the whole benchmark; refuse to measure otherwise."""
    pat.set_num_threads(BENCH_THREADS)
    with threadpool_limits(limits=BENCH_THREADS, user_api="blas"):
        threads = blas_threads()
        assert set(threads.values()) == {BENCH_THREADS}, threads
        if "benchmark" in request.fixturenames:
            request.getfixturevalue("benchmark").extra_info["blas_threads"] = threads
        yield
