"""``pat.save`` / ``pat.load``: checkpoints as NumPy ``.npz`` files, without pickle.

A checkpoint is a tree of dicts (str or int keys), lists and tuples whose leaves are
ndarrays, Tensors (stored as their values), NumPy scalars, and plain Python values
(None, bool, int, float, str). Every array becomes one entry of the ``.npz`` archive,
named by its path (``model/layers.0.weight``), so ``numpy.load`` can read the arrays
too; the tree itself (keys, their types, containers, plain values, and which entry
holds which array) goes into one more entry, ``__pyautotape__``: a JSON string.
Nothing is pickled, and loading uses ``allow_pickle=False``, so a file cannot run code.
Arrays round-trip bit for bit (dtype and byte order included) and Python floats through
their shortest repr, which is exact.

>>> import os, tempfile, numpy as np, pyautotape as pat
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> pat.save({"w": np.arange(3.0), "meta": {"epoch": 3, "betas": (0.9, 0.999)}}, path)
>>> ckpt = pat.load(path)
>>> ckpt["w"], ckpt["meta"]
(array([0., 1., 2.]), {'epoch': 3, 'betas': (0.9, 0.999)})
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from . import _npz
from .tensor import Tensor

__all__ = ["save", "load"]

META_KEY = "__pyautotape__"
FORMAT = "pyautotape-checkpoint"
VERSION = 1


MAX_DEPTH = 200  # containers nested deeper than this are refused (no RecursionError)


def _encode(obj: Any, path: str, arrays: dict[str, np.ndarray], active: set[int]) -> Any:
    """The JSON node for ``obj``; arrays go into ``arrays`` under unique entry names."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "value", "v": obj}
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):
        arr = obj.numpy() if isinstance(obj, Tensor) else np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError(
                f"pat.save: '{path}' is an array of Python objects (dtype {arr.dtype}); "
                "only numeric, bool and string arrays can be saved without pickle"
            )
        name = path or "array"
        if name in arrays or name == META_KEY:
            i = 1
            while f"{name}#{i}" in arrays:
                i += 1
            name = f"{name}#{i}"
        arrays[name] = arr
        return {"t": "scalar" if isinstance(obj, np.generic) else "array", "entry": name}
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"pat.save: '{path}' contains itself; save a tree, not a cycle")
        if len(active) >= MAX_DEPTH:
            raise ValueError(
                f"pat.save: the object is nested more than {MAX_DEPTH} containers deep (at "
                f"'{path[:80]}...'); a checkpoint is a shallow tree of dicts and lists: "
                "flatten it"
            )
        active.add(id(obj))
        prefix = f"{path}/" if path else ""
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(
                        f"pat.save: key {k!r} in '{path or '/'}' is a {type(k).__name__}; "
                        "keys must be str or int"
                    )
                items.append([k, _encode(v, f"{prefix}{k}", arrays, active)])
            node = {"t": "dict", "items": items}
        else:
            kind = "list" if isinstance(obj, list) else "tuple"
            node = {"t": kind, "items": [_encode(v, f"{prefix}{i}", arrays, active)
                                         for i, v in enumerate(obj)]}
        active.discard(id(obj))
        return node
    raise TypeError(
        f"pat.save: '{path or '/'}' is a {type(obj).__name__}; a checkpoint holds dicts, "
        "lists, tuples, arrays, Tensors, numbers, strings and None"
    )


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (e.g. ``{"model": model.state_dict(), "optim": opt.state_dict(),
    "epoch": 3}``) to ``path`` as an ``.npz`` archive, exactly at that path (no suffix is
    added). The file is written to a temporary name in the same folder, flushed to disk
    and renamed over ``path`` (the folder is synced too), so a crash never leaves a
    half-written checkpoint under ``path``; temp files a crashed save left are removed by
    the next save of the same path. Saving through a symlink replaces the file it points
    to; the file keeps the mode of the one it replaces, or gets 0o666 less the umask,
    as ``np.save`` gives it. Errors name ``path``.

    >>> import os, tempfile, pyautotape as pat
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> pat.save(pat.nn.Linear(2, 1).state_dict(), path)
    >>> sorted(pat.load(path))
    ['bias', 'weight']
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", arrays, set())
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    user = os.fspath(path)
    target = os.path.realpath(user)  # through a symlink: the file it points to
    folder, base = os.path.split(target)
    prefix = f".pat-save-{base}."
    try:
        _clean_stale(folder, prefix)
        fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _named(exc, user, "cannot write to its folder") from None
    _ACTIVE.add(tmp)
    try:
        entries = {META_KEY: np.array(meta), **arrays}
        with os.fdopen(fd, "wb") as f:
            # what np.savez does, without its keyword arguments: an entry may be "file"
            with zipfile.ZipFile(f, "w", allowZip64=True) as zf:
                for name, arr in entries.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.chmod(tmp, _mode(target))
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, target)
        _fsync_dir(folder)  # and the rename itself survives a power cut
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _named(exc, user, "cannot be written") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _ACTIVE.discard(tmp)


