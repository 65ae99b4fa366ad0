"""Every fenced block of README.md and docs/*.md is kept true by a test, and so is every
command quoted inline.

Each block is looked up in BLOCKS by its file and first line, which says how it is
checked: ``exec`` (run, with a prelude defining the names a fragment takes from its page,
and optionally the printed lines it quotes), ``output`` (the quoted lines must appear, in
order, in the output of a command: ``...`` stands for anything, and the numbers of a
timing line are not compared: timing belongs in bench/), or one of the named checks below.
A block no rule covers fails the test, so a new one cannot go unchecked. Inline commands
(`python ...`, `pip ...`, `scripts/...`) are looked up in INLINE the same way.
"""

from __future__ import annotations

import ast
import functools
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COURSE = "examples/course/"

# the names a page's fragment takes from the text around it
_MLP = ("import numpy as np, pyautotape as pat\n"
        "rng = np.random.default_rng(0)\n"
        "x = pat.tensor(rng.standard_normal((8, 4)))\n"
        "y = rng.integers(0, 3, 8)\n"
        "w1 = pat.tensor(rng.standard_normal((6, 4)), requires_grad=True)\n"
        "b1 = pat.tensor(np.zeros(6), requires_grad=True)\n"
        "w2 = pat.tensor(rng.standard_normal((3, 6)), requires_grad=True)\n"
        "opt = pat.optim.SGD([w1, b1, w2], lr=0.1)\n")
_C04 = ("import numpy as np, pyautotape as pat\n"
        "rng = np.random.default_rng(0)\n"
        "x0 = rng.standard_normal(4)\n"
        "W1, b1, W2 = rng.standard_normal((6, 4)), rng.standard_normal(6), "
        "rng.standard_normal((3, 6))\n"
        "u = rng.standard_normal(4)\n"
        "f = lambda x: pat.tanh(pat.linear(pat.relu(pat.linear(x, W1, b1)), W2))\n")
_C08 = ("import numpy as np, pyautotape as pat\n"
        "X = np.zeros((16, 4), np.float32)\n"
        "y = np.zeros(16, np.int64)\n"
        "model = pat.nn.MLP([4, 8, 3])\n")
_C10 = ("import numpy as np, pyautotape as pat\n"
        "rng = np.random.default_rng(0)\n"
        "W = rng.standard_normal((3, 5))\n"
        "f = lambda t: pat.tanh(pat.linear(t, W))\n"
        "x, u, v = rng.standard_normal(5), rng.standard_normal(3), rng.standard_normal(5)\n")

TIMING = (r"^wall time ", r"^speed ")


def _course(name: str) -> str:
    """The output of a course script at its full settings (the course_outputs fixture)."""
    return f"course:{name[1:3]}"


# (page, first line of the block) -> (check, argument)
BLOCKS: dict[tuple[str, str], tuple[str, object]] = {
    ("README.md", "pip install -e . && python -m pyautotape train"): ("setup", None),
    ("README.md", "import numpy as np\nimport pyautotape as pat\n\nx = pat.tensor"):
        ("exec", ("", ["(1, 2)"])),
    ("README.md", "import numpy as np\nimport pyautotape as pat\n\ndef f"): ("exec", ("", ["(3, 3)"])),
    ("README.md", "$ python -m pyautotape train"): ("output", f"{sys.executable} -m pyautotape train"),
    ("README.md", "import os"): ("exec", ("", [])),
    ("README.md", "import numpy as np\nimport pyautotape as pat\n\nparams = {"):
        ("exec", ("", ["{'b': (2,), 'w': (2, 3)}", "(1, 2, 2, 3)"])),
    ("README.md", "import numpy as np\nimport pyautotape as pat\n\npat.manual_seed(0)"):
        ("exec", ("", [])),
    ("README.md", "python -m pytest bench/"): ("bench", None),
    ("README.md", "csrc/        the C core"): ("layout", None),
    ("docs/01-chain-rule.md", "import numpy as np, pyautotape as pat"):
        ("exec", ("", ["0  pow ", "1  tanh ", "1.111162405193964 1.111162405193964"])),
    ("docs/03-gradcheck.md", "eps sweep: ..."): ("output", _course("c03_gradcheck.py")),
    ("docs/03-gradcheck.md", "kink crossed: 10 entries left out of the comparison (...):"):
        ("output", _course("c03_gradcheck.py")),
    ("docs/04-forward-mode.md", "x = pat.tensor(x0, requires_grad=True)"): ("exec", (_C04, [])),
    ("docs/04-forward-mode.md", "#  op      inputs         output  fwd FLOPs  bwd FLOPs  saved  needed"):
        ("output", "previous block"),
    ("docs/04-forward-mode.md", "out, Ju = pat.jvp(f, (x0,), (u,))     # J u in one tangent sweep"):
        ("exec", (_C04, [])),
    ("docs/06-reverse-mode-memory.md", "MLP 64-256-128-10 (ReLU), batch 200, float32\n...\nthe tape of a training step:"):
        ("output", _course("c06_reverse_mode_memory.py")),
    ("docs/08-relu-subgradients.md", "with pat.Tape() as tape:"): ("exec", (_C08, [])),
    ("docs/09-input-gradient.md", "the tape's view (backward FLOPs by record, for wrt=[x]):"):
        ("output", _course("c09_input_gradient.py")),
    ("docs/10-jacobians.md", "out, vjp_fn = pat.vjp(f, x);  (uJ,) = vjp_fn(u)      # uᵀJ, one reverse sweep"):
        ("exec", (_C10, [])),
    ("docs/README.md", "python examples/course/c02_finite_differences.py            # full settings"):
        ("course", None),
    ("docs/architecture.md", "loss = pat.cross_entropy(pat.linear(pat.relu(pat.linear(x, w1, b1)), w2), y)"):
        ("exec", (_MLP, [])),
    ("docs/reliability.md", "LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"):
        ("sanitize_env", None),
    ("docs/reliability.md", "$ scripts/canary.sh"): ("canary", None),
    ("docs/reliability.md", "PYAUTOTAPE_SANITIZE_PYTHONMALLOC=pymalloc PYAUTOTAPE_SANITIZE_TESTS=tests/test_fuzz.py \\"):
        ("fuzz", None),
}

