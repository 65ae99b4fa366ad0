"""What CI runs is what the README says: .ci/run installs the optional packages the tests
need (torch pinned to its CPU build), makes their skips failures, runs the benchmarks, mypy
and the README's set-up block in a fresh clone (parsed out of README.md)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CI = (ROOT / ".ci" / "run").read_text()


def _readme_setup():
    spec = importlib.util.spec_from_file_location("readme_setup", ROOT / "scripts" / "readme_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_installs_the_optional_packages_and_requires_their_tests():
    assert "torch==2.13.0" in CI and "matplotlib" in CI and "graphviz" in CI
    assert "pip install torch\n" not in CI and "pip install -q torch " not in CI
    assert "PYAUTOTAPE_REQUIRE_OPTIONAL=1 python -m pytest" in CI
    assert "ray[tune]" in CI
    for step in ("python -m pytest -q bench/", "python -m mypy pyautotape",
                 "python scripts/readme_setup.py",
                 "env PYAUTOTAPE_SANITIZE_JOBS=2 bash scripts/sanitize.sh"):
        assert f"step {step}" in CI, step


def test_the_setup_block_is_the_readmes_two_commands():
    lines = _readme_setup().setup_block()
    assert len(lines) == 2
    assert lines[0].startswith("pip install -e . && python -m pyautotape train")
    assert lines[1].startswith("pip install -e '.[test]' && python -m pytest")


def test_a_skip_for_a_missing_optional_package_fails_when_required(tmp_path):
    (tmp_path / "test_needs.py").write_text(
        "import pytest\n\n\ndef test_needs():\n    pytest.importorskip('no_such_module_x')\n")
    (tmp_path / "test_module.py").write_text(
        "import pytest\n\npytest.importorskip('no_such_module_y')\n\n\ndef test_m():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}

    def run(required):
        env["PYAUTOTAPE_REQUIRE_OPTIONAL"] = "1" if required else "0"
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q",
                               "-p", "no:cacheprovider", "--continue-on-collection-errors", "--rootdir", str(tmp_path),
                               str(tmp_path)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)

    lenient, strict = run(False), run(True)
    assert lenient.returncode == 0 and "2 skipped" in lenient.stdout, lenient.stdout
    assert strict.returncode != 0, strict.stdout
    assert "PYAUTOTAPE_REQUIRE_OPTIONAL=1" in strict.stdout
    assert "no_such_module_x" in strict.stdout and "no_such_module_y" in strict.stdout
