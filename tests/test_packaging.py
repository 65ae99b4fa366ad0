"""Packaged like a well-kept library: the metadata (SPDX license, single-sourced version,
classifiers, py.typed), every folder of the package declared, and the wheel as pip builds
it: tagged abi3 like its extension, with no absolute rpath from the build machine."""

import email
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest
import tomllib

import pyautotape as pat

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_project_metadata():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pyautotape.__version__"}
    assert project["authors"] and "Typing :: Typed" in project["classifiers"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # SPDX instead
    assert "threadpoolctl>=3.1" in project["dependencies"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pat.__version__)


def test_every_folder_of_the_package_is_declared_with_its_files():
    setuptools = PYPROJECT["tool"]["setuptools"]
    declared = set(setuptools["packages"])
    folders = {".".join(p.relative_to(ROOT).parts) for p in (ROOT / "pyautotape").rglob("*")
               if p.is_dir() and p.name != "__pycache__"} | {"pyautotape"}
    assert folders <= declared, f"add {sorted(folders - declared)} to [tool.setuptools] packages"
    assert (ROOT / "pyautotape" / "py.typed").is_file()
    assert "py.typed" in setuptools["package-data"]["pyautotape"]
    assert setuptools["package-data"]["pyautotape.datasets"] == ["*.csv.gz", "*.md"]


def _runpath(so: pathlib.Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True,
                         check=True).stdout
    found = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.*)\]", out)
    return [p for entry in found for p in entry.split(":")]


def test_the_built_extension_has_no_absolute_rpath():
    so = pathlib.Path(pat._pat.__file__)
    assert so.name.startswith("_pat.abi3.")
    assert _runpath(so) == ["$ORIGIN/../scipy_openblas32/lib"], _runpath(so)


def test_the_wheel_is_abi3_and_ships_everything(tmp_path):
    pytest.importorskip("setuptools", minversion="77")  # the SPDX license field
    pytest.importorskip("cffi")
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name == f"pyautotape-{pat.__version__}-cp310-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = email.message_from_bytes(
            zf.read(f"pyautotape-{pat.__version__}.dist-info/METADATA"))
        zf.extract("pyautotape/_pat.abi3.so", tmp_path)
    assert {"pyautotape/py.typed", "pyautotape/datasets/digits.csv.gz",
            "pyautotape/nn/__init__.py", "pyautotape/_pat.abi3.so"} <= names
    assert meta["License-Expression"] == "MIT" and meta["Version"] == pat.__version__
    assert _runpath(tmp_path / "pyautotape" / "_pat.abi3.so") == [
        "$ORIGIN/../scipy_openblas32/lib"]


def test_tensor_declares_for_type_checkers_what_install_sets():
    import ast

    from pyautotape.ops import methods
    from pyautotape.ops.spec import SPECS

    tree = ast.parse((ROOT / "pyautotape" / "tensor.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor"]
    (block,) = [n for n in cls.body if isinstance(n, ast.If)
                and ast.unparse(n.test) == "TYPE_CHECKING"]
    declared = {n.name for n in block.body if isinstance(n, ast.FunctionDef)} - {"__getattr__"}
    installed = set(methods.METHODS) | {s.name for s in SPECS.values() if s.method}
    assert declared <= installed, (
        f"drop {sorted(declared - installed)} from Tensor's `if TYPE_CHECKING:` block")
    operators = {n for n in installed if n.startswith("__")}
    assert operators <= declared, (  # mypy finds no operator through __getattr__
        f"declare {sorted(operators - declared)} in Tensor's `if TYPE_CHECKING:` block")

