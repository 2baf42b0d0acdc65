"""Geostrophic balance of wind increments with height increments (plain arrays, SI units).

The classical multivariate step of optimal interpolation in mid-latitudes (Daley 1991,
ch. 5; Lorenc 1981): a height increment ``dz`` comes with the wind increment of the
same balance the flow keeps,

    du = -alpha (g / f) d(dz)/dy,    dv = alpha (g / f) d(dz)/dx,

with ``f = 2 Omega sin(phi)``, tapered to zero towards the equator, where geostrophy
fails, and ``alpha`` fitted by least squares on pairs of forecast errors
(:func:`balance_coefficient`). The derivatives are :mod:`xda.numerics.stencils`'s.
"""

from __future__ import annotations

import numpy as np

from . import stencils
from .constants import GRAVITY, OMEGA

#: Latitudes (degrees) between which the balance is ramped from 0 to 1 (sin^2 ramp).
TAPER_DEG = (10.0, 25.0)


def taper(sin_lat: np.ndarray, band=TAPER_DEG) -> np.ndarray:
    """Weight of the balance per row: 0 equatorwards of ``band[0]``, 1 polewards of ``band[1]``."""
    lat = np.degrees(np.arcsin(np.clip(np.abs(sin_lat), 0.0, 1.0)))
    w = np.clip((lat - band[0]) / (band[1] - band[0]), 0.0, 1.0)
    return np.sin(0.5 * np.pi * w) ** 2


def geostrophic_wind(z: np.ndarray, geo: stencils.Geometry, band=TAPER_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Tapered geostrophic wind ``(u_g, v_g)`` (m s-1) of a height field ``z`` (m), shape (..., ny, nx).

    ``u_g = -(g/f) dz/dy``, ``v_g = (g/f) dz/dx`` times :func:`taper`; zero at the
    equator and where a derivative is undefined (pole rows).
    """
    gx, gy = stencils.gradient(np.asarray(z, np.float64), geo)
    w = taper(geo.sin_lat, band)
    with np.errstate(divide="ignore", invalid="ignore"):
        gf = np.where(w > 0, w * GRAVITY / (2 * OMEGA * geo.sin_lat), 0.0)[:, None]
    return np.nan_to_num(-gf * gy), np.nan_to_num(gf * gx)


def balanced_winds(u: np.ndarray, v: np.ndarray, dz: np.ndarray, geo: stencils.Geometry, alpha: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The winds ``(u, v)`` plus ``alpha`` times the tapered geostrophic wind of a height increment ``dz``
    (m): the multivariate step of the classical anchor, for training cases and analyses alike."""
    ug, vg = geostrophic_wind(dz, geo)
    return u + alpha * ug, v + alpha * vg


def balance_coefficient(dz: np.ndarray, du: np.ndarray, dv: np.ndarray, geo: stencils.Geometry) -> float:
    """Least-squares ``alpha`` of wind errors on the geostrophic wind of height errors.

    Parameters
    ----------
    dz, du, dv : ndarray (n, ny, nx)
        Forecast-minus-truth (or truth-minus-forecast) differences of z (m), u, v (m s-1).

    Returns
    -------
    float: ``sum(du u_g + dv v_g) / sum(u_g^2 + v_g^2)``, 1 for errors in exact balance.
    """
    ug, vg = geostrophic_wind(dz, geo)
    return float((np.sum(du * ug) + np.sum(dv * vg)) / (np.sum(ug**2) + np.sum(vg**2)))
