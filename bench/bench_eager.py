"""pytest-benchmark: eager speed, the figures bench/eager.py reports in one run.

* one float32 SGD training step as a user writes it (forward, ``loss.backward()``,
  ``opt.step()``, ``opt.zero_grad()``) on the four MLPs, and the same step by hand in NumPy;
* the cost of one recorded elementwise op (a chain of 100 one-element ``Tensor * Tensor``:
  the C work is a few ns, so this is Python's part, recording and freeing included);
* ``backward()`` alone of a 6-record tape (the tiny MLP: linear, relu, linear, relu,
  linear, mse_loss), its forward recorded fresh in each round's setup.

Run: python -m pytest bench/bench_eager.py --benchmark-only   (1 BLAS thread)
"""

import pytest
from eager import eager_step_fn, numpy_step_fn, per_op_fn, six_record_setup

WORKLOADS = ["tiny", "small", "mnist", "large"]


def _rounds(benchmark, name, fn):
    if name == "large":  # 20-30 ms a step: a few rounds
        benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    else:
        benchmark(fn)


@pytest.mark.parametrize("name", WORKLOADS)
@pytest.mark.benchmark(group="eager-train-step")
def test_eager_train_step(benchmark, name):
    _rounds(benchmark, name, eager_step_fn(name))


@pytest.mark.parametrize("name", WORKLOADS)
@pytest.mark.benchmark(group="eager-train-step")
def test_numpy_train_step(benchmark, name):
    _rounds(benchmark, name, numpy_step_fn(name))


@pytest.mark.parametrize("kind", ["tensor_tensor", "tensor_scalar"])
@pytest.mark.benchmark(group="eager-recorded-op")
def test_recorded_op_chain_of_100(benchmark, kind):
    """100 recorded one-element ops: the time per op is the median / 100."""
    benchmark(per_op_fn("tt" if kind == "tensor_tensor" else "ts"))


@pytest.mark.benchmark(group="eager-backward")
def test_backward_of_six_records(benchmark):
    forward = six_record_setup()

    def setup():
        return (forward(),), {}

    benchmark.pedantic(lambda loss: loss.backward(), setup=setup, rounds=300,
                       warmup_rounds=20)
