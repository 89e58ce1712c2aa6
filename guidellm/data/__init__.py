"""Data: dataset sources (DatasetCreators), tokenizers and the RequestLoader.

``RequestLoader``, ``Tokenizer`` and ``load_tokenizer`` are imported lazily so that importing
the package (which the plugin host does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from guidellm.data.base import DatasetSource

__all__ = ["DatasetSource", "RequestLoader", "Tokenizer", "load_tokenizer"]

_LAZY = {
    "RequestLoader": "guidellm.data.loader",
    "Tokenizer": "guidellm.data.tokenizers",
    "load_tokenizer": "guidellm.data.tokenizers",
}

if TYPE_CHECKING:
    from guidellm.data.loader import RequestLoader
    from guidellm.data.tokenizers import Tokenizer, load_tokenizer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'guidellm.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
