"""Tests for pyautotape.data (pure NumPy data sets and utilities)."""

from __future__ import annotations

import doctest
import gzip
import hashlib
from importlib import resources

import numpy as np
import pytest

from pyautotape import data

DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
DIGITS_PIXEL_SUM = 561718  # sum of all 1797 * 64 pixel values in the bundled file
DIGITS_FIRST_ROW_SUM = 294  # first sample, a "0"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


@pytest.fixture(autouse=True)
def _reset_module_seed():
    data._seed(None)
    yield
    data._seed(None)


# ------------------------------------------------------------------------------------------
# load_digits
# ------------------------------------------------------------------------------------------


def test_digits_file_is_packaged_and_unchanged():
    resource = resources.files("pyautotape") / "datasets" / "digits.csv.gz"
    raw = resource.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DIGITS_SHA256
    lines = gzip.decompress(raw).decode("ascii").splitlines()
    assert len(lines) == 1797
    assert all(len(line.split(",")) == 65 for line in lines)


def test_digits_shape_dtype_and_ranges():
    X, y = data.load_digits()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert X.flags.c_contiguous and X.flags.writeable
    assert y.shape == (1797,)
    assert y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(X, np.round(X))  # integer counts, not rescaled
    assert set(np.unique(y).tolist()) == set(range(10))


def test_digits_class_counts():
    _, y = data.load_digits()
    counts = np.bincount(y, minlength=10)
    assert counts.tolist() == DIGITS_CLASS_COUNTS
    assert np.all(np.abs(counts - 180) <= 6)


def test_digits_known_values():
    X, y = data.load_digits(dtype=np.int64)
    assert int(X.sum()) == DIGITS_PIXEL_SUM
    assert int(X[0].sum()) == DIGITS_FIRST_ROW_SUM
    assert y[:10].tolist() == list(range(10))
    assert X[0, :8].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.uint8])
def test_digits_dtype(dtype):
    X, _ = data.load_digits(dtype=dtype)
    assert X.dtype == dtype
    assert int(X.astype(np.int64).sum()) == DIGITS_PIXEL_SUM


def test_digits_returns_fresh_arrays():
    X1, y1 = data.load_digits(dtype=np.uint8)
    X1[:] = 0
    y1[:] = 0
    X2, y2 = data.load_digits(dtype=np.uint8)
    assert int(X2.astype(np.int64).sum()) == DIGITS_PIXEL_SUM
    assert np.bincount(y2).tolist() == DIGITS_CLASS_COUNTS


def test_digits_as_dict():
    bunch = data.load_digits(return_X_y=False)
    assert set(bunch) == {"data", "target", "images", "target_names"}
    assert bunch["images"].shape == (1797, 8, 8)
    assert np.array_equal(bunch["images"].reshape(1797, 64), bunch["data"])
    assert bunch["target_names"].tolist() == list(range(10))


def test_digits_bad_args():
    with pytest.raises(TypeError, match="load_digits"):
        data.load_digits(dtype=np.complex64)
    with pytest.raises(TypeError, match="load_digits"):
        data.load_digits(dtype="not-a-dtype")
    with pytest.raises(TypeError, match="return_X_y"):
        data.load_digits(return_X_y="yes")


# ------------------------------------------------------------------------------------------
# make_moons / make_spirals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("maker", [data.make_moons, data.make_spirals])
def test_synthetic_deterministic_with_seed(maker):
    X1, y1 = maker(seed=123)
    X2, y2 = maker(seed=123)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    X3, _ = maker(seed=124)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("maker", [data.make_moons, data.make_spirals])
def test_synthetic_module_seed(maker):
    data._seed(7)
    a = maker()
    data._seed(7)
    b = maker()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    data._seed(None)
    c = maker()
    d = maker()
    assert not np.array_equal(c[0], d[0])


