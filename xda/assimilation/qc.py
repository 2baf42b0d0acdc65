"""Quality control of observations against the background: a robust pre-screen and the background check."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ObservationError
from ..labeled.observations import PointObservations


def robust_prescreen(d: np.ndarray, obs_error: np.ndarray, k: float = 10.0) -> np.ndarray:
    """Reject innovations more than ``k`` robust stds from the median.

    The robust std is 1.4826 MAD, floored at the median observation-error std: the
    innovation's std is at least that (``var d = s_b^2 + s_o^2``), and a few identical
    reports would otherwise make the MAD 0 and reject every other observation.
    """
    med = np.median(d)
    scale = max(1.4826 * np.median(np.abs(d - med)), float(np.median(obs_error)))
    return np.abs(d - med) <= k * scale


def background_check(innovation: np.ndarray, sigma_b: np.ndarray, obs_error: np.ndarray, threshold: float) -> np.ndarray:
    """Background quality check: reject ``|d| > threshold * sqrt(s_b^2 + s_o^2)``.

    The standard first-guess check of operational QC (e.g. Lorenc 1981; ECMWF IFS
    documentation, Part I). Returns a boolean array, True where accepted.
    """
    return np.abs(innovation) <= threshold * np.sqrt(sigma_b**2 + obs_error**2)


def quality_control(d, sb_obs, ob: PointObservations, pre, qc, name: str, units: str) -> np.ndarray:
    """Robust pre-screen and background check; warns with the worst rejections. True where accepted."""
    ok = pre.copy()
    if qc is not None:
        ok &= background_check(d, sb_obs, ob.qc_error, qc)
    rejected = np.flatnonzero(~ok)
    if rejected.size == ob.n:
        raise ObservationError(
            f"quality control rejected all {ob.n} observations of {name!r} (qc={qc}): "
            f"{worst(d, ob, rejected, units)}; check their units and the background's, or relax the background "
            "check (a larger `qc`, or qc=None)")
    if rejected.size:
        warnings.warn(f"QC rejected {rejected.size} of {ob.n} observations of {name!r} (largest: "
                      f"{worst(d, ob, rejected, units)})", stacklevel=3)
    return ok


def worst(d, ob: PointObservations, rejected: np.ndarray, units: str) -> str:
    """The three largest rejected innovations, as text."""
    worst = rejected[np.argsort(-np.abs(d[rejected]))][:3]
    y = ob.reported
    return ", ".join(f"{y[i]:.4g} {units} at ({ob.lat[i]:.2f}, {ob.lon[i]:.2f}) vs background "
                     f"{y[i] - d[i]:.4g} {units}" for i in worst)
