"""Creation functions, dtype names, devices, integer and bool tensors (comparisons, casts,
promotion, masks), and the small PyTorch Tensor protocol, against torch where it has the
same call."""

import numpy as np
import pytest

import pyautotape as pat


def test_creation_shapes_dtypes_and_values_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (lambda m: m.zeros(2, 3), None), (lambda m: m.zeros((2, 3)), None),
        (lambda m: m.ones(4, dtype=m.float64), None), (lambda m: m.full((2, 2), 7.5), None),
        (lambda m: m.full((2,), 3), None), (lambda m: m.full((2,), True), None),
        (lambda m: m.arange(5), None), (lambda m: m.arange(1, 2, 0.25), None),
        (lambda m: m.arange(2, 11, 3), None), (lambda m: m.linspace(0, 1, 5), None),
        (lambda m: m.eye(3), None), (lambda m: m.eye(2, 4), None),
        (lambda m: m.zeros_like(m.ones(2, 3, dtype=m.float64)), None),
        (lambda m: m.ones_like(m.ones(2, dtype=m.int64)), None),
        (lambda m: m.full_like(m.zeros(3), 2.0), None),
        (lambda m: m.empty(2, 3).shape, "shape"),
    ]
    for make, kind in cases:
        p, t = make(pat), make(torch)
        if kind == "shape":
            assert tuple(p) == tuple(t)
            continue
        assert p.shape == tuple(t.shape)
        assert str(p.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(p.numpy(), t.numpy())


def test_requires_grad_device_and_errors():
    w = pat.zeros(3, requires_grad=True, device="cpu")
    (w * 2).sum().backward()
    assert w.grad.numpy().tolist() == [2.0, 2.0, 2.0]
    assert w.device == "cpu" and w.cpu() is w and w.to("cpu") is w
    with pytest.raises(ValueError, match="zeros: device 'cuda'.*CPU only"):
        pat.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="to: device 'cuda:0'"):
        w.to("cuda:0")
    with pytest.raises(pat.DTypeError, match="requires_grad=True needs a float dtype"):
        pat.arange(3, requires_grad=True)
    with pytest.raises(pat.DTypeError, match="requires_grad=True needs a float dtype"):
        pat.tensor([1, 2], dtype=pat.int64, requires_grad=True)
    with pytest.raises(pat.DTypeError, match="requires_grad_"):
        pat.ones(2, dtype=pat.bool).requires_grad_()
    with pytest.raises(pat.DTypeError, match="zeros: dtype complex128"):
        pat.zeros(2, dtype=np.complex128)
    with pytest.raises(TypeError, match="zeros: a size must be ints"):
        pat.zeros(2.5)
    with pytest.raises(pat.DTypeError, match="randn: draws floats"):
        pat.randn(2, dtype=pat.int64)


def test_random_creation_is_seeded_and_in_range():
    def draw():
        pat.manual_seed(3)
        return [pat.rand(4), pat.randn(2, 2, dtype=pat.float64), pat.randint(5, (6,)),
                pat.randint(-2, 2, (3,)), pat.normal(1.0, 0.5, (5,)),
                pat.normal(pat.zeros(3), pat.ones(3))]

    a, b = draw(), draw()
    for x, y in zip(a, b, strict=True):
        assert x.numpy().tobytes() == y.numpy().tobytes()
    rand, randn, ri, ri2, nor, _ = a
    assert rand.dtype == np.float32 and ((rand.numpy() >= 0) & (rand.numpy() < 1)).all()
    assert randn.dtype == np.float64 and ri.dtype == np.int64
    assert ((ri.numpy() >= 0) & (ri.numpy() < 5)).all() and (ri2.numpy() >= -2).all()
    with pytest.raises(ValueError, match="randint: high"):
        pat.randint(3, 3, (2,))


