"""pat.Tape: explicit recording scopes, the summary table, DOT output, kink counts."""

import doctest
import threading

import numpy as np
import pytest

import pyautotape as pat
from pyautotape import tape as tape_mod
from pyautotape._state import state as _state
from pyautotape.tensor import last_sweep_stats


def _mlp(seed=0, batch=16):
    pat.manual_seed(seed)
    model = pat.nn.MLP([8, 32, 16, 4])
    x = pat.tensor(np.random.default_rng(seed).standard_normal((batch, 8)).astype(np.float32),
                   requires_grad=True)
    return model, x


def test_records_in_scope_in_order_and_only_in_scope():
    x = pat.tensor([1.0, 2.0], requires_grad=True)
    before = pat.exp(x)
    with pat.Tape() as tape:
        y = pat.tanh(before) * 2.0
        with pat.no_grad():
            pat.exp(x)  # not recorded: no record is made under no_grad
        z = y.sum()
    after = pat.exp(z)  # noqa: F841
    assert [e.op for e in tape] == ["tanh", "mul", "sum"]
    assert [e.index for e in tape] == [0, 1, 2]
    assert [e.seq for e in tape] == sorted(e.seq for e in tape)
    assert tape[0].parents == (("outside", before._node.seq),)
    assert tape[1].parents == (("record", 0), ("const", None))
    assert _state.tapes is None  # closed scopes leave record() with one attribute check


def test_scopes_nest_and_are_per_thread():
    x = pat.tensor([1.0], requires_grad=True)
    seen = []
    with pat.Tape() as outer:
        pat.exp(x)
        with pat.Tape() as inner:
            pat.tanh(x)
        t = threading.Thread(target=lambda: seen.append(len(_state.tapes or [])))
        t.start()
        t.join()
    assert [e.op for e in outer] == ["exp", "tanh"]
    assert [e.op for e in inner] == ["tanh"]
    assert seen == [0]


def test_a_tape_keeps_no_activation_alive():
    import weakref

    x = pat.tensor(np.ones((64, 64)), requires_grad=True)
    with pat.Tape() as tape:
        y = pat.tanh(x)
        ref = weakref.ref(y._node)
        del y
    assert ref() is None and len(tape) == 1


def test_summary_rows_flops_saved_bytes_and_totals():
    model, x = _mlp()
    with pat.Tape() as tape:
        loss = pat.cross_entropy(model(x), np.arange(16) % 4)
    ops = [e.op for e in tape]
    assert ops == ["linear", "relu", "linear", "relu", "linear", "cross_entropy"]
    lin = tape[0]
    assert lin.inputs == ((16, 8), (32, 8), (32,)) and lin.output == (16, 32)
    assert lin.flops == 2 * 16 * 8 * 32 + 16 * 32
    # linear keeps x (W needs a gradient) and W (x needs one): 16*8*4 + 32*8*4 bytes
    assert lin.saved_bytes == 16 * 8 * 4 + 32 * 8 * 4
    assert tape[1].saved_bytes == 16 * 32 * 4  # relu keeps its output
    text = tape.summary()
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["#", "op", "inputs", "output"]
    assert len(lines) == 1 + 6 + 3
    assert lines[1].split()[1] == "linear" and "(16,8) (32,8) (32)" in lines[1]
    assert "total: 6 records" in text and "saved for backward" in text
    assert text == tape.summary()  # a pure function of what was noted
    loss.backward()
    assert tape.summary() == text  # still describes the pass after the tape is released


def test_summary_wrt_input_marks_no_weight_gradient_flops():
    model, x = _mlp()
    with pat.Tape() as tape:
        out = model(x).sum()
    full = tape.summary()
    only_x = tape.summary(wrt=[x])
    bwd = lambda text: text.splitlines()[-3]  # noqa: E731  the totals line
    assert "backward" in bwd(full) and "for wrt" in bwd(only_x)
    # every record is needed either way; for x alone, no dW (and no db) is computed
    assert tape.needed(wrt=[x]) == [True] * len(tape)
    w0 = model.layers[0].weight
    assert tape.needed(wrt=[w0])[0] and tape.needed(wrt=[w0]).count(True) == len(tape)
    last = model.layers[-1].weight
    assert tape.needed(wrt=[last]) == [False] * (len(tape) - 2) + [True, True]
    # the totals agree with what the C sweep counts as GEMM FLOPs
    (gx,) = pat.autograd.grad(out, [x], retain_graph=True)
    gemm_x = last_sweep_stats()["gemm_flops"]
    out.backward()
    gemm_all = last_sweep_stats()["gemm_flops"]
    lin = [e for e in tape if e.op == "linear"]
    want_x = sum(2 * e.m * e.k * e.n for e in lin)  # dX of every layer (x is wrt)
    want_all = 2 * want_x  # + dW of every layer
    assert (gemm_x, gemm_all) == (want_x, want_all)
    # the table counts the same GEMMs, plus the elementwise rules
    rest = sum(2 * e.output[0] * e.output[1] for e in tape if e.op == "relu") + 16 * 4
    assert f"backward {pat.tape._fmt_int(want_x + rest)} FLOPs for wrt" in only_x
    bias = sum(e.m * e.n for e in lin)
    assert f"({pat.tape._fmt_int(want_all + bias + rest)} for every input)" in only_x
    assert gx.shape == x.shape
    assert "[wrt]" in only_x.splitlines()[-1]


