"""Accuracy and speed of the float32 reductions against a float64 reference.

Run: ``python bench/numerics.py`` (prints one line per case; no assertions).
"""

import time

import numpy as np

import pyautotape as pat


def _best(fn, reps=5):
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def _case(rows: int) -> None:
    x = np.full((rows, 4), 0.1, np.float32)  # constant terms: rounding drifts one way
    ref = x.astype(np.float64).sum(axis=0)
    t = pat.tensor(x)
    got = pat.sum(t, axis=0).numpy()
    err = np.max(np.abs(got - ref) / np.abs(ref))
    ms = _best(lambda: pat.sum(t, axis=0))
    print(f"sum axis 0 of ({rows}, 4) float32: rel err {err:.2e}, {ms:.1f} ms")
    flat = pat.tensor(x.reshape(-1))
    ms = _best(lambda: pat.sum(flat))
    print(f"sum of {rows * 4} float32: {ms:.1f} ms")
    w = pat.tensor(np.zeros((8, 4), np.float32), requires_grad=True)
    b = pat.tensor(np.zeros(8, np.float32), requires_grad=True)
    c = np.full((rows, 8), 0.1, np.float32)  # dy
    cref = c.astype(np.float64).sum(axis=0)

    def step() -> None:
        b.grad = None
        (pat.linear(t, w, b) * c).sum().backward()

    step()
    err = np.max(np.abs(b.grad.numpy() - cref) / cref)
    ms = _best(step, 3)
    print(f"linear bias grad over {rows} rows float32: rel err {err:.2e}, step {ms:.1f} ms")


def main() -> None:
    for rows in (10**6, 10**7):
        _case(rows)


if __name__ == "__main__":
    main()