# inline command -> the test that runs it ("file::function"), or a named check
INLINE: dict[str, str] = {
    "python -m pyautotape": "tests/test_cli.py::test_train_end_to_end",
    "python -m pyautotape train": "tests/test_cli.py::test_train_end_to_end",
    "python -m pyautotape gradcheck": "tests/test_cli.py::test_gradcheck_subcommand",
    "python -m pyautotape info": "tests/test_cli.py::test_info_subcommand",
    "python -m pytest": "scripts/readme_setup.py",  # CI runs it there and in .ci/run
    "python -c": "tests/test_cli.py::test_plot_without_matplotlib_is_a_clear_message",
    "pip install -e .": "setup",
    "pip install -e '.[test]'": "setup",
    "pip install '.[test]'": "scripts/sanitize.sh",
    "pip install .": "scripts/sanitize.sh",
    "pip install 'pyautotape[plot]'": "extra:plot",
    "pip install 'pyautotape[ray]'": "extra:ray",
    "python examples/sweep_ray.py --address HEAD:6379":
        "tests/test_sweep_ray.py::test_ray_tune_sweep_of_ensembles",
    ".ci/run": "tests/test_ci.py::test_ci_installs_the_optional_packages_and_requires_their_tests",
    "scripts/readme_setup.py": "tests/test_ci.py::test_the_setup_block_is_the_readmes_two_commands",
    "scripts/sanitize.sh": ".ci/run",
    "scripts/canary.sh": "scripts/canary.sh",
}


def _blocks():
    for page in PAGES:
        text = page.read_text()
        for m in re.finditer(r"^([ \t]*)```(\w*)\n(.*?)^[ \t]*```", text, re.S | re.M):
            body = textwrap.dedent(m.group(3))
            first = next(line for line in body.splitlines() if line.strip())
            yield page.relative_to(ROOT).as_posix(), first.rstrip(), m.group(2), body


ALL = list(_blocks())


def _rule(page: str, body: str) -> tuple[str, str] | None:
    """The BLOCKS key of a block: its page, and the start of its text."""
    keys = [k for k in BLOCKS if k[0] == page and body.lstrip().startswith(k[1])]
    return max(keys, key=lambda k: len(k[1])) if keys else None


def test_every_block_has_a_check_and_every_check_a_block():
    missing = [(page, first) for page, first, _, body in ALL if _rule(page, body) is None]
    assert not missing, f"add these blocks to tests/test_docs.py BLOCKS: {missing}"
    used = {_rule(page, body) for page, _, _, body in ALL}
    stale = [k for k in BLOCKS if k not in used]
    assert not stale, f"BLOCKS names blocks the docs no longer have: {stale}"


