"""Bad input raises a clear Python exception before C is called, naming the op; none of
it may crash the interpreter, so each case also runs in a fresh subprocess."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyautotape as pat

# (code building the bad call, expected exception type, text the message must contain)
BAD = [
    ("pat.add(pat.tensor(np.ones(3)), pat.tensor(np.ones(4)))", pat.ShapeError, "add"),
    ("pat.matmul(pat.tensor(np.ones((2, 3))), pat.tensor(np.ones((4, 5))))", pat.ShapeError, "matmul"),
    ("pat.matmul(pat.tensor(np.float64(1.0)), pat.tensor(np.ones(3)))", pat.ShapeError, "matmul"),
    ("pat.linear(pat.tensor(np.ones((2, 3))), pat.tensor(np.ones((4, 5))))", pat.ShapeError, "linear"),
    ("pat.linear(pat.tensor(np.ones((2, 5))), pat.tensor(np.ones((4, 5))), pat.tensor(np.ones(3)))",
     pat.ShapeError, "bias"),
    ("pat.add(pat.tensor(np.ones(3, np.float32)), pat.tensor(np.ones(3)))", pat.DTypeError, "float32"),
    ("pat.mul(pat.tensor(np.ones(3, np.float32)), np.ones(3))", pat.DTypeError, "mix"),
    ("pat.exp(np.arange(3))", pat.DTypeError, "int64"),
    ("pat.exp(np.ones(3, bool))", pat.DTypeError, "bool"),
    ("pat.exp(np.ones(3, np.float16))", pat.DTypeError, "float16"),
    ("pat.exp(np.array(['a']))", pat.DTypeError, "exp"),
    ("pat.exp(np.array([object()]))", pat.DTypeError, "object"),
    ("pat.tensor('abc')", pat.DTypeError, "str"),
    ("pat.tensor([[1.0, 2.0], [3.0]])", pat.ShapeError, "ragged"),
    ("pat.tensor(np.arange(3), requires_grad=True)", pat.DTypeError, "requires_grad"),
    ("pat.cross_entropy(pat.tensor(np.ones((2, 3))), np.array([0, 3]))", ValueError, "label 3"),
    ("pat.cross_entropy(pat.tensor(np.ones((2, 3))), np.array([0, -1]))", ValueError, "label -1"),
    ("pat.cross_entropy(pat.tensor(np.ones((2, 3))), np.array([0.0, 1.5]))", pat.DTypeError, "integers"),
    ("pat.cross_entropy(pat.tensor(np.ones((2, 3))), np.array([0, 1, 2]))", pat.ShapeError, "labels"),
    ("pat.cross_entropy(pat.tensor(np.ones(3)), np.array([0]))", pat.ShapeError, "2-D"),
    ("pat.cross_entropy(pat.tensor(np.ones((2, 3))), np.array([0, 1]), reduction='avg')",
     ValueError, "reduction"),
    ("pat.mse_loss(pat.tensor(np.ones((3, 1))), pat.tensor(np.ones(3)))", pat.ShapeError, "mse_loss"),
    ("(pat.tensor(np.ones(3), requires_grad=True) * 2).backward(np.ones(4))", pat.ShapeError, "gradient"),
    ("(pat.tensor(np.ones(3), requires_grad=True) * 2).backward()", pat.ShapeError, "non-scalar"),
    ("pat.sum(pat.tensor(np.ones((2, 3))), axis=2)", pat.ShapeError, "axis"),
    ("pat.sum(pat.tensor(np.ones((2, 3))), axis=(0, 0))", pat.ShapeError, "repeats"),
    ("pat.max(pat.tensor(np.ones((2, 0))), axis=1)", pat.ShapeError, "no identity"),
    ("pat.reshape(pat.tensor(np.ones(6)), (4, 2))", pat.ShapeError, "reshape"),
    ("pat.transpose(pat.tensor(np.ones((2, 3))), (0, 0))", pat.ShapeError, "permutation"),
    ("pat.tensor(np.ones(3))[np.array([0.5])]", TypeError, "integers or bools"),
    ("pat.tensor(np.ones(3))[np.array([0, 3])]", IndexError, "out of bounds"),
    ("pat.tensor(np.ones(3))[5]", IndexError, "index"),
    ("pat.concatenate([pat.tensor(np.ones((2, 3))), pat.tensor(np.ones((3, 2)))])", pat.ShapeError,
     "concatenate"),
    ("pat.where(np.array([1, 0]), pat.tensor(np.ones(2)), 0.0)", pat.DTypeError, "bool"),
    ("pat.relu(pat.tensor(np.ones(2)), subgradient=2.0)", ValueError, "[0, 1]"),
    ("pat.relu(pat.tensor(np.ones(2)), subgradient=float('nan'))", ValueError, "subgradient"),
    ("pat.add(pat.tensor(np.ones(2)), object())", TypeError, "add"),
    ("pat.set_default_dtype(np.int32)", pat.DTypeError, "float32"),
]


@pytest.mark.parametrize("code,exc,text", BAD, ids=[b[0][:60] for b in BAD])
def test_bad_input_raises_clear_error(code, exc, text):
    with pytest.raises(exc) as info:
        eval(code, {"pat": pat, "np": np})
    assert text in str(info.value)


def test_no_bad_input_crashes_the_interpreter():
    # every case in one fresh interpreter per case: a segfault would show as a signal
    script = textwrap.dedent(
        """
        import sys, numpy as np, pyautotape as pat
        scope = {"pat": pat, "np": np}
        try:
            eval(sys.argv[1], scope)
        except Exception as exc:
            sys.exit(0 if isinstance(exc, eval(sys.argv[2], scope)) else 4)
        sys.exit(3)
        """
    )

    def name(exc):
        return f"pat.{exc.__name__}" if hasattr(pat, exc.__name__) else exc.__name__

    procs = [
        subprocess.Popen([sys.executable, "-c", script, code, name(exc)])
        for code, exc, _ in BAD
    ]
    for proc, (code, _, _) in zip(procs, BAD, strict=True):
        proc.wait(timeout=120)
        assert proc.returncode == 0, f"{code!r} exited with {proc.returncode}"
