"""``python -m deepcolor.fit``: see `deepcolor.cli.fit_main`."""

import sys

from deepcolor.cli import fit_main

if __name__ == "__main__":
    sys.exit(fit_main())
