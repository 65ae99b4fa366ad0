"""``pyautotape.utils.data``: ``torch.utils.data``'s names, the same objects as
``pyautotape.data``'s.

>>> from pyautotape.utils.data import TensorDataset, random_split
>>> import numpy as np
>>> [len(s) for s in random_split(TensorDataset(np.zeros((10, 2))), [8, 2], generator=0)]
[8, 2]
"""

from __future__ import annotations

from ..dataset import *  # noqa: F403 (the torch.utils.data names, listed once there)
from ..dataset import __all__ as __all__
