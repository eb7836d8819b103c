"""Evaluation commands: ``python -m watcher.eval COMMAND ...`` (see ``watcher.eval.__main__``).

Each command lives in its own module ``watcher.eval.<name>`` exposing ``add_arguments(parser)``
and ``run(args) -> int``; its scoring is kept in pure functions that tests call directly.
"""
