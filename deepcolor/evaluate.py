"""``python -m deepcolor.evaluate``: see `deepcolor.cli.evaluate_main`."""

import sys

from deepcolor.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
