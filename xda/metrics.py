"""Verification metrics on labeled fields, in xskillscore's vocabulary.

``dim``, ``weights``, ``skipna`` and ``keep_attrs`` as in xskillscore; the ensemble scores
accept xskillscore's ``(observations, forecasts)`` order as well as ``(ensemble, truth)``
(the argument with ``member_dim`` is the ensemble). The second field is converted to the
first one's units when both carry ``units`` (a field in K against the same field in
degC scores 0, not 273.15); incompatible units are a :class:`~xda.errors.UnitsError`.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .errors import CoordinateError, GridError, NotFoundError, ParameterError, UnitsError, XdaWarning, check_number
from .labeled import units as xu
from .labeled.grid import grid_of, latitude_weights, require_aligned
from .labeled.names import RECENTRED_ATTR


def _aligned_units(a: xr.DataArray, b: xr.DataArray, dim=None) -> xr.DataArray:
    """``b`` in the units of ``a`` (absolute values) when both say their units; else ``b`` as it is.

    Shared dimensions must have the same coordinates (:class:`GridError`, not a score over
    their intersection) and ``dim`` must be among the dimensions (:class:`CoordinateError`).
    """
    for arg, x in (("first", a), ("second", b)):
        if not isinstance(x, xr.DataArray):
            raise ParameterError(f"the {arg} argument is a {type(x).__name__}; xda.metrics take labeled DataArrays "
                                 "(for a Dataset, score each variable, or use xda.metrics.scorecard)")
    b = _in_order_of(a, b)
    require_aligned(a, b, f"{a.name or 'the first argument'!r} and {b.name or 'the second'!r} have different coordinates "
                    "along a shared dimension", "put them on one grid first, e.g. `b.interp_like(a)` or "
                    "`b.sel(lat=a.lat, lon=a.lon)`")
    if not (set(a.dims) <= set(b.dims) or set(b.dims) <= set(a.dims)):
        raise GridError(f"{a.name or 'the first argument'!r} has dims {a.dims} and {b.name or 'the second'!r} {b.dims}: "
                        "neither contains the other's, so they would broadcast to every pair of points; rename the "
                        "dimensions to match, e.g. `b.rename(latitude='lat', longitude='lon')`")
    missing = [d for d in ([] if dim is None else [dim] if isinstance(dim, str) else list(dim))
               if d not in a.dims and d not in b.dims]
    if missing:
        raise CoordinateError(f"dim={dim!r}: {missing} not among the dimensions {sorted(set(a.dims) | set(b.dims))}")
    ua, ub = a.attrs.get("units"), b.attrs.get("units")
    if bool(ua) != bool(ub):
        raise UnitsError(f"only one of {a.name or 'the first argument'!r} and {b.name or 'the second'!r} says its units "
                         f"({ua or ub!r}); set the other's `attrs['units']` so that xda can compare them")
    if not ua or ua == ub:
        return b
    scale, offset = xu.scale_and_offset(xu.parse_units(ub, name=str(b.name)), ua, name=str(b.name))
    return (b * scale + offset).assign_attrs(b.attrs, units=ua)


def _in_order_of(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """``b`` reordered along each shared dimension whose coordinates are ``a``'s in another order (e.g. latitudes
    north to south against south to north): the same points, so the same score."""
    for d in set(a.dims) & set(b.dims):
        if d in a.indexes and d in b.indexes and not a.indexes[d].equals(b.indexes[d]) and \
                a.indexes[d].is_unique and a.indexes[d].sort_values().equals(b.indexes[d].sort_values()):
            b = b.sel({d: a[d].values})
    return b


def _finish(score: xr.DataArray, like: xr.DataArray, keep_attrs: bool, units: str | None) -> xr.DataArray:
    """xskillscore's ``keep_attrs``: the first input's attrs, or only the score's units."""
    score.attrs = dict(like.attrs) if keep_attrs else ({"units": units} if units else {})
    return score


def _ensemble_and_truth(a: xr.DataArray, b: xr.DataArray, member_dim: str) -> tuple[xr.DataArray, xr.DataArray]:
    """(ensemble, truth) from either order: the argument with ``member_dim`` is the ensemble."""
    if member_dim in a.dims and member_dim not in b.dims:
        return a, _aligned_units(a, b)
    if member_dim in b.dims and member_dim not in a.dims:  # xskillscore's (observations, forecasts)
        return b, _aligned_units(b, a)
    if member_dim in a.dims:
        raise CoordinateError(f"both arguments have the member dimension {member_dim!r}; exactly one (the ensemble) "
                              f"must: pass the truth without it, e.g. `truth.isel({member_dim}=0, drop=True)`")
    raise CoordinateError(f"neither argument has the member dimension {member_dim!r} (the ensemble); got dims {a.dims} "
                          f"and {b.dims}; pass member_dim= with the ensemble's member dimension")


