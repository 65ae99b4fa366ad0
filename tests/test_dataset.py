"""Dataset / TensorDataset / Subset / random_split / samplers / DataLoader against
torch.utils.data: batch contents and order, lengths, drop_last, collation."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import pyautotape as pat
from pyautotape.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

torch = pytest.importorskip("torch")
tud = torch.utils.data


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.numpy()
    if isinstance(x, pat.Tensor):
        return x.numpy()
    return np.asarray(x)


def _same(a, b):
    """A batch of ours equals torch's: same structure, same values and kinds of ints."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys()
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, (list, tuple)) and not isinstance(b, str):
        assert type(a) is type(b) or (isinstance(a, list) and isinstance(b, list))
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert np.array_equal(_np(a), _np(b))
        if isinstance(b, torch.Tensor):
            assert (_np(a).dtype.kind in "iu") == (not b.is_floating_point())


X = np.arange(46.0).reshape(23, 2)
Y = np.arange(23) % 4


@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 30])
@pytest.mark.parametrize("drop_last", [False, True])
def test_tensor_dataset_batches_match_torch(batch_size, drop_last):
    ours = DataLoader(TensorDataset(X, Y), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(tud.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                            batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        _same(a, b)


def test_defaults_are_torchs():
    ours, theirs = DataLoader(TensorDataset(X, Y)), tud.DataLoader(tud.TensorDataset(
        torch.tensor(X), torch.tensor(Y)))
    assert len(ours) == len(theirs) == 23 and ours.batch_size == theirs.batch_size == 1
    assert ours.drop_last is theirs.drop_last is False
    assert isinstance(ours.sampler, SequentialSampler)
    _same(next(iter(ours)), next(iter(theirs)))


class Pairs(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": np.full(3, float(i)), "y": i, "name": f"s{i}", "t": (i, 0.5 * i)}


class TPairs(tud.Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": np.full(3, float(i)), "y": i, "name": f"s{i}", "t": (i, 0.5 * i)}


def test_collate_of_dicts_tuples_strings_matches_torch():
    for a, b in zip(DataLoader(Pairs(), batch_size=3), tud.DataLoader(TPairs(), batch_size=3),
                    strict=True):
        _same(a, b)


def test_collate_namedtuple_and_lists():
    P = namedtuple("P", "a b")
    batch = [P(1, [2.0, 3.0]), P(4, [5.0, 6.0])]
    ours, theirs = default_collate(batch), tud.default_collate(batch)
    assert type(ours) is P
    _same(ours.a, theirs.a)
    _same(ours.b, theirs.b)


def test_collate_tensors_stay_tensors():
    ds = TensorDataset(pat.tensor(X), Y)
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert isinstance(xb, pat.Tensor) and xb.shape == (4, 2) and not xb.requires_grad
    assert isinstance(yb, np.ndarray) and yb.dtype == np.int64
    # the one-take fast path equals collating sample by sample
    slow = DataLoader(ds, batch_size=4, collate_fn=lambda b: default_collate(b))
    for (a, b), (c, d) in zip(DataLoader(ds, batch_size=4), slow, strict=True):
        assert np.array_equal(a.numpy(), c.numpy()) and np.array_equal(b, d)


def test_shuffle_visits_everything_and_is_seeded():
    def epoch(loader):
        return np.concatenate([yb for _, yb in loader]).tolist()

    ds = TensorDataset(X, np.arange(23))
    a = DataLoader(ds, batch_size=5, shuffle=True, generator=1)
    e1, e2 = epoch(a), epoch(a)
    assert sorted(e1) == list(range(23)) and e1 != e2  # a new order each epoch
    assert epoch(DataLoader(ds, batch_size=5, shuffle=True, generator=1)) == e1
    pat.manual_seed(3)
    s1 = epoch(DataLoader(ds, batch_size=5, shuffle=True))
    pat.manual_seed(3)
    assert epoch(DataLoader(ds, batch_size=5, shuffle=True)) == s1


def test_sampler_and_batch_sampler():
    ds = TensorDataset(X, Y)
    order = [5, 3, 1, 0]
    ours = [yb.tolist() for _, yb in DataLoader(ds, batch_size=3, sampler=order)]
    theirs = [yb.tolist() for _, yb in tud.DataLoader(
        tud.TensorDataset(torch.tensor(X), torch.tensor(Y)), batch_size=3, sampler=order)]
    assert ours == theirs
    bs = [[0, 2], [4], [1, 3, 5]]
    ours = [yb.tolist() for _, yb in DataLoader(ds, batch_sampler=bs)]
    assert ours == [Y[b].tolist() for b in bs]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, True)) == list(
        tud.BatchSampler(tud.SequentialSampler(range(7)), 3, True))
    assert len(BatchSampler(range(7), 3, False)) == 3
    samples = list(DataLoader(ds, batch_size=None))
    assert len(samples) == 23 and samples[2][1] == Y[2]


def test_mutually_exclusive_options_like_torch():
    ds = TensorDataset(X, Y)
    for kw, msg in [({"sampler": [0], "shuffle": True}, "mutually exclusive with shuffle"),
                    ({"batch_sampler": [[0]], "batch_size": 2}, "mutually exclusive"),
                    ({"batch_size": None, "drop_last": True}, "mutually exclusive")]:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)
        with pytest.raises(ValueError, match=msg):
            tud.DataLoader(tud.TensorDataset(torch.tensor(X), torch.tensor(Y)), **kw)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(X, Y[:-1])
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="map-style"):
        DataLoader(5)


