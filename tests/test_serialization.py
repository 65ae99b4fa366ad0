"""pat.save / pat.load: bit-exact round trips of nested checkpoints, no pickle, and clear
errors for files that are not checkpoints."""

import doctest
import json
import os
import zipfile

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import serialization


def _same(a, b):
    """Structure, types and bits equal (NaN payloads included)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def test_nested_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    weird = np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, 1.0000000000000002])
    obj = {
        "model": {"layers.0.weight": rng.standard_normal((3, 4)).astype(np.float32),
                  "layers.0.bias": rng.standard_normal(3)},
        "optim": {"state": {0: {"step": 7, "exp_avg": rng.standard_normal(3)}},
                  "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "weird": weird,
        "big_endian": np.arange(4, dtype=">f8"),
        "ints": np.arange(6, dtype=np.int16).reshape(2, 3),
        "bools": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
        "scalar0d": np.array(2.5),
        "npscalar": np.float32(0.1),
        "epoch": 3,
        "huge": 2**70,
        "ratio": 0.1 + 0.2,
        "nan": float("nan"),
        "flags": [True, None, "text", -1.5e-300],
        "": {"odd/key": np.ones(1), "odd": {"key": np.zeros(1)}},  # path collision
        "file": np.ones(2), "allow_pickle": np.zeros(1), "__pyautotape__": np.ones(3),
    }
    path = tmp_path / "ckpt.npz"
    pat.save(obj, path)
    _same(obj, pat.load(path))
    _same(obj, pat.load(str(path)))


def test_tensors_are_saved_as_their_values(tmp_path):
    t = pat.tensor(np.arange(3.0), requires_grad=True)
    pat.save({"t": t, "list": [t * 2]}, tmp_path / "t.npz")
    back = pat.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back["t"], [0.0, 1.0, 2.0])
    assert isinstance(back["list"][0], np.ndarray)


def test_model_and_optimizer_round_trip(tmp_path):
    model = pat.nn.MLP([4, 8, 3])
    opt = pat.optim.Adam(model.parameters(), lr=0.01)
    pat.cross_entropy(model(np.ones((2, 4), np.float32)), np.array([0, 2])).backward()
    opt.step()
    pat.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 1}, tmp_path / "c")
    ckpt = pat.load(tmp_path / "c")  # exactly the given path: no suffix added
    assert os.listdir(tmp_path) == ["c"]
    _same(model.state_dict(), ckpt["model"])
    _same(opt.state_dict(), ckpt["optim"])
    assert ckpt["epoch"] == 1


def test_arrays_are_readable_by_numpy_without_pickle(tmp_path):
    pat.save({"model": {"w": np.ones(2)}, "step": 4}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__pyautotape__", "model/w"]
        meta = json.loads(str(npz["__pyautotape__"]))
    assert meta["format"] == "pyautotape-checkpoint" and meta["version"] == 1


def test_save_overwrites_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "c.npz"
    pat.save({"a": np.ones(1)}, path)
    pat.save({"b": np.zeros(1)}, path)
    assert list(pat.load(path)) == ["b"]
    with pytest.raises(TypeError):
        pat.save({"bad": object()}, path)
    assert os.listdir(tmp_path) == ["c.npz"]
    assert list(pat.load(path)) == ["b"]  # the failed save left the old file alone


@pytest.mark.parametrize(
    "obj,match",
    [
        ({"f": lambda x: x}, "function"),
        ({"o": np.array([1, "a"], dtype=object)}, "objects"),
        ({1.5: np.ones(1)}, "keys must be str or int"),
        ({True: 1}, "keys must be str or int"),
        ({"s": {1, 2}}, "set"),
    ],
)
def test_unsupported_objects_are_refused(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        pat.save(obj, tmp_path / "x.npz")


def test_cycles_are_refused(tmp_path):
    d: dict = {}
    d["self"] = d
    with pytest.raises(ValueError, match="cycle"):
        pat.save(d, tmp_path / "x.npz")


def _good(tmp_path):
    path = tmp_path / "good.npz"
    pat.save({"w": np.arange(1000.0), "meta": {"epoch": 2}}, path)
    return path


def test_corrupt_file(tmp_path):
    path = _good(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[200:260] = b"\xff" * 60  # inside the array's data: the zip CRC check fails
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt.npz is not a pyautotape checkpoint"):
        pat.load(bad)


def test_truncated_file(tmp_path):
    raw = _good(tmp_path).read_bytes()
    for n in (0, 10, len(raw) // 2, len(raw) - 30):
        bad = tmp_path / f"trunc{n}.npz"
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match=f"trunc{n}.npz"):
            pat.load(bad)


def test_foreign_files(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="plain.npz.*without the '__pyautotape__' entry"):
        pat.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(ValueError, match="single .npy array"):
        pat.load(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello, not a zip")
    with pytest.raises(ValueError, match="text.npz"):
        pat.load(tmp_path / "text.npz")
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickled.npy"):
        pat.load(tmp_path / "pickled.npy")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="other.zip"):
        pat.load(tmp_path / "other.zip")


def test_damaged_metadata(tmp_path):
    cases = {
        "notjson": np.array("{not json"),
        "wrongformat": np.array(json.dumps({"format": "other", "version": 1, "tree": {}})),
        "future": np.array(json.dumps({"format": "pyautotape-checkpoint", "version": 99})),
        "missing": np.array(json.dumps({"format": "pyautotape-checkpoint", "version": 1,
                                        "tree": {"t": "array", "entry": "gone"}})),
        "badnode": np.array(json.dumps({"format": "pyautotape-checkpoint", "version": 1,
                                        "tree": {"t": "dict", "items": [[1.5, {}]]}})),
        "numeric": np.arange(3),
    }
    for name, meta in cases.items():
        np.savez(tmp_path / f"{name}.npz", __pyautotape__=meta)
        with pytest.raises(ValueError, match=f"{name}.npz.*metadata|{name}.npz.*version"):
            pat.load(tmp_path / f"{name}.npz")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        pat.load(tmp_path / "nope.npz")


def test_doctests():
    failures, _ = doctest.testmod(serialization)
    assert failures == 0
