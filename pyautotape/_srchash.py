"""The digest of the C sources, shared by the build and the import-time freshness check.

csrc/build_ffi.py stamps it into the extension (``pat_build_info``); in a source checkout
(an editable install) ``pyautotape._ffi`` computes it again and refuses an extension built
from other C. It reads this file by path, so it imports nothing of pyautotape.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.c").write_text("int x;")
>>> len(source_hash(d))
16
"""

from __future__ import annotations

import hashlib
import pathlib

PATTERNS = ("*.c", "*.h", "*.def")


def source_hash(folder: pathlib.Path) -> str:
    """sha256 over the C sources of ``folder`` (``*.c``, ``*.h``, ``*.def``), in name order."""
    digest = hashlib.sha256()
    paths = sorted({p for pattern in PATTERNS for p in folder.glob(pattern)})
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
