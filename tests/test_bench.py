"""bench/ as users run it: ``python -m pytest bench/`` collects every bench_*.py file (and the
main suite collects none of them), and a saved run can be compared against."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FILES = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))


def pytest_run(*args):
    # a fresh pytest, as a user starts it: not an xdist worker's environment (the sanitizer
    # job runs the suite with -n 2, and pytest-benchmark disables itself under xdist)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)


def test_pytest_bench_collects_every_benchmark_file_once():
    proc = pytest_run("bench/", "--collect-only", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert {i.split("::")[0] for i in ids} == {f"bench/{f}" for f in FILES}
    assert len(ids) == len(set(ids)) > 20
    one = pytest_run(f"bench/{FILES[0]}", "--collect-only", "-q")  # named: not twice
    named = [line for line in one.stdout.splitlines() if "::" in line]
    assert len(named) == len(set(named)) > 0


def test_the_main_suite_collects_no_benchmark():
    proc = pytest_run("--collect-only", "-q")
    assert proc.returncode == 0 and "tests/test_bench.py::" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if line.startswith("bench/")]


def test_autosave_then_compare_and_the_thread_count_is_recorded(tmp_path):
    common = ["bench/", "-q", "-k", "overhead", f"--benchmark-storage={tmp_path}",
              "--benchmark-max-time=0.05", "--benchmark-min-rounds=3"]
    saved = pytest_run(*common, "--benchmark-autosave")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    (run,) = tmp_path.glob("*/0001_*.json")
    (bench,) = json.loads(run.read_text())["benchmarks"]
    assert set(bench["extra_info"]["blas_threads"].values()) == {1}
    assert len(bench["extra_info"]["blas_threads"]) >= 2  # pyautotape's OpenBLAS and NumPy's
    compared = pytest_run(*common, "--benchmark-compare")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "Comparing against benchmarks from" in compared.stdout + compared.stderr
    assert "(0001_" in compared.stdout
