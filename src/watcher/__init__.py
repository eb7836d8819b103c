"""watcher: conflict-escalation news watcher."""

from watcher import _compiled

__version__ = "0.1.0"

# Modules built as extensions (setup.py) run compiled only while their source is the one built.
COMPILED = _compiled.install()
