"""Finite differences: what they cost, how their error depends on the step, and why
reverse mode replaced them.

* Cost: the forward difference (f(x + h e_j) - f(x)) / h needs n + 1 evaluations of f for
  n inputs, the central difference (f(x + h e_j) - f(x - h e_j)) / 2h needs 2n. Reverse
  mode needs one forward and one backward pass, whatever n is.
* Error: truncation falls as h (forward) or h² (central), round-off grows as ε/h, so the
  error against h is a V whose bottom sits near √ε (forward) and ∛ε (central): about 1e-8
  and 1e-5 in float64, 3e-4 and 5e-3 in float32.
* On an MLP with about 10,000 parameters, central differences take 2n ≈ 22,000 forward
  passes and are still only accurate to ~1e-9; reverse mode is exact to round-off.

    python examples/course/c02_finite_differences.py          # every parameter
    python examples/course/c02_finite_differences.py --small  # a sample of 1,500, timed and scaled
"""

import time

import numpy as np
from _common import best_time, parse, pyplot, save, table

import pyautotape as pat

args = parse(__doc__)

# ---- 1. cost: count the evaluations -------------------------------------------------
calls = [0]


def counted(t):
    calls[0] += 1
    return (pat.tanh(t) * pat.exp(t)).sum()


x5 = np.linspace(-1, 1, 5)
for method, want in (("forward", 5 + 1), ("central", 2 * 5)):
    calls[0] = 0
    pat.numerical_grad(counted, x5, eps=1e-6, method=method)
    print(f"{method} differences, n = 5 inputs: {calls[0]} evaluations of f")
    assert calls[0] == want

# ---- 2. error against the step: the V-curve ----------------------------------------
x0 = 0.7
exact = float(pat.grad(lambda t: pat.tanh(t) * pat.exp(t))(np.array(x0)))
curves = {}
grids = ((np.float64, np.arange(1, 14.01, 0.5)), (np.float32, np.arange(1, 7.01, 0.25)))
for dtype, exps in grids:
    for method in ("forward", "central"):
        eps = 10.0 ** -exps
        err = []
        for h in eps:
            g = pat.numerical_grad(lambda t: pat.tanh(t) * pat.exp(t), np.array(x0, dtype),
                                   eps=float(h), method=method)
            err.append(abs(float(g) - exact))
        curves[(np.dtype(dtype).name, method)] = (eps, np.array(err))
rows = []
for (dt, method), (eps, err) in curves.items():
    b = int(np.argmin(err))
    rows.append((f"{dt} {method}", f"{eps[b]:.0e}", f"{err[b]:.1e}", f"{err[0]:.1e}",
                 f"{err[-1]:.1e}"))
print("\nd/dx tanh(x)·exp(x) at x = 0.7, error of finite differences against the exact value")
print(table(rows, ("dtype / method", "best eps", "error there", f"at {1e-1:.0e}", "at smallest")))
best = {k: (v[0][int(np.argmin(v[1]))], v[1].min()) for k, v in curves.items()}
assert 1e-10 <= best[("float64", "forward")][0] <= 1e-6  # ~ sqrt(eps64) = 1.5e-8
assert 1e-7 <= best[("float64", "central")][0] <= 1e-3  # ~ cbrt(eps64) = 6e-6
assert best[("float64", "central")][1] < 1e-9 and best[("float64", "forward")][1] < 1e-6
assert best[("float32", "central")][1] > 1e-7  # float32 can never get close
for _, err in curves.values():  # both arms of the V
    assert err[0] > 10 * err.min() and err[-1] > 10 * err.min()

# ---- 3. a 10,000-parameter MLP: finite differences against reverse mode -------------
pat.manual_seed(0)
model = pat.nn.MLP([20, 100, 80, 10], dtype=np.float64)  # float64: FD has a chance
rng = np.random.default_rng(0)
X = pat.tensor(rng.standard_normal((64, 20)))
y = np.arange(64) % 10
params = list(model.parameters())
n = sum(p.size for p in params)
print(f"\nMLP 20-100-80-10 (ReLU), batch 64, float64: {n:,} parameters")
assert 9_000 <= n <= 12_000


def loss_value():
    with pat.no_grad():
        return pat.cross_entropy(model(X), y).item()


