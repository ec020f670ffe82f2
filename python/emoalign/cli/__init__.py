"""The ``emoalign`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module named here defines ``register(subparsers)``, which adds its sub-command and sets
# ``func`` (taking the parsed namespace, returning an exit code; wrapped by
# ``errors.user_errors``) as the parser default.
SUBCOMMANDS: tuple[str, ...] = ("demo", "score", "query", "align", "compare", "deidentify")
DEBUG_HELP = "show the full traceback of an error instead of one line"


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers that read a command's options (``score openset`` rather than ``score``)."""
    nested = [
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in action.choices.values()
    ]
    return [leaf for sub in nested for leaf in _leaf_parsers(sub)] if nested else [parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emoalign",
        description="Compare the emotion structures of people and multimodal LLMs over videos.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"emoalign.cli.{name}").register(subparsers)
    for leaf in _leaf_parsers(parser):
        # Accepted after the command too; SUPPRESS keeps a sub-parser's default from overwriting
        # `emoalign --debug COMMAND`.
        leaf.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the exact command, for a study's provenance
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
