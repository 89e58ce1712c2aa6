"""``pip install .`` without the ``ray`` extra: the package installs, runs its default path
with Ray impossible to import, and ``--executor ray`` is one line naming the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.clirun import one_line

ROOT = Path(__file__).resolve().parents[2]
#: Makes ``import ray`` fail in the child, as on a machine where it was never installed.
_BLOCK_RAY = """
import sys

class _NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
        return None

sys.meta_path.insert(0, _NoRay())
"""


def test_the_package_installed_without_the_extra_runs_and_names_it(tmp_path: Path) -> None:
    target, block, work = tmp_path / "site", tmp_path / "block", tmp_path / "work"
    block.mkdir()
    work.mkdir()
    (block / "sitecustomize.py").write_text(_BLOCK_RAY)
    # The project's own wheel, built and installed as ``pip install .`` does; its
    # dependencies are the ones already present (no network in tests).
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDELLM_")}
    env["PYTHONPATH"] = f"{block}{os.pathsep}{target}"
    probe = subprocess.run(
        [sys.executable, "-c",
         "import guidellm, importlib.metadata as m; print(guidellm.__file__); "
         "print(m.requires('guidellm'))"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    where, requires = probe.stdout.splitlines()
    assert where.startswith(str(target)), where
    assert "ray" in requires and all(
        "extra == " in r for r in eval(requires) if r.startswith("ray")
    ), requires  # ray only ever under an extra
    ran = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--profile", "constant", "--rate", "20",
         "--max-requests", "20", "--disable-progress"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (work / "benchmarks.json").exists() and (work / "benchmarks.html").exists()
    assert "ray" not in ran.stderr.lower()
    refused = subprocess.run(
        [sys.executable, "-m", "guidellm", "run", "--executor", "ray", "--max-requests", "5"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    one_line(refused, "pip install 'guidellm[ray]'")