_ACTIVE: set[str] = set()  # temp files this process is writing right now


def _named(exc: OSError, user: str, what: str) -> OSError:
    """The same kind of OSError, naming the user's path rather than the temp file."""
    out = type(exc)(exc.errno, f"pat.save: {user} {what}: {exc.strerror or exc}", user)
    return out


def _mode(target: str) -> int:
    """The permission bits the file gets: those of the file it replaces, else what
    ``open()`` (and so ``np.save``) gives a new file, 0o666 less the umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: str) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _clean_stale(folder: str, prefix: str) -> None:
    """Remove temp files a crashed save of the same target left behind: those of a
    process that no longer runs, or of this process but no save in progress."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        full = os.path.join(folder, name)
        pid_text = name[len(prefix):].split(".", 1)[0]
        if full in _ACTIVE:
            continue
        if pid_text.isdigit() and int(pid_text) != os.getpid():
            try:
                os.kill(int(pid_text), 0)
                continue  # that process still runs: it may be saving right now
            except ProcessLookupError:
                pass
            except (PermissionError, OverflowError, OSError):
                continue
        with contextlib.suppress(OSError):
            os.unlink(full)


class _Corrupt(Exception):
    """Metadata that does not describe a valid tree."""


def _items(node: dict) -> list:
    items = node.get("items", [])
    if not isinstance(items, list):
        raise _Corrupt(f"bad items {items!r:.60}")
    return items


def _decode(node: Any, arrays: dict[str, np.ndarray], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Corrupt(f"containers nested more than {MAX_DEPTH} deep")
    if not isinstance(node, dict) or "t" not in node:
        raise _Corrupt(f"bad node {node!r:.60}")
    t = node["t"]
    if t == "value":
        v = node.get("v")
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise _Corrupt(f"bad value {v!r:.60}")
        return v
    if t in ("array", "scalar"):
        name = node.get("entry")
        if not isinstance(name, str) or name not in arrays:
            raise _Corrupt(f"the entry {name!r} named in the metadata is missing")
        arr = arrays[name]
        return arr[()] if t == "scalar" else arr
    if t == "dict":
        out = {}
        for item in _items(node):
            if not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool) \
                    or not isinstance(item[0], (str, int)):
                raise _Corrupt(f"bad dict item {item!r:.60}")
            out[item[0]] = _decode(item[1], arrays, depth + 1)
        return out
    if t in ("list", "tuple"):
        items = [_decode(v, arrays, depth + 1) for v in _items(node)]
        return items if t == "list" else tuple(items)
    raise _Corrupt(f"unknown node type {t!r:.40}")


def load(path: str | os.PathLike[str], *, max_bytes: int = _npz.DEFAULT_MAX_BYTES) -> Any:
    """Read a checkpoint written by :func:`save`; arrays come back as ndarrays (Tensors
    were stored as their values), containers and plain values as they were saved.

    A file that is not a readable ``pat.save`` archive (corrupt, truncated, a plain
    ``.npy``/``.npz`` from elsewhere, or holding pickled objects) raises ValueError naming
    the file; a missing file raises FileNotFoundError. Every entry's declared shape and
    dtype are checked against its size, and their total against ``max_bytes`` (64 GiB
    by default), before anything is allocated.

    >>> import os, tempfile, pyautotape as pat
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.npz")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a checkpoint")
    >>> try:
    ...     pat.load(path)
    ... except ValueError as e:
    ...     print(str(e)[:40])
    pat.load: junk.npz is not a pyautotape c
    """
    target = os.fspath(path)
    name = os.path.basename(target)

    def bad(reason: str) -> ValueError:
        return ValueError(
            f"pat.load: {name} is not a pyautotape checkpoint ({reason}); full path: {target}"
        )

    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise TypeError(f"pat.load: max_bytes must be a non-negative int, got {max_bytes!r}")
    try:
        arrays = _npz.read_npz(target, max_bytes)
    except _npz.Bad as exc:
        raise bad(str(exc)) from None
    if META_KEY not in arrays:
        raise bad(
            f"an .npz archive without the '{META_KEY}' entry, so not written by "
            "pat.save; read it with numpy.load"
        )
    raw = arrays.pop(META_KEY)
    try:
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise _Corrupt(f"the metadata entry is a {raw.dtype} array, not a string")
        meta = json.loads(str(raw))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _Corrupt("the metadata does not name the pyautotape format")
        if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
            raise _Corrupt(
                f"format version {meta.get('version')!r}; this pyautotape reads up to "
                f"{VERSION}: upgrade pyautotape"
            )
        return _decode(meta.get("tree"), arrays, 0)
    except (_Corrupt, json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"damaged metadata: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise bad(f"damaged metadata: {type(exc).__name__}: {exc}"[:300]) from None
