"""pytest-benchmark: Jacobians of MLPs R^784 -> R^10 and R^10 -> R^784 (tanh hidden
layers, float32, one BLAS thread) in the three modes of pat.jacobian, against
torch.func.jacfwd/jacrev and jax.jacfwd/jacrev (jitted) when installed; and one batched
sweep over all seeds against a Python loop of one-seed sweeps over the same tape.

Run:            python -m pytest bench/bench_jacobian.py --benchmark-only
Write results:  python bench/bench_jacobian.py   (runs the above, then rewrites the
                "## Jacobians" section of bench/RESULTS.md from its medians)
"""

import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

# one thread for XLA too; must be set before jax is imported
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pyautotape as pat  # noqa: E402
from pyautotape import transforms  # noqa: E402

pat.set_num_threads(1)

SHAPES = {"784->10": (784, 256, 128, 10), "10->784": (10, 128, 256, 784)}
HERE = pathlib.Path(__file__).resolve().parent


def _params(sizes):
    rng = np.random.default_rng(0)
    return [((rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32),
             (0.1 * rng.standard_normal(o)).astype(np.float32))
            for i, o in zip(sizes[:-1], sizes[1:], strict=True)]


def _input(sizes):
    return np.random.default_rng(1).standard_normal(sizes[0]).astype(np.float32)


def _pat_mlp(params):
    ts = [(pat.tensor(w), pat.tensor(b)) for w, b in params]

    def f(x):
        for layer, (w, b) in enumerate(ts):
            x = pat.linear(x, w, b)
            if layer < len(ts) - 1:
                x = pat.tanh(x)
        return x

    return f