def _env() -> dict[str, str]:
    """This checkout's package first, whatever the current folder (the scripts run in a
    scratch one)."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path)


@functools.cache
def _run(command: str, tmp: str) -> str:
    env = _env()
    proc = subprocess.run(command.format(tmp=tmp), shell=True, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _pattern(line: str) -> re.Pattern:
    """A quoted output line as a regex: ``...`` is anything; a timing line's numbers too."""
    parts = [re.escape(p) for p in line.rstrip().split("...")]
    text = ".*".join(parts)
    if any(re.match(t, line) for t in TIMING):
        text = re.sub(r"(\\\.|[\d,])+", r"[\\d.,]+", text)
    return re.compile(text)


def assert_quoted(quoted: str, output: str) -> None:
    """Every line of ``quoted`` (blank and ``...`` lines aside) matches a line of ``output``,
    in order."""
    lines = [line.rstrip() for line in output.splitlines()]
    at = 0
    for want in quoted.splitlines():
        if not want.strip() or want.strip() == "...":
            continue
        pattern = _pattern(want)
        for i in range(at, len(lines)):
            if pattern.fullmatch(lines[i]):
                at = i + 1
                break
        else:
            raise AssertionError(f"quoted line not in the output (in order):\n{want}\n\n"
                                 f"output:\n{output[-4000:]}")


def _exec(prelude: str, body: str, tmp_path, capsys) -> str:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(prelude + body, "<docs block>", "exec"), {})
    finally:
        os.chdir(cwd)
    return capsys.readouterr().out


@pytest.mark.parametrize("page, first, lang, body", ALL, ids=[f"{p}:{f[:40]}" for p, f, _, _ in ALL])
def test_block(page, first, lang, body, tmp_path, capsys, request):
    rule = _rule(page, body)
    assert rule is not None, "no rule: see test_every_block_has_a_check_and_every_check_a_block"
    kind, arg = BLOCKS[rule]
    if kind == "exec":
        prelude, quoted = arg
        out = _exec(prelude, body, tmp_path, capsys)
        for q in quoted:
            assert q in out, (q, out)
    elif kind == "output":
        command = arg
        quoted = body.split("\n", 1)[1] if first.startswith("$ ") else body
        if command == "previous block":
            i = next(i for i, b in enumerate(ALL) if b[0] == page and b[1] == first)
            prev = ALL[i - 1]
            out = _exec(BLOCKS[_rule(prev[0], prev[3])][1][0], prev[3], tmp_path, capsys)
        elif command.startswith("course:"):
            out = request.getfixturevalue("course_outputs")[command[7:]]
        else:
            out = _run(command, str(tmp_path))
        assert_quoted(quoted, out)
    else:
        globals()[f"check_{kind}"](body)


