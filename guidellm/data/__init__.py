"""Data: dataset sources (DatasetCreators), tokenizers and the RequestLoader."""

from guidellm.data.base import DatasetSource

__all__ = ["DatasetSource"]
