"""A defensive ``.npz`` reader for :func:`pyautotape.load`: every entry's zip record and
``.npy`` header are checked against each other, against the file's size and against a
byte cap BEFORE any array is allocated, so a crafted file cannot make it allocate
terabytes, run pickle, or fail with anything but :class:`Bad` (turned into a ValueError
naming the file by the caller).

What is accepted: a zip archive (``STORED`` or ``DEFLATED`` entries, none encrypted)
whose members are ``name.npy`` files of format 1.0, 2.0 or 3.0 holding arrays of a dtype
without Python objects, each member exactly as long as its header says.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
>>> np.savez(path, w=np.arange(3.0))
>>> read_npz(path, 1 << 20)
{'w': array([0., 1., 2.])}
>>> try:
...     read_npz(path, 8)
... except Bad as e:
...     print(str(e)[:28])
the arrays exceed max_bytes=
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any

import numpy as np

__all__ = ["Bad", "read_npz", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 1 << 36  # 64 GiB of array data: pass max_bytes= to load more
_NPY_MAGIC = b"\x93NUMPY"
_DEFLATE_RATIO = 1100  # deflate expands at most ~1032:1; more declared is a lie
_CHUNK = 1 << 24


class Bad(Exception):
    """The file is not a readable archive; the message says why."""


def _header(member: Any, name: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header bytes) of one member, checked."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise Bad(f"entry {name!r} has .npy format version {version}")
    except Bad:
        raise
    except Exception as exc:  # numpy parses the header with its own tokenizer
        raise Bad(f"entry {name!r} has a damaged .npy header: {type(exc).__name__}: "
                  f"{exc}"[:300]) from None
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise Bad(f"entry {name!r} holds Python objects (dtype {dtype}); "
                  "a checkpoint never pickles")
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise Bad(f"entry {name!r} declares the shape {shape!r:.60}")
    return dtype, shape, bool(fortran), member.tell()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                 budget: list[int]) -> np.ndarray:
    name = info.filename
    if info.flag_bits & 0x1:
        raise Bad(f"entry {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Bad(f"entry {name!r} uses compression method {info.compress_type}; "
                  "only stored and deflated entries are read")
    if info.compress_size > archive_size:
        raise Bad(f"entry {name!r} declares {info.compress_size} compressed bytes in a "
                  f"{archive_size}-byte file")
    limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED \
        else _DEFLATE_RATIO * info.compress_size + 1024
    if info.file_size > limit:
        raise Bad(f"entry {name!r} declares {info.file_size} bytes, more than its "
                  f"{info.compress_size} stored bytes can hold")
    with zf.open(info) as member:
        dtype, shape, fortran, hlen = _header(member, name)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if hlen + nbytes != info.file_size:
            raise Bad(f"entry {name!r} declares shape {shape} of {dtype} ({nbytes} bytes) "
                      f"but holds {info.file_size - hlen} bytes of data")
        if nbytes > budget[0]:
            raise Bad(f"the arrays exceed max_bytes={budget[1]} (entry {name!r} has "
                      f"{nbytes} bytes); pass a larger max_bytes= to load it")
        budget[0] -= nbytes
        flat = np.empty(count, dtype)
        view = memoryview(flat.view(np.uint8)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            got = member.readinto(view[done:done + _CHUNK])
            if not got:
                raise Bad(f"entry {name!r} ends after {done} of {nbytes} bytes")
            done += got
        if member.read(1):
            raise Bad(f"entry {name!r} has data after its array")
    if fortran:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


def read_npz(path: str, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of the archive at ``path`` by entry name (``.npy`` dropped); raises
    :class:`Bad` for anything malformed, OSError only for the file itself (missing,
    a directory, unreadable)."""
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
        if head == _NPY_MAGIC:
            raise Bad("it is a single .npy array, not an .npz archive written by pat.save")
        size = os.fstat(f.fileno()).st_size
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
                NotImplementedError, RuntimeError, TypeError, UnicodeDecodeError) as exc:
            raise Bad(f"not an .npz archive, or a damaged one: {exc}") from None
        budget = [max_bytes, max_bytes]
        out: dict[str, np.ndarray] = {}
        with zf:
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if key in out:
                    raise Bad(f"the entry {info.filename!r} appears twice")
                try:
                    out[key] = _read_member(zf, info, size, budget)
                except Bad:
                    raise
                except MemoryError:
                    raise
                except Exception as exc:  # zlib.error, BadZipFile (CRC), EOFError, ...
                    raise Bad(f"entry {info.filename!r} cannot be read, the file is damaged "
                              f"or truncated: {type(exc).__name__}: {exc}"[:300]) from None
        return out