def _members(ensemble: xr.DataArray, member_dim: str, score: str) -> int:
    """The ensemble size; ParameterError below 2 (no spread to estimate)."""
    m = ensemble.sizes[member_dim]
    if m < 2:
        raise ParameterError(f"{score} needs at least 2 members along member_dim={member_dim!r}, got {m}; pass an "
                             "ensemble (for a single forecast use xda.metrics.mae or rmse)")
    return m


def _weights(a: xr.DataArray, weights):
    if isinstance(weights, str) and weights != "latitude":
        raise ParameterError(f"weights={weights!r}: use 'latitude' (cos-latitude area weights), a DataArray or None")
    if isinstance(weights, str):
        try:
            g = grid_of(a)
        except GridError as e:
            raise GridError(f"weights='latitude' (area weights) needs a grid: {e}; for points pass weights=None, or a "
                            "DataArray of weights") from None
        return xr.DataArray(latitude_weights(g.lat), dims=g.lat_dim, coords={g.lat_dim: a[g.lat_dim]})
    return weights


@xu.pint_in_pint_out
def rmse(a: xr.DataArray, b: xr.DataArray, dim=None, weights=None, skipna: bool = True, keep_attrs: bool = False) -> xr.DataArray:
    """Root-mean-square error ``sqrt(sum w (a-b)^2 / sum w)``, in the units of ``a``.

    ``weights="latitude"`` uses cos(latitude) (normalised to mean 1), the usual
    area weighting of regular grids (e.g. WeatherBench, Rasp et al. 2020, eq. 1).
    NaNs in either input are skipped (``skipna``) with their weights. ``b`` is
    converted to ``a``'s units first; ``keep_attrs`` as in xskillscore.
    """
    err = (a - _aligned_units(a, b, dim)) ** 2
    w = _weights(a, weights)
    out = np.sqrt(err.mean(dim, skipna=skipna)) if w is None else np.sqrt(err.weighted(w.fillna(0)).mean(dim, skipna=skipna))
    return _finish(out, a, keep_attrs, a.attrs.get("units"))


@xu.pint_in_pint_out
def mae(a: xr.DataArray, b: xr.DataArray, dim=None, weights=None, skipna: bool = True, keep_attrs: bool = False) -> xr.DataArray:
    """Mean absolute error ``sum w |a-b| / sum w`` (weights, units and attrs as in :func:`rmse`)."""
    err = abs(a - _aligned_units(a, b, dim))
    w = _weights(a, weights)
    out = err.mean(dim, skipna=skipna) if w is None else err.weighted(w.fillna(0)).mean(dim, skipna=skipna)
    return _finish(out, a, keep_attrs, a.attrs.get("units"))


def _not_over_members(dim, member_dim: str, score: str) -> None:
    """Refuse ``dim`` naming the member dimension: the score reduces over the members itself."""
    dims = [] if dim is None else [dim] if isinstance(dim, str) else list(dim)
    if member_dim in dims:
        raise ParameterError(f"{score}(dim={dim!r}): {member_dim!r} is the ensemble's member dimension, which the score "
                             f"reduces itself; dim= names the dimensions to average the score over (e.g. dim=['lat', "
                             "'lon'], or None for all)")


def _is_recentred(ensemble: xr.DataArray, recentred) -> bool:
    """Whether the members are recentred (``recentred``, else the ensemble's :data:`RECENTRED_ATTR` attribute)."""
    if recentred is None:
        return RECENTRED_ATTR in ensemble.attrs
    if not isinstance(recentred, (bool, np.bool_)):
        raise ParameterError(f"recentred must be True, False or None (read from the ensemble's attrs), not {recentred!r}")
    return bool(recentred)


