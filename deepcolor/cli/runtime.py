"""What every command shares at run time: logging, the exit contract, one-line errors, the model of the flags.

The contract of every command (``deepcolor colorize|fit|evaluate|models`` and
``python -m deepcolor.apply|fit|evaluate``): exit 0 when done, 1 when some
inputs failed (each listed on one line), 2 for bad arguments, an unusable
setup or an internal error; 130 on Ctrl-C, with how to resume. Declared
errors (`deepcolor.errors.DeepcolorError`: bad input, bad arguments, missing
or foreign files, failed writes; `CommandError` among them) are one line;
anything else (a ``ValueError`` or ``OSError`` included) is a bug and says so
in one line, or with ``-v`` shows its full traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deepcolor.errors import DeepcolorError, internal_error_message

logger = logging.getLogger("deepcolor")

__all__ = [
    "EXIT_FAILED_ITEMS", "EXIT_USAGE", "EXIT_INTERRUPTED", "OUTPUT_SUFFIX", "CommandError", "passive_openmp",
    "setup_logging", "verbose", "parse_args", "run_main", "run_command", "shown", "internal_error_line", "report_failures",
    "resolve_device_flag", "require_capability", "engine_options", "option_dest", "model_from_args", "model_options_from_args",
]

EXIT_FAILED_ITEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
OUTPUT_SUFFIX = "_colorized"  # apply without -o writes NAME_colorized.EXT beside each input
_STATE = {"verbose": False}


class CommandError(DeepcolorError):
    """An expected failure that ends a command with a one-line message."""


def passive_openmp() -> None:
    """Entry points call this before torch loads: OpenMP threads that spin while waiting stall
    for hundreds of ms whenever another process holds a core (measured: 571 ms -> 26 ms per FCN call)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def setup_logging(quiet: bool, verbose: bool = False) -> None:
    """Log to stderr: warnings only with ``quiet``, progress detail (debug) with ``verbose``."""
    _STATE["verbose"] = bool(verbose)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    from deepcolor.io.common import TerminalHandler

    handler = TerminalHandler(sys.stderr)  # escaped, and above the progress bar rather than on its line
    handler.setFormatter(logging.Formatter("deepcolor: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("deepcolor").setLevel(level)
    # Our messages are one line each; third-party chatter stays at warnings.
    for name in ("numba", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)


def verbose() -> bool:
    """Whether this command runs with ``-v``."""
    return _STATE["verbose"]


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status when argparse ended the command (``--help``: 0; a bad flag: 2, one line)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def run_main(parser: argparse.ArgumentParser, argv: Sequence[str] | None, name: str,
             body: Callable[[argparse.Namespace], int], **run_options: Any) -> int:
    """A command's whole life: parse (a bad flag: one line, 2), set up logging (-q, -v), run ``body(args)`` under the contract."""
    passive_openmp()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    setup_logging(args.quiet, args.verbose)
    return run_command(name, lambda: body(args), **run_options)


def internal_error_line(exc: BaseException) -> str:
    """The one line of an unexpected exception: a bug, with how to see its traceback."""
    return internal_error_message(exc)


def run_command(prog: str, body: Callable[[], int], *, resume_hint: str = "run the same command again to resume where it stopped") -> int:
    """Run a command body under the exit contract (module docstring)."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {resume_hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DeepcolorError as exc:
        if verbose():
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{prog}: error: {shown(message)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if verbose():
            traceback.print_exc()
        print(f"{prog}: {shown(internal_error_line(exc))}", file=sys.stderr)
        return EXIT_USAGE


def shown(text: object) -> str:
    """Text safe for a terminal line: control characters (escape codes, newlines in file names) escaped."""
    from deepcolor.io.common import one_line

    return one_line(text)


def report_failures(prog: str, failed: Sequence[tuple[Path, str]], details: Mapping[Path, str] | None = None) -> int:
    """List failed files on stderr, one line each (names escaped); the exit status.

    ``details`` maps a file to the traceback of an internal error, printed before its line under ``-v``.
    """
    if not failed:
        return 0
    if verbose():
        for path, text in (details or {}).items():
            print(f"{prog}: {shown(path)}:\n{text.rstrip()}", file=sys.stderr)
    print(f"{prog}: {len(failed)} file(s) failed:", file=sys.stderr)
    for path, reason in failed:
        # io errors already start with the file's name: do not say it twice.
        for prefix in (f"{path}: ", f"{Path(path).name}: ", f"{shown(path)}: ", f"{shown(Path(path).name)}: "):
            reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
        print(f"  {shown(path)}: {shown(reason)}", file=sys.stderr)
    return EXIT_FAILED_ITEMS


def resolve_device_flag(args: argparse.Namespace) -> str:
    """The device ``--device`` asks for (``"cpu"`` or ``"cuda"``), said in one line on stderr unless ``-q``.

    ``--device cuda`` without a usable GPU raises ValueError (one line: the command exits with it).
    """
    from deepcolor.kernels.device import device_notice, resolve_device

    device = resolve_device(args.device)
    if not args.quiet:
        print(device_notice(device, args.device), file=sys.stderr)
    return device


def require_capability(model: Any, capability: str, asked_by: str) -> None:
    """Raise `CapabilityError` (one line) when ``model`` lacks ``capability`` (`deepcolor.models.base.CAPABILITIES`).

    ``asked_by`` names the flag that asks; the message names the kinds that have it (``--method``).
    """
    from deepcolor.models.base import CAPABILITIES, CapabilityError, capabilities
    from deepcolor.models.registry import names_with

    if capability not in CAPABILITIES:
        raise CommandError(f"unknown capability {capability!r} (known: {', '.join(CAPABILITIES)})")
    if capability not in capabilities(model):
        others = [n for n in names_with(capability) if n != model.name]
        what = CAPABILITIES[capability].split(" (")[0].removeprefix("a ")
        if others:
            raise CapabilityError(f"{asked_by} needs --method {' or '.join(others)} (the {model.name} model has no {what})")
        raise CapabilityError(f"{asked_by}: the {model.name} model has no {what}, nor has any other model kind")


def engine_options(args: argparse.Namespace) -> dict:
    """``workers`` and ``scheduler`` for `deepcolor.batch.run_batch`; one line when they conflict or Dask is missing."""
    if args.workers < 0:
        raise CommandError(f"--workers must be >= 0, got {args.workers}")
    if args.workers and args.scheduler:
        raise CommandError("give --workers (a local cluster) or --scheduler (a running one), not both")
    if args.workers or args.scheduler:
        from deepcolor.batch.cluster import DaskMissing, require_dask

        try:
            require_dask()
        except DaskMissing as exc:
            raise CommandError(str(exc)) from None
    return {"workers": args.workers, "scheduler": args.scheduler}


def option_dest(flag: str) -> str:
    """The argparse destination of a model option's flag (``--no-semantic`` -> ``model_option_no_semantic``)."""
    return "model_option_" + flag.lstrip("-").replace("-", "_")


def model_from_args(args: argparse.Namespace) -> Any:
    """The model of ``--model`` (its file says its kind) or the shipped one of ``--method``; a file of another kind is an error."""
    from deepcolor.models.registry import DEFAULT_METHOD, load_model

    if args.model is None:
        return load_model(args.method or DEFAULT_METHOD)
    model = load_model(Path(args.model))
    if args.method is not None and model.name != args.method:
        raise CommandError(f"--model {args.model} holds a {model.name} model; pass --method {model.name}")
    return model


def model_options_from_args(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The model options (``colorize``'s ``**model_options``) the flags ask for, checked against ``model`` once.

    A flag of another kind's option is a one-line error naming the kinds that take it.
    """
    from deepcolor.models.base import validate_options
    from deepcolor.models.registry import model_class, names

    own = {option.flag: option for option in model.options}
    options: dict[str, Any] = {}
    foreign: dict[str, list[str]] = {}
    for name in names():
        for option in model_class(name).options:
            dest = option_dest(option.flag)
            if not hasattr(args, dest):
                continue
            if option.flag in own:
                options[own[option.flag].name] = getattr(args, dest)
            else:
                foreign.setdefault(option.flag, []).append(name)
    if foreign:
        flags = " and ".join(sorted(foreign))
        kinds = sorted({k for ks in foreign.values() for k in ks})
        raise CommandError(f"{flags}: options of --method {' or '.join(kinds)}, not {model.name}")
    validate_options(model, options)  # a DeepcolorError: one line
    return options
