"""Entry script for the frozen app: the same as the ``watchkeeper`` console script."""

import sys

from watchkeeper.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
