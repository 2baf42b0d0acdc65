"""Held-Suarez training data (optional extra ``simulate``: jax + dinosaur); nothing else in xda imports it.

``python -m xda.simulate [--kind downscaling]`` (= ``xda simulate``); see :mod:`xda.simulate.core`.
"""

from .core import simulate, simulate_downscaling

__all__ = ["simulate", "simulate_downscaling"]
