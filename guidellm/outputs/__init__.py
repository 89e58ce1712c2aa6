"""Report writers: console, json, yaml, csv, html (see :class:`ReportWriter`)."""

from guidellm.outputs.base import Progress, ReportWriter

__all__ = ["Progress", "ReportWriter"]
