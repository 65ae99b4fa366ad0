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

from .tensor import Tensor

__all__ = ["save", "load"]

META_KEY = "__pyautotape__"
FORMAT = "pyautotape-checkpoint"
VERSION = 1


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
    added). The file is written to a temporary name and renamed, so a crash never leaves
    a half-written checkpoint under ``path``.

    >>> import os, tempfile, pyautotape as pat
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> pat.save(pat.nn.Linear(2, 1).state_dict(), path)
    >>> sorted(pat.load(path))
    ['bias', 'weight']
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", arrays, set())
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".pat-save-", suffix=".npz", dir=folder)
    try:
        entries = {META_KEY: np.array(meta), **arrays}
        # what np.savez does, without its keyword arguments: an entry may be called "file"
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            for name, arr in entries.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Corrupt(Exception):
    """Metadata that does not describe a valid tree."""


def _decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
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
        if name not in arrays:
            raise _Corrupt(f"the entry {name!r} named in the metadata is missing")
        arr = arrays[name]
        return arr[()] if t == "scalar" else arr
    if t == "dict":
        out = {}
        for item in node.get("items", ()):
            if not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool) \
                    or not isinstance(item[0], (str, int)):
                raise _Corrupt(f"bad dict item {item!r:.60}")
            out[item[0]] = _decode(item[1], arrays)
        return out
    if t in ("list", "tuple"):
        items = [_decode(v, arrays) for v in node.get("items", ())]
        return items if t == "list" else tuple(items)
    raise _Corrupt(f"unknown node type {t!r:.40}")


def load(path: str | os.PathLike[str]) -> Any:
    """Read a checkpoint written by :func:`save`; arrays come back as ndarrays (Tensors
    were stored as their values), containers and plain values as they were saved.

    A file that is not a readable ``pat.save`` archive (corrupt, truncated, a plain
    ``.npy``/``.npz`` from elsewhere, or holding pickled objects) raises ValueError naming
    the file; a missing file raises FileNotFoundError.

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

    try:
        npz = np.load(target, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise bad(f"not an .npz archive, or a damaged one: {exc}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise bad("it is a single .npy array, not an .npz archive written by pat.save")
    with npz:
        if META_KEY not in npz.files:
            raise bad(
                f"an .npz archive without the '{META_KEY}' entry, so not written by "
                "pat.save; read it with numpy.load"
            )
        try:
            arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise bad(f"an entry cannot be read, the file is damaged or truncated: {exc}") from exc
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
        return _decode(meta.get("tree"), arrays)
    except (_Corrupt, json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"damaged metadata: {exc}") from exc
