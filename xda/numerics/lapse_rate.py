"""Orographic lapse-rate downscaling of near-surface temperature (plain arrays, SI units).

The classical physical baseline of temperature downscaling: interpolate the coarse
field, then add ``gamma * (z_fine - interpolated z_coarse)``, the temperature change
over the fine orography's departure from the coarse one, at a lapse rate ``gamma``
(K m-1, negative when temperature falls with height), and make the result conservative.
``gamma`` is either fixed (the standard atmosphere's -6.5 K/km) or estimated from the
coarse field itself by regressing its local anomalies on the coarse orography's
(Dodson & Marks 1997, "Daily air temperature interpolated at high spatial resolution
over a large mountainous region", Clim. Res. 8, 1-20; the "lapse-rate adjusted"
interpolation of WorldClim and PRISM-like products).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

from . import regrid

#: The standard atmosphere's tropospheric lapse rate (ICAO 1993), K m-1.
STANDARD_LAPSE_RATE = -6.5e-3
#: Range of estimated lapse rates, K m-1: dry adiabatic cooling to a mild inversion.
LAPSE_RATE_BOUNDS = (-9.8e-3, 2.0e-3)
#: Least rms relief (m) of the coarse orography's local anomalies for an estimate; below it the standard value.
MIN_RELIEF = 50.0
#: Width (grid cells) of the Gaussian that takes cell-mean relief to the relief a spectral model resolves on its
#: own grid: fitted in the training world only (dinosaur's T63 exponential-filtered orography against the ETOPO20
#: cell means of its 96 x 192 Gaussian grid, rms difference 103 m unsmoothed, 66 m at 0.6, 71 m at 0.5 and 0.7;
#: ``benchmarks/fit_model_relief.py``).
MODEL_RELIEF_SIGMA = 0.6
#: The reliefs the lapse-rate correction can follow, by name: the Gaussian width (cells) :func:`model_relief` takes
#: the cell means through (``"full"``: none; ``"model"``: :data:`MODEL_RELIEF_SIGMA`).
RELIEF_SIGMA = {"full": 0.0, "model": MODEL_RELIEF_SIGMA}


def model_relief(z: np.ndarray, periodic: bool, sigma: float = MODEL_RELIEF_SIGMA) -> np.ndarray:
    """The relief a model resolves on its own grid: cell-mean altitude smoothed by a Gaussian of ``sigma`` cells.

    A climate model's orography is filtered at its grid scale (spectral truncation and a
    smoothing filter, e.g. Lindberg & Broccoli 1996, J. Climate 9, 2641-2659), so its
    near-surface temperature follows a smoother relief than the cell means of a digital
    elevation model: the lapse-rate correction of the full cell-mean relief overshoots at
    the grid scale when the fine field is a model's. ``sigma`` (:data:`MODEL_RELIEF_SIGMA`)
    was fitted in the training world, never on evaluation data.

    Parameters
    ----------
    z : ndarray (..., ny, nx)
        Cell-mean surface altitude, m.
    periodic : bool
        Whether the grid wraps in longitude.
    sigma : float
        Standard deviation of the Gaussian, grid cells (0 returns ``z``).

    Returns
    -------
    ndarray (..., ny, nx), m
    """
    z = np.asarray(z, np.float64)
    if sigma <= 0:
        return z
    mode = ["nearest"] * (z.ndim - 1) + ["wrap" if periodic else "nearest"]
    return gaussian_filter(z, [0] * (z.ndim - 2) + [sigma, sigma], mode=mode)


def local_anomaly(a: np.ndarray, periodic: bool, size: int = 3) -> np.ndarray:
    """``a`` minus its ``size x size`` box mean over the last two axes (wrapping in longitude if ``periodic``)."""
    a = np.asarray(a, np.float64)
    mode = ["nearest"] * (a.ndim - 1) + ["wrap" if periodic else "nearest"]
    sizes = [1] * (a.ndim - 2) + [size, size]
    return a - uniform_filter(a, size=sizes, mode=mode)


def estimate_lapse_rate(t_c: np.ndarray, z_c: np.ndarray, lat_c: np.ndarray, periodic: bool) -> np.ndarray:
    """Lapse rate of each coarse field, from its local anomalies against the orography's.

    ``gamma = sum w t' z' / sum w z'^2`` with ``t'``, ``z'`` the departures from 3 x 3
    box means and ``w`` the cell areas (cos latitude). Clipped to :data:`LAPSE_RATE_BOUNDS`; :data:`STANDARD_LAPSE_RATE` where the rms of
    ``z'`` is below :data:`MIN_RELIEF` (no relief to estimate it from).

    Parameters
    ----------
    t_c : ndarray (..., ny, nx)
        Coarse temperature, K.
    z_c : ndarray (ny, nx)
        Coarse surface altitude, m (the block mean of the fine orography).
    lat_c : ndarray (ny,)
        Degrees.
    periodic : bool

    Returns
    -------
    ndarray (...,): K m-1
    """
    tz = local_anomaly(t_c, periodic)
    zz = local_anomaly(z_c, periodic)
    w = np.cos(np.deg2rad(np.asarray(lat_c, np.float64)))[:, None] * np.ones_like(zz)
    szz = float(np.sum(w * zz * zz))
    if szz <= 0 or szz / max(float(w.sum()), 1e-12) < MIN_RELIEF**2:
        return np.full(tz.shape[:-2], STANDARD_LAPSE_RATE)
    gamma = np.sum(w * tz * zz, axis=(-2, -1)) / szz
    return np.clip(gamma, *LAPSE_RATE_BOUNDS)


def fine_detail(a_f: np.ndarray, lat_c, lon_c, lat_f, lon_f, factor: int, periodic: bool,
                method: str = "cubic") -> np.ndarray:
    """``a_f - I(<a_f>)``: the part of a fine field its block means cannot see.

    ``<.>`` is the area-weighted block mean (:func:`xda.numerics.regrid.coarsen`) and
    ``I`` the interpolation back to the fine grid (:func:`xda.numerics.regrid.upsample`).
    Of the orography, what the lapse rate multiplies; of the land fraction, the coasts.

    Parameters
    ----------
    a_f : ndarray (..., fy, fx)
    lat_c, lon_c, lat_f, lon_f : ndarray
        Degrees, ascending.
    factor : int
    periodic : bool
    method : {"cubic", "linear"}
    """
    a_f = np.asarray(a_f, np.float64)
    return a_f - regrid.upsample(regrid.coarsen(a_f, factor, lat_f), lat_c, lon_c, lat_f, lon_f, method, periodic)


def lapse_rate_downscale(t_c: np.ndarray, z_f: np.ndarray, lat_c: np.ndarray, lon_c: np.ndarray, lat_f: np.ndarray,
                         lon_f: np.ndarray, factor: int, periodic: bool, gamma: float | np.ndarray | None = None,
                         method: str = "cubic") -> tuple[np.ndarray, np.ndarray]:
    """Conservative interpolation plus the lapse-rate correction of the fine orography.

    ``T_f = P[T_c - <s>] + s`` with ``s = gamma (z_f - I(z_c))`` the temperature change
    over the fine relief, ``I`` the interpolation (:func:`xda.numerics.regrid.upsample`),
    ``z_c = <z_f>``, ``<.>`` the area-weighted block mean and ``P`` the conservative
    interpolation of :func:`xda.numerics.regrid.conservative_upsample`: the smooth
    part is interpolated with the relief's block means taken out, then the relief is
    added back, so the block means of ``T_f`` equal ``T_c`` exactly.

    Parameters
    ----------
    t_c : ndarray (..., ny, nx)
        Coarse temperature, K, latitudes ascending.
    z_f : ndarray (ny * factor, nx * factor)
        Fine surface altitude, m.
    lat_c, lon_c, lat_f, lon_f : ndarray
        Degrees, ascending (:func:`xda.numerics.regrid.fine_coords`).
    factor : int
    periodic : bool
    gamma : float or ndarray (...,), optional
        Lapse rate, K m-1; default :func:`estimate_lapse_rate` per field.
    method : {"cubic", "linear"}

    Returns
    -------
    (T_f (..., ny * factor, nx * factor), gamma (...,)) in K and K m-1
    """
    t_c = np.asarray(t_c, np.float64)
    z_f = np.asarray(z_f, np.float64)
    z_c = regrid.coarsen(z_f, factor, lat_f)
    g = estimate_lapse_rate(t_c, z_c, lat_c, periodic) if gamma is None else np.broadcast_to(
        np.asarray(gamma, np.float64), t_c.shape[:-2])
    detail = fine_detail(z_f, lat_c, lon_c, lat_f, lon_f, factor, periodic, method)
    shift = np.asarray(g)[..., None, None] * detail  # (..., fy, fx)
    fine = regrid.conservative_upsample(t_c - regrid.coarsen(shift, factor, lat_f), lat_c, lon_c, lat_f, lon_f, factor,
                                        method, periodic) + shift
    return fine, np.asarray(g)
