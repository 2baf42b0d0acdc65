"""``python -m xda.training``: ``xda train assimilation`` (the anchored assimilation model; see :mod:`xda.cli`)."""

import sys

from ..cli import main

raise SystemExit(main(["train", "assimilation", *sys.argv[1:]]))
