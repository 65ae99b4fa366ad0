"""Checkpoints under abuse: how ``pat.save`` writes (fsync, symlinks, mode, stale temp
files, errors naming the user's path, deep nesting) and what ``pat.load`` does with
malformed files (crafted zip records and .npy headers, truncations, bit flips): always a
ValueError naming the file, never an allocation sized by a lie.

The fuzzing properties run ``FUZZ`` examples (60 by default; 3000 with
``PYAUTOTAPE_HYPOTHESIS_PROFILE=intense``)."""

import io
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyautotape as pat
from pyautotape import serialization

FUZZ = 3000 if os.environ.get("PYAUTOTAPE_HYPOTHESIS_PROFILE") == "intense" else 60


def _meta_entry(tree=None):
    import json

    meta = {"format": "pyautotape-checkpoint", "version": 1,
            "tree": tree or {"t": "value", "v": 1}}
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(json.dumps(meta)))
    return buf.getvalue()


def _npy(shape, descr="<f8", data=b"", version=(1, 0)):
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue() + data


def _zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def _patch_both_headers(raw, offset_local, offset_central, value):
    """Write ``value`` (2 bytes) at the same field of the first local and central
    zip headers."""
    raw = bytearray(raw)
    raw[offset_local:offset_local + 2] = value
    c = raw.find(b"PK\x01\x02")
    raw[c + offset_central:c + offset_central + 2] = value
    return bytes(raw)


def _refused(path, match=None):
    with pytest.raises(ValueError, match=f"pat.load: {os.path.basename(path)}") as info:
        pat.load(path)
    if match:
        assert match in str(info.value), str(info.value)


# -- pat.save ------------------------------------------------------------------------------
def test_save_fsyncs_the_data_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    pat.save({"w": np.ones(3)}, tmp_path / "c.npz")
    assert synced == [False, True]  # the file before the rename, the folder after


def test_save_through_a_symlink_updates_the_target(tmp_path):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    pat.save({"v": 1}, real)
    link.symlink_to(real)
    pat.save({"v": 2}, link)
    assert link.is_symlink() and pat.load(real) == {"v": 2}


def test_file_mode_follows_the_umask_like_np_save(tmp_path):
    old = os.umask(0o027)
    try:
        pat.save({"v": 1}, tmp_path / "a.npz")
        np.save(tmp_path / "b.npy", np.ones(1))
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "a.npz").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "b.npy").st_mode) == 0o640