@xu.pint_in_pint_out
def crps(a: xr.DataArray, b: xr.DataArray, member_dim: str = "member", dim=None, weights=None,
         keep_attrs: bool = False, recentred: bool | None = None) -> xr.DataArray:
    """Fair continuous ranked probability score of an ensemble (Ferro 2014, eq. 4).

    ``CRPS = mean_m |x_m - y| - sum_{m,m'} |x_m - x_m'| / (2 M (M - 1) c)``, averaged
    over ``dim`` (with ``weights`` as in :func:`rmse`). Needs ``M >= 2`` members.
    ``(ensemble, truth)`` or xskillscore's ``(observations, forecasts)`` order: the
    argument with ``member_dim`` is the ensemble.

    Independent members (``c = 1``): an unbiased estimate of the CRPS of the
    distribution they are drawn from. *Recentred* members, ``x_m = x_hat + c (u_m -
    mean u)`` with ``c = sqrt(M / (M - 1))`` (xda's, recentred on the best estimate
    ``x_hat``): each member has the predictive variance about ``x_hat``, but their
    differences are ``c`` times too large, hence the ``c`` in the spread term; without it
    a calibrated recentred ensemble of 8 scores 7 % worse than its distribution.

    Parameters
    ----------
    a, b : DataArray
        The ensemble (with ``member_dim``) and the truth, in either order.
    member_dim, dim, weights, keep_attrs
        As in xskillscore.
    recentred : bool, optional
        Default: True where the ensemble carries xda's ``xda_members_recentred``
        attribute (members of ``assimilate(..., members=N)`` and ``downscale``).

    Returns
    -------
    DataArray, the ensemble's units.

    Raises
    ------
    CoordinateError
        Neither (or both) of the arguments has ``member_dim`` (the dims are named).
    ParameterError
        Fewer than 2 members: the fair spread term ``1 / (M (M - 1))`` is undefined
        (the CRPS of a single forecast is its MAE: :func:`mae`).
    UnitsError
        Incompatible units.
    """
    ensemble, truth = _ensemble_and_truth(a, b, member_dim)
    _not_over_members(dim, member_dim, "crps")
    m = _members(ensemble, member_dim, "the fair CRPS")
    c = np.sqrt(m / (m - 1)) if _is_recentred(ensemble, recentred) else 1.0
    skill = abs(ensemble - truth).mean(member_dim)
    other = ensemble.rename({member_dim: "_m2"})
    spread = abs(ensemble - other).sum([member_dim, "_m2"]) / (2 * m * (m - 1) * c)
    score = skill - spread
    w = _weights(truth, weights)
    out = score.mean(dim) if w is None else score.weighted(w).mean(dim)
    return _finish(out, ensemble, keep_attrs, ensemble.attrs.get("units"))


@xu.pint_in_pint_out
def spread_skill_ratio(a: xr.DataArray, b: xr.DataArray, member_dim: str = "member", dim=None, weights=None,
                       keep_attrs: bool = False, recentred: bool | None = None) -> xr.DataArray:
    """Spread-skill ratio: ensemble spread over the RMSE of the ensemble mean, 1 when consistent.

    Independent members: ``sqrt((M+1)/M) * sqrt(mean var_m) / RMSE(mean)`` with the
    unbiased member variance (Fortin et al. 2014, eq. 15; ``(M+1)/M`` because the
    mean of ``M`` draws errs by the spread / ``M`` more than the distribution's mean).
    *Recentred* members (``x_hat + sqrt(M/(M-1)) (u_m - mean u)``, see :func:`crps`):
    their mean is the estimate ``x_hat`` itself and their variance about it (``ddof=0``)
    the predictive variance, so ``sqrt(mean var_m) / RMSE(x_hat)``; Fortin's formula
    would call a calibrated recentred ensemble of 8 over-dispersive by 13 %.

    Parameters
    ----------
    a, b : DataArray
        The ensemble (with ``member_dim``) and the truth, in either order.
    member_dim, dim, weights, keep_attrs
        As in xskillscore.
    recentred : bool, optional
        Default: True where the ensemble carries xda's ``xda_members_recentred`` attribute.

    Raises
    ------
    CoordinateError
        Neither (or both) of the arguments has ``member_dim``.
    ParameterError
        Fewer than 2 members (no spread: the member variance needs 2).
    UnitsError
        Incompatible units.
    """
    ensemble, truth = _ensemble_and_truth(a, b, member_dim)
    _not_over_members(dim, member_dim, "spread_skill_ratio")
    m = _members(ensemble, member_dim, "the spread-skill ratio")
    rec = _is_recentred(ensemble, recentred)
    var = ensemble.var(member_dim, ddof=0 if rec else 1)
    w = _weights(truth, weights)
    mean_var = var.mean(dim) if w is None else var.weighted(w).mean(dim)
    factor = 1.0 if rec else np.sqrt((m + 1) / m)
    out = factor * np.sqrt(mean_var) / rmse(ensemble.mean(member_dim), truth, dim=dim, weights=weights)
    return _finish(out, ensemble, keep_attrs, "1")


