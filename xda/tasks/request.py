"""What the stages of an analysis carry: the call's settings (:class:`Request`, validated once by the task) and
one variable's problem (:class:`Problem`, :class:`Background`), instead of a bundle of positional parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import xarray as xr

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


class Problem(NamedTuple):
    """One background variable and its observations, in working units on the grid."""

    name: str  #: the background's variable
    key: str | None  #: the model's variable it maps to
    units: str  #: working units
    grid: object  #: :class:`xda.labeled.grid.Grid`
    ob: PointObservations


class Background(NamedTuple):
    """A background variable's values (ny, nx) in working units, its extra (size-1) dims and its (..., lat, lon) view."""

    xb: np.ndarray
    extra: list
    da2: xr.DataArray
