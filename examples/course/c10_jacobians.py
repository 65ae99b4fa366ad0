"""Jacobians of functions with several inputs and outputs.

For f: R^n -> R^m the Jacobian J[i, j] = ∂f_i/∂x_j has m rows and n columns; for tensors
its layout is the output's shape followed by the input's shape (as JAX and torch.func).
Reverse mode gives rows (uᵀJ for any cotangent u: ``pat.vjp``), forward mode gives
columns (J v: ``pat.jvp``); ``pat.jacrev``/``pat.jacfwd`` stack all of them in one batched
sweep and ``pat.jacobian`` picks the cheaper. Second derivatives (``pat.hessian``,
``pat.hvp``) are exact: forward over reverse. This script checks them all against
Jacobians and a Hessian worked out by hand.

    python examples/course/c10_jacobians.py
"""

import numpy as np
from _common import parse

import pyautotape as pat

args = parse(__doc__)
rng = np.random.default_rng(0)


# ---- f: R^3 -> R^2 -----------------------------------------------------------------
def f(x):
    return pat.concatenate([(x[0] ** 2 * x[1]).reshape(1),
                            (pat.exp(x[1]) + pat.tanh(x[0] * x[2])).reshape(1)])


def jac_hand(x):
    a, b, c = x
    s = 1 - np.tanh(a * c) ** 2
    return np.array([[2 * a * b, a * a, 0.0], [c * s, np.exp(b), a * s]])


x = rng.standard_normal(3)
J = jac_hand(x)
print("f(x) = [x0² x1, exp(x1) + tanh(x0 x2)] at x =", np.round(x, 4))
print("Jacobian by hand (2 x 3):\n", np.round(J, 6))
for name, fn in (("jacfwd", pat.jacfwd), ("jacrev", pat.jacrev), ("jacobian", pat.jacobian)):
    got = fn(f)(x)
    assert got.shape == (2, 3) and np.allclose(got, J, atol=1e-14), name
print("jacfwd, jacrev and jacobian(mode='auto') agree with it; auto chose",
      pat.transforms.last_jacobian_mode())
out, vjp_fn = pat.vjp(f, x)
u = rng.standard_normal(2)
(uJ,) = vjp_fn(u)
assert np.allclose(uJ, u @ J, atol=1e-14)  # any cotangent, not only a basis vector
v = rng.standard_normal(3)
_, Jv = pat.jvp(f, (x,), (v,))
assert np.allclose(Jv, J @ v, atol=1e-14)
print("vjp with a random cotangent u gives uᵀJ; jvp with a random v gives J v")

# ---- tensor in, tensor out: layout is output shape + input shape ---------------------
n = 3 if args.small else 6
A = rng.standard_normal((n, 4))
X = rng.standard_normal((2, n))
JX = pat.jacobian(lambda t: pat.tanh(t @ pat.tensor(A)))(X)  # (2, 4) out, (2, n) in
Y = np.tanh(X @ A)
want = np.einsum("ik,ij,lj->ijkl", np.eye(2), 1 - Y**2, A)  # δ_ik (1 - y_ij²) A[l, j]
assert JX.shape == (2, 4, 2, n) and np.allclose(JX, want, atol=1e-14)
print(f"X (2, {n}) -> tanh(X A) (2, 4): Jacobian shape {JX.shape}, entries match by hand")

# ---- two arguments at once -----------------------------------------------------------
W = rng.standard_normal((4, n))
Jx, JW = pat.jacrev(lambda x, w: pat.linear(x, w), argnums=(0, 1))(X[0], W)
assert Jx.shape == (4, n) and np.allclose(Jx, W)
assert JW.shape == (4, 4, n) and np.allclose(JW, np.einsum("ik,l->ikl", np.eye(4), X[0]))
print("argnums=(0, 1): one Jacobian per argument, (4, n) and (4, 4, n)")


# ---- the Hessian of a scalar function ------------------------------------------------
def g(x):
    return x[0] ** 2 * x[1] + pat.exp(x[1] * x[2])


def hess_hand(x):
    a, b, c = x
    e = np.exp(b * c)
    return np.array([[2 * b, 2 * a, 0.0],
                     [2 * a, c * c * e, e + b * c * e],
                     [0.0, e + b * c * e, b * b * e]])


H = pat.hessian(g)(x)
assert np.allclose(H, hess_hand(x), atol=1e-13) and np.allclose(H, H.T)
_, Hv = pat.hvp(g, (x,), (v,))
assert np.allclose(Hv, hess_hand(x) @ v, atol=1e-13)
print("hessian(g) and hvp match the Hessian by hand (exact: no finite differences)")
print("claims hold: Jacobians in every layout and mode, vjp/jvp with any seed, exact Hessians")