def rank_histogram(a: xr.DataArray, b: xr.DataArray, member_dim: str = "member", dim=None, seed: int = 0) -> xr.DataArray:
    """Rank histogram (Talagrand diagram): how often the truth falls at each rank among the members.

    At every point the truth's rank is the number of members below it, 0..M, ties broken
    at random (Hamill 2001, section 2; ``seed``). For members and truth exchangeable draws
    of one distribution every rank is equally likely, ``1 / (M + 1)``: a U shape says too
    little spread (or a bias, then lopsided), a dome too much. Counted over ``dim`` (default:
    every dimension but ``member_dim``); points where the truth or a member is NaN are
    skipped. Recentred members (``xda_members_recentred``) are not exchangeable with the
    truth (their mean is the estimate itself), so their histogram is not flat even when
    calibrated; score them with :func:`crps` and :func:`spread_skill_ratio`.

    Parameters
    ----------
    a, b : DataArray
        The ensemble (with ``member_dim``) and the truth, in either order.
    member_dim : str
    dim : str or list of str, optional
        Dimensions counted over (the others are kept, e.g. ``time`` for one histogram per time).
    seed : int
        Seed of the random tie-breaking.

    Returns
    -------
    DataArray of the fraction of points at each ``rank`` (0..M), summing to 1 over ``rank``; its
    ``count`` attribute is the number of points.

    Raises
    ------
    CoordinateError
        Neither (or both) of the arguments has ``member_dim``.
    ParameterError
        Fewer than 2 members.
    UnitsError
        Incompatible units.
    """
    ensemble, truth = _ensemble_and_truth(a, b, member_dim)
    _not_over_members(dim, member_dim, "rank_histogram")
    m = _members(ensemble, member_dim, "the rank histogram")
    ensemble, truth = xr.broadcast(ensemble, truth, exclude=[member_dim])
    keep = [d for d in truth.dims if dim is not None and d not in ([dim] if isinstance(dim, str) else list(dim))]
    e = ensemble.transpose(*keep, ..., member_dim).values.reshape(*[truth.sizes[d] for d in keep], -1, m)
    t = truth.transpose(*keep, ...).values.reshape(*[truth.sizes[d] for d in keep], -1)
    rng = np.random.default_rng(seed)
    below, ties = (e < t[..., None]).sum(-1), (e == t[..., None]).sum(-1)
    rank = below + np.floor(rng.random(ties.shape) * (ties + 1)).astype(int)
    ok = np.isfinite(t) & np.isfinite(e).all(-1)
    counts = np.stack([((rank == r) & ok).sum(-1) for r in range(m + 1)], axis=-1)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = counts / n[..., None]
    coords = {d: truth[d] for d in keep if d in truth.coords}
    return xr.DataArray(frac, dims=(*keep, "rank"), coords=dict(coords, rank=np.arange(m + 1)), name="rank_histogram",
                        attrs={"units": "1", "count": int(n.sum()), "long_name": "fraction of points at each rank"})


def _data_range(a: xr.DataArray, b: xr.DataArray, data_range) -> float:
    """SSIM's ``L``: ``data_range``, else the range of ``b``, else of ``a`` and ``b`` together (1 if both are one constant)."""
    if data_range is not None:
        return check_number("data_range", data_range, minimum=0, inclusive=False,
                            fix="the dynamic range of the values in their units, e.g. data_range=float(b.max() - b.min())")
    rng = float(b.max() - b.min())
    if rng == 0:  # b constant: the range spanned by both fields
        rng = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    if not np.isfinite(rng):
        raise ParameterError(f"cannot infer data_range from {b.name!r} and {a.name!r} (no finite values); "
                             "pass data_range= explicitly")
    return rng if rng > 0 else 1.0  # both the same constant: SSIM = 1 whatever L > 0


