"""The package version, in a module of its own.

Any module may read it without importing ``guidellm/__init__.py`` (the public API), and the
build reads it from here too (``[tool.setuptools.dynamic]`` in pyproject.toml), so the version
is written in one place.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
