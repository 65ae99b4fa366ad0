"""The README's quoted timings, within a tolerance: the default `python -m pyautotape train`
run ("wall time ... (... s training)", "speed ... samples/s") and the `--eager` figures
quoted after it. Timing belongs here, not in tests/ (tests/test_docs.py checks the same
lines' text and every other quoted value exactly).

Run: python -m pytest bench/bench_readme.py"""

import pathlib
import re
import subprocess
import sys

import pytest

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
TOLERANCE = 4.0  # a shared 2-core machine: the same run moves by 1.5-2x minutes apart


def _train(*extra):
    proc = subprocess.run([sys.executable, "-m", "pyautotape", "train", "--quiet", *extra],
                          capture_output=True, text=True, timeout=600, check=True)
    seconds = float(re.search(r"\(([\d.]+) s training\)", proc.stdout).group(1))
    speed = float(re.search(r"speed +([\d,]+) samples/s", proc.stdout).group(1).replace(",", ""))
    return seconds, speed


def _within(measured, quoted, what):
    assert quoted / TOLERANCE <= measured <= quoted * TOLERANCE, (
        f"README quotes {what} {quoted:g}, measured {measured:g} (tolerance {TOLERANCE}x)")


@pytest.mark.parametrize("mode", ["replay", "eager"])
def test_readme_training_timings(mode):
    if mode == "replay":
        seconds_q = float(re.search(r"wall time +[\d.]+ s \(([\d.]+) s training\)", README)[1])
        speed_q = float(re.search(r"speed +([\d,]+) samples/s", README)[1].replace(",", ""))
        seconds, speed = _train()
    else:
        m = re.search(r"With `--eager`: ([\d.]+) s of training and ([\d,]+) samples/s", README)
        seconds_q, speed_q = float(m[1]), float(m[2].replace(",", ""))
        seconds, speed = _train("--eager")
    _within(seconds, seconds_q, f"{mode} training seconds")
    _within(speed, speed_q, f"{mode} samples/s")
