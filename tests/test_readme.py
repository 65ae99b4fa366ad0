"""The README's Python example runs as written."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_python_blocks_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_lists_every_op():
    import pyautotape as pat

    text = (ROOT / "README.md").read_text()
    listed = re.search(r"- \*\*Ops\*\*: `([^`]*)`", text, re.S)
    assert listed, "the README's API overview has an **Ops** line"
    names = set(listed.group(1).split())
    ops = {n for n in pat.ops.__all__ if not n.endswith("_subgradient")}
    assert ops <= names, f"add {sorted(ops - names)} to the README's **Ops** line"
    assert names <= set(pat.ops.__all__), f"{sorted(names - set(pat.ops.__all__))} are not ops"


def test_the_architecture_page_names_real_files():
    text = (ROOT / "docs" / "architecture.md").read_text()
    names = set(re.findall(r"`([\w/]+\.(?:py|c|h|def))\b", text))
    assert len(names) > 20
    where = [ROOT, ROOT / "csrc", ROOT / "pyautotape", ROOT / "pyautotape" / "ops",
             ROOT / "pyautotape" / "replay", ROOT / "tests"]
    missing = [n for n in names if not any((d / n).exists() for d in where)]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
    step = re.findall(r"^\d\. `([^`]+)`", text.split("## Adding an op")[1], re.M)
    assert len(step) <= 6 and len({s.split(":")[0] for s in step}) <= 5
