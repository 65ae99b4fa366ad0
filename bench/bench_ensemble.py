"""pytest-benchmark: training k = 16 models as one nn.Ensemble replay against 16 separately
replayed steps of the same models (float32 and float64, SGD, 1 BLAS thread).

Run: taskset -c 0 python -m pytest bench/bench_ensemble.py --benchmark-only
For the ratio within one run (interleaved rounds, CPU-time medians), as reported in
bench/RESULTS.md, from the repository root:
PYTHONPATH=. taskset -c 1 python bench/bench_ensemble.py [rounds] [float32|float64 ...]"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from models import WORKLOADS

import pyautotape as pat

pat.set_num_threads(1)
K = 16


def _setup(name: str, k: int = K, seed: int = 0, dtype=np.float32):
    sizes, batch, loss = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = (rng.standard_normal((batch, sizes[-1])).astype(dtype) if loss == "mse"
         else rng.integers(0, sizes[-1], batch))
    crit = pat.nn.MSELoss() if loss == "mse" else pat.nn.CrossEntropyLoss()
    pat.manual_seed(seed)
    models = [pat.nn.MLP(sizes, dtype=dtype) for _ in range(k)]
    return models, x, y, crit


def separate_steps(name: str, dtype=np.float32):
    """16 models, each with its own compiled step; one call runs all 16 steps."""
    models, x, y, crit = _setup(name, dtype=dtype)
    steps = []
    for m in models:
        opt = pat.optim.SGD(m.parameters(), lr=0.01)

        @pat.compile
        def step(x, y, m=m, opt=opt):
            opt.zero_grad()
            loss = crit(m(x), y)
            loss.backward()
            opt.step()
            return loss

        steps.append(step)

    def run():
        for s in steps:
            s(x, y)

    run()
    run()
    return run


def ensemble_step(name: str, dtype=np.float32):
    """The same 16 models as one Ensemble: one compiled step, one C call."""
    models, x, y, crit = _setup(name, dtype=dtype)
    ens = pat.nn.Ensemble(models)
    opt = pat.optim.SGD(ens.parameters(), lr=0.01)

    @pat.compile
    def step(x, y):
        opt.zero_grad()
        losses = ens.losses(crit, ens(x), y)
        losses.sum().backward()
        opt.step()
        return losses

    def run():
        step(x, y)

    run()
    run()
    return run


@pytest.mark.parametrize("name", ["tiny", "small"])
@pytest.mark.benchmark(group="ensemble")
def test_separate_replays(benchmark, name):
    benchmark(separate_steps(name))


@pytest.mark.parametrize("name", ["tiny", "small"])
@pytest.mark.benchmark(group="ensemble")
def test_ensemble_replay(benchmark, name):
    benchmark(ensemble_step(name))


def ratios(rounds: int = 300, dtypes=("float32",)) -> dict[str, tuple[float, float]]:
    """Median CPU time (µs) of 16 separate steps and of the ensemble step, interleaved
    round by round in this process, so load changes hit both alike; keyed 'name dtype'."""
    out = {}
    for key in [(n, d) for d in dtypes for n in ("tiny", "small")]:
        name, dtype = key
        a, b = separate_steps(name, np.dtype(dtype)), ensemble_step(name, np.dtype(dtype))
        ta, tb = [], []
        n = rounds if name == "tiny" else max(rounds // 10, 20)
        for _ in range(n):
            t0 = time.process_time_ns()
            a()
            t1 = time.process_time_ns()
            b()
            t2 = time.process_time_ns()
            ta.append(t1 - t0)
            tb.append(t2 - t1)
        out[f"{name} {dtype}"] = (float(np.median(ta)) / 1e3, float(np.median(tb)) / 1e3)
    return out


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    dtypes = tuple(sys.argv[2:]) or ("float32", "float64")
    print(f"BLAS threads: {pat.get_num_threads()}, k = {K}, SGD, CPU-time medians")
    for name, (sep, ens) in ratios(rounds, dtypes).items():
        print(f"{name}: 16 separate replays {sep:.1f} us, ensemble replay {ens:.1f} us, "
              f"{sep / ens:.2f}x")
