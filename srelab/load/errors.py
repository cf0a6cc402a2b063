"""Errors of the load harness."""

from srelab.errors import LabError


class LoadError(LabError):
    """A bad load request (target host refused, unknown preset, Locust failed to start)."""
