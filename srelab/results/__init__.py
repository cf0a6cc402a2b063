"""The results index: every run under results/ (bench, load, chaos) in one table and one page."""

from srelab.results.index import RunEntry, scan, write_index

__all__ = ["RunEntry", "scan", "write_index"]
