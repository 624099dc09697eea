"""Logging for every process: one JSON object per line, or human-readable lines.

`LOG_FORMAT=json` (the default) writes one JSON object per line; `LOG_FORMAT=console` (what
`make run` uses) writes lines for people. structlog renders its own events and the standard
library's records alike (Celery's, gunicorn's, SQLAlchemy's, Flask's), through one handler on
the root logger, so every line has the same fields:

- `timestamp` (UTC, ISO 8601), `level`, `logger`, `event`;
- whatever the context holds where the line was logged: `request_id`, `sub` and `role` in
  the API (web/requests_log.py), `request_id`, `job_id` and `task_id` in a worker's task
  (tasks/app.py);
- `exception`: a traceback, in the same line (JSON escapes its newlines).

No personal data: the engines hide bound parameters (storage/engine.py), and `redact` below
drops what PostgreSQL puts in an error's DETAIL ("Failing row contains (...)", "Key
(...)=(...)"), which quotes the row's values, from every field of every line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("json", "console")
FIRST_KEYS = ("timestamp", "level", "logger", "event")

# PostgreSQL's DETAIL line quotes the values of the row at fault; SQLAlchemy's
# "[parameters: ...]" (which hide_parameters already replaces) quotes the bound values.
# Both up to the end of their line, a real one or an escaped one inside a repr().
_DETAIL = re.compile(r"DETAIL:.*?(?=\\n|\n|\Z)", re.DOTALL)
_PARAMETERS = re.compile(r"\[parameters: .*?(?=\\n|\n|\Z)", re.DOTALL)


def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Cut row values out of database error texts, in every string field of the line."""
    for key, value in event_dict.items():
        if isinstance(value, str) and ("DETAIL:" in value or "[parameters: " in value):
            value = _DETAIL.sub("DETAIL: (hidden)", value)
            event_dict[key] = _PARAMETERS.sub("[parameters: (hidden)]", value)
    return event_dict


def _first_keys_first(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    ordered = {key: event_dict.pop(key) for key in FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _shared() -> list[Processor]:
    """What every line gets, whether logged through structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def make_formatter(log_format: str = "json") -> logging.Formatter:
    """The formatter of the root handler: renders structlog events and foreign records."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {log_format!r}")
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # a traceback: one field of the line
            redact,
            _first_keys_first,
            renderer,
        ],
    )


class RailHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler that `configure` installs (and replaces when called again)."""


def make_handler(log_format: str = "json", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to stderr (or `stream`) in `log_format`; also named by
    gunicorn.conf.py's logconfig_dict."""
    handler = RailHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(make_formatter(log_format))
    return handler


def configure(log_format: str = "json", level: int | str = logging.INFO) -> None:
    """Route every log line of this process through one structlog-rendered root handler.

    Called where a process starts (create_app, Celery's setup_logging signal, gunicorn's
    config); calling it again replaces the handler it installed, and leaves other handlers
    (pytest's capture, say) alone.
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, RailHandler)]:
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)  # a warning is a line too ("py.warnings"), not loose text


def gunicorn_logconfig(log_format: str = "json", level: str = "INFO") -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its master's and workers' own lines through our handler,
    its access log off (the API writes its own access line: web/requests_log.py)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"rail": {"()": make_handler, "log_format": log_format}},
        "formatters": {},
        "root": {"level": level.upper(), "handlers": ["rail"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def context() -> MutableMapping[str, Any]:
    """What is bound to this thread's (or task's) log context now."""
    return structlog.contextvars.get_contextvars()
