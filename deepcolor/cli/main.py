"""The ``deepcolor`` command: ``deepcolor colorize|fit|evaluate|models|serve`` (also ``python -m deepcolor``).

Each sub-command is the ``main`` of its module (`deepcolor.apply`,
`deepcolor.fit`, `deepcolor.evaluate`), imported only when asked for, so
``deepcolor --help`` loads no model and ``deepcolor models`` no weights.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from deepcolor.cli.parsers import OneLineParser
from deepcolor.cli.runtime import EXIT_USAGE, parse_args, shown

__all__ = ["COMMANDS", "main", "models_main"]

# sub-command -> (module whose main runs it, one line of help)
COMMANDS = {
    "colorize": ("deepcolor.apply", "colorize gray photos: files, folders, or --example (python -m deepcolor.apply)"),
    "fit": ("deepcolor.fit", "train a model: fit KIND, a model kind with a trainer (cheng, global-prior, ...) or a semantic "
            "network (semantic, scene) (python -m deepcolor.fit)"),
    "evaluate": ("deepcolor.evaluate", "PSNR and colorfulness on colour photos made gray (python -m deepcolor.evaluate)"),
    "models": ("deepcolor.cli.main", "list the model kinds and the shipped models"),
    "serve": ("deepcolor.web.server", "a local page: colour a photo, click to place hints, download (--port N, --host)"),
}


def _top_parser() -> argparse.ArgumentParser:
    from deepcolor import __version__

    parser = OneLineParser(
        prog="deepcolor",
        description="Fully automatic colorization of grayscale photographs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items())
        + "\n\n'deepcolor COMMAND --help' for a command's flags. Exit status: 0 done, 1 some inputs failed, "
        "2 bad arguments, an unusable setup or an internal error (-v shows its traceback).",
    )
    parser.add_argument("--version", action="version", version=f"deepcolor {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help=", ".join(COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``deepcolor COMMAND ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        args = parse_args(_top_parser(), argv)  # --help, --version, or a one-line error for an unknown command
        return args if isinstance(args, int) else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    try:
        if command == "models":
            code = models_main(rest)
        else:
            code = importlib.import_module(COMMANDS[command][0]).main(rest, prog=f"deepcolor {command}")
        sys.stdout.flush()  # here, so that a reader gone early (``| head -1``) is caught here
    except BrokenPipeError:
        _stdout_to_devnull()
        return 0  # the reader had what it wanted
    return code


def _stdout_to_devnull() -> None:
    """After a broken pipe: point stdout at /dev/null, so Python's flush at exit finds no pipe to fail on."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def models_main(argv: Sequence[str] = ()) -> int:
    """``deepcolor models``: each registered kind, its options, and its shipped model (file, size, training data, figures)."""
    from deepcolor.models.base import capabilities
    from deepcolor.models.registry import DEFAULT_METHOD, DEFAULT_REASON, list_models, model_class

    parser = OneLineParser(prog="deepcolor models", description="List the model kinds (--method) and the shipped models.")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    print(f"default --method: {DEFAULT_METHOD} ({DEFAULT_REASON})")
    for row in list_models():
        cls = model_class(row["name"])
        print(row["name"])
        print(f"  {row['summary']}")
        options = "; ".join(f"{o.flag}: {o.name} (default {o.default}) = {o.help}" for o in cls.options) or "none"
        print(f"  options: {options}")
        print(f"  capabilities: {', '.join(sorted(capabilities(cls))) or 'none'}")
        if row["file"] is None:
            print("  shipped model: none (pass --model FILE)")
        else:
            size = "missing" if row["size"] is None else f"{row['size'] / 1e6:.1f} MB"
            print(f"  shipped model: {shown(row['file'])} ({size})")
        if row["training"]:
            print(f"  trained on: {row['training']}")
        if row["figures"]:
            print(f"  report sets: {row['figures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
