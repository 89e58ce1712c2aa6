"""README.md stays true: every extra is explained, and the test command CI runs is there."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_extra_is_explained() -> None:
    # a regex, not tomllib: the package supports Python 3.10, which has no tomllib
    pyproject = (REPO / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([A-Za-z0-9_-]+) *= *\[", section, re.MULTILINE))
    assert "dev" in extras  # the parse works
    documented = set(re.findall(r"^\| `([a-z0-9_-]+)` +\|", README, re.MULTILINE))
    missing = sorted(set(extras) - documented)
    assert not missing, f"README.md's extras table lacks {missing}"
    unknown = sorted(documented - set(extras))
    assert not unknown, f"README.md documents extras pyproject.toml lacks: {unknown}"


def test_ci_runs_the_readme_test_command() -> None:
    block = re.search(r"<!-- test-command -->\n```bash\n(.+)\n```", README)
    assert block is not None, "README.md needs '<!-- test-command -->' before a bash block"
    command = block.group(1).strip()
    # the servers the tests need are installed by the command itself, then pytest runs
    assert command.startswith("scripts/test-servers/setup.sh all && ")
    assert command.endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # .ci/run takes the command from README.md


def test_first_run_needs_no_server() -> None:
    assert "```bash\nguidellm run\n```" in README
