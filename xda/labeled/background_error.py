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

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import xarray as xr

from ..errors import CoordinateError, DataError, ObservationError, ParameterError, check_choice, check_number
from ..numerics import oi
from ..numerics.interp import apply, bilinear_weights


#: Correlation models of :func:`xda.numerics.oi.correlation`.
CORRELATIONS = ("soar", "gaussian")


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
    field : DataArray (lat, lon), optional
        Per-point standard deviation; where given it is used instead of the latitude
        profile (bilinear between grid points). Same units as ``sigma``.
    """

    sigma_lat: np.ndarray
    sigma: np.ndarray
    length_scale: float
    correlation: str = "soar"
    source: str = ""
    field: xr.DataArray | None = None

    def __post_init__(self):
        sigma = np.asarray(self.sigma, np.float64)
        if sigma.size == 0 or not np.all(np.isfinite(sigma)) or np.any(sigma < 0) or not np.any(sigma > 0):
            raise ParameterError(
                f"background-error std sigma={self.sigma!r} must be finite, >= 0 and not all 0: a zero std means a "
                "perfect background, which no observation can change; give the background's typical error "
                "(e.g. BackgroundError.constant(1.5, 500e3) for a temperature in K)")
        check_number("length_scale", self.length_scale, minimum=0, inclusive=False,
                     fix="the correlation length in metres, e.g. 500e3 (500 km)")
        if self.length_scale < 1e3:
            import warnings

            from ..errors import XdaWarning

            warnings.warn(XdaWarning(f"length_scale={self.length_scale!r} m is shorter than 1 km: the correlation length "
                                     f"is in metres (did you mean {self.length_scale:g}e3, i.e. {self.length_scale:g} km?)"),
                          stacklevel=3)
        check_choice("correlation", self.correlation, CORRELATIONS)
        if np.shape(self.sigma_lat) != np.shape(self.sigma):
            raise ParameterError(f"sigma_lat has shape {np.shape(self.sigma_lat)} but sigma {np.shape(self.sigma)}; "
                                 "give one latitude per standard deviation")

    def std_at(self, lat, lon=None) -> np.ndarray:
        """Standard deviation at points ``(lat, lon)`` (degrees; ``lon`` may be omitted
        for a latitude profile). With a per-point ``field``, bilinear interpolation."""
        if self.field is not None and lon is not None:
            return self._field_at(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        return self._profile_at(lat)

    def _profile_at(self, lat) -> np.ndarray:
        if self.sigma.size == 1:
            return np.full(np.shape(lat), float(self.sigma[0]))
        return np.interp(lat, self.sigma_lat, self.sigma)

    def _field_at(self, lat, lon) -> np.ndarray:
        from .grid import grid_of

        g = grid_of(self.field)
        values = self.field.transpose(g.lat_dim, g.lon_dim).values
        shape = np.broadcast_shapes(lat.shape, lon.shape)
        lat, lon = np.broadcast_to(lat, shape).ravel(), np.broadcast_to(lon, shape).ravel()
        op, inside = bilinear_weights(g.lat, g.lon, lat, lon, periodic=g.periodic)
        out = self._profile_at(lat)  # away from the field's grid
        out[inside] = apply(op, values)
        return out.reshape(shape)

    def scaled(self, inflation: float, length_scale: float | None = None, source: str | None = None) -> "BackgroundError":
        """The same statistics with standard deviations times ``inflation`` (and a new ``L``)."""
        return dataclasses.replace(
            self, sigma=self.sigma * inflation, length_scale=float(length_scale or self.length_scale),
            field=None if self.field is None else self.field * inflation, source=source or self.source)

    @classmethod
    def constant(cls, sigma: float, length_scale: float, correlation: str = "soar", source: str = "given"):
        """The same std ``sigma`` everywhere (working units, > 0) and length scale ``length_scale`` (m, > 0).

        Raises
        ------
        ParameterError
            If ``sigma`` or ``length_scale`` is not a finite positive number.
        """
        check_number("sigma", sigma, minimum=0, inclusive=False,
                     fix="the background's typical error in the variable's units, e.g. 1.5 (K) or 20 (m)")
        return cls(np.zeros(1), np.array([float(sigma)]), float(length_scale), correlation, source)

    def card_entry(self) -> dict:
        """The latitude profile, ``L`` and correlation as a model card stores them (the inverse of :meth:`from_card`)."""
        return dict(sigma_b={"lat": [float(x) for x in self.sigma_lat], "values": [float(x) for x in self.sigma]},
                    length_scale_m=float(self.length_scale), correlation=self.correlation)

    @classmethod
    def from_card(cls, entry: dict, scale: float = 1.0, source: str = "model card"):
        lat = np.asarray(entry["sigma_b"]["lat"], np.float64)
        sig = np.asarray(entry["sigma_b"]["values"], np.float64) * scale
        order = np.argsort(lat)
        return cls(lat[order], sig[order], float(entry["length_scale_m"]), entry.get("correlation", "soar"), source)

    @classmethod
    def from_pairs(cls, backgrounds: xr.DataArray, truths: xr.DataArray, dim: str = "time", per_point: bool = True,
                   correlation: str = "soar", seed: int = 0) -> "BackgroundError":
        """Statistics of known background errors ``backgrounds - truths`` over ``dim``.

        Parameters
        ----------
        backgrounds, truths : DataArray (dim, lat, lon)
            An archive of backgrounds and the verifying truths (analyses, reanalyses),
            same grid and units.
        dim : str
            The sample dimension (at least 2 samples).
        per_point : bool
            Keep the per-point standard deviation (``field``); the latitude profile is
            always kept as a fallback away from the grid.
        correlation : {"soar", "gaussian"}

        Returns
        -------
        BackgroundError
            ``s_b`` the root-mean-square error (bias included: OI treats it as error),
            ``L`` fitted to the binned covariances of normalised errors at up to 600
            grid points (Hollingsworth & Lonnberg 1986, applied to known errors).

        Raises
        ------
        ValueError
            With fewer than 2 samples along ``dim``.
        """
        from .units import magnitude, units_of

        units = str(units_of(backgrounds, name="backgrounds"))
        from .grid import require_aligned

        require_aligned(backgrounds, truths, "backgrounds and truths must have the same coordinates, pair by pair",
                        f"select matching samples, e.g. `truths.sel({dim}=backgrounds.{dim})`")
        err = backgrounds - truths.copy(data=magnitude(truths, units, name="truths"))
        return cls._from_errors(err, dim, per_point, correlation, seed, f"from {err.sizes.get(dim, 0)} (background, truth) pairs")

    @classmethod
    def from_ensemble(cls, members: xr.DataArray, dim: str = "member", per_point: bool = True,
                      correlation: str = "soar", seed: int = 0) -> "BackgroundError":
        """Statistics of an ensemble's spread (anomalies from its mean, times ``sqrt(n / (n - 1))``).

        ``members`` : DataArray (dim, lat, lon). Otherwise as :meth:`from_pairs`.
        """
        if dim not in members.dims:
            raise CoordinateError(f"the ensemble has no member dimension {dim!r}; its dims are {members.dims}: "
                                  "pass dim= with the name of the members' dimension")
        n = members.sizes.get(dim, 0)
        anomalies = (members - members.mean(dim)) * np.sqrt(n / max(n - 1, 1))
        return cls._from_errors(anomalies, dim, per_point, correlation, seed, f"from an ensemble of {n} members")

    @classmethod
    def _from_errors(cls, err: xr.DataArray, dim: str, per_point: bool, correlation: str, seed: int, source: str):
        from .grid import grid_of

        if err.sizes.get(dim, 0) < 2:
            raise DataError(f"need at least 2 samples along {dim!r} to estimate background errors; got dims {dict(err.sizes)}")
        g = grid_of(err)
        e = err.transpose(dim, g.lat_dim, g.lon_dim).values.astype(np.float64)
        std = np.sqrt(np.nanmean(e**2, axis=0))
        profile = np.sqrt(np.nanmean(std**2, axis=1))
        rng = np.random.default_rng(seed)
        pts = rng.choice(std.size, min(600, std.size), replace=False)
        vals = (e / np.maximum(std, 1e-12)).reshape(e.shape[0], -1)[:, pts]
        glat, glon = np.meshgrid(g.lat, g.lon, indexing="ij")
        xyz = oi.unit_vectors(glat.ravel()[pts], glon.ravel()[pts])
        centers, cov, count = oi.binned_covariance(vals, xyz, np.linspace(0, 4e6, 41))
        _, length = oi.fit_covariance(centers, cov, count, correlation)
        order = np.argsort(g.lat)
        field = xr.DataArray(std, dims=(g.lat_dim, g.lon_dim),
                             coords={g.lat_dim: err[g.lat_dim], g.lon_dim: err[g.lon_dim]}) if per_point else None
        return cls(np.asarray(g.lat)[order], profile[order], length, correlation, source, field)

    @classmethod
    def from_innovations(cls, innovation, lat, lon, obs_error=None, correlation: str = "soar", max_distance: float = 4e6,
                         by_latitude: bool = False):
        """Hollingsworth-Lonnberg estimate from innovations of one analysis time.

        Parameters
        ----------
        innovation, lat, lon : ndarray (n,)
            Innovations (working units) and positions (degrees).
        obs_error : ndarray (n,), optional
            Unused by the fit; kept for the record.
        max_distance : float
            Largest separation (m) used in the fit.
        by_latitude : bool
            Also estimate a latitude profile of ``s_b``: in 15-degree bands with at
            least 30 observations, ``s_b^2 = var(d) - mean(s_o^2)`` (floored at 10 % of
            the band's innovation variance), scaled so that its observation-weighted
            mean equals the fitted ``s_b^2``.

        Raises
        ------
        ValueError
            With fewer than 20 observations, or when no covariance model can be fitted.
        """
        d = np.asarray(innovation, np.float64)
        if d.size < 20:
            raise ObservationError(
                f"only {d.size} observations: too few to estimate background-error statistics from innovations; "
                "pass `background_error=xda.BackgroundError.constant(sigma, length_scale)`"
            )
        d = d - d.mean()
        err = None if obs_error is None else np.broadcast_to(np.asarray(obs_error, np.float64), d.shape)
        if d.size > 1500:  # bound the O(n^2) pair count
            idx = np.random.default_rng(0).choice(d.size, 1500, replace=False)
            d, lat, lon = d[idx], np.asarray(lat)[idx], np.asarray(lon)[idx]
            err = None if err is None else err[idx]
        xyz = oi.unit_vectors(lat, lon)
        edges = np.linspace(0, max_distance, 41)
        centers, cov, count = oi.binned_covariance(d[None, :], xyz, edges)
        var_b, length = oi.fit_covariance(centers, cov, count, correlation)
        var_b = min(var_b, d.var())  # the background error cannot exceed the innovation variance
        source = f"Hollingsworth-Lonnberg fit to {d.size} innovations"
        if by_latitude and err is not None:
            prof = _latitude_profile(d, np.asarray(lat), err, var_b)
            if prof is not None:
                return cls(prof[0], prof[1], length, correlation, source + ", s_b by 15-degree latitude band")
        return cls(np.zeros(1), np.array([np.sqrt(max(var_b, 1e-12))]), length, correlation, source)


def _latitude_profile(d, lat, obs_error, var_b):
    """(band centres, s_b) from innovation variances in 15-degree latitude bands, or None."""
    edges = np.arange(-90, 91, 15.0)
    centres, var = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (lat >= lo) & (lat < hi)
        if m.sum() >= 30:
            v = d[m].var()
            centres.append(0.5 * (lo + hi))
            var.append(max(v - np.mean(obs_error[m] ** 2), 0.1 * v))
    if len(var) < 2:
        return None
    var = np.asarray(var)
    w = np.array([((lat >= c - 7.5) & (lat < c + 7.5)).sum() for c in centres], np.float64)
    mean = np.sum(w * var) / w.sum()
    if not mean > 0:
        return None
    var *= var_b / mean
    return np.asarray(centres), np.sqrt(var)


MIN_TUNE = 10
#: Fewest observations for which ``assimilate`` tunes B on them by default; below it, the model card's B.
MIN_OBS_TUNED_DEFAULT = 100


def tune(be: BackgroundError, innovation, lat, lon, obs_error, max_obs: int = 800, seed: int = 0) -> BackgroundError:
    """Length scale and variance inflation of ``be`` chosen by cross-validation on the observations.

    Maximises the leave-one-out predictive log-likelihood of the innovations
    (:func:`xda.numerics.oi.loo_innovation_error`; Rasmussen & Williams 2006, sec.
    5.4.2): each observation is withheld in turn and predicted by OI from the others,
    and scored by its error *and* the error variance the model claims, so that both
    the analysis and its error std come out right (minimising the withheld error alone
    leaves the inflation nearly undetermined). Searches ``L`` in 50-5000 km and the
    inflation ``a`` (``s_b -> a s_b``) in 0.2-5: a coarse grid, then Nelder-Mead in
    ``(log L, log a)``. At most ``max_obs`` observations (a random subset) enter.

    Parameters
    ----------
    be : BackgroundError
        The first guess of the statistics (its profile / field shape is kept).
    innovation, lat, lon, obs_error : ndarray (n,)
        Innovations and observation-error stds (working units), positions (degrees).

    Returns
    -------
    BackgroundError
        ``be.scaled(a, L)`` with the scores in ``source``.

    Raises
    ------
    ValueError
        With fewer than ``MIN_TUNE`` (10) observations.
    """
    d, lat, lon, err = (np.asarray(a, np.float64).ravel() for a in (innovation, lat, lon, obs_error))
    if d.size < MIN_TUNE:
        raise ObservationError(f"only {d.size} observations: too few (< {MIN_TUNE}) to tune L and the inflation by cross-validation")
    if d.size > max_obs:
        idx = np.random.default_rng(seed).choice(d.size, max_obs, replace=False)
        d, lat, lon, err = d[idx], lat[idx], lon[idx], err[idx]
    xyz, sb = oi.unit_vectors(lat, lon), be.std_at(lat, lon)
    lo, hi = np.log([5e4, 0.2]), np.log([5e6, 5.0])

    def loo(p):
        p = np.clip(p, lo, hi)
        return oi.loo_innovation_error(d, xyz, np.exp(p[1]) * sb, err, np.exp(p[0]), be.correlation)

    def score(p):
        """Negative leave-one-out predictive log-likelihood per observation (R&W eq. 5.10-5.11)."""
        r, var = loo(p)
        return float(np.mean(0.5 * np.log(var) + 0.5 * r**2 / var))

    def rms(p):
        return float(np.sqrt(np.mean(loo(p)[0] ** 2)))

    start = np.log([be.length_scale, 1.0])
    grid = [start + [dl, da] for dl in np.log([0.35, 0.6, 1.0, 1.6, 2.5]) for da in np.log([0.5, 1.0, 2.0])]
    best = min(grid, key=score)
    sol = scipy.optimize.minimize(score, best, method="Nelder-Mead", options=dict(xatol=0.02, fatol=1e-4, maxiter=60))
    p = np.clip(sol.x, lo, hi)
    before, after = rms(start), rms(p)
    return be.scaled(float(np.exp(p[1])), float(np.exp(p[0])),
                     source=f"{be.source}; L and inflation {np.exp(p[1]):.2f} by leave-one-out cross-validation of "
                            f"{d.size} innovations (withheld rms {before:.3g} -> {after:.3g})")


def estimate(innovation, lat, lon, obs_error, max_obs: int = 800) -> BackgroundError:
    """The tuned background-error statistics xda uses by default, from the observations alone.

    A Hollingsworth-Lonnberg fit with a latitude profile of ``s_b``
    (:meth:`BackgroundError.from_innovations`); where that fit fails (too few pairs) or
    is degenerate (mean ``s_b^2`` below 10 % of the innovation variance), a constant
    first guess (innovation variance less the observation-error variance, at least
    10 % of it and at least 1 % of the observation-error variance; L = 1000 km). Then ``L`` and the inflation by leave-one-out cross-validation
    (:func:`tune`) when there are at least ``MIN_TUNE`` observations.

    Parameters
    ----------
    innovation, lat, lon, obs_error : ndarray (n,)
        Innovations and observation-error stds (working units), positions (degrees).
    max_obs : int
        At most this many observations enter the cross-validation.

    Returns
    -------
    BackgroundError
    """
    d, err = np.asarray(innovation, np.float64), np.asarray(obs_error, np.float64)
    v = float(np.var(d))
    e2 = float(np.mean(err**2))
    constant = BackgroundError.constant(np.sqrt(max(v - e2, 0.1 * v, 0.01 * e2)), 1e6,
                                        source=f"innovation variance of {d.size} observations, L = 1000 km")
    try:
        first = BackgroundError.from_innovations(d, lat, lon, err, by_latitude=True)
    except ValueError:
        first = constant
    if np.mean(first.std_at(lat, lon) ** 2) < 0.1 * v:  # a degenerate fit (s_b ~ 0): OI would ignore the observations
        first = constant
    if d.size < MIN_TUNE:
        return first
    return tune(first, d, lat, lon, err, max_obs=max_obs)


def background_check(innovation: np.ndarray, sigma_b: np.ndarray, obs_error: np.ndarray, threshold: float) -> np.ndarray:
    """Background quality check: reject ``|d| > threshold * sqrt(s_b^2 + s_o^2)``.

    The standard first-guess check of operational QC (e.g. Lorenc 1981; ECMWF IFS
    documentation, Part I). Returns a boolean array, True where accepted.
    """
    return np.abs(innovation) <= threshold * np.sqrt(sigma_b**2 + obs_error**2)