def test_needed_follows_paths_to_the_output():
    a = pat.tensor(np.ones(3), requires_grad=True)
    b = pat.tensor(np.ones(3), requires_grad=True)
    with pat.Tape() as tape:
        u = pat.exp(a)          # 0: a only
        v = pat.tanh(b)         # 1: b only
        side = pat.sqrt(u)      # 2: not on the way to out  # noqa: F841
        out = (u * v).sum()     # 3, 4
    assert tape.needed(wrt=[a], output=out) == [True, False, False, True, True]
    assert tape.needed(wrt=[b], output=out) == [False, True, False, True, True]
    assert tape.needed(wrt=[u], output=out) == [False, False, False, True, True]
    assert tape.needed(output=u) == [True, False, False, False, False]
    with pytest.raises(TypeError, match="Tensors"):
        tape.needed(wrt=[np.ones(3)])


def test_to_dot_has_ops_values_shapes_and_highlights_the_path():
    a = pat.tensor(np.ones((2, 3)), requires_grad=True)
    b = pat.tensor(np.ones(3), requires_grad=True)
    with pat.Tape() as tape:
        out = (pat.exp(a) + pat.tanh(b)).sum()
    dot = tape.to_dot(wrt=[b], names={"a": a, "b": b})
    assert dot.startswith("digraph tape {") and dot.rstrip().endswith("}")
    assert 'label="a\\n(2,3) float64"' in dot and 'label="b\\n(3) float64"' in dot
    for i, op in enumerate(["exp", "tanh", "add", "sum"]):
        assert f'label="#{i} {op}' in dot
    hot = [line for line in dot.splitlines() if "#d62728" in line]
    assert any(line.strip().startswith("leaf1 ") for line in hot)  # b is highlighted
    assert not any(line.strip().startswith("leaf0 ") for line in hot)  # a is not
    assert any("op1 [" in line for line in hot) and not any("op0 [" in line for line in hot)
    assert "leaf0 -> op0;" in dot and "leaf1 -> op1 [" in dot
    assert dot.count("->") == 4 + 5  # op -> value for each, and 5 input edges
    assert out.shape == ()


def test_to_dot_is_valid_for_graphviz_when_installed(tmp_path):
    graphviz = pytest.importorskip("graphviz")
    x = pat.tensor(np.ones(3), requires_grad=True)
    with pat.Tape() as tape:
        pat.relu(x * 2.0).sum()
    graphviz.Source(tape.to_dot())  # parses
    try:
        path = tape.render(str(tmp_path / "tape.svg"))
    except RuntimeError as exc:  # the dot program is missing
        assert "dot" in str(exc)
    else:
        assert (tmp_path / "tape.svg").exists() and path.endswith(".svg")


def test_render_without_graphviz_says_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    with pytest.raises(ImportError, match="pip install graphviz"):
        pat.Tape().render("x.png")


def test_kinks_count_arguments_exactly_at_the_kink():
    x = pat.tensor(np.array([[0.0, 1.0, -0.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    with pat.Tape() as tape:
        r = pat.relu(x)                                   # 3 zeros (-0.0 is 0)
        lr = pat.leaky_relu(x - 1.0)                      # one entry at 1.0 -> 0
        m = pat.maximum(x, pat.tensor(np.array([0.0, 1.0, 5.0])))  # ties: [0,0] [0,1]
        mn = pat.minimum(x, 0.0)                          # ties with 0: 3
        mx = x.max(axis=1)                                # row 0: 1.0 once; row 1: 2.0
        tie = pat.tensor(np.array([[1.0, 1.0], [0.0, 2.0]]), requires_grad=True).max(axis=1)
    rows = {k.op: k for k in tape.kinks()}
    assert [k.op for k in tape.kinks()] == ["relu", "leaky_relu", "maximum", "minimum", "max",
                                            "max"]
    assert rows["relu"].at_kink == 3 and rows["relu"].size == 6
    assert rows["leaky_relu"].at_kink == 1
    assert rows["maximum"].at_kink == 2 and rows["maximum"].size == 6
    assert rows["minimum"].at_kink == 3
    maxes = [k for k in tape.kinks() if k.op == "max"]
    assert (maxes[0].at_kink, maxes[0].size) == (0, 2)
    assert (maxes[1].at_kink, maxes[1].size) == (1, 2)
    assert rows["relu"].fraction == 0.5
    assert r.shape == lr.shape == m.shape == mn.shape and mx.shape == tie.shape == (2,)


def test_kinks_in_training_match_numpy():
    model, x = _mlp(batch=32)
    with pat.Tape() as tape:
        model(x)
    relus = [e for e in tape if e.op == "relu"]
    with pat.no_grad():
        z = model.layers[0](x).numpy()
    assert relus[0].at_kink == int(np.count_nonzero(z == 0))


def test_custom_ops_and_where_appear_with_unknown_flops():
    class Double(pat.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = pat.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with pat.Tape() as tape:
        y = pat.where(x.numpy() > 0, Double.apply(x), x)
    assert [e.op for e in tape] == ["custom", "where"]
    assert tape[0].flops is None and "?" in tape.summary()
    assert tape[1].inputs == ((2,), (2,), (2,)) and tape[1].parents[0] == ("const", None)
    assert tape.kinks() == [] and y.shape == (2,)


def test_clear_and_len():
    x = pat.tensor([1.0], requires_grad=True)
    with pat.Tape() as tape:
        pat.exp(x)
        tape.clear()
        pat.tanh(x)
    assert [e.op for e in tape] == ["tanh"] and len(tape) == 1


def test_doctests():
    failures, tried = doctest.testmod(tape_mod)
    assert tried > 0 and failures == 0