def test_random_creation_inside_compile_runs_eagerly():
    w = pat.tensor([1.0], requires_grad=True)

    @pat.compile
    def step():
        return (w * pat.rand(1)).sum()

    vals = {step().item() for _ in range(4)}
    assert len(vals) == 4  # fresh numbers every call, never a replayed constant


def test_comparisons_are_bool_tensors_usable_in_arithmetic():
    x = pat.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    m = x > 0
    assert isinstance(m, pat.Tensor) and m.dtype == np.bool_ and not m.requires_grad
    y = x * m  # bool promotes to x's dtype; the gradient is the mask
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.numpy().tolist() == [0.0, 1.0, 1.0]
    assert m.float().numpy().tolist() == [0.0, 1.0, 1.0] and m.float().dtype == np.float32
    assert ((x > 0) & (x < 1)).tolist() == [False, True, False]
    assert ((x < 0) | (x > 1)).tolist() == [True, False, True]
    assert (~m).tolist() == [True, False, False]
    assert bool(m.any()) and not bool(m.all())
    assert pat.where(m, x, 0.0).numpy().tolist() == [0.0, 0.5, 2.0]
    assert (m.sum().item(), (x == x).all().item()) == (2.0, True)


def test_integer_tensors_keep_integers_and_promote_as_torch():
    torch = pytest.importorskip("torch")
    i = pat.tensor([1, 2, 3], dtype=pat.int64)
    ti = torch.tensor([1, 2, 3])
    f64 = pat.tensor([0.5, 0.5, 0.5], dtype=pat.float64)
    for fn in (lambda a: a * 2, lambda a: a + a, lambda a: a // 2, lambda a: a % 2,
               lambda a: a / 2, lambda a: a + 0.5, lambda a: a ** 2, lambda a: -(a * 1)):
        p, t = fn(i), fn(ti)
        assert str(p.dtype) == str(t.dtype).replace("torch.", ""), fn
        np.testing.assert_allclose(p.numpy(), t.numpy())
    mixed = i * f64  # an integer tensor takes the float tensor's dtype
    assert mixed.dtype == np.float64 and mixed.numpy().tolist() == [0.5, 1.0, 1.5]
    assert i[1].item() == 2 and isinstance(i[1].item(), int)
    assert i.reshape(3, 1).shape == (3, 1) and i.reshape(3, 1).dtype == np.int64
    assert pat.exp(i).dtype == np.float32  # unary float ops promote to the default dtype
    with pytest.raises(pat.DTypeError, match="sub: subtracting bool"):
        (i > 1) - (i > 2)


def test_casts():
    x = pat.tensor([1.7, -2.2, 0.0])
    assert x.long().tolist() == [1, -2, 0] and x.long().dtype == np.int64
    assert x.int().dtype == np.int32 and x.bool().tolist() == [True, True, False]
    assert x.double().dtype == np.float64 and x.float() is x
    assert x.type() == "float32" and x.type(pat.float64).dtype == np.float64
    assert x.astype(pat.int64).dtype == np.int64 and x.to(pat.float64).dtype == np.float64
    assert x.to("cpu", pat.float64).dtype == np.float64
    w = pat.tensor([1.0], requires_grad=True)
    assert w.float() is w  # already float32: itself, on the tape
    d = w.double()  # float to float: on the tape, the gradient cast back (as torch)
    assert d.requires_grad and d.dtype == np.float64
    (d * 2.0).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [2.0]
    with pat.no_grad():
        assert w.double().dtype == np.float64
    assert w.long().dtype == np.int64  # to integers: not differentiable, as PyTorch
    with pytest.raises(pat.DTypeError, match="operands have dtypes float32 and float64"):
        pat.tensor([1.0]) + pat.tensor([1.0], dtype=pat.float64)


def test_integer_labels_as_tensors_and_masks_under_compile():
    w = pat.tensor(np.ones(3), requires_grad=True)

    @pat.compile
    def step(x):
        t = pat.tensor(x)
        loss = (t * w * (t > 0)).sum()
        loss.backward()
        return loss

    for v in ([1.0, -1.0, 2.0], [3.0, -4.0, 1.0], [3.0, -4.0, 1.0]):
        w.grad = None
        got = step(np.array(v)).item()
        assert got == sum(a for a in v if a > 0)


