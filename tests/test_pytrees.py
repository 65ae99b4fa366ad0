"""Pytrees (pyautotape.pytree) and the transforms on them: arguments and outputs as nested
tuples/lists/dicts with None leaves, JAX's nesting of Jacobians and Hessians, has_aux,
keyword arguments, and the TypeErrors a wrong call raises. Every derivative is checked
against central differences (float64) or a closed form, and vjp/jvp by the transposition
identity."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import pytree

NT = collections.namedtuple("NT", "a b")

# ---- the pytree module -----------------------------------------------------------------

TREES = [
    (1.0, [1.0], "PyTreeDef(*)"),
    (None, [], "PyTreeDef(None)"),
    ((), [], "PyTreeDef(())"),
    ((1,), [1], "PyTreeDef((*,))"),
    ([1, (2, 3)], [1, 2, 3], "PyTreeDef([*, (*, *)])"),
    ({"b": 1, "a": [2, None]}, [2, 1], "PyTreeDef({'a': [*, None], 'b': *})"),
    (NT(1, (2,)), [1, 2], "PyTreeDef(NT(*, (*,)))"),
    (collections.OrderedDict(z=1, a=2), [1, 2], "PyTreeDef(OrderedDict({'z': *, 'a': *}))"),
    (((), [None, []], {"x": {}}), [], "PyTreeDef(((), [None, []], {'x': {}}))"),
]


@pytest.mark.parametrize(("tree", "leaves", "shown"), TREES)
def test_flatten_unflatten_round_trip(tree, leaves, shown):
    got, td = pat.tree_flatten(tree)
    assert got == leaves and repr(td) == shown and td.num_leaves == len(leaves)
    back = pat.tree_unflatten(td, got)
    assert back == tree and type(back) is type(tree)
    assert pat.tree_structure(back) == td and hash(pat.tree_structure(back)) == hash(td)
    assert pat.tree_leaves(tree) == leaves
    assert pat.tree_map(lambda x: x, tree) == tree


def test_tree_map_is_leafwise_and_checks_structure():
    a, b = {"w": (1, 2), "v": None}, {"w": (10, 20), "v": None}
    assert pat.tree_map(lambda x, y: x + y, a, b) == {"v": None, "w": (11, 22)}
    with pytest.raises(ValueError, match="argument 1 has structure"):
        pat.tree_map(lambda x, y: x, a, {"w": [1, 2], "v": None})
    assert pat.tree_map(lambda x: len(x), {"k": (1, 2)}, is_leaf=lambda x: isinstance(x, tuple)) \
        == {"k": 2}


def test_pytree_errors_and_deep_trees():
    with pytest.raises(TypeError, match="keys that sort"):
        pat.tree_flatten({1: 0, "a": 1})
    _, td = pat.tree_flatten((1, 2))
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        pat.tree_unflatten(td, [1, 2, 3])
    with pytest.raises(TypeError, match="PyTreeDef"):
        pat.tree_unflatten((1, 2), [1, 2])
    with pytest.raises(ValueError, match="already a pytree node"):
        pytree.register_pytree_node(dict, lambda d: ((), None), lambda a, c: {})
    deep: object = 1.0
    for _ in range(5000):  # far deeper than Python's recursion limit: no recursion
        deep = [deep]
    leaves, td = pat.tree_flatten(deep)
    assert leaves == [1.0] and pat.tree_unflatten(td, [2.0]) is not None


class Box:
    def __init__(self, w, b):
        self.w, self.b = w, b


pytree.register_pytree_node(Box, lambda x: ((x.w, x.b), "box"), lambda aux, ch: Box(*ch))


def test_a_registered_node_is_differentiated_as_a_pytree():
    g = pat.grad(lambda p: (p.w * p.w).sum() + 3 * p.b.sum())(Box(np.array([1.0, 2.0]),
                                                                 np.ones(1)))
    assert isinstance(g, Box)
    np.testing.assert_array_equal(g.w, [2.0, 4.0])
    np.testing.assert_array_equal(g.b, [3.0])


# ---- transforms on pytrees, against central differences --------------------------------

RNG = np.random.default_rng(0)


def _params():
    return {"w": RNG.standard_normal((2, 3)), "b": [RNG.standard_normal(2), None],
            "s": (RNG.standard_normal(()),)}


def _loss(p, x):
    h = pat.tanh(pat.linear(x, p["w"], p["b"][0]))
    return (h * h).sum() * pat.exp(p["s"][0])


def _multi(p, x):  # pytree output: a dict holding a tuple and a None
    h = pat.linear(x, p["w"], p["b"][0])
    return {"h": pat.sigmoid(h), "z": (h.sum() * p["s"][0], None), "a": p["b"][0] * 2.0}


def _fd(f, tree, eps=1e-6):
    """Central differences of f (pytree out) wrt every leaf of tree: [out leaf][leaf]."""
    leaves, td = pat.tree_flatten(tree)
    outs = []
    for j, leaf in enumerate(leaves):
        cols = []
        for k in range(leaf.size):
            def at(step, j=j, k=k):
                moved = [a.copy() for a in leaves]
                moved[j].reshape(-1)[k] += step
                return [np.asarray(v) for v in pat.tree_leaves(f(pat.tree_unflatten(td, moved)))]
            cols.append([(a - b) / (2 * eps) for a, b in zip(at(eps), at(-eps), strict=True)])
        outs.append([np.stack([c[o] for c in cols], -1).reshape(np.shape(cols[0][o]) + leaf.shape)
                     for o in range(len(cols[0]))])
    return [list(x) for x in zip(*outs, strict=True)]  # [out leaf][leaf]


def _eager(f, tree, *rest):
    """f run on Tensors, its output leaves as ndarrays."""
    out = f(pat.tree_map(pat.tensor, tree), *rest)
    return pat.tree_map(lambda t: t.numpy(), out)


def test_grad_of_a_dict_of_params_is_a_dict_of_grads():
    p, x = _params(), RNG.standard_normal((4, 3))
    g = pat.grad(_loss)(p, x)
    assert pat.tree_structure(g) == pat.tree_structure(p) and g["b"][1] is None
    fd = _fd(lambda q: _eager(_loss, q, pat.tensor(x)), p)[0]
    for a, b in zip(pat.tree_leaves(g), fd, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    gp, gx = pat.grad(_loss, argnums=(0, 1))(p, x)
    assert pat.tree_structure(gp) == pat.tree_structure(p) and gx.shape == x.shape
    value, g2 = pat.value_and_grad(_loss)(p, x)
    np.testing.assert_allclose(value, _eager(_loss, p, pat.tensor(x)))
    for a, b in zip(pat.tree_leaves(g2), pat.tree_leaves(g), strict=True):
        np.testing.assert_array_equal(a, b)


JACS = [
    ("jacrev", lambda f: pat.jacrev(f)),
    ("jacfwd", lambda f: pat.jacfwd(f)),
    ("jacfwd-stream", lambda f: pat.jacfwd(f, stream=True)),
    ("jacobian-forward", lambda f: pat.jacobian(f, mode="forward")),
    ("jacobian-reverse", lambda f: pat.jacobian(f, mode="reverse")),
    ("jacobian-auto", lambda f: pat.jacobian(f)),
]


@pytest.mark.parametrize(("name", "make"), JACS, ids=[j[0] for j in JACS])
def test_jacobians_of_pytrees_nest_as_jax(name, make):
    p, x = _params(), RNG.standard_normal((2, 3))
    jac = make(lambda q: _multi(q, x))(p)
    out = _eager(_multi, p, pat.tensor(x))
    # JAX's nesting: the output's structure, each leaf the argument's structure
    assert pat.tree_structure(jac, is_leaf=lambda t: isinstance(t, dict) and "w" in t) \
        == pat.tree_structure(out)
    fd = _fd(lambda q: _eager(_multi, q, pat.tensor(x)), p)
    blocks = [pat.tree_leaves(j) for j in
              pat.tree_leaves(jac, is_leaf=lambda t: isinstance(t, dict) and "w" in t)]
    for o, (row, fd_row) in enumerate(zip(blocks, fd, strict=True)):
        for blk, want, leaf in zip(row, fd_row, pat.tree_leaves(p), strict=True):
            assert blk.shape == np.shape(pat.tree_leaves(out)[o]) + leaf.shape
            np.testing.assert_allclose(blk, want, rtol=1e-6, atol=1e-8)


def test_jacobian_of_tuple_argnums_and_tuple_outputs():
    x, y = np.array([1.0, 2.0]), np.array([3.0])
    f = lambda a, b: (a * b, (a * a).sum())  # noqa: E731
    for jac in (pat.jacrev(f, argnums=(0, 1))(x, y), pat.jacfwd(f, argnums=(0, 1))(x, y)):
        (jaa, jab), (jsa, jsb) = jac
        np.testing.assert_array_equal(jaa, np.diag(y.repeat(2)))
        np.testing.assert_array_equal(jab, x[:, None])
        np.testing.assert_array_equal(jsa, 2 * x)
        assert jsb.shape == (1,) and jsb[0] == 0.0


def test_vjp_and_jvp_of_pytrees_are_transposes():
    p, x = _params(), RNG.standard_normal((2, 3))
    f = lambda q: _multi(q, x)  # noqa: E731
    out, vjp_fn = pat.vjp(f, p)
    u = pat.tree_map(lambda a: RNG.standard_normal(np.shape(a)), out)
    v = pat.tree_map(lambda a: RNG.standard_normal(np.shape(a)), p)
    (ju,) = vjp_fn(u)
    assert pat.tree_structure(ju) == pat.tree_structure(p)
    out2, jv = pat.jvp(f, (p,), (v,))
    assert pat.tree_structure(jv) == pat.tree_structure(out)
    for a, b in zip(pat.tree_leaves(out), pat.tree_leaves(out2), strict=True):
        np.testing.assert_array_equal(a, b)
    _, jv_s = pat.jvp(f, (p,), (v,), stream=True)
    for a, b in zip(pat.tree_leaves(jv), pat.tree_leaves(jv_s), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    dot = lambda s, t: sum(float(np.sum(a * b)) for a, b in  # noqa: E731
                           zip(pat.tree_leaves(s), pat.tree_leaves(t), strict=True))
    np.testing.assert_allclose(dot(u, jv), dot(ju, v), rtol=1e-12)
    with pytest.raises(TypeError, match="vjp_fn: the cotangent has structure"):
        vjp_fn(pat.tree_leaves(u))
    with pytest.raises(pat.ShapeError, match="cotangent leaf 0 has shape"):
        vjp_fn(pat.tree_map(lambda a: np.ones(7), u))


def test_hessian_and_hvp_of_pytrees():
    p = {"a": np.array([0.3, -0.2]), "b": (np.array([1.5]),)}
    f = lambda q: (pat.exp(q["a"]) * q["b"][0]).sum() + (q["a"] * q["a"]).sum()  # noqa: E731
    h = pat.hessian(f)(p)
    ea = np.exp(p["a"])
    np.testing.assert_allclose(h["a"]["a"], np.diag(ea * 1.5 + 2), rtol=1e-14)
    np.testing.assert_allclose(h["a"]["b"][0], ea[:, None], rtol=1e-14)
    np.testing.assert_allclose(h["b"][0]["a"], ea[None, :], rtol=1e-14)
    np.testing.assert_array_equal(h["b"][0]["b"][0], [[0.0]])
    v = {"a": np.array([1.0, 2.0]), "b": (np.array([-1.0]),)}
    value, hv = pat.hvp(f, p, v)
    np.testing.assert_allclose(hv["a"], h["a"]["a"] @ v["a"] + h["a"]["b"][0] @ v["b"][0])
    np.testing.assert_allclose(hv["b"][0], h["b"][0]["a"] @ v["a"])
    with pytest.raises(TypeError, match="hvp: tangent 0 has structure"):
        pat.hvp(f, p, {"a": v["a"], "b": v["b"][0]})


# ---- has_aux: JAX's return conventions -------------------------------------------------


def _with_aux(x):
    y = pat.tanh(x)
    return (y * y).sum(), {"y": y, "n": 3}


def _vec_aux(x):
    return pat.tanh(x), [x * 2.0, "tag"]


X = np.array([0.5, -1.0])
TH = np.tanh(X)

AUX = [
    ("grad", lambda: pat.grad(_with_aux, has_aux=True)(X),
     lambda r: (r[0], r[1]), 2 * TH * (1 - TH**2)),
    ("value_and_grad", lambda: pat.value_and_grad(_with_aux, has_aux=True)(X),
     lambda r: (r[1], r[0][1]), 2 * TH * (1 - TH**2)),
    ("jacrev", lambda: pat.jacrev(_vec_aux, has_aux=True)(X), lambda r: r, np.diag(1 - TH**2)),
    ("jacfwd", lambda: pat.jacfwd(_vec_aux, has_aux=True)(X), lambda r: r, np.diag(1 - TH**2)),
    ("jacobian", lambda: pat.jacobian(_vec_aux, has_aux=True)(X), lambda r: r,
     np.diag(1 - TH**2)),
    ("hessian", lambda: pat.hessian(_with_aux, has_aux=True)(X), lambda r: r,
     np.diag(2 * (1 - TH**2) * (1 - 3 * TH**2))),
    ("vjp", lambda: pat.vjp(_vec_aux, X, has_aux=True), lambda r: (r[1](np.ones(2))[0], r[2]),
     1 - TH**2),
    ("jvp", lambda: pat.jvp(_vec_aux, (X,), (np.ones(2),), has_aux=True),
     lambda r: (r[1], r[2]), 1 - TH**2),
]


@pytest.mark.parametrize(("name", "run", "pick", "want"), AUX, ids=[a[0] for a in AUX])
def test_has_aux_returns_as_jax(name, run, pick, want):
    result = run()
    assert isinstance(result, tuple)
    deriv, aux = pick(result)
    np.testing.assert_allclose(deriv, want, rtol=1e-12, atol=1e-15)
    if isinstance(aux, dict):  # Tensor leaves come back as ndarrays, others as they were
        assert aux["n"] == 3 and isinstance(aux["y"], np.ndarray)
        np.testing.assert_allclose(aux["y"], TH)
    else:
        assert aux[1] == "tag" and isinstance(aux[0], np.ndarray)
        np.testing.assert_array_equal(aux[0], 2 * X)
    if name == "value_and_grad":
        np.testing.assert_allclose(result[0][0], np.sum(TH**2))
    if name in ("vjp", "jvp"):
        np.testing.assert_allclose(result[0], TH)


# ---- keyword arguments -----------------------------------------------------------------


def _scaled(x, w, *, scale=1.0, offset=None):
    out = (x * w).sum() * scale
    return out if offset is None else out + offset


KW = [
    ("grad", lambda: pat.grad(_scaled)(X, np.array([1.0, 2.0]), scale=3.0), [3.0, 6.0]),
    ("value_and_grad", lambda: pat.value_and_grad(_scaled, argnums=1)(
        X, np.ones(2), scale=2.0, offset=1.0)[1], 2 * X),
    ("jacrev", lambda: pat.jacrev(_scaled)(X, np.ones(2), scale=-1.0), [-1.0, -1.0]),
    ("jacfwd", lambda: pat.jacfwd(_scaled)(X, np.ones(2), scale=4.0), [4.0, 4.0]),
    ("hessian", lambda: pat.hessian(lambda x, *, k: (x * x).sum() * k)(X, k=2.0),
     np.diag([4.0, 4.0])),
]


@pytest.mark.parametrize(("name", "run", "want"), KW, ids=[k[0] for k in KW])
def test_keyword_arguments_reach_f_undifferentiated(name, run, want):
    np.testing.assert_allclose(run(), want, rtol=1e-14)


# ---- wrong calls: a TypeError naming the transform -------------------------------------

ERRORS = [
    (lambda: pat.grad(3), TypeError, r"grad: f must be a callable"),
    (lambda: pat.jacfwd("f"), TypeError, r"jacfwd: f must be a callable"),
    (lambda: pat.vjp(None, X), TypeError, r"vjp: f must be a callable"),
    (lambda: pat.jvp(1, (X,), (X,)), TypeError, r"jvp: f must be a callable"),
    (lambda: pat.grad(lambda x: x.sum(), argnums=1)(X), TypeError, r"grad: argnums 1 is out"),
    (lambda: pat.jacrev(lambda x: x, argnums=-2)(X), TypeError, r"jacrev: argnums -2 is out"),
    (lambda: pat.grad(lambda x: x.sum(), argnums=1.0), TypeError, r"grad: argnums must be"),
    (lambda: pat.hessian(lambda x: x.sum(), argnums=(True,)), TypeError, r"hessian: argnums"),
    (lambda: pat.grad(lambda x: x.sum(), argnums=(0, 0))(X), ValueError, r"distinct"),
    (lambda: pat.grad(lambda x: x.sum(), has_aux=True)(X), TypeError,
     r"grad: with has_aux=True f must return a pair .*got Tensor"),
    (lambda: pat.jacrev(lambda x: (x, x, x), has_aux=True)(X), TypeError,
     r"jacrev: with has_aux=True .* of length 3"),
    (lambda: pat.grad(lambda x: x * 2)(X), TypeError, r"grad: f must return a scalar"),
    (lambda: pat.value_and_grad(lambda x: (x.sum(),))(X), TypeError,
     r"value_and_grad: f must return a scalar .*pytree"),
    (lambda: pat.grad(lambda x: {"a": x.sum()})(X), TypeError, r"grad: .*scalar"),
    (lambda: pat.jacrev(lambda x: (x, 1.0))(X), TypeError, r"jacrev: f must return a Tensor"),
    (lambda: pat.jacrev(lambda x: (x, pat.tensor(X)))(X.astype(np.float32)), pat.DTypeError,
     r"jacrev: f's outputs mix dtypes"),
    (lambda: pat.jvp(lambda x: x, (X,), ([X],)), TypeError, r"jvp: tangent 0 has structure"),
    (lambda: pat.jvp(lambda x: x, (X,), (X[:1],)), pat.ShapeError, r"jvp: tangent 0 has shape"),
    (lambda: pat.grad(lambda x: x.sum())({"a": "text"}), TypeError,
     r"grad: argument 0 has a leaf of type str"),
    (lambda: pat.grad(lambda x: x.sum(), has_aux=1), TypeError, r"has_aux must be"),
    (lambda: pat.jacobian(lambda x: x, mode="sideways"), ValueError, r"'forward'"),
]


@pytest.mark.parametrize(("call", "exc", "match"), ERRORS)
def test_wrong_calls_raise_naming_the_transform(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_old_error_types_are_kept():  # grad of a non-scalar is a ShapeError too
    with pytest.raises(pat.ShapeError):
        pat.grad(lambda x: x * 2)(X)
    with pytest.raises(ValueError, match="out of range"):
        pat.grad(lambda x: x.sum(), argnums=3)(X)


def test_empty_and_none_arguments():
    g = pat.grad(lambda p, x: (p["a"] * x).sum(), argnums=(0, 1))({"a": X, "skip": None}, X)
    assert g[0]["skip"] is None
    np.testing.assert_array_equal(g[0]["a"], X)
    assert pat.grad(lambda p, x: (pat.tensor(x) * 2).sum())({}, X) == {}


def test_against_jax_when_installed():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    p = {"w": np.array([[0.2, -0.1], [0.4, 0.3]]), "b": (np.array([0.1, 0.0]), None)}

    def f_pat(q, x):
        h = pat.tanh(pat.linear(x, q["w"], q["b"][0]))
        return {"y": h, "s": (h * h).sum()}

    def f_jax(q, x):
        h = jnp.tanh(x @ q["w"].T + q["b"][0])
        return {"y": h, "s": (h * h).sum()}

    x = np.array([[1.0, -2.0]])
    for ours, theirs in ((pat.jacrev(f_pat)(p, x), jax.jacrev(f_jax)(p, x)),
                         (pat.jacfwd(f_pat)(p, x), jax.jacfwd(f_jax)(p, x))):
        assert pat.tree_structure(ours) == pat.tree_structure(
            jax.tree_util.tree_map(np.asarray, theirs))
        for a, b in zip(pat.tree_leaves(ours), jax.tree_util.tree_leaves(theirs), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("mode", "ran"), [("forward", "fwd"), ("fwd", "fwd"),
                                           ("reverse", "rev"), ("rev", "rev")])
def test_jacobian_mode_names(mode, ran):
    jac = pat.jacobian(lambda x: pat.tanh(x) * 2.0, mode=mode)(X)
    assert pat.transforms.last_jacobian_mode() == ran
    np.testing.assert_allclose(jac, np.diag(2 * (1 - np.tanh(X) ** 2)), rtol=1e-14)
