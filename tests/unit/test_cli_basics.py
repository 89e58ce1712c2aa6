"""The CLI's basic promises, checked on the real installed program in a subprocess.

``--help`` must stay fast: it imports none of the heavy libraries (plugins import them inside
functions), ``--version`` works, and a bad flag or command gives one line and exit code 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import guidellm

HEAVY = ("httpx", "grpc", "datasets", "numpy", "transformers")


def run(*args: str, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("GUIDELLM_DEBUG", None)
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "guidellm", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def imported_modules(importtime_stderr: str) -> set[str]:
    """Top-level module names from ``-X importtime`` lines: 'import time: a | b | name'."""
    names: set[str] = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name.split(".")[0])
    return names


def test_help_imports_no_heavy_library() -> None:
    result = run("--help", python_flags=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    modules = imported_modules(result.stderr)
    assert "guidellm" in modules  # the parse works: our own package shows up
    assert "click" in modules
    heavy = sorted(set(HEAVY) & modules)
    assert not heavy, f"'guidellm --help' imports {heavy}: import them inside functions"


def test_version_names_the_package_and_python() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"guidellm {guidellm.__version__} ")
    assert "Python" in first


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "guidellm"
    assert script.exists(), f"no console script at {script}: is the project installed?"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("guidellm ")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--no-such-flag",), "--no-such-flag"),
        (("no-such-command",), "no-such-command"),
        (("plugins", "--no-such-flag"), "--no-such-flag"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args: tuple[str, ...], named: str) -> None:
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("guidellm: error:")
    assert named in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "code"), [(("--version",), 0), (("run", "--bogus"), 2)])
def test_quick_exit_keeps_status_output_and_atexit_handlers(
    args: tuple[str, ...], code: int
) -> None:
    """The console entry skips the interpreter's teardown but nothing a caller can see: the
    exit status, everything written to stdout/stderr (buffered, into a pipe) and atexit."""
    script = (
        "import atexit, sys\n"
        "from guidellm.cli import entry\n"
        "atexit.register(lambda: print('atexit ran', flush=False))\n"
        "sys.stdout.write('buffered ')\n"
        f"sys.argv = ['guidellm', *{list(args)!r}]\n"
        "entry()\n"
    )
    # Buffered output is the point: without PYTHONUNBUFFERED, a pipe's stdout is block-buffered.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.startswith("buffered ")
    assert proc.stdout.rstrip().endswith("atexit ran")
    if code:
        assert "no such option" in proc.stderr.lower()
    else:
        assert "guidellm" in proc.stdout


def test_quick_exit_waits_for_a_live_non_daemon_thread() -> None:
    script = (
        "import sys, threading, time\n"
        "from guidellm.cli import entry\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "sys.argv = ['guidellm', '--version']\n"
        "entry()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "thread done" in proc.stdout


def test_quick_exit_keeps_a_commands_returned_exit_code() -> None:
    """A (plugin) command may return its exit code instead of raising SystemExit."""
    script = "import sys, guidellm.cli as cli\ncli.main = lambda argv=None: 3\ncli.entry()\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 3, proc.stderr
