"""pat.set_num_threads and PYAUTOTAPE_NUM_THREADS reach every BLAS in the process (NumPy's
OpenBLAS included) through threadpoolctl; the built-in default touches pyautotape's only."""

import json
import os
import subprocess
import sys

import numpy as np
from threadpoolctl import threadpool_info

import pyautotape as pat


def _blas_threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_set_num_threads_limits_numpy_blas_too():
    before = pat.get_num_threads()
    np.ones((4, 4)) @ np.ones((4, 4))  # NumPy's BLAS is loaded
    try:
        pat.set_num_threads(2)
        threads = _blas_threads()
        assert len(threads) >= 2, threads  # pyautotape's OpenBLAS and NumPy's
        assert set(threads.values()) == {2}, threads
        pat.set_num_threads(1)
        assert set(_blas_threads().values()) == {1}
        assert pat.get_num_threads() == 1
    finally:
        pat.set_num_threads(before)


_PROBE = (
    "import json, numpy, threadpoolctl as t\n"
    "n = lambda: sorted(i['num_threads'] for i in t.threadpool_info() if i['user_api'] == 'blas'"
    " and 'numpy' in i['filepath'])\n"
    "before = n()\n"
    "import pyautotape as pat\n"
    "print(json.dumps([before, n(), pat.get_num_threads()]))\n"
)


def _probe(**env: str) -> list:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYAUTOTAPE_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          env={**clean, **env}, timeout=60, check=True)
    return json.loads(proc.stdout)


def test_the_environment_variable_is_the_front_door_for_numpy_too():
    before, after, pat_threads = _probe(PYAUTOTAPE_NUM_THREADS="2")
    assert after == [2] * len(before) and pat_threads == 2


def test_importing_with_the_default_leaves_numpy_threads_alone():
    before, after, pat_threads = _probe()
    assert after == before and pat_threads == 1
