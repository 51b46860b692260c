"""The command line: `parsers` (flags only), `runtime` (what every command shares), `main` (the ``deepcolor`` command).

``deepcolor colorize|fit|evaluate|models`` is `deepcolor.cli.main.main`; the
commands' bodies are `deepcolor.apply`, `deepcolor.fit` and
`deepcolor.evaluate` (each also ``python -m deepcolor.<name>``).
"""

from deepcolor.cli.runtime import (
    EXIT_FAILED_ITEMS,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OUTPUT_SUFFIX,
    CommandError,
    engine_options,
    passive_openmp,
    report_failures,
    resolve_device_flag,
    run_command,
    setup_logging,
    shown,
)

__all__ = [
    "EXIT_FAILED_ITEMS",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "OUTPUT_SUFFIX",
    "CommandError",
    "engine_options",
    "passive_openmp",
    "report_failures",
    "resolve_device_flag",
    "run_command",
    "setup_logging",
    "shown",
]
