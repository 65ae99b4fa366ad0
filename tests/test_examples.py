"""The scripts in examples/ run end to end with small settings (subprocess smoke tests)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import pyautotape as pat

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(  # this checkout's package first
        [str(EXAMPLES.parent), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_train_digits(tmp_path):
    out = run_example("train_digits.py", "--epochs", "2", "--save", "w.npz", cwd=tmp_path)
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2
    acc = float(re.search(r"test accuracy ([\d.]+)%", lines[-1]).group(1))
    assert acc > 50.0
    sd = pat.load(tmp_path / "w.npz")
    assert sd["layers.0.weight"].shape == (128, 64)


def test_saliency_takes_no_weight_gradients(tmp_path):
    out = run_example("saliency.py", "--epochs", "1", "--index", "5", cwd=tmp_path)
    assert re.search(r"test image 5: label \d, predicted \d", out)
    assert "backward sweep: 2 GEMMs (dX only: weight gradients skipped)" in out
    rows = out.splitlines()[-8:]
    assert all(len(row) == 19 for row in rows), rows  # 8 image + 3 spaces + 8 saliency


def test_saliency_plot(tmp_path):
    pytest.importorskip("matplotlib")
    run_example("saliency.py", "--epochs", "1", "--plot", "s.png", cwd=tmp_path)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_regression(tmp_path):
    args = ["--epochs", "20"]
    plotting = True
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        plotting = False
    if plotting:
        args += ["--plot", "fit.png"]
    out = run_example("regression.py", *args, cwd=tmp_path)
    mse = [float(m) for m in re.findall(r"mse ([\d.]+)", out)]
    assert len(mse) >= 2 and mse[-1] < mse[0]
    assert "max |fit - f|" in out
    if plotting:
        assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"


def test_train_digits_regularized_eager_equals_compiled(tmp_path):
    out = run_example("train_digits_regularized.py", "--epochs", "3", cwd=tmp_path)
    assert "same weights bitwise: True" in out
    assert "'retapes': 0" in out and "'eager': 0" in out
    acc = float(re.search(r"compiled ([\d.]+)%", out).group(1))
    assert acc > 80.0