def check_setup(body):
    import importlib.util

    spec = importlib.util.spec_from_file_location("rs", ROOT / "scripts" / "readme_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.setup_block() == [line for line in body.splitlines() if line.strip()]
    assert "step python scripts/readme_setup.py" in (ROOT / ".ci" / "run").read_text()


def check_bench(body):
    # the options run by tests/test_bench.py (autosave then compare, in a scratch storage);
    # CI runs every benchmark once (.ci/run)
    options = [line.split("#")[0].split()[4:] for line in body.splitlines() if line.strip()]
    assert options == [[], ["--benchmark-autosave"], ["--benchmark-compare"]]
    test = (ROOT / "tests" / "test_bench.py").read_text()
    assert '"--benchmark-autosave"' in test and '"--benchmark-compare"' in test
    assert "python -m pytest -q bench/" in (ROOT / ".ci" / "run").read_text()


def check_layout(body):
    for line in body.splitlines():
        folder = line.split()[0] if line and not line[0].isspace() else None
        if folder:
            assert (ROOT / folder).is_dir(), folder
    for name in re.findall(r"\b([\w]+\.(?:def|h|c|py))\b", body):
        assert (ROOT / "csrc" / name).exists() or list(ROOT.glob(f"*/{name}")), name


def check_course(body):
    for line in body.splitlines():
        command = line.split("#")[0].split()
        assert command[:2] == ["python", f"{COURSE}c02_finite_differences.py"]
        _run(f"{sys.executable} {' '.join(command[1:])} --png-dir {{tmp}}", "/tmp")


def check_sanitize_env(body):
    script = (ROOT / "scripts" / "sanitize.sh").read_text()
    for line in body.splitlines():
        name, value = line.split("=", 1)
        assert name in script, name
        for option in value.split(":"):
            assert option.split("$(")[0] in script, (name, option)


def check_canary(body):
    # each "== " line is one the scripts print (their echo lines, variables as wildcards);
    # the ASan report between is ASan's. The canary itself runs by hand: an ASan build
    # and a failing run is the point of it.
    scripts = (ROOT / "scripts" / "sanitize.sh").read_text() + (
        ROOT / "scripts" / "canary.sh").read_text()
    templates = []
    for echo in re.findall(r'echo "(== [^"]*)"', scripts):
        text = re.escape(echo)
        text = re.sub(r"\\\$(\\\{[^}]*\\\}|\\\([^)]*\\\)|\w+)", ".*", text)
        templates.append(re.compile(text))
    for echo in re.findall(r'print\(f"(== [^"\\]*)', scripts):  # the job's Python part
        templates.append(re.compile(re.sub(r"\\\{[^}]*\\\}", ".*", re.escape(echo))))
    for line in body.splitlines()[1:]:
        if line.startswith("== "):
            assert any(t.fullmatch(line) for t in templates), line


def check_fuzz(body):
    script = (ROOT / "scripts" / "sanitize.sh").read_text()
    fuzz = (ROOT / "tests" / "test_fuzz.py").read_text()
    for name in re.findall(r"(PYAUTOTAPE_\w+)=", body):
        assert name in script or name in fuzz, name
    for test in re.findall(r"-k (\w+)", body):
        assert f"def {test}" in fuzz, test
    assert "intense" in (ROOT / "tests" / "conftest.py").read_text()


def _inline():
    found = set()
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        found |= set(re.findall(r"`((?:python|pip|scripts/|\.ci/)[^`]*)`", text))
    return sorted(found)


@pytest.mark.parametrize("command", _inline())
def test_inline_command(command):
    where = INLINE.get(command)
    assert where, f"add {command!r} to tests/test_docs.py INLINE with the test that runs it"
    if where == "setup":  # a command of the README's set-up block, which CI runs
        assert any(command in line for line in (ROOT / "README.md").read_text().split(
            "## Two commands")[1].split("```")[1].splitlines())
        return
    if where.startswith("extra:"):
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert where[6:] in extras["optional-dependencies"]
        return
    path, _, function = where.partition("::")
    assert (ROOT / path).is_file(), path
    text = (ROOT / path).read_text()
    if function:
        names = {n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
        assert function in names, where
    else:
        assert command.split()[0] in text or command.replace("'", "") in text.replace("'", "") \
            or path == command, where


def test_no_internal_trackers_or_people_in_the_docs():
    words = re.compile(r"\bissue[ -]?\d|\bDESIGN\.md|\bSTYLE\.md|\bowner\b|\btracker\b", re.I)
    for page in [*PAGES, ROOT / "bench" / "RESULTS.md"]:
        hits = [line for line in page.read_text().splitlines() if words.search(line)]
        assert not hits, f"{page.relative_to(ROOT)}: {hits}"


# -- the course pages' tables: every figure is one the page's script prints --------------

_NUMBER = r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
_TIMING = re.compile(r"\btime\b|\bms\b|\bs\b|/s\b", re.I)


def _numbers(text: str) -> list[float]:
    return [float(t.replace(",", "")) for t in re.findall(_NUMBER, text)]


@pytest.fixture(scope="module")
def course_outputs(tmp_path_factory):
    """Every course script run once at its full settings (two at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("course_full")
    scripts = sorted((ROOT / COURSE).glob("c[0-9][0-9]_*.py"))

    def run(path):
        proc = subprocess.run([sys.executable, str(path), "--png-dir", str(out)], cwd=out,
                              capture_output=True, text=True, timeout=600,
                              env=_env())
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return path.name[1:3], proc.stdout

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, scripts))


def _tables(page: pathlib.Path):
    """(header cells, row cells) of every markdown table row of a page."""
    header = None
    for line in page.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(c) <= set("-: ") for c in cells):
            yield header, cells


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("[0-9][0-9]-*.md")))
def test_course_table_figures_are_printed_by_the_script(page, course_outputs):
    """Within the rounding of two or three significant figures; timings (a column of time,
    ms or s) are not compared: they belong in bench/."""
    printed = _numbers(course_outputs[page[:2]])
    for header, cells in _tables(ROOT / "docs" / page):
        for column, cell in zip(header, cells, strict=False):
            if _TIMING.search(column) or _TIMING.search(cell):
                continue
            for value in _numbers(cell.replace("−", "-")):
                assert any(abs(value - p) <= 0.051 * abs(p) + 1e-300 for p in printed), (
                    f"docs/{page}: {value:g} ({column}: {cell}) is not in the output of its "
                    "script")
