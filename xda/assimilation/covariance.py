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
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize
import xarray as xr

from ..errors import CoordinateError, DataError, ObservationError, ParameterError, check_choice, check_number
from ..numerics import covariance as ncov, oi
from ..numerics.interp import apply, bilinear_weights
from ..labeled import units as xu


#: Correlation models of :func:`xda.numerics.oi.correlation`.
CORRELATIONS = ("soar", "matern52", "gaussian")


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
        from ..labeled.grid import grid_of

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
        """The same std ``sigma`` everywhere (working units, > 0) and length scale ``length_scale``
        (a number in m, or a length with units such as ``'500 km'``; > 0).

        Raises
        ------
        ParameterError
            If ``sigma`` or ``length_scale`` is not a finite positive number.
        UnitsError
            If ``length_scale`` has units that are not a length.
        """
        check_number("sigma", sigma, minimum=0, inclusive=False,
                     fix="the background's typical error in the variable's units, e.g. 1.5 (K) or 20 (m)")
        if not isinstance(length_scale, (int, float, np.number)) or isinstance(length_scale, bool):
            length_scale = xu.to_quantity(length_scale, "m", name="length_scale")
        return cls(np.zeros(1), np.array([float(sigma)]), float(length_scale), correlation, source)

    @classmethod
    def from_prior(cls, prior: ncov.Prior, source: str = "empirical-Bayes prior (real archives)"):
        """The prior's median statistics (a constant ``s_b``, its ``L`` and family): the B of a variable
        without observations or archive (:func:`prior_for`)."""
        sigma = float(np.exp(prior.log_sigma)) if np.isfinite(prior.sd_log_sigma) else 1.0
        return cls.constant(sigma, float(np.exp(prior.log_length)), prior.correlation, source)

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
            ``L`` fitted to the binned correlations of normalised errors at up to 600
            grid points (Hollingsworth & Lonnberg 1986, applied to known errors;
            intercept 1, bins up to the first zero crossing:
            :func:`xda.numerics.covariance.fit_correlation`). For ``L`` chosen by
            cross-validation at the observations' positions, see :meth:`from_archive`.

        Raises
        ------
        ValueError
            With fewer than 2 samples along ``dim``.
        """
        err, _ = _pair_errors(backgrounds, truths, dim)
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
        if n > 1 and bool((members == members.isel({dim: 0})).all()):
            raise DataError(f"the {n} members along {dim!r} are identical (zero spread everywhere), so B cannot be "
                            "estimated from them; pass an ensemble with spread, or use BackgroundError.constant(sigma, length)")
        anomalies = (members - members.mean(dim)) * np.sqrt(n / max(n - 1, 1))
        return cls._from_errors(anomalies, dim, per_point, correlation, seed, f"from an ensemble of {n} members")

    @classmethod
    def _from_errors(cls, err: xr.DataArray, dim: str, per_point: bool, correlation: str, seed: int, source: str):
        """Per-point rms, latitude profile and the Hollingsworth-Lonnberg ``L`` of known errors ``err``."""
        g, e = _errors(err, dim)
        std = np.sqrt(np.nanmean(e**2, axis=0))
        if not np.nanmax(std, initial=0.0) > 0:
            raise DataError(f"the errors {source} are zero everywhere (identical fields: no spread, no background "
                            "error), so B cannot be estimated from them; check that the backgrounds and truths (or the "
                            "members) differ, or use BackgroundError.constant(sigma, length)")
        pts = np.random.default_rng(seed).choice(std.size, min(600, std.size), replace=False)
        vals = (e / np.maximum(std, 1e-12)).reshape(e.shape[0], -1)[:, pts]
        glat, glon = np.meshgrid(g.lat, g.lon, indexing="ij")
        xyz = oi.unit_vectors(glat.ravel()[pts], glon.ravel()[pts])
        centers, corr, count = oi.binned_covariance(vals, xyz, np.linspace(0, 4e6, 41))
        length = ncov.fit_correlation(centers, corr, count, correlation)
        return cls._with_field(err, g, std, length, correlation, source, per_point)

    @classmethod
    def _with_field(cls, err, g, std, length, correlation, source, per_point=True):
        profile = np.sqrt(np.nanmean(std**2, axis=1))
        order = np.argsort(g.lat)
        field = xr.DataArray(std, dims=(g.lat_dim, g.lon_dim),
                             coords={g.lat_dim: err[g.lat_dim], g.lon_dim: err[g.lon_dim]}) if per_point else None
        return cls(np.asarray(g.lat)[order], profile[order], length, correlation, source, field)

    @classmethod
    def from_archive(cls, backgrounds: xr.DataArray, truths: xr.DataArray, obs=None, *, obs_error=None,
                     dim: str = "time", correlations=CORRELATIONS, inflate: bool = True,
                     seed: int = 0) -> "BackgroundError":
        """B from an archive of (background, truth) pairs, its family and ``L`` chosen by cross-validation on it.

        The strongest classical B a user with an archive can have, set up as a
        data-assimilation scientist would:

        1. ``s_b`` per grid point: the rms of ``background - truth`` over ``dim`` (bias
           included: OI treats it as error).
        2. Correlation family (``correlations``) and ``L``: pseudo-observations of every
           archive error at the user's positions (``obs``) with noise of std
           ``obs_error`` are analysed by OI, and the family and ``L`` whose analyses of
           the errors are closest to the known errors at the grid points (area-weighted
           mean square over all samples) win (:func:`xda.numerics.covariance.archive_cv_error`).
           So ``L`` is the one that works for *this* observing network, not a curve fit.
        3. Inflation of ``s_b`` (``inflate``): the pooled leave-one-out predictive
           likelihood of the pseudo-innovations (:func:`xda.numerics.covariance.loo_nll`),
           so that the OI's reported analysis-error std fits its actual error.

        Parameters
        ----------
        backgrounds, truths : DataArray (dim, lat, lon)
            Backgrounds of the kind the user will assimilate into (forecasts of the same
            lead, or the same climatology) and the verifying truths (analyses), same
            grid and units; at least 2 samples.
        obs : optional
            Where the observations will be: a DataArray on the archive's grid (non-NaN
            = observed), a Dataset or pandas DataFrame with ``lat``/``lon``, or a tuple
            ``(lat, lon)`` of arrays (degrees). Default: a fixed thinning of the grid
            (about 2 % of its points, 30 to 400).
        obs_error : float, str or quantity, optional
            Observation-error std (a bare number in the archive's units). Default: the
            typical value for the variable's standard name (1 K, 10 m, 2 m/s), else 10 %
            of the median ``s_b``.
        dim : str
            The sample dimension.
        correlations : sequence of {"soar", "matern52", "gaussian"}
            Families to compare.
        inflate : bool
            Fit the inflation (else 1).
        seed : int
            Seed of the pseudo-observation noise and of the subsets (the result is
            deterministic for a given seed).

        Returns
        -------
        BackgroundError
            Per-point ``field`` (with inflation), latitude profile, ``L`` and family;
            ``source`` lists the cross-validation scores.

        Raises
        ------
        DataError
            With fewer than 2 samples, or fewer than 3 observation positions inside the grid.
        CoordinateError, GridError, UnitsError
            As :meth:`from_pairs`.

        References
        ----------
        Hollingsworth & Lonnberg (1986), Tellus 38A; Desroziers et al. (2005), QJRMS 131;
        Rasmussen & Williams (2006), Gaussian Processes for Machine Learning, sec. 5.4.2.
        """
        for c in correlations:
            check_choice("correlation", c, CORRELATIONS)
        err, units = _pair_errors(backgrounds, truths, dim)
        g, e = _errors(err, dim)
        defined = np.isfinite(e).any(axis=0)  # points never defined (outside a regional analysis) are left out,
        e = e[np.isfinite(e[:, defined]).all(axis=1)]  # and so are samples with a gap (a missing analysis)
        if e.shape[0] < 2:
            raise DataError(f"fewer than 2 of the {err.sizes[dim]} (background, truth) pairs along {dim!r} are complete "
                            "(no NaN); crop the grid to where both are defined or fill the gaps")
        std = np.sqrt(np.mean(e**2, axis=0))
        rng = np.random.default_rng(seed)
        lat, lon = _positions(obs, g, rng)
        op, inside = bilinear_weights(g.lat, g.lon, lat, lon, periodic=g.periodic)
        flat = e.reshape(e.shape[0], -1)
        err_obs = np.stack([apply(op, f.reshape(g.shape)) for f in flat])
        s_obs = apply(op, std)
        ok = np.isfinite(s_obs) & (s_obs > 0)
        lat, lon, err_obs, s_obs = lat[inside][ok], lon[inside][ok], err_obs[:, ok], s_obs[ok]
        if lat.size < 3:
            raise DataError(f"only {lat.size} observation positions lie inside the archive's grid where it is defined; "
                            "need at least 3")
        sig_o = np.full(lat.size, _archive_obs_error(obs_error, backgrounds, units, std[defined]))
        noise = rng.normal(0.0, 1.0, err_obs.shape) * sig_o
        pts = rng.choice(np.flatnonzero(defined.ravel()), min(2000, int(defined.sum())), replace=False)
        glat, glon = (a.ravel()[pts] for a in np.meshgrid(g.lat, g.lon, indexing="ij"))
        weights = np.cos(np.deg2rad(glat))
        args = (err_obs, flat[:, pts], oi.unit_vectors(lat, lon), oi.unit_vectors(glat, glon), s_obs, std.ravel()[pts],
                sig_o, noise, weights / weights.mean())
        scores = {c: _best_length(args, c) for c in correlations}
        kind = min(scores, key=lambda c: scores[c][1])
        length = scores[kind][0]
        a = _archive_inflation(err_obs + noise, args[2], s_obs, sig_o, length, kind) if inflate else 1.0
        text = ", ".join(f"{c} L = {scores[c][0] / 1e3:.0f} km rms {np.sqrt(scores[c][1]):.3g}" for c in correlations)
        source = (f"archive of {e.shape[0]} (background, truth) pairs: per-point s_b x {a:.2f} (pooled leave-one-out "
                  f"likelihood); family and L by cross-validation with {lat.size} pseudo-observations ({text})")
        std = np.where(defined, std, np.sqrt(np.nanmean(std**2)))  # a typical value where never defined
        return cls._with_field(err, g, std * a, length, kind, source)

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
            least 30 observations, ``s_b^2 = mean(d^2) - mean(s_o^2)`` (floored at 10 % of
            the band's innovation mean square), scaled so that its observation-weighted
            mean equals the fitted ``s_b^2``.

        The innovations' mean is not removed: a bias common to the background is
        background error, which the analysis corrects (as :meth:`from_pairs` keeps it).

        Raises
        ------
        ValueError
            With fewer than 20 observations, or when no covariance model can be fitted.

        See Also
        --------
        from_archive : B from (background, truth) pairs, family and ``L`` by cross-validation.
        estimate : the empirical-Bayes default, for any number of observations.
        """
        d = np.asarray(innovation, np.float64)
        if d.size < 20:
            raise ObservationError(
                f"only {d.size} observations: too few to estimate background-error statistics from innovations; "
                "pass `background_error=xda.BackgroundError.constant(sigma, length_scale)`"
            )
        # raw second moments, not anomalies: a bias common to all innovations is background error the
        # analysis must correct (as ``from_pairs``'s rms), a correlation of the longest scale
        err = None if obs_error is None else np.broadcast_to(np.asarray(obs_error, np.float64), d.shape)
        if d.size > 1500:  # bound the O(n^2) pair count
            idx = np.random.default_rng(0).choice(d.size, 1500, replace=False)
            d, lat, lon = d[idx], np.asarray(lat)[idx], np.asarray(lon)[idx]
            err = None if err is None else err[idx]
        xyz = oi.unit_vectors(lat, lon)
        edges = np.linspace(0, max_distance, 41)
        centers, cov, count = oi.binned_covariance(d[None, :], xyz, edges)
        var_b, length = oi.fit_covariance(centers, cov, count, correlation)
        var_b = min(var_b, float(np.mean(d**2)))  # the background error cannot exceed the innovations' mean square
        source = f"Hollingsworth-Lonnberg fit to {d.size} innovations"
        if by_latitude and err is not None:
            prof = _latitude_profile(d, np.asarray(lat), err, var_b)
            if prof is not None:
                return cls(prof[0], prof[1], length, correlation, source + ", s_b by 15-degree latitude band")
        return cls(np.zeros(1), np.array([np.sqrt(max(var_b, 1e-12))]), length, correlation, source)



def _pair_errors(backgrounds: xr.DataArray, truths: xr.DataArray, dim: str):
    """(``backgrounds - truths`` in the backgrounds' units, those units), after checking the pairs align."""
    from ..labeled.grid import require_aligned
    from ..labeled.units import magnitude, units_of

    units = str(units_of(backgrounds, name="backgrounds"))
    require_aligned(backgrounds, truths, "backgrounds and truths must have the same coordinates, pair by pair",
                    f"select matching samples, e.g. `truths.sel({dim}=backgrounds.{dim})`")
    return backgrounds - truths.copy(data=magnitude(truths, units, name="truths")), units


def _errors(err: xr.DataArray, dim: str):
    """(grid, errors (T, ny, nx) float64 in the grid's latitude order); at least 2 samples."""
    from ..labeled.grid import grid_of

    if err.sizes.get(dim, 0) < 2:
        raise DataError(f"need at least 2 samples along {dim!r} to estimate background errors; got dims {dict(err.sizes)}")
    g = grid_of(err)
    return g, err.transpose(dim, g.lat_dim, g.lon_dim).values.astype(np.float64)


def _positions(obs, g, rng) -> tuple[np.ndarray, np.ndarray]:
    """Observation positions (lat, lon in degrees) from the forms :meth:`BackgroundError.from_archive` takes."""
    if obs is None:
        n = g.shape[0] * g.shape[1]
        pick = rng.choice(n, int(np.clip(round(0.02 * n), min(30, n), 400)), replace=False)
        glat, glon = np.meshgrid(g.lat, g.lon, indexing="ij")
        return glat.ravel()[pick], glon.ravel()[pick]
    if isinstance(obs, tuple) and len(obs) == 2:
        return np.asarray(obs[0], np.float64).ravel(), np.asarray(obs[1], np.float64).ravel()
    if isinstance(obs, xr.DataArray) and {g.lat_dim, g.lon_dim} <= set(obs.dims):
        seen = obs.notnull()
        seen = seen.any([d for d in obs.dims if d not in (g.lat_dim, g.lon_dim)]).transpose(g.lat_dim, g.lon_dim)
        glat, glon = np.meshgrid(obs[g.lat_dim].values, obs[g.lon_dim].values, indexing="ij")
        return glat[seen.values], glon[seen.values]
    for la, lo in (("lat", "lon"), ("latitude", "longitude")):
        try:
            return np.asarray(obs[la], np.float64).ravel(), np.asarray(obs[lo], np.float64).ravel()
        except (KeyError, TypeError, IndexError, ValueError):
            continue
    raise ParameterError(f"obs of type {type(obs).__name__} gives no observation positions: pass a DataArray on the "
                         "archive's grid (NaN = unobserved), a table or Dataset with 'lat'/'lon', or a tuple (lat, lon)")


def _archive_obs_error(obs_error, backgrounds: xr.DataArray, units: str, std: np.ndarray) -> float:
    """The pseudo-observations' error std in the archive's units (see :meth:`BackgroundError.from_archive`)."""
    from ..labeled.observations import DEFAULT_OBS_ERROR
    from ..labeled.units import to_quantity

    if obs_error is not None:
        value = to_quantity(obs_error, units, name="obs_error", difference=True, number_units=units)
        check_number("obs_error", value, minimum=0, inclusive=False, fix="the observation-error std, e.g. 1.0 (K)")
        return float(value)
    sn = backgrounds.attrs.get("standard_name")
    if sn in DEFAULT_OBS_ERROR:
        val, u = DEFAULT_OBS_ERROR[sn]
        return float(to_quantity(f"{val} {u}", units, name="obs_error", difference=True))
    return 0.1 * float(np.median(std[std > 0])) if np.any(std > 0) else 1.0


def _best_length(args, kind: str) -> tuple[float, float]:
    """(L, its score) minimising :func:`xda.numerics.covariance.archive_cv_error` over 50-5000 km: a coarse
    grid in log L, then a bounded search about its best point."""
    def score(log_l):
        return ncov.archive_cv_error(*args, float(np.exp(log_l)), kind)

    grid = np.log(np.geomspace(*ncov.LENGTH_BOUNDS, 17))
    values = [score(x) for x in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    sol = scipy.optimize.minimize_scalar(score, bounds=(lo, hi), method="bounded", options=dict(xatol=0.01))
    best = (float(np.exp(sol.x)), float(sol.fun)) if sol.fun < values[i] else (float(np.exp(grid[i])), values[i])
    return best


def _archive_inflation(innovations, xyz, s_obs, obs_error, length, kind) -> float:
    """The inflation of ``s_b`` maximising the pooled leave-one-out likelihood of the archive's innovations."""
    def score(log_a):
        return ncov.loo_nll(innovations, xyz, np.exp(log_a) * s_obs, obs_error, length, kind)

    sol = scipy.optimize.minimize_scalar(score, bounds=np.log(ncov.INFLATION_BOUNDS), method="bounded",
                                         options=dict(xatol=0.005))
    return float(np.exp(sol.x))


def _latitude_profile(d, lat, obs_error, var_b):
    """(band centres, s_b) from innovation variances in 15-degree latitude bands, or None."""
    edges = np.arange(-90, 91, 15.0)
    centres, var = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (lat >= lo) & (lat < hi)
        if m.sum() >= 30:
            v = np.mean(d[m] ** 2)  # bias included, as in the fit
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

#: The empirical-Bayes priors by CF standard name (written by ``scripts/fit_background_error_priors.py``).
PRIORS_FILE = Path(__file__).resolve().parent / "background_error_priors.json"


@functools.lru_cache(maxsize=1)
def _priors() -> dict:
    return json.loads(PRIORS_FILE.read_text())["priors"]


def prior_for(standard_name: str | None, units: str) -> ncov.Prior:
    """The empirical-Bayes prior on ``(log s_b, log L)`` of a variable, ``s_b`` in ``units``.

    Fitted to real archives (NCEP/NCAR reanalysis z500, the NCEP analyses of the 1996
    blizzard; climatological and persistence backgrounds) by
    ``scripts/fit_background_error_priors.py``: per CF standard name, the mean and spread
    of their log ``s_b`` and log ``L`` (:meth:`BackgroundError.from_archive`), never the
    training simulation's. A variable without its own prior gets no prior on ``s_b``
    and a broad one on ``L``.

    Parameters
    ----------
    standard_name : str or None
    units : str
        The working units of ``s_b`` (a difference: degC and K are the same).
    """
    from ..labeled.units import to_quantity

    p = _priors().get(standard_name or "", _priors()["*"])
    log_sigma = p["log_sigma"]
    if p["units"] is not None:
        log_sigma = float(np.log(to_quantity(f"{np.exp(log_sigma)} {p['units']}", units, name=f"s_b of {standard_name}",
                                             difference=True)))
    return ncov.Prior(log_sigma, p["sd_log_sigma"], p["log_length"], p["sd_log_length"], p["correlation"],
                            tuple(p.get("shape_lat", ())), tuple(p.get("log_shape", ())))

#: Training (the card's own world, the OSSE) tunes B on fewer than this many observations; below it, the card's B.
MIN_OBS_TUNED_DEFAULT = 100


def tune(be: BackgroundError, innovation, lat, lon, obs_error, max_obs: int = 800, seed: int = 0,
         prior: ncov.Prior | None = None, correlations=None, start: tuple | None = None) -> BackgroundError:
    """Length scale, variance inflation (and family) of ``be`` by leave-one-out cross-validation on the observations.

    Maximises the leave-one-out predictive log-likelihood of the innovations
    (:func:`xda.numerics.covariance.fit_loo`; Rasmussen & Williams 2006, sec. 5.4.2):
    each observation is withheld in turn and predicted by OI from the others, and
    scored by its error *and* the error variance the model claims, so that both the
    analysis and its error std come out right. With a ``prior`` on ``(log s_b, log L)``
    the score is the posterior (empirical Bayes): the prior dominates at small ``n``.
    Searches ``L`` in 50-5000 km and the inflation ``a`` (``s_b -> a s_b``) in 0.2-5.
    At most ``max_obs`` observations (a random subset, ``seed``) enter.

    Parameters
    ----------
    be : BackgroundError
        The first guess of the statistics (its profile / field shape is kept).
    innovation, lat, lon, obs_error : ndarray (n,)
        Innovations and observation-error stds (working units), positions (degrees).
    prior : Prior, optional
    correlations : sequence of str, optional
        Families to compare (default: ``be.correlation`` only).
    start : (float, float), optional
        ``(L, inflation)`` close to the answer (e.g. a fit on a subset): the search starts there.

    Returns
    -------
    BackgroundError
        ``be`` with the new inflation, ``L`` and family, the scores in ``source``.

    Raises
    ------
    ObservationError
        With fewer than ``MIN_TUNE`` (10) observations and no prior.
    """
    d, lat, lon, err = (np.asarray(a, np.float64).ravel() for a in (innovation, lat, lon, obs_error))
    if d.size < (1 if prior is not None else MIN_TUNE):
        raise ObservationError(f"only {d.size} observations: too few (< {MIN_TUNE}) to tune L and the inflation by "
                               "cross-validation without a prior")
    if d.size > max_obs:
        idx = np.random.default_rng(seed).choice(d.size, max_obs, replace=False)
        d, lat, lon, err = d[idx], lat[idx], lon[idx], err[idx]
    xyz, sb = oi.unit_vectors(lat, lon), be.std_at(lat, lon)
    fit = ncov.fit_loo(d, xyz, sb, err, be.length_scale if start is None else start[0],
                       tuple(correlations or (be.correlation,)), prior, None if start is None else start[1])
    before = np.sqrt(np.mean(oi.loo_innovation_error(d, xyz, sb, err, be.length_scale, be.correlation)[0] ** 2))
    after = np.sqrt(np.mean(oi.loo_innovation_error(d, xyz, fit.inflation * sb, err, fit.length_scale,
                                                    fit.correlation)[0] ** 2))
    how = "empirical Bayes (leave-one-out likelihood and a prior)" if prior is not None else "leave-one-out cross-validation"
    out = be.scaled(fit.inflation, fit.length_scale,
                    source=f"{be.source}; {fit.correlation} L = {fit.length_scale / 1e3:.0f} km and inflation "
                           f"{fit.inflation:.2f} by {how} of {d.size} innovations (withheld rms {before:.3g} -> {after:.3g})")
    return dataclasses.replace(out, correlation=fit.correlation)


#: Fewest observations for which the family of the correlation is chosen by the data (else the prior's).
MIN_FAMILY = 100


def estimate(innovation, lat, lon, obs_error, max_obs: int = 800, prior: ncov.Prior | None = None) -> BackgroundError:
    """The background-error statistics xda uses by default, from the observations at hand.

    Empirical Bayes (with a ``prior``, :func:`prior_for`): the shape of ``s_b`` (a
    latitude profile where 15-degree bands hold at least 30 observations, else a
    constant), then its scale, ``L`` and, from :data:`MIN_FAMILY` observations on, the
    correlation family, by maximising the leave-one-out likelihood of the innovations
    plus the log prior (:func:`tune`). Any number of observations works: with few, the
    answer is the prior's (a real climatology's statistics), with many the data's.
    Without a prior, below ``MIN_TUNE`` observations, the constant first guess
    (innovation variance less the observation-error variance, L = 1000 km).

    Parameters
    ----------
    innovation, lat, lon, obs_error : ndarray (n,)
        Innovations and observation-error stds (working units), positions (degrees).
    max_obs : int
        At most this many observations enter the cross-validation.
    prior : Prior, optional

    Returns
    -------
    BackgroundError

    References
    ----------
    Hollingsworth & Lonnberg (1986); Desroziers et al. (2005); Carlin & Louis (2000),
    Bayes and Empirical Bayes Methods for Data Analysis, ch. 3.
    """
    d, err = np.asarray(innovation, np.float64).ravel(), np.asarray(obs_error, np.float64).ravel()
    lat, lon = np.asarray(lat, np.float64).ravel(), np.asarray(lon, np.float64).ravel()
    v, e2 = float(np.mean((d - d.mean()) ** 2)) if d.size > 1 else float(np.mean(d**2)), float(np.mean(err**2))
    s0 = np.sqrt(max(v - e2, 0.1 * v, 0.01 * e2))
    if prior is not None and (d.size < MIN_TUNE or not s0 > 0) and np.isfinite(prior.sd_log_sigma):
        s0 = float(np.exp(prior.log_sigma))
    length = float(np.exp(prior.log_length)) if prior is not None else 1e6
    kind = prior.correlation if prior is not None else "soar"
    prof = _latitude_profile(d - d.mean(), lat, err, s0**2) if d.size >= 60 else None
    if prof is not None and prior is not None and len(prior.log_shape):
        prof = _beyond_the_bands(prof, prior)
    first = (BackgroundError(prof[0], prof[1], length, kind, "s_b by 15-degree latitude band") if prof is not None
             else BackgroundError.constant(s0, length, kind, source=f"innovation variance of {d.size} observations"))
    if prof is None and prior is not None and len(prior.log_shape):
        first, prior = _prior_shape(first, prior, lat, s0, d.size)
    if prior is None and d.size < MIN_TUNE:
        return first
    if d.size >= MIN_FAMILY:  # the family by the data, on a subset; then L and the inflation on up to max_obs, from there
        sub = tune(first, d, lat, lon, err, max_obs=min(max_obs, 300), prior=prior, correlations=CORRELATIONS)
        if d.size <= min(max_obs, 300):  # every observation was in it: that is the fit
            return sub
        ratio = float(np.sqrt(np.mean(np.asarray(sub.sigma) ** 2) / np.mean(np.asarray(first.sigma) ** 2)))
        return tune(dataclasses.replace(first, correlation=sub.correlation), d, lat, lon, err, max_obs=max_obs,
                    prior=prior, start=(sub.length_scale, ratio))
    return tune(first, d, lat, lon, err, max_obs=max_obs, prior=prior)


def _beyond_the_bands(prof, prior: ncov.Prior):
    """A latitude profile of ``s_b`` estimated in the bands with enough observations, continued poleward of the
    outermost ones by the prior's latitude shape (a constant continuation under-states polar ``s_b``, and the
    background check then rejects good polar reports)."""
    lat_b, s_b = prof
    shape_lat, shape = np.asarray(prior.shape_lat, np.float64), np.exp(np.asarray(prior.log_shape, np.float64))
    lo, hi = shape_lat < lat_b[0] - 7.5, shape_lat > lat_b[-1] + 7.5
    s_lo = s_b[0] * shape[lo] / np.interp(lat_b[0], shape_lat, shape)
    s_hi = s_b[-1] * shape[hi] / np.interp(lat_b[-1], shape_lat, shape)
    return np.concatenate([shape_lat[lo], lat_b, shape_lat[hi]]), np.concatenate([s_lo, s_b, s_hi])


def _prior_shape(first: BackgroundError, prior: ncov.Prior, lat, s0: float, n: int):
    """``first`` with the prior's latitude shape of ``s_b`` (rms ``s0`` at the observations), and the prior
    on the rms ``s_b`` at these observations' latitudes (where the shape says ``s_b`` is larger or smaller than
    its rms over the archives' grids)."""
    shape = np.exp(np.asarray(prior.log_shape, np.float64))
    at_obs = float(np.sqrt(np.mean(np.interp(lat, prior.shape_lat, shape) ** 2)))
    if n < MIN_TUNE:  # the scale is the prior's
        s0 = float(np.exp(prior.log_sigma)) * at_obs
    be = BackgroundError(np.asarray(prior.shape_lat, np.float64), s0 * shape / at_obs, first.length_scale,
                         first.correlation, f"{first.source}; s_b shaped with latitude as the prior's archives")
    return be, prior._replace(log_sigma=prior.log_sigma + float(np.log(at_obs)))