def test_overwrite_keeps_the_existing_files_mode(tmp_path):
    path = tmp_path / "a.npz"
    pat.save({"v": 1}, path)
    os.chmod(path, 0o604)
    pat.save({"v": 2}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


def test_a_crashed_save_leaves_nothing_after_the_next_save(tmp_path):
    path = tmp_path / "c.npz"
    crash = (
        "import os, numpy as np, pyautotape as pat\n"
        "real = np.lib.format.write_array\n"
        "def dying(*a, **k):\n"
        "    real(*a, **k); os._exit(3)\n"
        "np.lib.format.write_array = dying\n"
        f"pat.save({{'w': np.ones(100)}}, {str(path)!r})\n"
    )
    out = subprocess.run([sys.executable, "-c", crash], env={**os.environ,
                         "PYTHONPATH": os.getcwd()}, capture_output=True, timeout=120)
    assert out.returncode == 3, out.stderr
    left = [n for n in os.listdir(tmp_path) if n.startswith(".pat-save-")]
    assert left, "the crash should have left its temp file"
    other = tmp_path / ".pat-save-other.npz.1.x.tmp"  # another target's: not ours to touch
    other.write_bytes(b"")
    pat.save({"v": 1}, path)
    assert sorted(os.listdir(tmp_path)) == sorted(["c.npz", other.name])


def test_save_errors_name_the_users_path(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "c.npz"
    with pytest.raises(FileNotFoundError) as info:
        pat.save({"v": 1}, missing)
    assert str(missing) in str(info.value) and ".pat-save" not in str(info.value)
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(OSError) as info:
        pat.save({"v": 1}, folder)
    assert str(folder) in str(info.value) and ".pat-save" not in str(info.value)
    assert os.listdir(folder) == []


def test_deep_nesting_is_a_clear_error_not_recursion(tmp_path):
    deep = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than .* flatten"):
        pat.save({"x": deep}, tmp_path / "d.npz")
    ok = []
    for _ in range(serialization.MAX_DEPTH - 2):
        ok = [ok]
    pat.save({"x": ok}, tmp_path / "ok.npz")
    assert pat.load(tmp_path / "ok.npz")["x"] == ok


# -- pat.load: crafted files ----------------------------------------------------------------
def test_compression_method_and_encryption_are_value_errors(tmp_path):
    raw = _zip(tmp_path / "ok.npz", {"__pyautotape__.npy": _meta_entry()}).read_bytes()
    (tmp_path / "method.npz").write_bytes(_patch_both_headers(raw, 8, 10, b"\x0c\x00"))
    _refused(tmp_path / "method.npz", "compression method 12")
    (tmp_path / "crypt.npz").write_bytes(_patch_both_headers(raw, 6, 8, b"\x01\x00"))
    _refused(tmp_path / "crypt.npz", "encrypted")


def test_a_header_declaring_terabytes_is_refused_before_allocating(tmp_path):
    path = _zip(tmp_path / "huge.npz", {"__pyautotape__.npy": _meta_entry(),
                                        "w.npy": _npy((1 << 40,))})
    assert path.stat().st_size < 1000
    _refused(path, "declares shape (1099511627776,)")


def test_the_size_cap_is_checked_before_allocating_and_overridable(tmp_path):
    path = tmp_path / "c.npz"
    pat.save({"w": np.ones(1000)}, path)
    with pytest.raises(ValueError, match="max_bytes=100.*larger max_bytes"):
        pat.load(path, max_bytes=100)
    assert pat.load(path, max_bytes=9000)["w"].shape == (1000,)
    with pytest.raises(TypeError, match="max_bytes"):
        pat.load(path, max_bytes=-1)


def test_a_deflate_entry_claiming_a_huge_size_is_refused(tmp_path):
    path = _zip(tmp_path / "bomb.npz", {"__pyautotape__.npy": _meta_entry(),
                                        "w.npy": _npy((1 << 20,), data=bytes(8 << 20))},
                compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="bomb.npz.*max_bytes"):
        pat.load(path, max_bytes=1 << 20)
    assert pat.load(path)  # within the default cap it loads


@pytest.mark.parametrize(
    "entry,match",
    [
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'   ", "damaged .npy header"),
        (b"\x93NUMPY\x09\x00\x10\x00" + b" " * 16, ".npy format version"),
        (b"\x93NUMPY\x01\x00\x20\x00{'descr': 5, 'shape': (), 'fortran_order': False}",
         "damaged .npy header"),
        (b"not an npy at all", "damaged .npy header"),
        (_npy((2,), "|O"), "Python objects"),
        (_npy((3,), data=b"\x00" * 8), "holds 8 bytes"),
        (_npy((1,), data=b"\x00" * 16), "holds 16 bytes"),
        (_npy((2,), "<U99999999999"), "damaged .npy header"),
        (_npy((2, 2), version=(2, 0), data=bytes(32)), None),  # valid: version 2.0 loads
    ],
)
def test_crafted_npy_headers(tmp_path, entry, match):
    tree = {"t": "array", "entry": "w"}
    path = _zip(tmp_path / "x.npz", {"__pyautotape__.npy": _meta_entry(tree), "w.npy": entry})
    if match is None:
        assert pat.load(path).shape == (2, 2)
    else:
        _refused(path, match)


@pytest.mark.parametrize(
    "tree",
    [
        {"t": "dict", "items": 5},
        {"t": "list", "items": "abc"},
        {"t": "array", "entry": ["w"]},
        {"t": "dict", "items": [[{"a": 1}, {"t": "value", "v": 1}]]},
        {"t": "value", "v": {"x": 1}},
        {"t": 5},
        [1, 2],
    ],
)
def test_crafted_metadata(tmp_path, tree):
    path = _zip(tmp_path / "m.npz", {"__pyautotape__.npy": _meta_entry(tree)})
    _refused(path, "damaged metadata")


def test_deeply_nested_metadata(tmp_path):
    tree = {"t": "value", "v": 1}
    for _ in range(serialization.MAX_DEPTH + 5):
        tree = {"t": "list", "items": [tree]}
    path = _zip(tmp_path / "deep.npz", {"__pyautotape__.npy": _meta_entry(tree)})
    _refused(path, "damaged metadata")


def test_duplicate_entries_are_refused(tmp_path):
    path = tmp_path / "dup.npz"
    with pytest.warns(UserWarning):
        _zip(path, {"__pyautotape__.npy": _meta_entry()})
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("__pyautotape__.npy", _meta_entry())
    _refused(path, "appears twice")


def test_every_truncation(tmp_path):
    path = tmp_path / "c.npz"
    pat.save({"w": np.arange(50.0), "meta": {"e": 1}}, path)
    raw = path.read_bytes()
    bad = tmp_path / "t.npz"
    for n in range(0, len(raw), 7):
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="t.npz"):
            pat.load(bad)


_GOOD = {"w": np.arange(24.0).reshape(2, 3, 4), "s": np.float32(2.5),
         "m": {"step": 3, "b": (0.9, 0.999), "name": "x"}}


@settings(max_examples=FUZZ, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)),
                      min_size=1, max_size=8))
