"""Held-Suarez training data (optional extra ``simulate``: jax + dinosaur); nothing else in xda imports it.

``python -m xda.simulate [--kind downscaling]``; see :mod:`xda.simulate.core`.
"""

from .core import main, simulate, simulate_downscaling

__all__ = ["main", "simulate", "simulate_downscaling"]
