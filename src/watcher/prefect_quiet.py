"""Keep a successful run free of tracebacks from Prefect's temporary server.

When `watcher run` uses Prefect's temporary server (no PREFECT_API_URL), stopping that server can
log `asyncio.CancelledError` tracebacks from its background services. They are shutdown noise, not
failures: this filter drops exactly those records and nothing else.
"""

from __future__ import annotations

import asyncio
import logging

_NOISY_LOGGERS = ("uvicorn.error", "uvicorn", "prefect", "prefect.server", "prefect._internal",
                  "prefect.server.services", "asyncio")


class _DropCancelled(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) and record.levelno < 50:
            return False
        return "CancelledError" not in record.getMessage() or record.levelno >= logging.CRITICAL


_FILTER = _DropCancelled()


def quiet_prefect_shutdown() -> None:
    """Install the filter on the noisy loggers and on every handler Prefect configured (filters on
    a logger do not see records propagated from its children; handler filters do). Call it after
    Prefect is imported, since importing Prefect sets up its logging."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in _NOISY_LOGGERS)]
    for logger in loggers:
        for target in (logger, *logger.handlers):
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)