def test_bit_flips_load_or_raise_value_error(tmp_path_factory, flips):
    folder = tmp_path_factory.mktemp("flip")
    path = folder / "c.npz"
    pat.save(_GOOD, path)
    raw = bytearray(path.read_bytes())
    for pos, bit in flips:
        raw[pos % len(raw)] ^= 1 << bit
    path.write_bytes(bytes(raw))
    try:
        pat.load(path)
    except ValueError as exc:
        assert "c.npz" in str(exc)


@settings(max_examples=FUZZ, deadline=None)
@given(junk=st.binary(max_size=400), where=st.integers(0, 10**6))
def test_spliced_bytes_load_or_raise_value_error(tmp_path_factory, junk, where):
    folder = tmp_path_factory.mktemp("splice")
    path = folder / "c.npz"
    pat.save(_GOOD, path)
    raw = path.read_bytes()
    at = where % (len(raw) + 1)
    path.write_bytes(raw[:at] + junk + raw[at + len(junk) // 2:])
    try:
        pat.load(path)
    except ValueError as exc:
        assert "c.npz" in str(exc)


@settings(max_examples=FUZZ, deadline=None)
@given(shape=st.lists(st.integers(0, 2**40), max_size=4),
       descr=st.sampled_from(["<f8", "<f4", "|u1", ">i8", "<c16", "|b1", "<U3", "|V8"]),
       extra=st.integers(-16, 16),
       version=st.sampled_from([(1, 0), (2, 0)]),
       deflate=st.booleans())
def test_crafted_headers_never_allocate_a_lie(tmp_path_factory, shape, descr, extra,
                                              version, deflate):
    folder = tmp_path_factory.mktemp("hdr")
    count = int(np.prod(shape, dtype=object)) if shape else 1
    size = count * np.dtype(descr).itemsize
    data = bytes(max(0, min(size, 4096) + extra))
    entry = _npy(tuple(shape), descr, data, version)
    path = _zip(folder / "h.npz", {"__pyautotape__.npy": _meta_entry(
        {"t": "array", "entry": "w"}), "w.npy": entry},
        compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    try:
        out = pat.load(path, max_bytes=1 << 16)
    except ValueError as exc:
        assert "h.npz" in str(exc)
    else:
        assert out.shape == tuple(shape) and out.nbytes == len(data) == size


def test_damaged_deflate_streams_are_value_errors(tmp_path):
    """zlib.error and CRC failures inside deflated entries (np.savez_compressed)."""
    import json

    meta = json.dumps({"format": "pyautotape-checkpoint", "version": 1,
                       "tree": {"t": "array", "entry": "w"}})
    good = tmp_path / "z.npz"
    np.savez_compressed(good, __pyautotape__=np.array(meta), w=np.arange(4000.0))
    assert pat.load(good).shape == (4000,)
    raw = good.read_bytes()
    start = raw.find(b"w.npy") + 30
    seen = set()
    for k in range(40):
        bad = bytearray(raw)
        pos = start + (k * 37) % (len(raw) // 2)
        bad[pos] ^= 0xFF
        path = tmp_path / "zbad.npz"
        path.write_bytes(bytes(bad))
        try:
            pat.load(path)
        except ValueError as exc:
            assert "zbad.npz" in str(exc)
            seen.add(str(exc).split(":")[-2][-12:])
    assert seen  # some damage was found and reported
