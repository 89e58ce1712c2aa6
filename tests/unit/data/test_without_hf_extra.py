"""The plain install (no ``hf`` extra): synthetic data and text formats work; the rest says what
to install. The extra's packages are hidden from a child interpreter with an import blocker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'datasets', 'tokenizers', 'pyarrow', 'transformers', 'jinja2'}:
            raise ImportError(f'No module named {name!r} (blocked)')
        return None
sys.meta_path.insert(0, _Block())
"""


def _run(code: str, cwd: Path) -> dict[str, str]:
    script = BLOCKER + code
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=cwd,
        capture_output=True,
        timeout=120,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_plain_install_reads_text_formats_and_names_the_extra(
    tmp_path: Path, bpe_path: Path
) -> None:
    (tmp_path / "d.jsonl").write_text('{"prompt": "hello there", "output_tokens": 4}\n')
    (tmp_path / "d.csv").write_text("prompt\nhello there\n")
    (tmp_path / "d.txt").write_text("hello there\n")
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "state.json").write_text("{}")
    code = f"""
import json
from guidellm.data.loader import RequestLoader
from guidellm.errors import UserError
from guidellm.plugins import PluginHost
host = PluginHost(builtins=("guidellm.data.sources",), entry_points=False)
out = {{}}
def load(spec, processor=None):
    try:
        loader = RequestLoader([spec], {{}}, processor=processor, random_seed=1, host=host)
        return [r.prompt for r in loader][:2]
    except UserError as exc:
        return "ERROR " + str(exc)
synthetic = RequestLoader(["prompt_tokens=50,samples=3"], {{}}, processor=None, random_seed=1,
                          host=host)
out["synthetic"] = str(sorted({{r.prompt_tokens for r in synthetic}}))
out["approximate"] = str(synthetic.describe()["prompt_tokens_approximate"])
for spec in ("d.jsonl", "d.csv", "d.txt", "d.parquet", "saved"):
    out[spec] = str(load(spec))
out["processor"] = str(load("d.txt", {str(bpe_path)!r}))
import sys
out["heavy"] = ",".join(m for m in ("datasets", "tokenizers", "pyarrow") if m in sys.modules)
print(json.dumps(out))
"""
    out = _run(code, tmp_path)
    assert out["synthetic"] == "[50]" and out["approximate"] == "True"
    for spec in ("d.jsonl", "d.csv", "d.txt"):
        assert out[spec] == "['hello there']"
    assert (
        out["d.parquet"].startswith("ERROR ") and "pip install 'guidellm[hf]'" in out["d.parquet"]
    )
    assert out["saved"].startswith("ERROR ") and "pip install 'guidellm[hf]'" in out["saved"]
    assert "pip install 'guidellm[hf]'" in out["processor"]
    assert out["heavy"] == ""
