"""The course in docs/ runs: every script in examples/course/ runs with --small and asserts
its own claims (a failed claim exits non-zero), and every page names its script."""

import os
import pathlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
COURSE = ROOT / "examples" / "course"
DOCS = ROOT / "docs"
SCRIPTS = sorted(p.name for p in COURSE.glob("c[0-9][0-9]_*.py"))
PAGES = sorted(p.name for p in DOCS.glob("[0-9][0-9]-*.md"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every script once (two at a time), in a scratch directory for its pictures."""
    out = tmp_path_factory.mktemp("course")
    env = dict(os.environ, MPLBACKEND="Agg")

    def run(name):
        proc = subprocess.run([sys.executable, str(COURSE / name), "--small", "--png-dir",
                               str(out)], cwd=out, capture_output=True, text=True,
                              timeout=300, env=env)
        return name, proc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, SCRIPTS)), out


def test_there_is_a_script_per_page_and_a_page_per_script():
    assert len(SCRIPTS) == len(PAGES) == 10
    index = (DOCS / "README.md").read_text()
    for page, script in zip(PAGES, SCRIPTS, strict=True):
        assert page[:2] == script[1:3], (page, script)
        text = (DOCS / page).read_text()
        assert f"examples/course/{script}" in text, f"{page} does not name {script}"
        assert f"({page})" in index and f"`{script}`" in index, f"docs/README.md lacks {page}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_and_its_claims_hold(runs, name):
    procs, _ = runs
    proc = procs[name]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "claims hold" in proc.stdout.splitlines()[-1]


def test_pictures_are_written_when_matplotlib_is_installed(runs):
    pytest.importorskip("matplotlib")
    _, out = runs
    pngs = {p.name for p in out.glob("*.png")}
    for want in ("c02_eps_v_curve.png", "c03_gradcheck_sweep.png", "c05_crossover.png",
                 "c08_relu_subgradients.png"):
        assert want in pngs
        assert (out / want).read_bytes()[:4] == b"\x89PNG"


def test_scripts_run_without_matplotlib(tmp_path):
    # a site directory whose matplotlib cannot be imported: the scripts skip pictures
    fake = tmp_path / "site"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(ROOT)]))
    proc = subprocess.run([sys.executable, str(COURSE / "c08_relu_subgradients.py"), "--small",
                           "--png-dir", str(tmp_path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(tmp_path.glob("*.png")) and "claims hold" in proc.stdout


def test_docs_links_resolve():
    for page in [DOCS / "README.md"] + [DOCS / p for p in PAGES]:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
