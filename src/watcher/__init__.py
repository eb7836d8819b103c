"""watcher: conflict-escalation news watcher."""
__version__ = "0.1.0"
