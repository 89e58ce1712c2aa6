"""Every file format and every Hugging Face folder kind gives the same requests for the same rows.

The files are written by the real libraries (json, csv, pyarrow, datasets) and read back through
the RequestLoader with the built-in sources, exactly as ``guidellm run --data PATH`` does.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from guidellm.data.loader import RequestLoader
from guidellm.errors import UserError
from guidellm.plugins import PluginHost

ROWS: list[dict[str, Any]] = [
    {
        "prompt": f"Question {i}: why did the {w} cross the river?",
        "prompt_tokens_count": 9 + i,
        "output_tokens_count": 16 * (i + 1),
    }
    for i, w in enumerate(["fox", "farmer", "old horse", "sailor", "baker, again"])
]


def _write_all(root: Path) -> dict[str, Path]:
    import datasets
    import pyarrow as pa
    from pyarrow import ipc, parquet

    datasets.disable_progress_bars()
    paths: dict[str, Path] = {}
    paths["jsonl"] = root / "d.jsonl"
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    paths["json"] = root / "d.json"
    paths["json"].write_text(json.dumps(ROWS))
    paths["json_columns"] = root / "columns.json"
    paths["json_columns"].write_text(json.dumps({k: [r[k] for r in ROWS] for k in ROWS[0]}))
    for kind, delimiter in (("csv", ","), ("tsv", "\t")):
        paths[kind] = root / f"d.{kind}"
        with paths[kind].open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(ROWS[0]), delimiter=delimiter)
            writer.writeheader()
            writer.writerows(ROWS)
    table = pa.Table.from_pylist(ROWS)
    paths["parquet"] = root / "d.parquet"
    parquet.write_table(table, paths["parquet"])
    paths["arrow_file"] = root / "file.arrow"
    with ipc.new_file(str(paths["arrow_file"]), table.schema) as writer:
        writer.write_table(table)
    paths["arrow_stream"] = root / "stream.arrow"
    with ipc.new_stream(str(paths["arrow_stream"]), table.schema) as writer:
        writer.write_table(table)
    dataset = datasets.Dataset.from_list(ROWS)
    paths["save_to_disk"] = root / "saved"
    dataset.save_to_disk(str(paths["save_to_disk"]))
    paths["save_to_disk_dict"] = root / "saved_dict"
    datasets.DatasetDict({"train": dataset, "test": dataset.select([0])}).save_to_disk(
        str(paths["save_to_disk_dict"])
    )
    paths["data_folder"] = root / "folder"
    paths["data_folder"].mkdir()
    dataset.to_json(str(paths["data_folder"] / "train.jsonl"))
    return paths


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _write_all(tmp_path_factory.mktemp("formats"))


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins=("guidellm.data.sources",), entry_points=False)


FORMATS = [
    "jsonl",
    "json",
    "json_columns",
    "csv",
    "tsv",
    "parquet",
    "arrow_file",
    "arrow_stream",
    "save_to_disk",
    "save_to_disk_dict",
    "data_folder",
]


@pytest.mark.parametrize("kind", FORMATS)
def test_same_rows_same_requests(kind: str, written: dict[str, Path], host: PluginHost) -> None:
    loader = RequestLoader([str(written[kind])], {}, processor=None, random_seed=0, host=host)
    requests = list(loader)
    assert loader.size == len(ROWS)
    assert [(r.request_id, r.prompt, r.prompt_tokens, r.max_tokens) for r in requests] == [
        (str(i), row["prompt"], row["prompt_tokens_count"], row["output_tokens_count"])
        for i, row in enumerate(ROWS)
    ]
    assert all(r.messages is None for r in requests)
    expected_source = "huggingface" if written[kind].is_dir() else "files"
    assert loader.describe()["sources"][0]["type"] == expected_source


def test_split_option_and_missing_split(written: dict[str, Path], host: PluginHost) -> None:
    path = str(written["save_to_disk_dict"])
    test = RequestLoader([path], {"split": "test"}, processor=None, random_seed=0, host=host)
    assert [r.prompt for r in test] == [ROWS[0]["prompt"]]
    with pytest.raises(UserError, match="has no split 'dev'; splits: train, test"):
        RequestLoader([path], {"split": "dev"}, processor=None, random_seed=0, host=host)


def test_corrupt_binary_files_name_the_problem(tmp_path: Path, host: PluginHost) -> None:
    for name in ("broken.parquet", "broken.arrow"):
        path = tmp_path / name
        path.write_bytes(b"this is not a columnar file")
        with pytest.raises(UserError, match="is not a readable") as info:
            RequestLoader([str(path)], {}, processor=None, random_seed=0, host=host)
        assert "\n" not in str(info.value)


def test_streaming_data_folder(written: dict[str, Path], host: PluginHost) -> None:
    path = str(written["data_folder"])
    loader = RequestLoader([path], {"streaming": True}, processor=None, random_seed=0, host=host)
    assert loader.size is None  # a streamed dataset has no length
    assert [(r.prompt, r.max_tokens) for r in loader] == [
        (row["prompt"], row["output_tokens_count"]) for row in ROWS
    ]
