"""The ``emoalign`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module named here defines ``register(subparsers)``, which adds its sub-command and sets
# ``func`` (taking the parsed namespace, returning an exit code) as the parser default.
SUBCOMMANDS: tuple[str, ...] = ("demo", "score", "query", "align", "compare")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emoalign",
        description="Compare the emotion structures of people and multimodal LLMs over videos.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"emoalign.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
