"""The lazy public API: every name in ``guidellm.__all__`` resolves, none costs a heavy import."""

from __future__ import annotations

import subprocess
import sys

import guidellm

_HEAVY = ("numpy", "pydantic", "httpx", "grpc")


def test_every_public_name_resolves_to_its_module_object() -> None:
    from guidellm.benchmark.benchmarker import Benchmarker, RunOutcome, RunSettings

    assert guidellm.Benchmarker is Benchmarker
    assert guidellm.RunSettings is RunSettings and guidellm.RunOutcome is RunOutcome
    for name in guidellm.__all__:
        assert getattr(guidellm, name) is not None, name
    assert set(guidellm._LAZY) <= set(guidellm.__all__)


def test_the_benchmarker_is_public_without_heavy_imports() -> None:
    code = "import guidellm; guidellm.Benchmarker; guidellm.RunSettings; guidellm.RunOutcome"
    for args in (["-c", code], ["-m", "guidellm", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        loaded = {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in proc.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2
        }
        assert "guidellm" in loaded
        assert not sorted(set(_HEAVY) & loaded), args