def test_tensor_protocol_methods():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    a = r.standard_normal((2, 3))
    x, t = pat.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert x.size() == tuple(t.size()) and x.size(1) == t.size(1) and x.size(-1) == 3
    assert x.size == 6 and x.numel() == t.numel() and x.dim() == 2
    assert x.tolist() == t.tolist() and x.is_floating_point()
    with pytest.raises(IndexError, match="size: dim 2"):
        x.size(2)
    c = x.clone()
    assert not c.is_leaf
    for p_fn, t_fn in [
        (lambda v: abs(v), lambda v: abs(v)), (lambda v: v.abs(), lambda v: v.abs()),
        (lambda v: v.pow(2), lambda v: v.pow(2)), (lambda v: v.clamp(-0.5, 0.5), None),
        (lambda v: v.clip(min=0.0), None), (lambda v: v.softmax(-1), None),
        (lambda v: v.log_softmax(-1), None), (lambda v: v.sin().cos(), None),
        (lambda v: v.square().rsqrt(), None), (lambda v: v.atan2(v * 2 + 3), None),
        (lambda v: v.lerp(v * 0, 0.5), None), (lambda v: v.clone() * 3, None),
        (lambda v: v.matmul(v.T), None), (lambda v: v.sigmoid().reciprocal(), None),
        (lambda v: v % 0.5 + (v // 0.5), lambda v: v % 0.5 + (v // 0.5).detach()), (lambda v: v.exp2().log2(), None),
    ]:
        t_fn = t_fn or p_fn
        x.grad, t.grad = None, None
        y, yt = p_fn(x), t_fn(t)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
        y.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    u = pat.tensor([1.0, 2.0])
    assert u.dot(u).item() == 5.0 and u.outer(u).shape == (2, 2)
    assert u.addmm(pat.eye(2), pat.eye(2)).numpy().tolist() == [[2.0, 2.0], [1.0, 3.0]]


def test_integer_tensor_labels_eager_and_compiled():
    r = np.random.default_rng(1)
    logits = r.standard_normal((4, 3))
    w = pat.tensor(np.ones(3), requires_grad=True)
    ref = [pat.cross_entropy(pat.tensor(logits) * w, y).item()
           for y in (np.array([0, 2, 1, 1]), np.array([2, 2, 0, 1]))]

    @pat.compile
    def step(y):  # labels from an argument: a tensor made of it cannot be replayed
        return pat.cross_entropy(pat.tensor(logits) * w, pat.tensor(y, dtype=pat.int64))

    got = [step(np.array(y)).item() for y in ([0, 2, 1, 1], [2, 2, 0, 1], [0, 2, 1, 1])]
    assert got == [ref[0], ref[1], ref[0]]
    with pytest.raises(pat.DTypeError, match="cross_entropy: labels are a float32 tensor"):
        pat.cross_entropy(pat.tensor(logits), pat.tensor([0.0, 1.0, 1.0, 1.0]))


def test_a_guard_on_a_comparison_with_a_scalar_replays_and_flips():
    # the guard walks [outcome, array, scalar]: the scalar has stride 0 (it was read with
    # the array's stride, past its one element, before)
    w = pat.tensor(np.ones(4), requires_grad=True)

    @pat.compile
    def step(x):
        m = pat.tensor(x) > 0.5
        return (w * m).sum()

    xs = [[1.0, 0.0, 2.0, 0.0], [3.0, 0.1, 2.0, 0.2], [0.0, 1.0, 0.0, 0.0]]
    assert [step(np.array(x)).item() for x in xs] == [2.0, 2.0, 1.0]
    assert step.stats["replays"] >= 1 and step.stats["retapes"] == 1
