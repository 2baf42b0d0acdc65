"""What the stages of an analysis carry: the call's settings (:class:`Request`, validated once by the task) and
one variable's problem and analysis (:class:`Problem`, :class:`Analysis`), instead of a bundle of positional parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..labeled.observations import PointObservations


@dataclass(frozen=True)
class Request:
    """The settings of one :func:`xda.assimilate` call, validated once by the task, for every stage."""

    method: str  #: "xda" or "oi" (per variable: "oi" for what the model does not know)
    net: object  #: the network (None for "oi")
    card: dict  #: its model card
    device: object
    background_error: object  #: the ``background_error=`` specification
    qc: float | None
    members: int
    seed: int | None
    steps: int
    verify: bool
    latent_optimization: dict | None = None
    model: str = ""  #: the model as the caller named it (for messages)
    solver: str = "oi"  #: the key of ``METHODS``: "oi", or the model's architecture for method "xda"
    workers: int = 1  #: threads for the independent parts of the analyses (:func:`xda.numerics.threads.workers_for_analysis`)

    @property
    def joint(self) -> bool:
        """Whether the state is analysed at once (a joint or latent model)."""
        return self.solver in ("joint", "latent")


class Problem(NamedTuple):
    """One background variable and its observations as plain arrays: working units, latitudes ascending."""

    name: str  #: the background's variable
    key: str | None  #: the model's variable it maps to
    units: str  #: working units
    grid: object  #: :class:`xda.labeled.grid.Grid`, latitudes ascending
    ob: PointObservations | None  #: its observations (None: unobserved variable of a joint state)
    xb: np.ndarray  #: the background (ny, nx)
    prior: object = None  #: the empirical-Bayes prior of its B (:func:`xda.assimilation.covariance.prior_for`)
    method: str = "xda"  #: "oi" for a variable the model does not know


class Analysis(NamedTuple):
    """One variable's analysis as plain arrays (working units, latitudes ascending), for the write-back."""

    xa: np.ndarray  #: (members or 1, ny, nx)
    sa: np.ndarray  #: the analysis-error std (ny, nx)
    how: str  #: how the std was had (its long_name)
    attrs: dict  #: provenance attrs (``xda_*``)
    report: dict  #: n_obs, rejected, dropped and, if observed, ``checks`` = (observations, pre-screen, QC) for its table
