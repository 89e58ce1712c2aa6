"""The ``huggingface`` dataset source: ``datasets`` hub ids and local dataset folders.

Accepts a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, any other
local folder ``datasets.load_dataset`` understands (data files inside), or a hub id such as
``owner/name`` (works when the hub is reachable). ``--data-args`` options:

* ``split``: which split to use (default ``train``, else the only/first one);
* ``subset`` (alias ``name``): the dataset configuration;
* ``streaming``: iterate without downloading it all (hub ids);
* anything else (``data_files``, ``revision`` ...) is passed to ``load_dataset``.

Needs the ``hf`` extra (``pip install 'guidellm[hf]'``) and says so when it is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from guidellm.data.base import DatasetSource
from guidellm.errors import UserError

__all__ = ["HuggingFaceSource"]

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_OWN_OPTIONS = ("split", "subset", "name", "streaming")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HuggingFaceSource(DatasetSource):
    """A Hugging Face ``datasets`` dataset (local folder or hub id)."""

    name = "huggingface"

    @classmethod
    def accepts(cls, spec: str, options: Mapping[str, Any]) -> bool:
        if "=" in spec or spec.strip().startswith("{"):
            return False
        path = Path(spec).expanduser()
        if path.is_dir():
            return True
        spec = spec.strip()
        # "data.jsonll" is a mistyped file name, not a hub id: hub ids have an owner/ part.
        looks_like_file = "/" not in spec and bool(re.search(r"\.[A-Za-z]\w{0,7}$", spec))
        return not path.exists() and not looks_like_file and bool(_HUB_ID.fullmatch(spec))

    def __init__(self, spec: str, options: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(spec, options, *args, **kwargs)
        self._dataset: Any = None

    def _load(self) -> Any:
        try:
            import datasets
        except ImportError:
            raise UserError(
                f"--data {self.spec!r}: Hugging Face datasets need the 'datasets' package; "
                "install it with pip install 'guidellm[hf]'"
            ) from None
        datasets.disable_progress_bars()
        # Its builders log a failure themselves before raising: the user gets our one line
        # (with the cause) instead of theirs and ours.
        datasets.logging.set_verbosity(datasets.logging.CRITICAL)
        opts = dict(self.options)
        split = opts.pop("split", None)
        subset = opts.pop("subset", opts.pop("name", None))
        streaming = bool(opts.pop("streaming", False))
        path = Path(self.spec).expanduser()
        saved = path.is_dir() and any(
            (path / f).is_file() for f in ("dataset_dict.json", "state.json")
        )
        if not path.is_dir():
            from guidellm.data.hub import hub_reachable

            offline = any(
                os.environ.get(v, "").lower() in {"1", "true", "yes"}
                for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
            )
            if not offline and not hub_reachable():
                raise UserError(
                    f"--data {self.spec!r}: the Hugging Face hub is unreachable; pass a local "
                    "file or dataset folder (or set HF_HUB_OFFLINE=1 to use a cached copy)"
                )
        try:
            if saved:
                data = datasets.load_from_disk(str(path))
            else:
                data = datasets.load_dataset(
                    str(path) if path.is_dir() else self.spec,
                    subset,
                    streaming=streaming,
                    **opts,
                )
        except UserError:
            raise
        except Exception as exc:
            where = (
                "this folder"
                if path.is_dir()
                else "the Hugging Face hub (is it reachable? is the id right?)"
            )
            cause: BaseException = exc
            while cause.__cause__ is not None:  # "error generating the dataset" <- the reason
                cause = cause.__cause__
            raise UserError(
                f"--data {self.spec!r}: could not load a dataset from {where}: "
                f"{_first_line(cause)}; check --data and --data-args (split, subset)"
            ) from None
        return self._pick_split(data, split)

    def _pick_split(self, data: Any, split: str | None) -> Any:
        if not hasattr(data, "keys"):  # already one split
            return data
        splits = list(data.keys())
        if split is None:
            split = "train" if "train" in splits else splits[0] if splits else None
        if split not in splits:
            raise UserError(
                f"--data {self.spec!r} has no split {split!r}; splits: {', '.join(splits)} "
                "(choose with --data-args split=NAME)"
            )
        return data[split]

    def validate(self) -> None:
        if self._dataset is None:
            self._dataset = self._load()

    def columns(self) -> list[str] | None:
        self.validate()
        names = getattr(self._dataset, "column_names", None)
        return list(names) if names else None

    @property
    def size(self) -> int | None:
        try:
            return len(self._dataset) if self._dataset is not None else None
        except TypeError:  # streaming datasets have no length
            return None

    def rows(self) -> Iterator[dict[str, Any]]:
        self.validate()
        data = self._dataset
        if not hasattr(data, "iter") or self.size is None:
            yield from data
            return
        for batch in data.iter(batch_size=1000):  # columns -> rows, much faster than per row
            keys = list(batch)
            for values in zip(*(batch[k] for k in keys), strict=True):
                yield dict(zip(keys, values, strict=True))

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "spec": self.spec, "rows": self.size, **self.options}