def ssim(a: xr.DataArray, b: xr.DataArray, *, data_range: float | None = None, sigma: float = 1.5) -> xr.DataArray:
    """Mean structural similarity index over the horizontal grid (Wang et al. 2004, eq. 13).

    Local means, variances and covariance use a Gaussian window (std ``sigma`` grid
    cells), ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` with ``L = data_range`` (default:
    the range of ``b``; when ``b`` is constant, the range of ``a`` and ``b`` together).
    Returns one value per non-horizontal index. Identical fields score 1, constant ones
    included; two different constants ``x``, ``y`` score ``(2xy + C1) / (x^2 + y^2 + C1)``.

    Raises
    ------
    ParameterError
        ``data_range`` not a positive finite number, or not inferable (no finite values);
        ``sigma`` not positive.
    GridError
        If ``a`` and ``b`` have different coordinates (``b`` is converted to ``a``'s units).
    """
    from scipy.ndimage import gaussian_filter

    check_number("sigma", sigma, minimum=0, inclusive=False, fix="the Gaussian window's std in grid cells, e.g. sigma=1.5")
    b = _aligned_units(a, b)  # same coordinates, b in a's units
    g = grid_of(b)
    rng = _data_range(a, b, data_range)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2

    def fn(x, y):
        axes = (x.ndim - 2, x.ndim - 1)
        sig = [0] * (x.ndim - 2) + [sigma, sigma]
        mode = ["nearest"] * (x.ndim - 1) + ["wrap" if g.periodic else "nearest"]
        f = lambda z: gaussian_filter(z, sig, mode=mode)  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        return s.mean(axis=axes)

    core = [g.lat_dim, g.lon_dim]
    return xr.apply_ufunc(fn, a, b, input_core_dims=[core, core], dask="parallelized", output_dtypes=[np.float64])


