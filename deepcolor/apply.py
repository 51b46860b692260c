"""``python -m deepcolor.apply``: see `deepcolor.cli.apply_main`."""

import sys

from deepcolor.cli import apply_main

if __name__ == "__main__":
    sys.exit(apply_main())