def test_random_sampler_replacement():
    s = RandomSampler(range(10), replacement=True, num_samples=25, generator=0)
    draws = list(s)
    assert len(s) == 25 and len(draws) == 25 and all(0 <= d < 10 for d in draws)
    s = RandomSampler(range(4), num_samples=10, generator=0)
    assert len(list(s)) == 10


@pytest.mark.parametrize("lengths", [[7, 16], [0.3, 0.7], [0.5, 0.25, 0.25], [0.34] * 2 +
                                     [0.32]])
def test_random_split_lengths_match_torch(lengths):
    ours = random_split(TensorDataset(X), lengths, generator=0)
    theirs = tud.random_split(tud.TensorDataset(torch.tensor(X)), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    seen = sorted(i for s in ours for i in s.indices)
    assert seen == list(range(23))
    assert random_split(range(23), lengths, generator=0)[0].indices == ours[0].indices


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(5), [2, 2])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        tud.random_split(range(5), [2, 2])


def test_subset_and_concat():
    ds = TensorDataset(X, Y)
    sub = Subset(ds, [4, 2, 9])
    assert len(sub) == 3 and sub[1][1] == Y[2]
    assert [yb.tolist() for _, yb in DataLoader(sub, batch_size=2)] == [[Y[4], Y[2]], [Y[9]]]
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 26 and cat[3][1] == Y[0] and cat[-1][1] == Y[-1]
    assert len(sub + sub) == 6


def test_array_form_still_works():
    loader = pat.data.DataLoader(X, Y, batch_size=5, shuffle=False)
    assert [yb.tolist() for _, yb in loader][0] == Y[:5].tolist()
    assert len(pat.data.DataLoader(X, Y, 4)) == 6  # shuffled by default, as before
    assert pat.utils.data.DataLoader is pat.data.DataLoader


def test_a_training_loop_ported_from_torch():
    pat.manual_seed(0)
    rng = np.random.default_rng(0)
    Xf = rng.standard_normal((64, 3))
    yf = Xf @ np.array([[1.0], [-2.0], [0.5]])
    train, val = random_split(TensorDataset(Xf, yf), [0.75, 0.25], generator=0)
    model = pat.nn.Linear(3, 1, dtype="float64")
    opt = pat.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(30):
        for xb, yb in DataLoader(train, batch_size=16, shuffle=True):
            opt.zero_grad()
            loss = ((model(xb) - yb) ** 2).mean()
            loss.backward()
            opt.step()
    xv, yv = next(iter(DataLoader(val, batch_size=len(val))))
    assert float(((model(xv) - yv) ** 2).mean().item()) < 1e-3
