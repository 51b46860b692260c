"""The declared errors: what a user can cause, said in one line; anything else is a bug.

Every expected failure (a bad argument, an unreadable input, a failed write, a
missing or foreign model file, a model asked for what it does not offer)
raises a subclass of `DeepcolorError`. The command line (`deepcolor.cli.runtime`),
the file step (`deepcolor.colorize_file`) and the batch engine
(`deepcolor.batch.engine`) print those as one line; any other exception (a
numpy ``ValueError``, an ``IndexError``, an ``OSError`` that no I/O boundary
wrapped) is an internal error that points to ``-v``.

The subclasses keep their builtin bases (``ValueError``, ``OSError``) so code
that catches those still works; what decides "the user's error" is
`DeepcolorError`, never the builtin type. I/O of the user's files is wrapped
into a declared error where it happens (`deepcolor.io`), so an unreadable
input, a full disk or a read-only folder stays one line.
"""

from __future__ import annotations

__all__ = ["DeepcolorError", "InputError", "ResultCheckError", "one_line_message", "internal_error_message"]


class DeepcolorError(Exception):
    """An expected failure; ``str(err)``'s first line is the whole message for the user."""


class InputError(DeepcolorError, ValueError):
    """A bad argument or input value (a flag, an option, an array handed to the API): one line."""


class ResultCheckError(DeepcolorError, ValueError):
    """A result that failed its last check before being written (its luma moved): nothing is written, the file fails."""


def one_line_message(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def internal_error_message(exc: BaseException) -> str:
    """The one line of an exception that is not a `DeepcolorError`: a bug, with how to see its traceback."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"internal error ({type(exc).__name__}{': ' + first if first else ''}); rerun with -v for the traceback"
