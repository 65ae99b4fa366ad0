"""``pyautotape.utils``: the paths PyTorch code imports from, so that
``from torch.utils.data import DataLoader`` ports as
``from pyautotape.utils.data import DataLoader``.

>>> from pyautotape.utils.data import DataLoader
>>> import pyautotape as pat
>>> DataLoader is pat.data.DataLoader
True
"""

from __future__ import annotations

from . import data

__all__ = ["data"]
