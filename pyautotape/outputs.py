"""The files ``python -m pyautotape train`` writes: the ``--plot`` PNG (matplotlib) and the
checks, made before training, that ``--save``/``--plot`` paths can be written.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> writable(os.path.join(folder, "model.npz"), "--save") is None
True
>>> "does not exist" in writable(os.path.join(folder, "no", "model.npz"), "--save")
True
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .tabular import Problem

__all__ = ["have_matplotlib", "plot_curves", "plot_path", "writable"]


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_curves(path: str, losses: list[float], scores: list[float], problem: Problem) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(losses) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, losses)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    if problem.task == "classification":
        ax2.plot(epochs, np.asarray(scores) * 100)
        ax2.set_ylabel("test accuracy (%)")
    else:
        ax2.plot(epochs, scores)
        ax2.set_ylabel("test RMSE")
    ax2.set_xlabel("epoch")
    fig.suptitle(f"pyautotape train: {problem.description.split(':')[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def writable(path: str, what: str) -> str | None:
    """Why ``path`` cannot be written (None if it can): checked before training, so a bad
    path does not cost the trained model."""
    if os.path.isdir(path):
        return f"{what} {path} is a directory; give a file name"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"{what} {path}: the folder {folder} does not exist"
    try:
        fd, probe = tempfile.mkstemp(prefix=".pat-probe-", dir=folder)
    except OSError as exc:
        return f"{what} {path}: cannot write in {folder} ({exc.strerror})"
    os.close(fd)
    os.unlink(probe)
    return None


def plot_path(path: str) -> str:
    """The file ``--plot path`` writes: matplotlib adds ``.png`` to a name without a
    suffix; a suffix it cannot write is an error."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if os.path.isdir(path):
        return path  # refused by writable()
    if not suffix:
        return path + ".png"
    kinds = FigureCanvasAgg.get_supported_filetypes()
    if suffix not in kinds:
        raise ValueError(f"--plot {path}: matplotlib cannot write .{suffix} files; use one of "
                         f"{', '.join('.' + k for k in sorted(kinds))}")
    return path
