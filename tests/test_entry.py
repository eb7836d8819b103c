"""watcher.entry: the console command exits with main's status once every exit handler has run,
skipping only the interpreter's teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


def _python(code: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    # buffered output (no PYTHONUNBUFFERED): what is left to flush at exit must still be written
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env=env)


# an object whose finalizer runs only in the interpreter's teardown (a module global)
TEARDOWN = """
class Noisy:
    def __del__(self):
        print("torn down", flush=True)
keep = Noisy()
"""


@pytest.mark.parametrize("armed", [True, False])
def test_finish_keeps_the_status_output_and_exit_handlers(armed: bool) -> None:
    proc = _python(f"""
        from watcher import entry
        if {armed}:
            entry.arm()
        import atexit, logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        atexit.register(lambda: print("handler ran"))  # registered after arm: runs before it
        {TEARDOWN.replace(chr(10), chr(10) + "        ")}
        print("unflushed", end="")  # stdout is a pipe here: block-buffered
        logging.getLogger("w").info("logged")
        entry.finish(3)
    """)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("unflushedhandler ran\n")
    assert "logged" in proc.stderr and "Traceback" not in proc.stderr
    # armed: the teardown (and the finalizer it would call) is skipped
    assert ("torn down" in proc.stdout) is not armed


def test_an_unexpected_exception_exits_as_usual() -> None:
    proc = _python(f"""
        from watcher import entry
        entry.arm()
        {TEARDOWN.replace(chr(10), chr(10) + "        ")}
        raise ValueError("not handled")
    """)
    assert proc.returncode == 1
    assert "ValueError: not handled" in proc.stderr and "torn down" in proc.stdout


def test_the_console_script_runs_main_and_exits_with_its_status() -> None:
    proc = _python("""
        import sys
        sys.argv = ["watcher", "check-config", "--config", "/nonexistent/watcher.toml"]
        from watcher.entry import run
        run()
    """)
    assert proc.returncode == 2 and "file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_that_cannot_be_written_is_not_a_success() -> None:
    with open("/dev/full", "w") as full:  # every write fails: no space left on the device
        proc = _python("""
            from watcher import entry
            entry.arm()
            print("a summary nobody will read")
            entry.finish(0)
        """, stdout=full)
    assert proc.returncode == 120
    assert "output not written" in proc.stderr and "No space left" in proc.stderr
