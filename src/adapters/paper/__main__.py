"""`python -m adapters.paper`: the paper-trading run (see adapters/paper/run.py)."""

import sys

from adapters.paper.run import main

sys.exit(main())
