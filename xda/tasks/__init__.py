"""User-facing tasks built on ``labeled`` and ``models``: assimilation and downscaling.

Each runs validate -> prepare -> solve -> write back -> provenance.
"""

from .assimilate import assimilate
from .downscale import coarsen, downscale

__all__ = ["assimilate", "coarsen", "downscale"]
