"""The project's own errors: failures a user can act on (a config, a file, an argument, the data),
each with a message that names what and where. The command line prints one of them as a single
``error: ...`` line (with ``-v``, with its traceback); any other exception is a bug and shows its
traceback. Each also derives from the builtin a caller would expect (ValueError for bad input, ...)."""

from __future__ import annotations


class ScalpError(Exception):
    """A failure the user can act on (see the module doc)."""


class InputError(ScalpError, ValueError):
    """A file, a config value, an argument or data that cannot be used."""


class MissingFileError(ScalpError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class NotFoundError(ScalpError, KeyError):
    """A name (a symbol, an instrument) that is not known."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""


class RunError(ScalpError, RuntimeError):
    """A run that cannot go on for a reason outside the code (no data, a diverged fit, ...)."""
