"""Eager speed, one process: the float32 SGD step of the four MLPs (record, backward,
``opt.step()``) against the same step by hand in NumPy, the Python cost of one recorded
elementwise op, and the backward of a 6-record tape.

    taskset -c 1 python bench/eager.py            # CPU-time medians in µs, 1 BLAS thread
    taskset -c 1 python bench/eager.py --quick

Every figure is the median CPU time (``time.thread_time``) of many repetitions after
warm-up, all in one run, so the ratios are measured under the same load.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):  # this checkout's package, then models.py
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import numpy as np  # noqa: E402
from models import WORKLOADS, make_data, numpy_step  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import pyautotape as pat  # noqa: E402

LR = 0.01
REPS = {"tiny": 3000, "small": 1000, "mnist": 200, "large": 20}


def median_us(fn, reps: int, warm: int = 5) -> float:
    """Median CPU time of ``fn()`` in µs."""
    for _ in range(warm):
        fn()
    clock = time.thread_time_ns
    times = []
    for _ in range(reps):
        t = clock()
        fn()
        times.append(clock() - t)
    times.sort()
    return times[len(times) // 2] / 1e3


def mlp_forward(ps, x):
    """linear, relu, ..., linear: 2n - 1 records for n layers."""
    n = len(ps) // 2
    h = x
    for i in range(n):
        h = pat.linear(h, ps[2 * i], ps[2 * i + 1])
        if i < n - 1:
            h = pat.relu(h)
    return h


def eager_step_fn(name: str):
    """One eager training step of workload ``name`` as a user writes it."""
    params, X, y, loss = make_data(name)
    ps = [pat.tensor(p, requires_grad=True) for p in params]
    opt = pat.optim.SGD(ps, lr=LR)
    xt = pat.tensor(X)
    yt = pat.tensor(y) if loss == "mse" else y

    def step():
        out = mlp_forward(ps, xt)
        value = pat.mse_loss(out, yt) if loss == "mse" else pat.cross_entropy(out, yt)
        value.backward()
        opt.step()
        opt.zero_grad()
        return value

    return step


def numpy_step_fn(name: str):
    params, X, y, loss = make_data(name)
    return lambda: numpy_step(params, X, y, loss, LR)


def per_op_fn(kind: str, shape: tuple[int, ...] = (1,)):
    """100 recorded elementwise ops on float32 tensors of ``shape``: ``tt`` a
    Tensor-Tensor mul, ``ts`` a Tensor-scalar add. With one element the C work is a few
    ns: the time is the Python cost of an op (validate, allocate, call, record) and of
    freeing its record."""
    rng = np.random.default_rng(0)
    x = pat.tensor(rng.normal(size=shape).astype(np.float32), requires_grad=True)
    w = pat.tensor(rng.normal(size=shape).astype(np.float32))

    if kind == "tt":
        def chain():
            y = x
            for _ in range(100):
                y = y * w
            return y
    else:
        def chain():
            y = x
            for _ in range(100):
                y = y + 1.0
            return y
    return chain


def six_record_setup(name: str = "tiny"):
    """The tiny MLP's forward and loss (linear, relu, linear, relu, linear, mse_loss: six
    records) and its parameters."""
    params, X, y, _ = make_data(name)
    ps = [pat.tensor(p, requires_grad=True) for p in params]
    xt, yt = pat.tensor(X), pat.tensor(y)

    def forward():
        for p in ps:
            p.grad = None
        return pat.mse_loss(mlp_forward(ps, xt), yt)

    return forward


def backward6_us(reps: int) -> float:
    """Median CPU time of ``loss.backward()`` alone on the 6-record tiny tape."""
    forward = six_record_setup()
    clock = time.thread_time_ns
    times = []
    for i in range(reps + 20):
        loss = forward()
        t = clock()
        loss.backward()
        dt = clock() - t
        if i >= 20:
            times.append(dt)
    times.sort()
    return times[len(times) // 2] / 1e3


def measure(quick: bool) -> dict:
    pat.set_num_threads(1)
    scale = 5 if quick else 1
    out: dict = {"eager": {}, "numpy": {}}
    with threadpool_limits(limits=1, user_api="blas"):
        for name in WORKLOADS:
            reps = max(5, REPS[name] // scale)
            out["numpy"][name] = median_us(numpy_step_fn(name), reps)
            out["eager"][name] = median_us(eager_step_fn(name), reps)
        reps = max(30, 1000 // scale)
        out["op_tt"] = median_us(per_op_fn("tt"), reps // 5) / 100
        out["op_ts"] = median_us(per_op_fn("ts"), reps // 5) / 100
        out["op_tt_512"] = median_us(per_op_fn("tt", (32, 16)), reps // 5) / 100
        out["backward6"] = backward6_us(reps)
    return out


def report(res: dict) -> str:
    lines = ["| workload | eager | NumPy by hand | eager / NumPy |", "|---|---|---|---|"]
    for name, (sizes, batch, _) in WORKLOADS.items():
        e, n = res["eager"][name], res["numpy"][name]
        label = f"{name} {'-'.join(map(str, sizes))} b{batch}"
        lines.append(f"| {label} | {e:.1f} | {n:.1f} | {e / n:.2f} |")
    lines.append("")
    lines.append(f"- recorded elementwise op, Tensor * Tensor, 1 element: {res['op_tt']:.2f} µs")
    lines.append(f"- recorded elementwise op, Tensor + 1.0, 1 element: {res['op_ts']:.2f} µs")
    lines.append("- recorded elementwise op, Tensor * Tensor, (32, 16): "
                 f"{res['op_tt_512']:.2f} µs")
    lines.append(f"- backward() of the 6-record tiny tape: {res['backward6']:.2f} µs")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    res = measure(args.quick)
    print(json.dumps(res) if args.json else report(res))


if __name__ == "__main__":
    main()
