"""Threads: independent training runs in threads give bitwise the serial results, grad mode
and recording are per thread, a tape can be swept by one thread at a time, and the C core
keeps no mutable static state (cffi releases the GIL during C calls, so C code does run
in parallel; see docs/reliability.md, "Threads")."""

from __future__ import annotations

import functools
import pathlib
import re
import threading

import numpy as np
import pytest

import pyautotape as pat

CSRC = pathlib.Path(__file__).resolve().parent.parent / "csrc"
N_THREADS = 8


# -- independent training runs ---------------------------------------------------------------


def _init_states(n: int) -> list[dict[str, np.ndarray]]:
    states = []
    for k in range(n):  # initialisation draws from one global generator: do it serially
        pat.manual_seed(100 + k)
        model = pat.nn.MLP([20, 32, 16, 4], dtype=np.float64 if k % 2 else np.float32)
        states.append(model.state_dict())
    return states


def _train(k: int, state: dict[str, np.ndarray], steps: int = 30, start=None) -> list[np.ndarray]:
    """Train model k from ``state`` on its own data; odd k in float64, every third compiled."""
    dtype = np.float64 if k % 2 else np.float32
    model = pat.nn.MLP([20, 32, 16, 4], dtype=dtype)
    model.load_state_dict(state)
    opt = (pat.optim.Adam if k % 2 else pat.optim.SGD)(model.parameters(), lr=0.01)
    rng = np.random.default_rng(k)
    X = rng.standard_normal((steps, 16, 20)).astype(dtype)
    Y = rng.integers(0, 4, (steps, 16))

    def step(x, y):
        loss = pat.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    run = pat.compile(step) if k % 3 == 0 else step
    if start is not None:
        start.wait()
    losses = [run(X[i], Y[i]).item() for i in range(steps)]
    return [p.numpy() for p in model.parameters()] + [np.array(losses)]


