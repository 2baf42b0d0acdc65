"""``python -m xda.simulate``: see :mod:`xda.simulate.core`."""

from .core import main

main()
