"""Real installed distributions found through the ``guidellm`` entry-point group.

The example echo plugin and a throwaway plugin whose import raises are pip-installed into a
target directory (``pip install --target``); ``guidellm`` then runs as a subprocess with
``PYTHONPATH`` on that directory, so importlib.metadata finds their ``dist-info`` exactly as it
would in site-packages. Nothing about importlib is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "plugins" / "guidellm-echo-backend"


@dataclass
class Installed:
    site: Path
    marker: Path
    #: A second target holding a plugin that also registers a backend named "echo".
    clash: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("plugin-install")
    broken = base / "guidellm-broken-plugin"
    (broken / "guidellm_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "guidellm-broken-plugin"
            version = "9.9.9"

            [project.entry-points.guidellm]
            broken = "guidellm_broken"

            [tool.setuptools]
            packages = ["guidellm_broken"]
            """
        )
    )
    # Leaves a mark when imported, so a test can prove the allow/deny lists act before import.
    (broken / "guidellm_broken" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import os, pathlib
            pathlib.Path(os.environ["BROKEN_PLUGIN_MARKER"]).touch()
            raise RuntimeError("this plugin is broken\\non purpose")
            """
        )
    )
    site = base / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(site),
            str(ECHO),
            str(broken),
        ],
        check=True,
        timeout=240,
    )
    assert sorted(p.name for p in site.glob("*.dist-info")) == [
        "guidellm_broken_plugin-9.9.9.dist-info",
        "guidellm_echo_backend-0.1.0.dist-info",
    ]
    clash = base / "guidellm-other-echo"
    (clash / "guidellm_other_echo").mkdir(parents=True)
    (clash / "pyproject.toml").write_text(
        (broken / "pyproject.toml")
        .read_text()
        .replace("guidellm-broken-plugin", "guidellm-other-echo")
        .replace("broken = ", "other_echo = ")
        .replace("guidellm_broken", "guidellm_other_echo")
    )
    (clash / "guidellm_other_echo" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from guidellm import Backend, hookimpl

            class OtherEcho(Backend):
                name = "echo"

                async def resolve(self, request, recorder):
                    return None

            @hookimpl
            def register_backends(register):
                register(OtherEcho)
            """
        )
    )
    clash_site = base / "clash-site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(clash_site), str(clash)],
        check=True,
        timeout=240,
    )  # fmt: skip
    return Installed(site=site, marker=base / "broken-was-imported", clash=clash_site)


def guidellm(installed: Installed, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    installed.marker.unlink(missing_ok=True)
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GUIDELLM_LOAD_PLUGINS", "GUIDELLM_DISABLE_PLUGINS")
    }
    environ.update(PYTHONPATH=str(installed.site), BROKEN_PLUGIN_MARKER=str(installed.marker))
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "guidellm", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=installed.site.parent,  # a run writes its reports in the working folder
        timeout=60,
        check=False,
    )


def listing(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return {entry["name"]: entry for entry in json.loads(proc.stdout)}


def test_installed_plugins_are_listed_and_a_broken_one_warns_once(installed: Installed) -> None:
    proc = guidellm(installed, "plugins")
    found = listing(proc)
    echo = found["echo"]
    assert echo["distribution"] == "guidellm-echo-backend"
    assert echo["version"] == "0.1.0"
    assert echo["module"] == "guidellm_echo"
    assert echo["builtin"] is False
    assert echo["provides"]["backends"] == ["echo"]
    assert echo["provides"]["server_metrics"] == ["acme-gateway"]
    assert "register_commands" in echo["hooks"]
    assert "error" not in echo
    broken = found["broken"]
    assert broken["distribution"] == "guidellm-broken-plugin"
    assert broken["error"] == "RuntimeError: this plugin is broken on purpose"
    assert installed.marker.exists()
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("guidellm: warning: plugin 'broken' failed to load")
    assert "GUIDELLM_DISABLE_PLUGINS=broken" in warnings[0]


def test_all_includes_the_builtins(installed: Installed) -> None:
    found = listing(guidellm(installed, "plugins", "--all", GUIDELLM_DISABLE_PLUGINS="broken"))
    builtins = [e for e in found.values() if e["builtin"]]
    assert builtins
    assert all(e["distribution"] == "guidellm" for e in builtins)
    catalogs = found["guidellm.telemetry.catalog"]["provides"]["server_metrics"]
    assert {"vllm", "sglang", "tgi", "llamacpp", "triton", "mlserver"} == set(catalogs)
    assert "echo" in found


@pytest.mark.parametrize("name", ["echo", "guidellm-echo-backend", "GUIDELLM_ECHO_BACKEND"])
def test_disable_hides_a_plugin(installed: Installed, name: str) -> None:
    found = listing(guidellm(installed, "plugins", GUIDELLM_DISABLE_PLUGINS=f"{name},broken"))
    assert "echo" not in found
    assert "broken" not in found
    assert not installed.marker.exists()  # skipped before import


def test_load_plugins_is_an_allow_list(installed: Installed) -> None:
    proc = guidellm(installed, "plugins", GUIDELLM_LOAD_PLUGINS="echo")
    assert list(listing(proc)) == ["echo"]
    assert proc.stderr == ""
    assert not installed.marker.exists()
    assert listing(guidellm(installed, "plugins", GUIDELLM_LOAD_PLUGINS="")) == {}


def test_a_broken_plugin_does_not_stop_other_commands(installed: Installed) -> None:
    version = guidellm(installed, "--version")
    assert version.returncode == 0
    assert "plugin guidellm-echo-backend 0.1.0" in version.stdout
    assert "plugin guidellm-broken-plugin 9.9.9" in version.stdout
    # A command added by an installed plugin, through register_commands.
    proc = guidellm(installed, "echo-overhead", "--requests", "20", "--tokens", "3")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["requests"] == 20
    assert len(proc.stderr.splitlines()) == 1  # the broken plugin's one warning


def test_two_plugins_registering_one_name_fail_naming_both(installed: Installed) -> None:
    path = f"{installed.site}{os.pathsep}{installed.clash}"
    found = listing(
        guidellm(installed, "plugins", PYTHONPATH=path, GUIDELLM_DISABLE_PLUGINS="broken")
    )
    assert "DuplicateComponentError" in found["other_echo"]["error"]
    run = guidellm(
        installed, "run", "--backend", "echo", "--target", "echo://", "--max-requests", "1",
        PYTHONPATH=path, GUIDELLM_DISABLE_PLUGINS="broken",
    )  # fmt: skip
    assert run.returncode == 2
    error = run.stderr.splitlines()[-1]
    assert error.startswith("guidellm: error: backend 'echo' is registered by plugins")
    assert "'echo' and 'other_echo'" in error
    # Disabling one of them resolves the clash.
    ok = guidellm(
        installed, "run", "--backend", "echo", "--target", "echo://", "--max-requests", "3",
        "--profile", "synchronous", "--data", "words:2", "--disable-console-outputs",
        PYTHONPATH=path, GUIDELLM_DISABLE_PLUGINS="broken,guidellm-other-echo",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_an_unknown_backend_lists_the_installed_ones(installed: Installed) -> None:
    run = guidellm(
        installed, "run", "--backend", "ech", "--target", "echo://",
        GUIDELLM_DISABLE_PLUGINS="broken",
    )  # fmt: skip
    assert run.returncode == 2
    assert "Unknown backend 'ech'. Available: " in run.stderr
    assert "echo" in run.stderr.split("Available: ")[1]