def seam_ratio(fine: xr.DataArray, reference: xr.DataArray, factor: int) -> xr.DataArray:
    """Jumps across coarse-cell edges of a downscaled field, relative to the reference's.

    Partition the fine grid into supercells of ``factor x factor`` cells (one per
    coarse cell) and sum the absolute differences between neighbouring fine cells
    *across supercell boundaries*; the score is that sum for ``fine`` divided by the
    same sum for ``reference``. 1 means the downscaled field is as continuous across
    coarse-cell edges as the truth; above 1 reveals blocky seams (e.g. nearest-neighbour
    upsampling, or a block-wise conservative correction), below 1 an over-smoothed
    field. Returns one value per non-horizontal index.

    Notes
    -----
    This was called ``flux_ratio`` in xda 0.1; it is *not* the flux ratio of the
    PDE-informed downscaling paper (arXiv 2510.23866), whose code takes, per supercell,
    the mean over its boundary points of ``T (grad T / |grad T|) . n`` over the mean
    ``|grad T|``. ``flux_ratio`` remains as a deprecated alias.

    ``factor`` must be an integer >= 1 (:class:`~xda.errors.ParameterError`); a reference
    without jumps across the coarse-cell edges (constant) gives inf/NaN with an
    :class:`~xda.errors.XdaWarning`.
    """
    factor = check_number("factor", factor, minimum=1, integer=True,
                          fix="the downscaling factor: fine cells per coarse cell along each axis, e.g. factor=2")
    g = grid_of(reference)
    ny, nx = g.shape

    def boundary_flux(x):
        ax_y, ax_x = x.ndim - 2, x.ndim - 1
        dy = np.abs(np.diff(x, axis=ax_y))  # between rows j and j+1
        dx = np.abs(np.diff(x, axis=ax_x))
        rows = (np.arange(ny - 1) + 1) % factor == 0
        cols = (np.arange(nx - 1) + 1) % factor == 0
        return np.nansum(np.compress(rows, dy, axis=ax_y), axis=(ax_y, ax_x)) + np.nansum(np.compress(cols, dx, axis=ax_x), axis=(ax_y, ax_x))

    core = [g.lat_dim, g.lon_dim]
    num = xr.apply_ufunc(boundary_flux, fine, input_core_dims=[core], dask="parallelized", output_dtypes=[np.float64])
    den = xr.apply_ufunc(boundary_flux, reference, input_core_dims=[core], dask="parallelized", output_dtypes=[np.float64])
    if bool((den == 0).any()):
        warnings.warn(f"the reference {reference.name or ''!r} has no jump across the edges of {factor} x {factor} "
                      f"coarse cells in {int((den == 0).sum())} of {den.size} field(s) (constant there, or fewer than "
                      f"{factor + 1} points along {g.lat_dim!r} and {g.lon_dim!r}): the seam ratio is inf/NaN there",
                      XdaWarning, stacklevel=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def flux_ratio(fine: xr.DataArray, reference: xr.DataArray, factor: int) -> xr.DataArray:
    """Deprecated alias of :func:`seam_ratio` (which is not the downscaling paper's flux ratio)."""
    warnings.warn("xda.metrics.flux_ratio is renamed seam_ratio: it measures jumps across coarse-cell edges, not the "
                  "PDE-informed downscaling paper's flux ratio", FutureWarning, stacklevel=2)
    return seam_ratio(fine, reference, factor)


def scorecard(forecast: xr.Dataset, truth: xr.Dataset, *, variables=None, baseline: xr.Dataset | None = None,
              member_dim: str = "member", weights="latitude"):
    """One row of scores per variable of ``forecast`` against ``truth`` (a pandas DataFrame).

    Over all grid points and times (``weights`` as in :func:`rmse`, cos(latitude) by
    default), NaNs skipped:

    * ``rmse``, ``mae``, ``bias`` (forecast - truth) of the forecast, or of its ensemble
      mean when it has ``member_dim``;
    * ensembles: ``crps`` (fair) and ``spread_skill`` (:func:`spread_skill_ratio`);
    * with ``baseline`` (e.g. the OI analysis or a bicubic interpolation on the same
      cases): ``rmse_baseline`` and ``rmse_ratio`` = rmse / rmse_baseline (< 1: better
      than the baseline);
    * ``units`` (the forecast's).

    Parameters
    ----------
    forecast, truth : Dataset
        On the same grid; ``truth`` is converted to the forecast's units.
    variables : list of str, optional
        Default: the forecast's data variables that ``truth`` has too (not
        ``*_standard_error``).
    baseline : Dataset, optional
    member_dim : str
    weights : "latitude", DataArray or None

    Raises
    ------
    ParameterError
        ``forecast``, ``truth`` or ``baseline`` is not a Dataset (the message says ``.to_dataset()``).
    KeyError
        A requested variable is missing from ``forecast``, ``truth`` or ``baseline``.
    UnitsError
        Incompatible units.
    """
    import pandas as pd

    for what, ds in (("forecast", forecast), ("truth", truth), ("baseline", baseline)):
        if ds is not None and not isinstance(ds, xr.Dataset):
            name = getattr(ds, "name", None) or what
            raise ParameterError(f"scorecard() takes Datasets (one row per variable); {what} is a {type(ds).__name__}: "
                                 + (f"pass `{what}.to_dataset(name={name!r})`, or score one field with "
                                    f"xda.metrics.rmse({what}, ...)" if isinstance(ds, xr.DataArray) else
                                    "pass an xarray Dataset on the forecast's grid"))
    variables = [variables] if isinstance(variables, str) else variables
    names = variables or [v for v in forecast.data_vars if v in truth.data_vars and not str(v).endswith("_standard_error")]
    if not names:
        raise NotFoundError(f"no variable to score: the forecast has {list(forecast.data_vars)}, the truth {list(truth.data_vars)}")
    rows = []
    for v in names:
        for what, ds in (("forecast", forecast), ("truth", truth), ("baseline", baseline)):
            if ds is not None and v not in ds.data_vars:
                raise NotFoundError(f"the {what} has no variable {v!r}; it has {list(ds.data_vars)} (choose with variables=)")
        f, t = forecast[v], truth[v]
        mean = f.mean(member_dim, keep_attrs=True) if member_dim in f.dims else f
        w = _weights(mean, weights)
        err = mean - _aligned_units(mean, t)
        row = {"variable": v, "rmse": float(rmse(mean, t, weights=w)), "mae": float(mae(mean, t, weights=w)),
               "bias": float(err.mean() if w is None else err.weighted(w.fillna(0)).mean())}
        if member_dim in f.dims and f.sizes[member_dim] > 1:
            row.update(crps=float(crps(f, t, member_dim, weights=w)),
                       spread_skill=float(spread_skill_ratio(f, t, member_dim, weights=w)))
        if baseline is not None:
            row["rmse_baseline"] = float(rmse(baseline[v], t, weights=w))
            row["rmse_ratio"] = row["rmse"] / row["rmse_baseline"]
        rows.append(dict(row, units=f.attrs.get("units", "")))
    return pd.DataFrame(rows)
