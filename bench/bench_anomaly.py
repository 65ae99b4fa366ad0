"""pytest-benchmark: the cost of pat.detect_anomaly on a training step of the mnist MLP
(784-256-128-10, batch 128: forward, cross-entropy, backward, SGD update), eager and
replayed (pat.compile), mode off vs on. The figure is in docs/reliability.md ("NaN/Inf detection").

Run: python -m pytest bench/bench_anomaly.py --benchmark-only   (1 BLAS thread)
or:  python bench/bench_anomaly.py   (interleaved rounds, prints the ratio)"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

import pyautotape as pat

pat.set_num_threads(1)


def make_step(compiled: bool = False):
    pat.manual_seed(0)
    model = pat.nn.MLP([784, 256, 128, 10])
    opt = pat.optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)

    def step():
        loss = pat.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return pat.compile(step) if compiled else step


@pytest.mark.parametrize("mode", ["off", "on"])
@pytest.mark.parametrize("how", ["eager", "replay"])
@pytest.mark.benchmark(group="anomaly")
def test_mnist_step_anomaly(benchmark, how, mode):
    step = make_step(compiled=how == "replay")
    with pat.set_detect_anomaly(mode == "on"):
        benchmark(step)


def main(rounds: int = 30, per_round: int = 20) -> None:
    for how in ("eager", "replay"):
        step = make_step(compiled=how == "replay")
        for _ in range(20):
            step()
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for mode in (False, True):
                with pat.set_detect_anomaly(mode):
                    t0 = time.perf_counter()
                    for _ in range(per_round):
                        step()
                    times[mode].append((time.perf_counter() - t0) / per_round)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"mnist {how} step: off {off * 1e3:.3f} ms, on {on * 1e3:.3f} ms, "
              f"ratio {on / off:.3f} (medians of {rounds} interleaved rounds of {per_round})")


if __name__ == "__main__":
    main()
