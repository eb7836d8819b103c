"""watcher.entry: the console command exits with main's status once every exit handler has run,
skipping only the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


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
