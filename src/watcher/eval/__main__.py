"""``python -m watcher.eval COMMAND ...``: evaluate project components on labelled corpora.

Each command is a module ``watcher.eval.<name>`` with ``add_arguments(parser)`` and
``run(args) -> int``; add yours to ``COMMANDS``. A command whose module does not exist yet is
simply not offered. Exit status: 0 success, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

COMMANDS: dict[str, str] = {
    "casualties": "watcher.eval.casualties",
    "stories": "watcher.eval.stories",
    "watch": "watcher.eval.watch",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m watcher.eval",
        description="Evaluate watcher components on labelled corpora.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written yet
            raise
        doc = (module.__doc__ or "").strip()
        p = sub.add_parser(name, help=doc.splitlines()[0] if doc else None, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
