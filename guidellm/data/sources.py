"""The built-in dataset sources, registered like any third-party plugin's.

Importing this module is cheap: each source imports its heavy dependencies (pyarrow,
datasets, tokenizers) only when it reads data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidellm.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from guidellm.data.base import DatasetSource

__all__ = ["register_dataset_sources"]


@hookimpl
def register_dataset_sources(register: Register[DatasetSource]) -> None:
    from guidellm.data.files import FileSource
    from guidellm.data.huggingface import HuggingFaceSource
    from guidellm.data.synthetic import SyntheticSource
    from guidellm.data.traces import TraceSource

    register(FileSource)
    register(HuggingFaceSource)
    register(SyntheticSource)
    register(TraceSource)
