"""Background-error statistics (``B``) shared by the OI baseline and the diffusion model.

``B_ij = s(lat_i) s(lat_j) rho(r_ij / L)``: a standard-deviation profile in latitude
and an isotropic correlation (SOAR by default) with length scale ``L``. Two estimators:

* :meth:`BackgroundError.from_innovations` -- the Hollingsworth & Lonnberg (1986)
  method on the observations at hand: the covariance of pairs of innovations
  ``d = y - H x_b``, binned by separation, is fitted by ``s^2 rho(r/L)``; at zero
  separation the fitted curve gives the background-error variance (the observation
  error adds only on the diagonal).
* the statistics stored in a model card, estimated from (truth, background) pairs of
  the training data (:func:`xda.training.background_error_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics import oi


@dataclass(frozen=True)
class BackgroundError:
    """Background-error standard deviation and correlation model.

    Attributes
    ----------
    sigma_lat, sigma : ndarray
        Standard deviation (working units) as a function of latitude (degrees,
        ascending); a single value means a constant.
    length_scale : float
        Correlation length scale in metres.
    correlation : str
        ``"soar"`` or ``"gaussian"``.
    source : str
        How the statistics were obtained (written to the analysis attrs).
    """

    sigma_lat: np.ndarray
    sigma: np.ndarray
    length_scale: float
    correlation: str = "soar"
    source: str = ""

    def std_at(self, lat) -> np.ndarray:
        """Standard deviation at latitudes ``lat`` (degrees)."""
        if self.sigma.size == 1:
            return np.full(np.shape(lat), float(self.sigma[0]))
        return np.interp(lat, self.sigma_lat, self.sigma)

    @classmethod
    def constant(cls, sigma: float, length_scale: float, correlation: str = "soar", source: str = "given"):
        return cls(np.zeros(1), np.array([float(sigma)]), float(length_scale), correlation, source)

    @classmethod
    def from_card(cls, entry: dict, scale: float = 1.0, source: str = "model card"):
        lat = np.asarray(entry["sigma_b"]["lat"], np.float64)
        sig = np.asarray(entry["sigma_b"]["values"], np.float64) * scale
        order = np.argsort(lat)
        return cls(lat[order], sig[order], float(entry["length_scale_m"]), entry.get("correlation", "soar"), source)

    @classmethod
    def from_innovations(cls, innovation, lat, lon, obs_error=None, correlation: str = "soar", max_distance: float = 4e6):
        """Hollingsworth-Lonnberg estimate from innovations of one analysis time.

        Parameters
        ----------
        innovation, lat, lon : ndarray (n,)
            Innovations (working units) and positions (degrees).
        obs_error : ndarray (n,), optional
            Unused by the fit; kept for the record.
        max_distance : float
            Largest separation (m) used in the fit.

        Raises
        ------
        ValueError
            With fewer than 20 observations, or when no covariance model can be fitted.
        """
        d = np.asarray(innovation, np.float64)
        if d.size < 20:
            raise ValueError(
                f"only {d.size} observations: too few to estimate background-error statistics from innovations; "
                "pass `background_error=xda.BackgroundError.constant(sigma, length_scale)`"
            )
        d = d - d.mean()
        if d.size > 1500:  # bound the O(n^2) pair count
            idx = np.random.default_rng(0).choice(d.size, 1500, replace=False)
            d, lat, lon = d[idx], np.asarray(lat)[idx], np.asarray(lon)[idx]
        xyz = oi.unit_vectors(lat, lon)
        edges = np.linspace(0, max_distance, 41)
        centers, cov, count = oi.binned_covariance(d[None, :], xyz, edges)
        var_b, length = oi.fit_covariance(centers, cov, count, correlation)
        var_b = min(var_b, d.var())  # the background error cannot exceed the innovation variance
        return cls(np.zeros(1), np.array([np.sqrt(max(var_b, 1e-12))]), length, correlation,
                   f"Hollingsworth-Lonnberg fit to {d.size} innovations")


def background_check(innovation: np.ndarray, sigma_b: np.ndarray, obs_error: np.ndarray, threshold: float) -> np.ndarray:
    """Background quality check: reject ``|d| > threshold * sqrt(s_b^2 + s_o^2)``.

    The standard first-guess check of operational QC (e.g. Lorenc 1981; ECMWF IFS
    documentation, Part I). Returns a boolean array, True where accepted.
    """
    return np.abs(innovation) <= threshold * np.sqrt(sigma_b**2 + obs_error**2)
