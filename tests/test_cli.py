"""python -m pyautotape: train end to end (subprocess), bad options (exit code 2, no
traceback), --save/--plot, gradcheck and info."""

import io
import re
import subprocess
import sys

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import cli, opcheck, ops


def run(*args, code=None):
    """Run ``python <args>`` and return the finished process."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
    if code is not None:
        assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def test_train_end_to_end(tmp_path):
    save = tmp_path / "model.npz"
    proc = run("-m", "pyautotape", "train", "--epochs", "3", "--hidden", "32",
               "--save", str(save), code=0)
    out = proc.stdout
    assert "data    digits: 1437 train / 360 test samples, 64 features, 10 classes" in out
    assert "model   MLP 64-32-10 (relu, float32, 2,410 parameters)" in out
    assert "train   adam lr=0.001 (cosine), batch 32, 3 epochs, seed 0, 1 BLAS threads" in out
    m = re.search(r"test accuracy  ([\d.]+)% \((\d+)/360\)", out)
    acc, correct = float(m.group(1)), int(m.group(2))
    assert 60.0 <= acc <= 100.0  # three epochs already learn most digits
    assert re.search(r"wall time      [\d.]+ s \([\d.]+ s training\)", out)
    assert re.search(r"speed          [\d,]+ samples/s", out)
    assert f"saved          {save}" in out
    assert "epoch 3/3" in proc.stderr and "loss" in proc.stderr  # the tqdm bar
    assert "Traceback" not in proc.stderr

    ckpt = pat.load(save)
    assert ckpt["config"]["sizes"] == [64, 32, 10]
    model = pat.nn.MLP(ckpt["config"]["sizes"])
    model.load_state_dict(ckpt["model"])
    X, y = pat.data.load_digits()
    _, Xte, _, yte = pat.data.train_test_split(X / 16.0, y, test_size=0.2, seed=0)
    got, _ = cli.accuracy(model, Xte, yte)
    assert got == ckpt["test_accuracy"] == correct / 360


def test_train_quiet_prints_only_results():
    proc = run("-m", "pyautotape", "train", "--epochs", "1", "--hidden", "8", "--quiet", code=0)
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["final", "test", "wall", "speed"]
    assert proc.stderr == ""


def test_train_is_reproducible_in_process(capsys):
    args = ["train", "--epochs", "2", "--hidden", "16", "--quiet", "--seed", "3"]
    accs = []
    for _ in range(2):
        assert cli.main(args) == 0
        accs.append(re.search(r"test accuracy .*", capsys.readouterr().out).group(0))
    assert accs[0] == accs[1]


@pytest.mark.parametrize(
    "extra",
    [
        ["--dataset", "moons", "--optimizer", "sgd"],
        ["--dataset", "spirals", "--optimizer", "adamw", "--dtype", "float64"],
        ["--activation", "tanh", "--batch-size", "100", "--lr", "0.01", "--threads", "2",
         "--schedule", "constant"],
    ],
)
def test_train_options_in_process(extra, capsys):
    args = cli.build_parser().parse_args(["train", "--epochs", "2", "--quiet", *extra])
    result = cli.train(args)
    assert 0.0 <= result.test_accuracy <= 1.0 and len(result.losses) == 2
    assert result.samples_per_second > 0
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "bad",
    [
        ["train", "--epochs", "0"],
        ["train", "--epochs", "many"],
        ["train", "--hidden", "64,,x"],
        ["train", "--hidden", "0"],
        ["train", "--dataset", "mnist"],
        ["train", "--lr", "-1"],
        ["train", "--lr", "nan"],
        ["train", "--optimizer", "rmsprop"],
        ["train", "--dtype", "float16"],
        ["train", "--batch-size", "2.5"],
        ["train", "--seed", "-3"],
        ["train", "--schedule", "step"],
        ["train", "--bogus"],
        ["fly"],
        [],
    ],
)
def test_bad_options_are_argparse_errors(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(bad)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_option_in_a_subprocess_has_no_traceback():
    proc = run("-m", "pyautotape", "train", "--hidden", "abc", code=2)
    assert "error: argument --hidden" in proc.stderr and "Traceback" not in proc.stderr


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    assert cli.main(["train", "--epochs", "2", "--hidden", "8", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot           {path}" in capsys.readouterr().out


def test_plot_without_matplotlib_is_a_clear_message(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pyautotape.cli import main\n"
        f"sys.exit(main(['train', '--epochs', '1', '--plot', {str(tmp_path / 'p.png')!r}]))"
    )
    proc = run("-c", code, code=1)
    assert "pip install 'pyautotape[plot]'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_gradcheck_subcommand():
    proc = run("-m", "pyautotape", "gradcheck", code=0)
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["op", "inputs", "modes", "max", "abs", "err", "max", "rel", "err", "ok"]
    rows = {line.split()[0]: line for line in lines[1 : 1 + len(ops.REGISTRY)]}
    assert set(rows) == set(ops.REGISTRY)
    assert all(line.endswith("yes") for line in rows.values())
    assert all(" rev+fwd " in rows[op] for op in ops.REGISTRY if op != "custom")
    assert lines[-1].startswith(f"all {len(ops.REGISTRY)} ops pass")


def test_every_op_has_a_gradcheck_spec():
    assert set(opcheck.SPECS) == set(ops.REGISTRY)


def test_gradcheck_fails_on_a_missing_spec_or_a_crash(monkeypatch, capsys):
    monkeypatch.delitem(opcheck.SPECS, "exp")
    monkeypatch.setitem(opcheck.SPECS, "tanh", (lambda x: x @ x, opcheck.SPECS["tanh"][1]))
    assert cli.run_gradcheck() == 1
    out = capsys.readouterr().out
    assert re.search(r"^exp .* NO  \(no input spec", out, re.M)
    assert re.search(r"^tanh .* NO  \(ShapeError", out, re.M)
    assert "FAILED: 2 of" in out


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    # x * detach(x): the tape sees d/dx = x, the finite differences 2x
    monkeypatch.setitem(opcheck.SPECS, "mul", (lambda x: x * x.detach(), lambda r: [1 + r.random(3)]))
    (row,) = opcheck.check_ops(["mul"])
    assert not row.ok and row.max_abs_err > 0.5


def test_info_subcommand():
    proc = run("-m", "pyautotape", "info", code=0)
    out = proc.stdout
    assert re.search(r"^pyautotape +" + re.escape(pat.__version__) + "$", out, re.M)
    assert re.search(r"^BLAS +\S+", out, re.M)
    assert re.search(r"^BLAS threads +\d+$", out, re.M)
    assert re.search(r"^build flags +.*-std=c11", out, re.M)


def test_doctests():
    import doctest

    for module in (cli, opcheck):
        failures, _ = doctest.testmod(module)
        assert failures == 0, module.__name__


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_train_regularisation_flags(norm):
    args = cli.build_parser().parse_args(
        ["train", "--epochs", "2", "--hidden", "32", "--dropout", "0.1", "--norm", norm,
         "--optimizer", "adamw", "--weight-decay", "0.05", "--clip", "1.0", "--quiet"])
    out = io.StringIO()
    result = cli.train(args, out=out)
    assert result.test_accuracy > 0.5
    kinds = {type(m).__name__ for m in cli.make_model([64, 32, 10], "relu", np.float32, 0.1, norm)}
    assert {"Dropout", {"layer": "LayerNorm", "batch": "BatchNorm1d"}[norm]} <= kinds


@pytest.mark.parametrize("bad", [["--dropout", "1.0"], ["--norm", "group"], ["--clip", "0"],
                                 ["--weight-decay", "-1"]])
def test_train_regularisation_flags_are_checked(bad, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", *bad])


def test_train_with_dropout_layernorm_adamw_clip_reaches_97_percent():
    args = cli.build_parser().parse_args(
        ["train", "--dropout", "0.1", "--norm", "layer", "--optimizer", "adamw",
         "--weight-decay", "0.01", "--clip", "1.0", "--quiet"])
    assert cli.train(args, out=io.StringIO()).test_accuracy >= 0.97