def test_make_moons_shapes_and_labels():
    X, y = data.make_moons(201, noise=0.1, seed=0, dtype=np.float64)
    assert X.shape == (201, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (201,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 101]


def test_make_moons_noiseless_geometry():
    X, y = data.make_moons(100, noise=0.0, seed=0, dtype=np.float64)
    upper, lower = X[y == 0], X[y == 1]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert np.all(upper[:, 1] >= -1e-12)
    assert np.allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_make_spirals_shapes_and_labels():
    X, y = data.make_spirals(301, n_classes=4, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [76, 75, 75, 75]
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6)


def test_make_spirals_noiseless_matches_cs231n_formula():
    X, y = data.make_spirals(30, n_classes=3, noise=0.0, seed=0, dtype=np.float64)
    for k in range(3):
        pts = X[y == k]
        r = np.hypot(pts[:, 0], pts[:, 1])
        order = np.argsort(r)
        r_exp = np.linspace(0.0, 1.0, 10)
        t_exp = np.linspace(4.0 * k, 4.0 * (k + 1), 10)
        expected = np.stack([r_exp * np.sin(t_exp), r_exp * np.cos(t_exp)], axis=1)
        assert np.allclose(pts[order], expected)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"n_samples": 1}, ValueError),
        ({"n_samples": 2.5}, TypeError),
        ({"n_samples": True}, TypeError),
        ({"noise": -0.1}, ValueError),
        ({"noise": float("nan")}, ValueError),
        ({"noise": "0.1"}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"dtype": np.int32}, TypeError),
    ],
)
def test_make_moons_bad_args(kwargs, exc):
    with pytest.raises(exc, match="make_moons"):
        data.make_moons(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"n_samples": 2, "n_classes": 3}, ValueError),
        ({"n_classes": 0}, ValueError),
        ({"n_classes": 2.0}, TypeError),
        ({"noise": -1}, ValueError),
        ({"dtype": np.int64}, TypeError),
    ],
)
def test_make_spirals_bad_args(kwargs, exc):
    with pytest.raises(exc, match="make_spirals"):
        data.make_spirals(**kwargs)


def test_seed_accepts_generator():
    X1, _ = data.make_moons(seed=np.random.default_rng(5))
    X2, _ = data.make_moons(seed=np.random.default_rng(5))
    assert np.array_equal(X1, X2)


def test_module_seed_validation():
    with pytest.raises(TypeError):
        data._seed(1.0)
    with pytest.raises(ValueError):
        data._seed(-3)


# ------------------------------------------------------------------------------------------
# train_test_split
# ------------------------------------------------------------------------------------------


def _row_ids(*parts):
    return np.concatenate([p[:, 0] for p in parts]).tolist()


def test_split_sizes_and_disjoint():
    X = np.arange(200).reshape(100, 2)
    y = np.arange(100)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.25, seed=0)
    assert X_tr.shape == (75, 2) and X_te.shape == (25, 2)
    assert y_tr.shape == (75,) and y_te.shape == (25,)
    assert set(y_tr.tolist()).isdisjoint(y_te.tolist())
    assert sorted(y_tr.tolist() + y_te.tolist()) == list(range(100))
    # rows stay paired with their labels
    assert np.array_equal(X_tr[:, 0] // 2, y_tr) and np.array_equal(X_te[:, 0] // 2, y_te)
    for a in (X_tr, X_te, y_tr, y_te):
        assert a.flags.c_contiguous


def test_split_int_and_fraction_rounding():
    X, y = np.zeros((10, 3)), np.zeros(10)
    assert data.train_test_split(X, y, test_size=3, seed=0)[1].shape == (3, 3)
    assert data.train_test_split(X, y, test_size=0.21, seed=0)[1].shape == (3, 3)  # ceil
    assert data.train_test_split(X, y, test_size=np.int64(4), seed=0)[1].shape == (4, 3)


def test_split_reproducible_and_seed_dependent():
    X, y = data.make_moons(100, seed=0)
    a = data.train_test_split(X, y, seed=1)
    b = data.train_test_split(X, y, seed=1)
    c = data.train_test_split(X, y, seed=2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=False))
    assert not np.array_equal(a[1], c[1])


def test_split_stratify_keeps_proportions():
    X, y = data.load_digits()
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, seed=0, stratify=True)
    n_test = int(np.ceil(0.2 * 1797))
    assert len(y_te) == n_test and len(y_tr) == 1797 - n_test
    assert X_te.shape == (n_test, 64) and X_tr.shape == (1797 - n_test, 64)
    full = np.bincount(y, minlength=10)
    test_counts = np.bincount(y_te, minlength=10)
    assert np.all(np.abs(test_counts - full * n_test / 1797) < 1.0)
    assert np.array_equal(np.bincount(y_tr, minlength=10) + test_counts, full)


