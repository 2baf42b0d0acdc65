"""``python -m xda.simulate``: ``xda simulate`` (see :mod:`xda.cli` and :mod:`xda.simulate.core`)."""

import sys

from ..cli import main

raise SystemExit(main(["simulate", *sys.argv[1:]]))
