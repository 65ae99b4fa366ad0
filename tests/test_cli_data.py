"""python -m pyautotape train on the user's own data (--data CSV/NPZ, classification or
regression from the target, clear errors for bad files), output paths checked before
training, a log without progress-bar frames, and `info | head` without a traceback."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import cli, tabular


def run(*args, code=None):
    proc = subprocess.run([sys.executable, "-m", "pyautotape", *args], capture_output=True,
                          text=True, timeout=120)
    if code is not None:
        assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    price = X @ [1.0, 2.0, -1.0] + 0.05 * rng.normal(size=200)
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    reg, cls = tmp_path / "reg.csv", tmp_path / "cls.csv"
    reg.write_text("a,b,c,price\n" + "".join(
        f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{t:.6f}\n" for r, t in zip(X, price, strict=True)))
    cls.write_text("a,label,b,c\n" + "".join(
        f"{r[0]},{t},{r[1]},{r[2]}\n" for r, t in zip(X, label, strict=True)))
    npz = tmp_path / "d.npz"
    np.savez(npz, X=X, y=(X[:, 0] > 0).astype(np.int64))
    return {"reg": reg, "cls": cls, "npz": npz, "dir": tmp_path}


def test_csv_regression_end_to_end(files):
    save = files["dir"] / "m.npz"
    proc = run("train", "--data", str(files["reg"]), "--epochs", "30", "--save", str(save),
               code=0)
    assert "data    reg.csv: 160 train / 40 test samples, 3 features, regression of 'price'" \
        in proc.stdout
    assert "model   MLP 3-64-64-1 " in proc.stdout
    rmse, r2 = map(float, re.search(r"test RMSE +([\d.e-]+) \(R² ([\d.-]+)\)",
                                    proc.stdout).groups())
    assert r2 > 0.9 and rmse < 1.0  # a linear target, std about 2.4
    ckpt = pat.load(save)
    assert ckpt["config"]["task"] == "regression" and ckpt["config"]["sizes"][-1] == 1
    assert ckpt["test_score"] == pytest.approx(rmse, rel=1e-3)


def test_csv_classification_with_text_labels_and_a_target_column(files):
    proc = run("train", "--data", str(files["cls"]), "--target", "label", "--epochs", "20",
               code=0)
    assert "3 features, 2 classes of 'label'" in proc.stdout
    acc = float(re.search(r"test accuracy  ([\d.]+)% \(\d+/40\)", proc.stdout).group(1))
    assert acc >= 85.0


def test_npz_integer_target_is_a_classification(files):
    args = cli.build_parser().parse_args(["train", "--data", str(files["npz"]), "--epochs",
                                          "10", "--quiet"])
    result = cli.train(args)
    assert result.task == "classification" and result.n_test == 40
    assert result.test_accuracy > 0.8


def test_task_override_and_the_auto_rule():
    whole = np.arange(30) % 3
    assert tabular._with_task("f", np.zeros((30, 1)), whole, ["x"], "t", "auto").task \
        == "classification"
    many = np.arange(30.0)  # whole numbers, more than MAX_CLASSES values
    assert tabular._with_task("f", np.zeros((30, 1)), many, ["x"], "t", "auto").task \
        == "regression"
    assert tabular._with_task("f", np.zeros((30, 1)), whole, ["x"], "t", "regression").task \
        == "regression"


@pytest.mark.parametrize("content, message", [
    ("a,b\n", "expected a header row and data rows"),
    ("a\n1\n2\n3\n4\n5\n", "need at least one feature and the target"),
    ("a,a\n1,2\n", "must name each column once"),
    ("a,y\n1,2\n3\n", "line 3: 1 fields, the header has 2"),
    ("a,y\n1,2\nx,3\n1,1\n2,2\n3,3\n", "line 3, column 'a': expected a number, got 'x'"),
    ("a,y\n1,2\nnan,3\n1,1\n2,2\n3,3\n", "line 3, column 'a': NaN or infinite"),
    ("a,y\n1,\n2,3\n1,1\n2,2\n3,3\n", "line 2: the target 'y' is empty"),
    ("a,y\n1,2\n2,3\n", "2 samples; at least 5"),
    ("a,y\n1,1\n2,1\n3,1\n4,1\n5,1\n", "single value"),
])
def test_bad_csv_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(tabular.DataFileError, match=re.escape(message)):
        tabular.load_table(path)


def test_bad_files_in_the_cli_are_argparse_errors_without_traceback(tmp_path, files):
    np.savez(tmp_path / "noy.npz", X=np.zeros((10, 2)))
    np.savez(tmp_path / "shape.npz", X=np.zeros(10), y=np.zeros(10))
    np.savez(tmp_path / "len.npz", X=np.zeros((10, 2)), y=np.zeros(9))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    (tmp_path / "data.txt").write_text("a,b\n")
    cases = {
        "noy.npz": "expected arrays 'X' and 'y', it has ['X']",
        "shape.npz": "X must be a 2-D numeric array",
        "len.npz": "y must be 1-D with one value per row of X (10)",
        "junk.npz": "not a readable NPZ archive",
        "data.txt": "expected a .csv or .npz file",
        "missing.csv": "no such file",
    }
    for name, message in cases.items():
        proc = run("train", "--data", str(tmp_path / name), code=2)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == ""
    proc = run("train", "--data", str(files["cls"]), "--target", "price", code=2)
    assert "no column 'price'; the columns are ['a', 'label', 'b', 'c']" in proc.stderr
    proc = run("train", "--data", str(files["npz"]), "--dataset", "moons", code=2)
    assert "--data and --dataset are alternatives" in proc.stderr
    proc = run("train", "--target", "y", code=2)
    assert "--target and --task apply to --data" in proc.stderr


@pytest.mark.parametrize("option", ["--save", "--plot"])
def test_output_paths_are_checked_before_training(tmp_path, option):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    for path, why in [(tmp_path / "no" / "such" / "f.png", "does not exist"),
                      (tmp_path, "is a directory")]:
        proc = run("train", option, str(path), code=2)
        assert why in proc.stderr and proc.stdout == ""  # nothing trained
        assert ".pat-save" not in proc.stderr and "Traceback" not in proc.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        proc = run("train", option, str(locked / "f.png"), code=2)
        assert "cannot write in" in proc.stderr


def test_plot_without_a_suffix_says_it_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "noext"
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--plot", str(path)]) == 0
    assert f"plot           {path}.png" in capsys.readouterr().out
    assert (tmp_path / "noext.png").read_bytes()[:4] == b"\x89PNG"
    proc = run("train", "--plot", str(tmp_path / "x.xyz"), code=2)
    assert "matplotlib cannot write .xyz files; use one of" in proc.stderr


def test_a_log_gets_one_line_per_epoch_and_no_bar_frames():
    proc = run("train", "--epochs", "3", "--hidden", "8", code=0)  # stderr is a pipe
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(re.search(r"loss [\d.]+  test acc [\d.]+%$", line) for line in lines)


def test_info_into_a_closed_pipe_has_no_traceback():
    r, w = os.pipe()
    os.close(r)  # `pyautotape info | head -0`: the reader is gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "pyautotape", "info"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == ""
    shell = subprocess.run(f"{sys.executable} -m pyautotape info | head -1", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert shell.stdout.startswith("pyautotape ") and shell.stderr == ""
