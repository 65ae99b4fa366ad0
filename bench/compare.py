"""The comparison report: one float32 SGD training step of four MLPs, per framework.

    python bench/compare.py                 # all frameworks found, 1 and 2 threads
    python bench/compare.py --quick         # fewer repetitions
    python bench/compare.py --write         # also rewrite the report section of RESULTS.md

Each framework runs in its own process (so thread settings and allocators do not leak
between them), all in one run of this script. Every timing is the median of many steps
after warm-up. Ratios are to the FLOP floor measured in the same run: the step's GEMM
FLOPs divided by the rate of one 1024^3 sgemm through pyautotape's OpenBLAS.

Frameworks: pyautotape replay (pat.compile), pyautotape eager, hand-written NumPy,
PyTorch eager and jax.jit (when installed), and the "GEMM floor" (only the step's GEMMs,
through pyautotape's BLAS, on preallocated buffers).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

from peers import work_jax, work_torch, work_torch_compile, work_torch_lean
from timing import LR, _median_us, _reps

HERE = pathlib.Path(__file__).resolve().parent
FRAMEWORKS = ["floor", "pat_replay_before", "pat_replay", "pat_replay_fused", "pat_eager",
              "numpy", "torch", "torch_lean", "torch_compile", "jax"]
LABELS = {"floor": "GEMM floor (measured)", "pat_replay": "pyautotape replay",
          "pat_replay_before": "pyautotape replay, before (--baseline)",
          "pat_replay_fused": "pyautotape replay, fuse_update=True",
          "pat_eager": "pyautotape eager", "numpy": "NumPy by hand",
          "torch": "PyTorch eager", "torch_lean": "PyTorch lean (addmm, autograd.grad, "
          "_foreach_add_)", "torch_compile": "torch.compile", "jax": "jax.jit"}


def _pat_model(name, dtype="float32"):
    from models import make_data

    import pyautotape as pat

    params, X, y, loss = make_data(name)
    ps = [pat.tensor(p, requires_grad=True) for p in params]
    return pat, ps, X, y, loss


def _pat_step_fn(pat, ps, loss, opt, update=True, input_grad=False):
    n = len(ps) // 2

    def forward(xt):
        h = xt
        for i in range(n):
            h = pat.linear(h, ps[2 * i], ps[2 * i + 1])
            if i < n - 1:
                h = pat.relu(h)
        return h

    def step(X, y):
        if input_grad:
            xt = pat.tensor(X, requires_grad=True)
            out = forward(xt)
            value = (
                pat.mse_loss(out, pat.tensor(y)) if loss == "mse" else pat.cross_entropy(out, y)
            )
            (g,) = pat.autograd.grad(value, [xt])
            return g
        out = forward(pat.tensor(X))
        value = pat.mse_loss(out, pat.tensor(y)) if loss == "mse" else pat.cross_entropy(out, y)
        value.backward()
        if update:
            opt.step()
            opt.zero_grad()
        return value

    return step


def work_pat(name, quick, replay, input_grad=False, fuse=False):
    pat, ps, X, y, loss = _pat_model(name)
    opt = pat.optim.SGD(ps, lr=LR)
    step = _pat_step_fn(pat, ps, loss, opt, update=not input_grad, input_grad=input_grad)
    if replay:
        step = pat.compile(step, fuse_update=True) if fuse else pat.compile(step)
    return _median_us(lambda: step(X, y), _reps(name, quick))


def work_numpy(name, quick, input_grad=False):
    from models import make_data, numpy_step

    params, X, y, loss = make_data(name)
    return _median_us(lambda: numpy_step(params, X, y, loss, LR), _reps(name, quick))


def work_floor(name, quick, input_grad=False):
    """Only the step's GEMMs, through pyautotape's C linear kernels (same OpenBLAS)."""
    import numpy as np
    from models import WORKLOADS

    import pyautotape as pat  # noqa: F401  (loads the extension)
    from pyautotape._ffi import ffi, lib

    sizes, batch, _ = WORKLOADS[name]
    fb = ffi.from_buffer
    calls = []
    rng = np.random.default_rng(0)
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        x = rng.normal(size=(batch, k)).astype(np.float32)
        w = rng.normal(size=(n, k)).astype(np.float32)
        y = np.empty((batch, n), np.float32)
        dy = rng.normal(size=(batch, n)).astype(np.float32)
        dx = np.zeros((batch, k), np.float32) if (i > 0 or input_grad) else None
        dw = np.zeros((n, k), np.float32) if not input_grad else None
        keep = (x, w, y, dy, dx, dw)
        calls.append(
            (
                keep,
                (lib.PAT_OP_LINEAR, 0, fb(y), ffi.NULL, fb(x), fb(w), ffi.NULL, ffi.NULL,
                 batch, k, n, 0.0, ffi.NULL),
                (lib.PAT_OP_LINEAR, 0, fb(dy), ffi.NULL, ffi.NULL, fb(x), fb(w), ffi.NULL,
                 fb(dx) if dx is not None else ffi.NULL, fb(dw) if dw is not None else ffi.NULL,
                 ffi.NULL, ffi.NULL, batch, k, n, 0.0, ffi.NULL),
            )
        )

    def step():
        for _, fwd, _ in calls:
            lib.pat_exec_fwd(*fwd)
        for _, _, bwd in reversed(calls):
            lib.pat_exec_bwd(*bwd)

    return _median_us(step, _reps(name, quick))


def sgemm_rate(quick: bool) -> float:
    """FLOP/s of one 1024^3 sgemm through pyautotape's BLAS (the FLOP floor's rate)."""
    import numpy as np

    import pyautotape as pat

    a = pat.tensor(np.random.default_rng(0).normal(size=(1024, 1024)).astype(np.float32))
    b = pat.tensor(np.random.default_rng(1).normal(size=(1024, 1024)).astype(np.float32))
    with pat.no_grad():
        us = _median_us(lambda: a @ b, 5 if quick else 15)
    return 2 * 1024**3 / (us * 1e-6)


def peak_memory_mib(framework: str) -> float:
    """Extra peak RSS of one training step of the large MLP at batch 4096 (MiB), over
    the RSS after parameters and data exist and the step ran once at a small batch."""
    import resource

    import numpy as np
    from models import make_data

    params, X, y, loss = make_data("large")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4096, 784)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    if framework in ("pat_eager", "pat_replay"):
        import pyautotape as pat

        ps = [pat.tensor(p, requires_grad=True) for p in params]
        opt = pat.optim.SGD(ps, lr=LR)
        step = _pat_step_fn(pat, ps, loss, opt)
        if framework == "pat_replay":
            # what the recording holds between calls (everything but the parameters):
            # a replay allocates nothing more
            step = pat.compile(step)
            step(X, y)
            rep = step.memory_report()
            return (rep["total"] - rep["parameters"]) / 2**20
        step(X[:8], y[:8])
        run = lambda: step(X, y)  # noqa: E731
    elif framework == "numpy":
        from models import numpy_step

        numpy_step(params, X[:8], y[:8], loss, LR)
        run = lambda: numpy_step(params, X, y, loss, LR)  # noqa: E731
    elif framework == "torch":
        import torch

        ps = [torch.tensor(p, requires_grad=True) for p in params]
        opt = torch.optim.SGD(ps, lr=LR)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def run():
            h = Xt
            for i in range(3):
                h = torch.nn.functional.linear(h, ps[2 * i], ps[2 * i + 1])
                if i < 2:
                    h = torch.relu(h)
            torch.nn.functional.cross_entropy(h, yt).backward()
            opt.step()
            opt.zero_grad()
    else:
        return float("nan")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024


def worker(framework: str, quick: bool) -> dict:
    sys.path.insert(0, str(HERE))
    out: dict = {"steps": {}, "input_grad": {}}
    fn = {
        "floor": work_floor,
        "pat_replay": lambda n, q, input_grad=False: work_pat(n, q, True, input_grad),
        "pat_replay_before": lambda n, q, input_grad=False: work_pat(n, q, True, input_grad),
        "pat_replay_fused": lambda n, q, input_grad=False: work_pat(n, q, True, input_grad,
                                                                    fuse=True),
        "pat_eager": lambda n, q, input_grad=False: work_pat(n, q, False, input_grad),
        "numpy": work_numpy,
        "torch": work_torch,
        "torch_lean": work_torch_lean,
        "torch_compile": work_torch_compile,
        "jax": work_jax,
    }[framework]
    threads = int(os.environ["BENCH_THREADS"])
    if framework in ("pat_replay", "pat_replay_before", "pat_replay_fused", "pat_eager",
                     "floor"):
        import pyautotape as pat

        pat.set_num_threads(threads)
    if framework == "numpy":
        # NumPy's own OpenBLAS: OPENBLAS_NUM_THREADS reaches it only before it loads
        import numpy as np  # noqa: F401
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        got = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        if got != {threads}:
            raise RuntimeError(f"NumPy's BLAS runs {got} threads, not {threads}")
    for name in ("tiny", "small", "mnist", "large"):
        out["steps"][name] = fn(name, quick)
    if framework in ("pat_replay", "pat_replay_before", "pat_eager", "torch", "torch_lean",
                     "jax", "floor"):
        out["input_grad"]["large"] = fn("large", quick, input_grad=True)
        if framework == "floor":
            out["input_grad"]["large_all"] = fn("large", quick, input_grad=False)
    if framework == "floor":
        out["sgemm_rate"] = sgemm_rate(quick)
    if framework == "pat_eager":
        out["overhead"] = overhead_per_op(quick)
        out["backward_large"] = backward_only_large(quick)
    return out


def backward_only_large(quick: bool) -> dict[str, float]:
    """Median µs of the backward alone of the large MLP (784-1024-1024-10 b256): the
    gradient w.r.t. the input only (no weight-gradient GEMMs) and all gradients. Each
    repetition records a fresh forward, untimed."""
    from models import make_data

    import pyautotape as pat

    params, X, y, _ = make_data("large")
    ps = [pat.tensor(p, requires_grad=True) for p in params]
    x = pat.tensor(X, requires_grad=True)
    result = {}
    for name, wrt in (("input_only", [x]), ("all", [x, *ps])):
        times = []
        for _ in range(5 if quick else 15):
            h = pat.relu(pat.linear(x, ps[0], ps[1]))
            h = pat.relu(pat.linear(h, ps[2], ps[3]))
            loss = pat.cross_entropy(pat.linear(h, ps[4], ps[5]), y)
            t = time.perf_counter()
            pat.autograd.grad(loss, wrt)
            times.append(time.perf_counter() - t)
        times.sort()
        result[name] = times[len(times) // 2] * 1e6
    return result


def overhead_per_op(quick: bool) -> dict[str, float]:
    """µs per recorded op of a chain of 100 one-element adds: forward (validate, allocate,
    C call, record) and forward + backward (also gather, pack, sweep). The C work is a
    few ns, so this is the Python overhead per op."""
    import numpy as np

    import pyautotape as pat

    x = pat.tensor(np.ones(1, np.float32), requires_grad=True)

    def chain():
        y = x
        for _ in range(100):
            y = y + 1.0
        return y

    reps = 50 if quick else 300
    fwd = _median_us(chain, reps) / 100
    both = _median_us(lambda: chain().backward(), reps) / 100
    return {"forward": fwd, "forward_backward": both}


# ---------------------------------------------------------------------------------------
# driver


def _available(framework: str, baseline: str | None = None) -> bool:
    if framework == "pat_replay_before":
        return baseline is not None
    if framework == "torch_compile" and not os.environ.get("BENCH_TORCH_COMPILE"):
        return False  # minutes of compiling per workload: opt in with BENCH_TORCH_COMPILE=1
    mod = {"torch": "torch", "torch_lean": "torch", "torch_compile": "torch",
           "jax": "jax"}.get(framework)
    if mod is None:
        return True
    code = f"import {mod}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _run_worker(framework: str, threads: int, quick: bool, memory: bool = False,
                baseline: str | None = None) -> dict:
    env = dict(os.environ)
    # the pyautotape measured: this checkout's, or the --baseline checkout's (built in place)
    root = baseline if framework == "pat_replay_before" else str(HERE.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["BENCH_THREADS"] = str(threads)
    env["XLA_FLAGS"] = (
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if threads == 1
        else ""
    )
    args = [sys.executable, __file__, "--worker", framework] + (["--quick"] if quick else [])
    if memory:
        args.append("--memory")
    pin = os.environ.get("BENCH_CPUS")  # e.g. "1": taskset -c 1 for every worker
    if pin and threads == 1:
        args = ["taskset", "-c", pin] + args
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _versions() -> dict[str, str]:
    import numpy as np

    import pyautotape as pat

    v = {"python": platform.python_version(), "numpy": np.__version__,
         "pyautotape": pat.__version__, "openblas": pat.runtime.blas_config()}
    for mod in ("torch", "jax"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return v


def report(results: dict, quick: bool) -> str:
    sys.path.insert(0, str(HERE))
    from models import WORKLOADS, gemm_flops

    lines = []
    v = _versions()
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    lines.append("## Training step: pyautotape vs NumPy, PyTorch, JAX (bench/compare.py)\n")
    lines.append(
        f"Machine: {cpu}, {os.cpu_count()} cores; "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + (" (quick run)" if quick else "")
        + ".\n"
    )
    lines.append(
        "One float32 SGD training step (forward, loss, backward, update), median in µs "
        "(CPU time of the process with 1 thread, wall time with 2; each sample a batch of "
        "calls of ~0.2 ms); "
        "in brackets the ratio to the FLOP floor of the same run (the step's GEMM FLOPs at "
        "the rate of one 1024³ sgemm through the same OpenBLAS). Each framework ran in its "
        "own process, all in one run.\n"
    )
    for threads, res in sorted((k, v) for k, v in results.items() if isinstance(k, int)):
        floor = res.get("floor", {})
        rate = floor.get("sgemm_rate")
        if rate is None:
            continue
        lines.append(f"\n### {threads} thread{'s' if threads > 1 else ''} "
                     f"(sgemm 1024³: {rate / 1e9:.0f} GFLOP/s)\n")
        names = list(WORKLOADS)
        header = "| framework | " + " | ".join(
            f"{n} {'-'.join(map(str, WORKLOADS[n][0]))} b{WORKLOADS[n][1]}" for n in names
        ) + " |"
        lines.append(header)
        lines.append("|---" * (len(names) + 1) + "|")
        flop_floor = {n: gemm_flops(n) / rate * 1e6 for n in names}
        lines.append("| FLOP floor | " + " | ".join(f"{flop_floor[n]:.1f}" for n in names) + " |")
        for fw in FRAMEWORKS:
            r = res.get(fw)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {fw} | error: {r['error']} |")
                continue
            cells = []
            for n in names:
                t = r["steps"][n]
                cells.append(f"{t:.1f} ({t / flop_floor[n]:.2f}×)")
            label = LABELS[fw]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        ig = [(fw, r["input_grad"]["large"]) for fw, r in res.items()
              if "input_grad" in r and "large" in r.get("input_grad", {})]
        if ig:
            lines.append(
                "\nGradient w.r.t. the input only (forward + backward, no update) on large, "
                f"vs the full step of the same framework; GEMM FLOPs ratio "
                f"{gemm_flops('large', True) / gemm_flops('large'):.2f}:\n"
            )
            for fw, t in ig:
                full = res[fw]["steps"]["large"]
                if fw == "floor":
                    full = res[fw]["input_grad"]["large_all"]
                lines.append(f"- {fw}: {t:.0f} µs, {t / full:.2f}× the all-gradients step")
    for threads, res in sorted((k, v) for k, v in results.items() if isinstance(k, int)):
        ov = res.get("pat_eager", {}).get("overhead")
        if ov:
            lines.append(
                f"\nPython overhead per recorded op ({threads} thread(s); a chain of 100 "
                f"one-element adds): {ov['forward']:.2f} µs forward, "
                f"{ov['forward_backward']:.2f} µs forward + backward."
            )
            bl = res["pat_eager"].get("backward_large")
            if bl:
                lines.append(
                    f"\nBackward alone of the large MLP (eager, {threads} thread(s)): "
                    f"gradient w.r.t. the input only {bl['input_only']:.0f} µs, all "
                    f"gradients {bl['all']:.0f} µs: {bl['input_only'] / bl['all']:.2f}× "
                    "(its GEMM FLOPs are 0.64× as many)."
                )
            break
    mem = results.get("memory")
    if mem:
        lines.append(
            "\nMemory of one large-MLP step at batch 4096, MiB: peak RSS growth of one step "
            "(eager, NumPy, PyTorch), or what the recording holds besides the parameters "
            "(replay: gradients, input copy, activations kept for backward, adjoint scratch). "
            "The analytic minimum held after forward is 32.2 MiB (two hidden activations "
            "and the logits, 4096×(1024+1024+10)×4 B):\n"
        )
        for fw, m in mem.items():
            lines.append(f"- {fw}: {m:.1f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--write", action="store_true", help="rewrite the section in RESULTS.md")
    ap.add_argument("--baseline", help="another checkout (built in place): its replay is "
                    "measured in the same run, as 'replay, before'")
    args = ap.parse_args()
    if args.worker:
        sys.path.insert(0, str(HERE))
        if args.memory:
            print(json.dumps({"mib": peak_memory_mib(args.worker)}))
        else:
            print(json.dumps(worker(args.worker, args.quick)))
        return
    sys.path.insert(0, str(HERE.parent))  # this checkout's pyautotape (workers: PYTHONPATH)
    results: dict = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        results[threads] = {}
        for fw in FRAMEWORKS:
            if not _available(fw, args.baseline):
                continue
            print(f"{fw} ({threads} thread(s))...", file=sys.stderr, flush=True)
            results[threads][fw] = _run_worker(fw, threads, args.quick, baseline=args.baseline)
    results["memory"] = {}
    for fw in ("pat_replay", "pat_eager", "numpy", "torch"):
        if _available(fw):
            r = _run_worker(fw, 1, args.quick, memory=True)
            if "mib" in r:
                results["memory"][fw] = r["mib"]
    text = report({k: v for k, v in results.items()}, args.quick)
    print(text)
    (HERE / "last_compare.json").write_text(json.dumps(results, indent=1, default=str))
    if args.write:
        _write_section(text)


def _write_section(text: str) -> None:
    path = HERE / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    start = old.find("## Training step:")
    if start >= 0:
        end = old.find("\n## ", start + 1)
        old = old[:start] + (old[end + 1 :] if end >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
