"""Forward or reverse? For f: R^n -> R^m the full Jacobian takes n tangent sweeps
(forward mode, one per input direction) or m adjoint sweeps (reverse mode, one per output
direction). Each sweep costs a small multiple of one evaluation of f, so forward mode wins
when n < m and reverse mode when n > m: the gradient of a scalar loss (m = 1) over many
parameters is the case reverse mode was made for.

pyautotape pushes all seeds of a Jacobian through one batched sweep (dense ops stack them
into one GEMM), and ``pat.jacobian(f, mode="auto")`` picks forward exactly when n < m.
This script measures both modes on f(x) = W2 tanh(W1 x) (hidden width 128) as n and m
vary: the GEMM FLOPs the C core counts, and the time.

    python examples/course/c05_forward_vs_reverse.py
"""

import numpy as np
from _common import best_time, parse, pyplot, save, table

import pyautotape as pat

args = parse(__doc__)
hidden = 128
rng = np.random.default_rng(0)
sizes = [4, 16, 64, 256] if args.small else [4, 16, 64, 256, 1024]
fixed = 64


def measure(n, m):
    W1 = pat.tensor(rng.standard_normal((hidden, n)) / np.sqrt(n))
    W2 = pat.tensor(rng.standard_normal((m, hidden)) / np.sqrt(hidden))

    def f(x):
        return pat.linear(pat.tanh(pat.linear(x, W1)), W2)

    x = rng.standard_normal(n)
    Jf = pat.jacfwd(f)(x)
    flops_f = pat.transforms.last_sweep_stats()["gemm_flops"]
    Jr = pat.jacrev(f)(x)
    flops_r = pat.transforms.last_sweep_stats()["gemm_flops"]
    assert Jf.shape == Jr.shape == (m, n) and np.allclose(Jf, Jr, atol=1e-12)
    pat.jacobian(f)(x)
    auto = pat.transforms.last_jacobian_mode()
    t_f = best_time(lambda: pat.jacfwd(f)(x), repeat=3 if args.small else 7)
    t_r = best_time(lambda: pat.jacrev(f)(x), repeat=3 if args.small else 7)
    return flops_f, flops_r, t_f, t_r, auto


results = {}
rows = []
for n, m in [(n, fixed) for n in sizes] + [(fixed, m) for m in sizes if m != fixed]:
    ff, fr, tf, tr, auto = measure(n, m)
    results[(n, m)] = (ff, fr, tf, tr, auto)
    rows.append((f"{n} -> {m}", f"{ff:,}", f"{fr:,}", f"{tf * 1e3:.3f}", f"{tr * 1e3:.3f}",
                 "fwd" if tf < tr else "rev", auto))
print(f"Jacobian of f(x) = W2 tanh(W1 x), hidden {hidden}, float64: sweep GEMM FLOPs and time")
print(table(rows, ("n -> m", "fwd FLOPs", "rev FLOPs", "fwd ms", "rev ms", "faster", "auto")))

for (n, m), (ff, fr, _, _, auto) in results.items():
    # each mode's GEMM work is (number of seeds) x (the same per-seed work)
    assert ff * m == fr * n, (n, m, ff, fr)
    assert auto == ("fwd" if n < m else "rev")  # auto picks the mode with fewer FLOPs
    assert (ff < fr) == (n < m)
# the measured crossover of the time lies near n = m
n_sweep = [(n, results[(n, fixed)]) for n in sizes]
fwd_wins = [n for n, r in n_sweep if r[2] < r[3]]
rev_wins = [n for n, r in n_sweep if r[2] >= r[3]]
print(f"\nwith m = {fixed}: forward mode faster for n in {fwd_wins}, reverse for n in {rev_wins}")
# (times are shown, not asserted: at these sizes per-sweep overhead blurs them; the
# FLOPs above are exact and decide the crossover)

plt = pyplot()
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(sizes, [results[(n, fixed)][2] * 1e3 for n in sizes], "o-", label="jacfwd")
    ax.loglog(sizes, [results[(n, fixed)][3] * 1e3 for n in sizes], "s-", label="jacrev")
    ax.axvline(fixed, color="gray", ls=":", label=f"n = m = {fixed}")
    ax.set_xlabel("n (inputs)")
    ax.set_ylabel("time for the full Jacobian (ms)")
    ax.set_title(f"R^n -> R^{fixed}: forward vs reverse mode")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    save(fig, args.png_dir, "c05_crossover.png")
print("claims hold: forward costs scale with n, reverse with m; the crossover is at n = m")
