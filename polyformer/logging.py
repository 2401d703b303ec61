"""polyformer's log messages and how many of them you see.

Every log message of the library goes to the ``polyformer`` logger of Python's
:mod:`logging` (modules log to ``polyformer.<module>`` children of it). Its level is the
library's verbosity: WARNING by default, ``$POLYFORMER_VERBOSITY`` (``debug``, ``info``,
``warning``, ``error`` or ``critical``) when set, or what :func:`set_verbosity` and the
``set_verbosity_*`` functions set::

    import polyformer
    polyformer.logging.set_verbosity_info()     # also say what loading does
    polyformer.logging.set_verbosity_error()    # only errors

Where the messages go: if your program configured logging (the root logger has a
handler, as after :func:`logging.basicConfig`), they reach your handlers like any other
library's; otherwise polyformer prints them to stderr itself, one line each. So they are
never lost and never printed twice.

Log messages are what the library notes while it works (weights a checkpoint lacks,
files it did not use). Misuse that your code should change is a Python warning
(:mod:`warnings`), as :class:`~polyformer.core.plugins.PluginWarning` is; those are
filtered with :mod:`warnings`, not with the verbosity.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = [
    "CRITICAL", "DEBUG", "ERROR", "INFO", "WARNING", "VERBOSITY_ENV",
    "get_logger", "get_verbosity", "set_verbosity",
    "set_verbosity_debug", "set_verbosity_info", "set_verbosity_warning", "set_verbosity_error",
]

CRITICAL = logging.CRITICAL
ERROR = logging.ERROR
WARNING = logging.WARNING
INFO = logging.INFO
DEBUG = logging.DEBUG

#: The environment variable that sets the verbosity when polyformer is imported.
VERBOSITY_ENV = "POLYFORMER_VERBOSITY"
LIBRARY_LOGGER = "polyformer"
_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR, "critical": CRITICAL}


class _StderrHandler(logging.Handler):
    """Prints a record's message to the current ``sys.stderr``, unless the application handles it.

    When the record will propagate to a root logger that has handlers (the application
    configured logging, or pytest captures it), those handlers show it and this one
    stays silent, so a message is printed once.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if _library_logger().propagate and logging.getLogger().handlers:
            return
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stderr must not break the library
            self.handleError(record)


def _library_logger() -> logging.Logger:
    return logging.getLogger(LIBRARY_LOGGER)


def _configure() -> None:
    """Give the library logger its stderr handler and the level ``$POLYFORMER_VERBOSITY`` names (once, at import)."""
    logger = _library_logger()
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
    value = os.environ.get(VERBOSITY_ENV, "").strip()
    logger.setLevel(_LEVELS.get(value.lower(), WARNING))
    if value and value.lower() not in _LEVELS:
        logger.warning("$%s=%r is not a verbosity; expected one of %s. Using 'warning'.",
                       VERBOSITY_ENV, value, ", ".join(_LEVELS))


def get_logger(name: str | None = None) -> logging.Logger:
    """The library logger, or its child for ``name`` (a module's ``__name__`` inside polyformer)."""
    if name is None or name == LIBRARY_LOGGER:
        return _library_logger()
    if not isinstance(name, str) or not name:
        raise TypeError(f"get_logger(name) expects a logger name such as 'polyformer.core.modeling', got {name!r}")
    return logging.getLogger(name if name.startswith(LIBRARY_LOGGER + ".") else f"{LIBRARY_LOGGER}.{name}")


def get_verbosity() -> int:
    """The library's level, as a :mod:`logging` number (``polyformer.logging.WARNING`` = 30...)."""
    return _library_logger().getEffectiveLevel()


def set_verbosity(verbosity: int | str) -> None:
    """Show the library's messages of this level and above: a :mod:`logging` level or its name."""
    if isinstance(verbosity, str) and verbosity.lower() in _LEVELS:
        level = _LEVELS[verbosity.lower()]
    elif isinstance(verbosity, int) and not isinstance(verbosity, bool) and verbosity >= 0:
        level = verbosity
    else:
        raise ValueError(
            f"set_verbosity(verbosity): expected a logging level (polyformer.logging.INFO...) or one of "
            f"{', '.join(repr(name) for name in _LEVELS)}, got {verbosity!r}"
        )
    _library_logger().setLevel(level)


def set_verbosity_debug() -> None:
    """Show every message, debugging details included."""
    set_verbosity(DEBUG)


def set_verbosity_info() -> None:
    """Show informative messages and above."""
    set_verbosity(INFO)


def set_verbosity_warning() -> None:
    """Show warnings and errors (the default)."""
    set_verbosity(WARNING)


def set_verbosity_error() -> None:
    """Show errors only."""
    set_verbosity(ERROR)


_configure()
