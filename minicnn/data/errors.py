"""The one error type of the data package.

`DataError` is a `ValueError`, so code (and the command line) that catches ValueError for bad user
input also catches every problem found while reading images, masks and folders. Messages are one
line: what was expected, what came, and how to fix it.
"""


class DataError(ValueError):
    """Bad data on disk or in memory: unreadable TIFF, size mismatch, missing partner, ..."""


class OverwriteError(DataError, FileExistsError):
    """Writing would replace a file that already exists (pass overwrite=True to allow it)."""
