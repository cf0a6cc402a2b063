"""Errors the CLI turns into one readable line and a non-zero exit code."""


class LabError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback."""
