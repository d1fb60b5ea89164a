"""`python -m adapters.paper`: the paper-trading run (see docs/paper-trading.md)."""

import sys

from adapters.paper.run import main

if __name__ == "__main__":
    sys.exit(main())
