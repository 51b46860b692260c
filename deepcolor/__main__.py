"""``python -m deepcolor``: the ``deepcolor`` command (`deepcolor.cli.main`)."""

import sys

from deepcolor.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