# ---- the Jacobian, three modes --------------------------------------------------------


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.benchmark(group="jacobian")
def test_pat_jacobian(benchmark, shape, mode):
    sizes = SHAPES[shape]
    f, x = _pat_mlp(_params(sizes)), _input(sizes)
    jac = pat.jacobian(f, mode=mode)
    result = benchmark(jac, x)
    benchmark.extra_info.update(lib="pat", shape=shape, mode=mode,
                                chosen=transforms.last_jacobian_mode())
    assert result.shape == (sizes[-1], sizes[0])
    other = pat.jacobian(f, mode="rev" if transforms.last_jacobian_mode() == "fwd" else "fwd")(x)
    np.testing.assert_allclose(result, other, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.benchmark(group="auto-vs-best")
def test_pat_auto_against_best_interleaved(benchmark, shape):
    """fwd, rev and auto timed in turn, round after round, so a change of machine load
    between separate benchmarks cannot tilt their ratio. Each round visits the modes in a
    random order and times a mode's second call in a row, so every timed call follows one
    of its own (no mode is always timed right after the expensive one). The medians land
    in extra_info; the benchmark's own time is that of one whole round."""
    sizes = SHAPES[shape]
    f, x = _pat_mlp(_params(sizes)), _input(sizes)
    modes = ["fwd", "rev", "auto"]
    jacs = {m: pat.jacobian(f, mode=m) for m in modes}
    times: dict[str, list[float]] = {m: [] for m in modes}
    rng = np.random.default_rng(0)

    def one_round():
        for m in rng.permutation(modes):
            jacs[m](x)
            start = time.perf_counter()
            jacs[m](x)
            times[m].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=150, iterations=1, warmup_rounds=6)
    med = {m: float(np.median(times[m])) for m in modes}
    jacs["auto"](x)
    benchmark.extra_info.update(
        lib="pat", shape=shape, mode="interleaved", chosen=transforms.last_jacobian_mode(),
        **{f"median_{m}": med[m] for m in modes},
        ratio=med["auto"] / min(med["fwd"], med["rev"]),
    )


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.benchmark(group="jacobian")
def test_torch_jacobian(benchmark, shape, mode):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    sizes = SHAPES[shape]
    ps = [(torch.tensor(w), torch.tensor(b)) for w, b in _params(sizes)]

    def f(x):
        for layer, (w, b) in enumerate(ps):
            x = torch.nn.functional.linear(x, w, b)
            if layer < len(ps) - 1:
                x = torch.tanh(x)
        return x

    x = torch.tensor(_input(sizes))
    jac = (torch.func.jacfwd if mode == "fwd" else torch.func.jacrev)(f)
    result = benchmark(jac, x)
    benchmark.extra_info.update(lib="torch", shape=shape, mode=mode)
    want = pat.jacobian(_pat_mlp(_params(sizes)))(_input(sizes))
    np.testing.assert_allclose(result.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.benchmark(group="jacobian")
def test_jax_jacobian(benchmark, shape, mode):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    sizes = SHAPES[shape]
    ps = [(jnp.asarray(w), jnp.asarray(b)) for w, b in _params(sizes)]

    def f(x):
        for layer, (w, b) in enumerate(ps):
            x = x @ w.T + b
            if layer < len(ps) - 1:
                x = jnp.tanh(x)
        return x

    x = jnp.asarray(_input(sizes))
    jac = jax.jit((jax.jacfwd if mode == "fwd" else jax.jacrev)(f))
    jac(x).block_until_ready()  # compile outside the timing
    result = benchmark(lambda: jac(x).block_until_ready())
    benchmark.extra_info.update(lib="jax", shape=shape, mode=mode)
    want = pat.jacobian(_pat_mlp(_params(sizes)))(_input(sizes))
    np.testing.assert_allclose(np.asarray(result), want, rtol=1e-4, atol=1e-5)


# ---- one batched sweep against a Python loop of one-seed sweeps ------------------------


def _program_and_seeds(shape, mode):
    sizes = SHAPES[shape]
    prog = transforms._program(_pat_mlp(_params(sizes)), [_input(sizes)], [0], "bench")
    k = sizes[0] if mode == "fwd" else sizes[-1]
    seeds = np.eye(k, dtype=np.float32)
    return prog, seeds, k


def _batched(prog, seeds, k, mode):
    if mode == "fwd":
        return prog.out_tangent(prog.tangents([seeds], k), k)
    return prog.adjoints(seeds)[0]


def _looped(prog, seeds, k, mode):
    if mode == "fwd":
        return np.stack([prog.out_tangent(prog.tangents([seeds[j : j + 1]], 1), 1)[0]
                         for j in range(k)])
    return np.stack([prog.adjoints(seeds[j : j + 1])[0][0] for j in range(k)])


@pytest.mark.parametrize("how", ["batched", "loop"])
@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.benchmark(group="seeds")
def test_sweep_over_seeds(benchmark, shape, mode, how):
    prog, seeds, k = _program_and_seeds(shape, mode)
    run = _batched if how == "batched" else _looped
    result = benchmark(run, prog, seeds, k, mode)
    benchmark.extra_info.update(lib="pat", shape=shape, mode=mode, how=how, seeds=k)
    np.testing.assert_allclose(result, _batched(prog, seeds, k, mode), rtol=1e-5, atol=1e-6)


# ---- the RESULTS.md section -------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} when the report was written"
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}{load}"


