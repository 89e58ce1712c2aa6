"""The plugin docs stay true: one section per hook, and tutorial code equal to plugins/.

Tutorial code blocks are preceded by ``<!-- file: PATH -->`` (the block is an excerpt of that
file) or ``<!-- file: PATH, whole -->`` (the block is the whole file).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guidellm.hookspecs import HOOK_NAMES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins"
TUTORIALS = ("backend-tutorial.md", "strategy-tutorial.md")
BLOCK = re.compile(
    r"<!-- file: (?P<path>[^,>]+?)(?P<whole>, whole)? -->\n```[a-z]*\n(?P<code>.*?)\n```", re.S
)


def _blocks() -> list[tuple[str, str, bool, str]]:
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        for m in BLOCK.finditer(doc.read_text()):
            found.append((doc.name, m["path"].strip(), bool(m["whole"]), m["code"]))
    return found


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_tutorial_section(hook: str) -> None:
    text = (DOCS / "backend-tutorial.md").read_text()
    headings = [line for line in text.splitlines() if re.match(r"#{2,3} ", line)]
    assert any(f"`{hook}`" in h for h in headings), (
        f"docs/plugins/backend-tutorial.md has no section heading for hook {hook!r}"
    )
    assert f"`{hook}(" in (DOCS / "index.md").read_text(), f"index.md's hook table lacks {hook}"


def test_tutorial_code_blocks_match_plugins() -> None:
    blocks = _blocks()
    assert len(blocks) >= 10
    for doc, path, whole, code in blocks:
        source = (ROOT / path).read_text()
        if whole:
            assert code == source.rstrip("\n"), f"{doc}: the block for {path} drifted from it"
        else:
            assert code in source, f"{doc}: an excerpt of {path} is no longer in it"


def test_the_tutorials_show_every_module_of_the_example_plugins() -> None:
    shown = {path for _, path, whole, _ in _blocks() if whole}
    for package in ("guidellm-echo-backend", "guidellm-ramp-strategy"):
        base = ROOT / "plugins" / package
        expected = {base / "pyproject.toml", *base.glob("guidellm_*/*.py")}
        for file in expected:
            rel = file.relative_to(ROOT).as_posix()
            assert rel in shown, f"no tutorial shows {rel} in full"


def test_relative_links_resolve() -> None:
    for doc in DOCS.glob("*.md"):
        for target in re.findall(r"\]\((?!https?:|#)([^)#\s]+)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def _tutorial_runs() -> list[str]:
    commands = []
    for doc in TUTORIALS:
        text = (DOCS / doc).read_text()
        for block in re.findall(r"```bash\n(.*?)\n```", text, re.S):
            joined = block.replace("\\\n", " ")
            commands += [c for c in joined.splitlines() if c.startswith("guidellm run ")]
    return commands


def test_the_tutorials_run_commands_are_bounded_and_run(tmp_path: Path) -> None:
    """Copy-paste runnable: each finishes quickly (bounded) and succeeds."""
    import os
    import subprocess
    import sys

    commands = _tutorial_runs()
    assert len(commands) >= 4
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for command in commands:
        proc = subprocess.run(
            ["bash", "-c", command.split("#", 1)[0] + " --disable-progress"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-1500:]}"