def reverse():
    model.zero_grad()
    pat.cross_entropy(model(X), y).backward()
    return np.concatenate([p.grad.numpy().ravel() for p in params])


g_rev = reverse()
t_rev = best_time(reverse, repeat=5)
entries = [(p, i) for p in params for i in range(p.size)]
sample = entries
if args.small:
    pick = rng.choice(len(entries), 1500, replace=False)
    sample = [entries[i] for i in sorted(pick)]
    rev_sample = g_rev[np.sort(pick)]
else:
    rev_sample = g_rev


def finite_differences(h, method):
    out = np.empty(len(sample))
    f0 = loss_value() if method == "forward" else 0.0
    for k, (p, i) in enumerate(sample):
        flat = p.data.reshape(-1)
        keep = flat[i]
        flat[i] = keep + h
        fp = loss_value()
        if method == "central":
            flat[i] = keep - h
            out[k] = (fp - loss_value()) / (2 * h)
        else:
            out[k] = (fp - f0) / h
        flat[i] = keep
    return out


rows = [("reverse mode", "1 fwd + 1 bwd", f"{t_rev * 1e3:.2f} ms", "-", "-", "1")]
scale = n / len(sample)
results = {}
for method, h in (("forward", 1e-8), ("central", 1e-3), ("central", 1e-6), ("central", 1e-9)):
    t0 = time.perf_counter()
    g = finite_differences(h, method)
    t = (time.perf_counter() - t0) * scale
    err = np.abs(g - rev_sample)
    evals = n + 1 if method == "forward" else 2 * n
    rows.append((f"{method} eps={h:.0e}", f"{evals:,}", f"{t:.2f} s", f"{err.max():.1e}",
                 f"{np.median(err / np.maximum(np.abs(rev_sample), 1e-12)):.1e}",
                 f"{t / t_rev:,.0f}"))
    results[(method, h)] = (t, err.max())
print(table(rows, ("method", "f evaluations", "time", "max abs err", "median rel err",
                   "x reverse time")))
if args.small:
    print("(finite differences timed on 1,500 sampled parameters and scaled to all)")
t_c, err_c = results[("central", 1e-6)]
assert t_c > 50 * t_rev  # 2n forward passes against one forward and one backward


def relu_signs():
    """The sign of every ReLU argument in the network, layer by layer."""
    signs, h = [], X
    with pat.no_grad():
        for layer in model.layers:
            if isinstance(layer, pat.nn.ReLU):
                signs.append(np.sign(h.numpy()))
            h = layer(h)
    return signs


# the worst entries of central differences sit next to a ReLU kink: the step flips a sign
h = 1e-6
g = finite_differences(h, "central")
err = np.abs(g - rev_sample)
bad = np.flatnonzero(err > 1e-6)
crossed = 0
for k in bad:
    p, i = sample[k]
    flat = p.data.reshape(-1)
    keep = flat[i]
    flat[i] = keep + h
    up = relu_signs()
    flat[i] = keep - h
    down = relu_signs()
    flat[i] = keep
    crossed += any(not np.array_equal(a, b) for a, b in zip(up, down, strict=True))
print(f"central eps=1e-6: {len(bad)} of {len(sample):,} entries are off by more than 1e-6; "
      f"in {crossed} of them the step flips a ReLU sign (a kink crossed)")
good = np.setdiff1d(np.arange(len(sample)), bad)
print(f"elsewhere the max abs error is {err[good].max():.1e}")
assert crossed == len(bad)  # every large error is a kink crossing ...
assert err[good].max() < 1e-6  # ... and elsewhere central differences agree to ~1e-8

plt = pyplot()
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (dt, method), (eps, err) in curves.items():
        ax.loglog(eps, np.maximum(err, 1e-17), "-" if dt == "float64" else "--",
                  label=f"{dt} {method}")
    ax.set_xlabel("step eps")
    ax.set_ylabel("|finite difference - exact|")
    ax.set_title("truncation vs round-off: the V-curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, args.png_dir, "c02_eps_v_curve.png")
print("claims hold: n+1 / 2n evaluations; a V-curve with its bottom near sqrt/cbrt(eps);"
      " reverse mode is exact and far cheaper")
