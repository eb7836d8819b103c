"""The `watcher` console command: `watcher.cli.main`, then a quick exit.

A command that ran a flow has Prefect, pydantic and SQLAlchemy loaded. Tearing the interpreter
down after them (clearing hundreds of modules and freeing their objects) took ~0.6 s of every
`watcher run` on the development machine, after all the work was done. The command therefore
ends with `os._exit` once everything an exit must do has been done: `main` returned its exit
status, the non-daemon threads have finished and every exit handler has run (Prefect's, which
send the remaining logs and events, the log handlers' flush and close, multiprocessing's),
because this module's handler is registered before any of them, and exit handlers run last
registered first. Only the interpreter's own teardown is skipped. When `main` does not return
(an unexpected exception), the interpreter exits as usual, traceback and all.

`watcher.cli.main` called from Python (tests, other programs) is not affected.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

_status: list[int] = []  # main's exit status, once it returned


def _exit_now() -> None:
    if not _status:
        return
    logging = sys.modules.get("logging")
    if logging is not None:  # (already done when logging was imported after `arm`)
        logging.shutdown()
    status = _status[0]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, AttributeError):
            # a reader gone (`| head`), a closed stream, none at all (started with `>&-`)
            pass
        except OSError as exc:  # a full disk: output lost, which must not pass for success
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.write(f"watcher: output not written: {exc}\n")
                sys.stderr.flush()
            status = status or 120  # (what Python exits with when its own flush fails)
    os._exit(status)


def arm() -> None:
    """Make `finish` exit quickly. Call it before importing anything that registers exit
    handlers (it must run after them all)."""
    atexit.unregister(_exit_now)
    atexit.register(_exit_now)


def finish(status: int) -> NoReturn:
    """Exit with `status` as `sys.exit` does, then, once the exit handlers have run, without the
    interpreter's teardown (when `arm` was called)."""
    _status.append(status)
    sys.exit(status)


def run() -> NoReturn:
    """The console script (see pyproject.toml)."""
    arm()
    from watcher.cli import main

    finish(main())