def test_eight_threads_training_their_own_models_match_serial_runs_bitwise():
    states = _init_states(N_THREADS)
    serial = [_train(k, states[k]) for k in range(N_THREADS)]
    results: list = [None] * N_THREADS
    errors: list = []
    start = threading.Barrier(N_THREADS)

    def worker(k):
        try:
            results[k] = _train(k, states[k], start=start)
        except BaseException as exc:  # reported below, with the thread's index
            errors.append((k, exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(N_THREADS):
        assert len(results[k]) == len(serial[k])
        for got, want in zip(results[k], serial[k], strict=True):
            assert got.dtype == want.dtype
            assert np.array_equal(got, want), f"thread {k} differs from its serial run"


# -- per-thread state ----------------------------------------------------------------------------


def test_no_grad_in_one_thread_does_not_affect_another_running_at_the_same_time():
    x = pat.tensor(np.ones(3), requires_grad=True)
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def quiet():
        with pat.no_grad():
            inside.set()
            checked.wait(10)
            seen["quiet"] = (x * 2).requires_grad, pat.is_grad_enabled()

    t = threading.Thread(target=quiet)
    t.start()
    assert inside.wait(10)
    seen["main"] = (x * 2).requires_grad, pat.is_grad_enabled()  # while the other is inside
    checked.set()
    t.join()
    assert seen == {"quiet": (False, False), "main": (True, True)}


def test_set_grad_enabled_is_per_thread():
    done = threading.Event()
    states = []

    def off():
        pat.set_grad_enabled(False)
        states.append(pat.is_grad_enabled())
        done.set()

    t = threading.Thread(target=off)
    t.start()
    t.join()
    assert done.is_set() and states == [False]
    assert pat.is_grad_enabled()


def test_recording_a_compiled_step_ignores_other_threads_ops():
    # thread A is in the middle of recording pat.compile's first call while thread B runs
    # eager ops; B's ops must not end up in A's recording, and both compute correctly
    w = pat.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    paused, resume = threading.Event(), threading.Event()

    @pat.compile
    def f(x):
        h = pat.tensor(x) * w
        if not paused.is_set():  # only while recording
            paused.set()
            resume.wait(10)
        return pat.exp(h).sum()

    out = {}
    a = threading.Thread(target=lambda: out.setdefault("a", f(np.ones(3)).item()))
    a.start()
    assert paused.wait(10)
    v = pat.tensor(np.array([5.0, 6.0]), requires_grad=True)
    b_out = (pat.tanh(v) * v).sum()  # B's eager ops, recorded on B's tape only
    b_out.backward()
    resume.set()
    a.join()
    np.testing.assert_allclose(out["a"], np.exp([1.0, 2.0, 3.0]).sum())
    np.testing.assert_allclose(v.grad.numpy(), np.tanh([5.0, 6.0]) + [5.0, 6.0] / np.cosh([5.0, 6.0]) ** 2)
    for x in (np.ones(3), np.full(3, 2.0)):  # replays run exactly the recorded ops
        np.testing.assert_allclose(f(x).item(), np.exp(x * [1.0, 2.0, 3.0]).sum())
    assert f.stats["records"] == 1 and f.stats["replays"] == 2


# -- one tape, two threads ---------------------------------------------------------------------


def _mlp_graph(rng):
    x = pat.tensor(rng.standard_normal((64, 128)))
    w1 = pat.tensor(rng.standard_normal((256, 128)) * 0.1, requires_grad=True)
    w2 = pat.tensor(rng.standard_normal((10, 256)) * 0.1, requires_grad=True)
    loss = pat.cross_entropy(pat.linear(pat.relu(pat.linear(x, w1)), w2), rng.integers(0, 10, 64))
    return loss, w1, w2


def _race(fn, n: int = 2) -> list[tuple[str, object]]:
    """Run fn in n threads released together; ("ok", result) or ("err", exception) each."""
    start = threading.Barrier(n)
    out: list[tuple[str, object]] = []

    def run():
        start.wait()
        try:
            out.append(("ok", fn()))
        except BaseException as exc:  # collected and checked by the caller
            out.append(("err", exc))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _sweep(how, loss, w1, w2, retain=False):
    if how == "backward":
        loss.backward(retain_graph=retain)
        return w1.grad.numpy()
    return pat.autograd.grad(loss, [w1, w2], retain_graph=retain)[0].numpy()


@pytest.mark.parametrize("how", ["backward", "autograd.grad"])
def test_two_threads_sweeping_one_tape_one_wins_the_other_gets_tape_error(how):
    """Extends test_tape.py's version: a graph with GEMMs (the C sweep runs without the
    GIL), both threads released together, both entry points, 100 rounds; the winner's
    gradient is exactly one sweep's worth."""
    ref_loss, rw1, _ = _mlp_graph(np.random.default_rng(1))
    ref_loss.backward()
    for _ in range(100):
        loss, w1, w2 = _mlp_graph(np.random.default_rng(1))
        out = _race(functools.partial(_sweep, how, loss, w1, w2))
        ok = [v for k, v in out if k == "ok"]
        errors = [v for k, v in out if k == "err"]
        assert len(ok) == 1 and len(errors) == 1, out
        assert isinstance(errors[0], pat.TapeError), repr(errors[0])
        assert "in use" in str(errors[0]) or "retain_graph" in str(errors[0])
        np.testing.assert_array_equal(ok[0], rw1.grad.numpy())


def test_retained_tape_swept_from_two_threads_never_corrupts():
    # with retain_graph=True both may succeed (one after the other) or one is refused
    # while the other is in the sweep; never a crash or a mixed gradient
    loss0, w0, _ = _mlp_graph(np.random.default_rng(2))
    (want,) = pat.autograd.grad(loss0, [w0])
    for _ in range(50):
        loss, w1, w2 = _mlp_graph(np.random.default_rng(2))
        out = _race(functools.partial(_sweep, "autograd.grad", loss, w1, w2, True))
        assert any(k == "ok" for k, _ in out)
        for kind, value in out:
            if kind == "ok":
                np.testing.assert_array_equal(value, want.numpy())
            else:
                assert isinstance(value, pat.TapeError) and "in use" in str(value), repr(value)


# -- no mutable static state in C ---------------------------------------------------------------


def _strip_c(text: str) -> str:
    """C source without comments, string/char literals and preprocessor lines (a macro
    definition continued over several lines included)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"\\\n", " ", text)  # join continued lines first
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "''", text)
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.splitlines())


def _matching_brace(code: str, i: int) -> int:
    depth = 0
    for j in range(i, len(code)):
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        if depth == 0:
            return j
    return len(code) - 1


def mutable_state(text: str) -> list[str]:
    """Declarations of variables with static storage that are not fully const: ``static``
    variables at any scope, and variables defined at file scope without ``static``."""
    code = _strip_c(text)
    found: list[str] = []
    stmt, i = "", 0
    while i < len(code):
        ch = code[i]
        if ch == "{":
            j = _matching_brace(code, i)
            head = " ".join(stmt.split())
            if "=" in head or re.match(r"^(typedef\b|(static\s+)?(const\s+)?(struct|union|enum)\b)", head) and "(" not in head:
                stmt += "{}"  # an initializer or an aggregate body: the statement goes on
            else:  # a function body: block-scope statics live here
                for part in re.split(r"[;{}]", code[i + 1 : j]):
                    decl = " ".join(part.split())
                    if re.match(r"static\b", decl) and not _fully_const(decl):
                        found.append(decl)
                stmt = ""
            i = j + 1
            continue
        stmt += ch
        if ch == ";":
            decl = " ".join(stmt.split())
            stmt = ""
            if _is_variable(decl) and not _fully_const(decl):
                found.append(decl)
        i += 1
    return found


def _declarator_head(s: str) -> str:
    return s.split("=", 1)[0]


def _is_variable(s: str) -> bool:
    head = _declarator_head(s).strip().rstrip(";").strip()
    if not head or re.match(r"^(typedef|extern|_Static_assert|static_assert)\b", head):
        return False
    if re.match(r"^(static\s+)?(struct|union|enum)\b[^{]*(\{\})?$", head):
        return False  # a declaration of the type only
    paren = head.find("(")
    if paren >= 0 and not re.match(r"\(\s*\*", head[paren:]):
        return False  # a prototype (a function pointer variable reads "(*name)")
    return bool(re.search(r"\w", head))


def _fully_const(s: str) -> bool:
    head = _declarator_head(s)
    if not re.search(r"\bconst\b", head):
        return False
    # every pointer level must be const too: "const char *names[]" is a mutable array
    return all(re.match(r"\s*const\b", rest) for rest in head.split("*")[1:])


def test_the_static_state_checker_finds_what_it_should():
    bad = {
        "static int calls = 0;": True,
        "static double scratch[64];": True,
        "static const char *names[] = {\"a\"};": True,
        "int pat_counter;": True,
        "void f(void) { static int n = 0; n++; }": True,
        "static int (*hook)(void) = 0;": True,
        "static const char *const NAMES[] = {\"a\"};": False,
        "static const double TABLE[2] = {1.0, 2.0};": False,
        "static inline int twice(int x) { return 2 * x; }": False,
        "static void helper(float *restrict y, int64_t n);": False,
        "int pat_abi_version(void) { return 1; }": False,
        "typedef struct { int a; } pat_x;": False,
        "_Static_assert(sizeof(int) == 4, \"int\");": False,
        "void g(void) { int local = 0; (void)local; }": False,
        "extern int elsewhere;": False,
    }
    for code, is_bad in bad.items():
        assert bool(mutable_state(code)) == is_bad, (code, mutable_state(code))


def test_c_kernels_keep_no_mutable_static_state():
    files = sorted(CSRC.glob("*.c")) + sorted(CSRC.glob("*.h"))
    assert any(f.name == "sweeps.c" for f in files)
    offenders = {f.name: mutable_state(f.read_text()) for f in files}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, (
        "C keeps state between calls, which breaks thread safety and replay determinism "
        f"(cffi releases the GIL during C calls): {offenders}"
    )