def test_split_stratify_imbalanced():
    y = np.array([0] * 90 + [1] * 10)
    X = np.arange(100)
    for seed in range(5):
        _, X_te, _, y_te = data.train_test_split(X, y, test_size=0.2, seed=seed, stratify=True)
        assert np.bincount(y_te).tolist() == [18, 2]
        assert np.array_equal(y[X_te], y_te)


def test_split_bad_args():
    X, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match=r"X.shape=\(10, 2\).*y.shape=\(9,\)"):
        data.train_test_split(X, y[:9])
    for bad in (0.0, 1.0, 1.5, -0.2, 0, 10, -1):
        with pytest.raises(ValueError, match="test_size"):
            data.train_test_split(X, y, test_size=bad)
    for bad in ("0.2", None, True):
        with pytest.raises(TypeError, match="test_size"):
            data.train_test_split(X, y, test_size=bad)
    with pytest.raises(ValueError, match="scalar"):
        data.train_test_split(np.float64(1.0), y)
    with pytest.raises(ValueError, match="1-D"):
        data.train_test_split(X, np.zeros((10, 2)), stratify=True)
    with pytest.raises(TypeError, match="stratify"):
        data.train_test_split(X, y, stratify="yes")
    with pytest.raises(ValueError, match="at least 2"):
        data.train_test_split(X[:1], y[:1])


# ------------------------------------------------------------------------------------------
# DataLoader
# ------------------------------------------------------------------------------------------


def _toy(n=23):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


@pytest.mark.parametrize("shuffle", [True, False])
def test_loader_covers_each_sample_once_per_epoch(shuffle):
    X, y = _toy()
    loader = data.DataLoader(X, y, batch_size=5, shuffle=shuffle, seed=0)
    for _ in range(3):
        seen = []
        for xb, yb in loader:
            assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)
            assert xb.flags.c_contiguous and yb.flags.c_contiguous
            assert xb.dtype == X.dtype and yb.dtype == y.dtype
            assert np.array_equal(xb, X[yb])  # rows stay paired with labels
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(23))
        if not shuffle:
            assert seen == list(range(23))


def test_loader_batches_are_copies():
    X, y = _toy()
    loader = data.DataLoader(X, y, batch_size=4, shuffle=False)
    xb, yb = next(iter(loader))
    xb[:] = -1
    yb[:] = -1
    assert X.min() == 0 and y.min() == 0


def test_loader_len_and_batch_sizes():
    X, y = _toy(23)
    loader = data.DataLoader(X, y, batch_size=5)
    assert len(loader) == 5
    assert [len(yb) for _, yb in loader] == [5, 5, 5, 5, 3]
    loader = data.DataLoader(X, y, batch_size=5, drop_last=True)
    assert len(loader) == 4
    assert [len(yb) for _, yb in loader] == [5, 5, 5, 5]
    assert len(data.DataLoader(X, y, batch_size=100)) == 1
    assert len(data.DataLoader(X, y, batch_size=100, drop_last=True)) == 0
    assert list(data.DataLoader(X, y, batch_size=100, drop_last=True)) == []
    X20, y20 = _toy(20)
    assert len(data.DataLoader(X20, y20, batch_size=5)) == 4
    assert len(data.DataLoader(X20, y20, batch_size=5, drop_last=True)) == 4


def test_loader_drop_last_drops_different_samples_across_epochs():
    X, y = _toy(23)
    loader = data.DataLoader(X, y, batch_size=5, drop_last=True, seed=3)
    epochs = [np.concatenate([yb for _, yb in loader]) for _ in range(4)]
    assert all(len(e) == 20 and len(set(e.tolist())) == 20 for e in epochs)
    assert len({tuple(sorted(e.tolist())) for e in epochs}) > 1


def _epoch(loader):
    return np.concatenate([yb for _, yb in loader])


