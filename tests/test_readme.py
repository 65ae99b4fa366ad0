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