def _versions() -> str:
    parts = [f"pyautotape {pat.__version__}", f"numpy {np.__version__}"]
    for name in ("torch", "jax"):
        try:
            parts.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def _section(runs: list[dict]) -> str:
    med: dict = {}
    paired: dict = {}
    for b in runs:
        info = b["extra_info"]
        if info.get("mode") == "interleaved":
            paired[info["shape"]] = info
            continue
        key = (info["lib"], info["shape"], info["mode"], info.get("how"))
        med[key] = b["stats"]["median"] * 1e3
        if info["lib"] == "pat" and info["mode"] == "auto":
            med[("chosen", info["shape"])] = info["chosen"]

    def ms(key):
        return f"{med[key]:.3f}" if key in med else "n/a"

    lines = [
        "## Jacobians",
        "",
        f"`bench/bench_jacobian.py`, run {datetime.date.today().isoformat()} on {_machine()};",
        f"{_versions()}. One BLAS thread everywhere (`pat.set_num_threads(1)`,",
        "`torch.set_num_threads(1)`, XLA single-threaded); float32; medians in ms of",
        "pytest-benchmark rounds. MLPs with tanh hidden layers: 784-256-128-10 and",
        "10-128-256-784; the Jacobian of one input vector (layout: output shape + input",
        "shape). JAX functions are jitted and compiled before timing. On a shared machine",
        "absolute times move with its load from run to run; the ratios below are measured",
        "within one run (the auto ratio within the same rounds).",
        "",
        "| f | pat fwd | pat rev | pat auto (chose) | torch jacfwd | torch jacrev "
        "| jax jacfwd | jax jacrev |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        lines.append(
            f"| R^{shape.split('->')[0]} -> R^{shape.split('->')[1]} "
            f"| {ms(('pat', shape, 'fwd', None))} | {ms(('pat', shape, 'rev', None))} "
            f"| {ms(('pat', shape, 'auto', None))} ({med[('chosen', shape)]}) "
            f"| {ms(('torch', shape, 'fwd', None))} | {ms(('torch', shape, 'rev', None))} "
            f"| {ms(('jax', shape, 'fwd', None))} | {ms(('jax', shape, 'rev', None))} |"
        )
    lines += [
        "",
        "`auto` against the faster of `fwd` and `rev`, timed in turn within the same rounds",
        "(150 rounds, modes in random order, each timed on its second call in a row), so",
        "that load changes between the separate benchmarks above cannot tilt the ratio:",
        "",
        "| f | auto chose | fwd | rev | auto | auto / best |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for shape in SHAPES:
        p = paired[shape]
        verdicts.append(p["ratio"] <= 1.2)
        lines.append(
            f"| {shape} | {p['chosen']} | {p['median_fwd'] * 1e3:.3f} "
            f"| {p['median_rev'] * 1e3:.3f} | {p['median_auto'] * 1e3:.3f} | {p['ratio']:.2f} |"
        )
    lines += [
        "",
        "One batched sweep pushing all seeds (dense ops: one GEMM for all of them) against a",
        "Python loop of one-seed sweeps over the same recorded tape:",
        "",
        "| f | mode | seeds | batched sweep | loop over seeds | loop / batched |",
        "|---|---|---|---|---|---|",
    ]
    faster = []
    for shape in SHAPES:
        for mode in ("fwd", "rev"):
            b = med[("pat", shape, mode, "batched")]
            lp = med[("pat", shape, mode, "loop")]
            faster.append(b < lp)
            k = SHAPES[shape][0] if mode == "fwd" else SHAPES[shape][-1]
            lines.append(f"| {shape} | {mode} | {k} | {b:.3f} | {lp:.3f} | {lp / b:.1f}x |")
    lines += [
        "",
        f"Acceptance: `jacobian(mode=\"auto\")` within 1.2x of the faster mode on both shapes: "
        f"{'yes' if all(verdicts) else 'NO'}; the batched sweep faster than the loop over "
        f"seeds in every case: {'yes' if all(faster) else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def write_results(path: pathlib.Path = HERE / "RESULTS.md") -> str:
    """Run this file under pytest-benchmark and put its section into RESULTS.md, leaving
    every other section as it is."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "bench.json"
        subprocess.run([sys.executable, "-m", "pytest", __file__, "--benchmark-only", "-q",
                        f"--benchmark-json={out}"], check=True)
        runs = json.loads(out.read_text())["benchmarks"]
    section = _section(runs)
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, s in enumerate(lines) if s.rstrip() == "## Jacobians"), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        rest = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
    path.write_text(text)
    return section


if __name__ == "__main__":
    print(write_results())
