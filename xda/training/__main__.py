"""``python -m xda.training``: train the assimilation denoiser (see :mod:`xda.training.assimilation`)."""

from .assimilation import main

main()