def test_loader_reproducible_with_seed_and_epochs_differ():
    X, y = _toy(50)
    a = data.DataLoader(X, y, batch_size=8, seed=42)
    b = data.DataLoader(X, y, batch_size=8, seed=42)
    a_epochs = [_epoch(a) for _ in range(3)]
    b_epochs = [_epoch(b) for _ in range(3)]
    for ea, eb in zip(a_epochs, b_epochs, strict=False):
        assert np.array_equal(ea, eb)
    assert not np.array_equal(a_epochs[0], a_epochs[1])
    assert not np.array_equal(a_epochs[1], a_epochs[2])
    c = data.DataLoader(X, y, batch_size=8, seed=43)
    assert not np.array_equal(_epoch(c), a_epochs[0])


def test_loader_uses_module_seed():
    X, y = _toy(50)
    data._seed(11)
    first = [_epoch(data.DataLoader(X, y, batch_size=8)) for _ in range(2)]
    data._seed(11)
    again = [_epoch(data.DataLoader(X, y, batch_size=8)) for _ in range(2)]
    assert all(np.array_equal(p, q) for p, q in zip(first, again, strict=False))
    assert not np.array_equal(first[0], first[1])  # two loaders get independent streams
    data._seed(None)
    assert not np.array_equal(
        _epoch(data.DataLoader(X, y, batch_size=50)), _epoch(data.DataLoader(X, y, batch_size=50))
    )


def test_loader_order_drawn_at_iter():
    X, y = _toy(30)
    a = data.DataLoader(X, y, batch_size=4, seed=0)
    b = data.DataLoader(X, y, batch_size=4, seed=0)
    it1 = iter(a)
    it2 = iter(a)  # second epoch started before the first is consumed
    assert np.array_equal(_epoch(it1), _epoch(b))
    assert np.array_equal(_epoch(it2), _epoch(b))


def test_loader_multidim_and_list_inputs():
    X = np.arange(2 * 4 * 4 * 3).reshape(6, 4, 4)[:, ::2]  # non-contiguous input
    y = np.arange(6).reshape(6, 1)
    batches = list(data.DataLoader(X, y, batch_size=4, shuffle=False))
    assert batches[0][0].shape == (4, 2, 4) and batches[0][0].flags.c_contiguous
    assert batches[1][1].shape == (2, 1)
    batches = list(data.DataLoader([1, 2, 3], [0, 1, 0], batch_size=2, shuffle=False))
    assert [b[0].tolist() for b in batches] == [[1, 2], [3]]


def test_loader_repr():
    X, y = _toy(10)
    assert "batch_size=3" in repr(data.DataLoader(X, y, batch_size=3))


def test_loader_bad_args():
    X, y = _toy(10)
    with pytest.raises(ValueError, match=r"DataLoader.*batch_size"):
        data.DataLoader(X, y, batch_size=0)
    with pytest.raises(ValueError, match=r"DataLoader.*batch_size"):
        data.DataLoader(X, y, batch_size=-2)
    for bad in (2.0, "4", None, True):
        with pytest.raises(TypeError, match=r"DataLoader.*batch_size"):
            data.DataLoader(X, y, batch_size=bad)
    with pytest.raises(ValueError, match=r"DataLoader.*X.shape=\(10, 3\).*y.shape=\(9,\)"):
        data.DataLoader(X, y[:9], batch_size=2)
    with pytest.raises(ValueError, match=r"DataLoader.*X.*scalar"):
        data.DataLoader(np.float32(1.0), y, batch_size=2)
    with pytest.raises(ValueError, match=r"DataLoader.*y.*scalar"):
        data.DataLoader(X, 3, batch_size=2)
    with pytest.raises(TypeError, match=r"DataLoader.*shuffle"):
        data.DataLoader(X, y, batch_size=2, shuffle=1)
    with pytest.raises(TypeError, match=r"DataLoader.*drop_last"):
        data.DataLoader(X, y, batch_size=2, drop_last="no")
    with pytest.raises(TypeError, match=r"DataLoader.*seed"):
        data.DataLoader(X, y, batch_size=2, seed="0")


# ------------------------------------------------------------------------------------------
# Docstring examples
# ------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(data, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 7
    assert result.failed == 0
