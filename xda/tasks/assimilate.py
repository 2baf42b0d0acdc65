"""``assimilate``: analysis of a background and observations, by OI or the diffusion model."""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import xarray as xr

from .._version import __version__
from ..assimilation.covariance import prior_for
from ..assimilation.verify import desroziers, obs_table
from ..errors import GridError, ModelError, ParameterError, WeightsError, XdaWarning, check_choice, check_number
from ..labeled import io, names, times
from ..labeled import units as xu
from ..labeled.grid import grid_of
from ..labeled.observations import collect, on_model_terrain
from ..models.cards import DEFAULT_MODEL, DEFAULT_STEPS, architecture, load_card, require_kind
from ..numerics import memory, threads
from . import lazy
from .analysis import METHODS
from .request import Problem, Request

#: The values of ``method=`` (:data:`METHODS` holds what each does).
CHOICES = ("xda", "oi")


def _model_variable(name: str, da: xr.DataArray, card: dict, mapping: dict | None) -> str | None:
    if mapping and name in mapping:
        key = mapping[name]
        if key not in card["variables"]:
            raise ModelError(f"`variables` maps {name!r} to {key!r}, which the model does not know; it knows {list(card['variables'])}")
        return key
    sn = names.standard_name(name, da)
    hits = [k for k, e in card["variables"].items() if e["standard_name"] == sn]
    if len(hits) != 1:
        return None
    why = _other_level(name, da, hits[0])
    if why:
        warnings.warn(XdaWarning(f"{why}: not the model's {hits[0]!r}, although both are {sn}"), stacklevel=5)
        return None
    return hits[0]


#: Names of near-surface variables (CMIP, ERA5): their level is the surface, whatever their standard name.
_NEAR_SURFACE = ("uas", "vas", "tas", "u10", "v10", "t2m", "2t", "10u", "10v", "U10", "V10", "T2")


def _level(name: str, da: xr.DataArray):
    """(kind, value) of a variable's vertical level: ("pressure", hPa), ("height", m), or None when unsaid."""
    for cname, c in da.coords.items():
        if c.ndim != 0 or "units" not in c.attrs:
            continue
        label = f"{cname} {c.attrs.get('standard_name', '')}".lower()
        for kind, words, unit in (("pressure", ("plev", "pressure", "level", "isobaric", "lev"), "hPa"),
                                  ("height", ("height",), "m")):
            if any(w in label for w in words):
                try:
                    return kind, float(xu.to_quantity(f"{float(c.values)} {c.attrs['units']}", unit, name=str(cname)))
                except Exception:  # noqa: BLE001 (a level in other units: not this kind)
                    continue
    return ("height", 2.0) if name in _NEAR_SURFACE else None


def _other_level(name: str, da: xr.DataArray, key: str) -> str | None:
    """Why ``name`` is at another level than the model's ``key`` (``u500`` at 500 hPa, ``tas`` near the surface), or None."""
    import re

    mine = _level(name, da)
    digits = re.search(r"(\d+)$", key)
    if mine is None:
        return None
    kind, value = mine
    if digits and (kind == "height" or abs(value - float(digits.group(1))) > 1.0):
        where = f"{value:g} m above the ground" if kind == "height" else f"{value:g} hPa"
        return f"{name!r} is at {where}; the model's {key!r} is at {digits.group(1)} hPa"
    if not digits and kind == "pressure":
        return f"{name!r} is at {value:g} hPa; the model's {key!r} is near the surface"
    return None


@xu.pint_in_pint_out
def assimilate(
    background: xr.Dataset | xr.DataArray,
    obs,
    *,
    method: str = "xda",
    model: str = DEFAULT_MODEL,
    variables: dict | None = None,
    obs_error=None,
    background_error=None,
    qc: float | None = 5.0,
    members: int = 1,
    seed: int | None = None,
    steps: int | None = None,
    verify: bool = True,
    latent_optimization: bool | dict = False,
    obs_space: bool = False,
    window="6h",
    orography=None,
    device=None,
    lat: str | None = None,
    lon: str | None = None,
) -> xr.Dataset | xr.DataArray:
    """Analysis of ``background`` given ``obs``.

    Parameters
    ----------
    background : Dataset or DataArray
        Background (first guess) on a regular latitude-longitude grid, global or
        regional; each variable 2-D in (lat, lon) with ``units``.
    obs : DataArray, Dataset or pandas.DataFrame
        Gridded observations on the background grid (NaN = unobserved), point
        observations (a Dataset along an ``obs`` dimension with ``lat``/``lon``
        coordinates), or a station table (see :func:`xda.labeled.observations.collect`).
    method : {"xda", "oi"}
        ``"oi"``: optimal interpolation (= 3D-Var with this ``B``), the classical
        baseline. ``"xda"``: the learned analysis *anchored on* that OI analysis: the
        diffusion model ``model`` estimates the departure of the truth from OI's
        analysis in units of OI's analysis-error std (:mod:`xda.models.anchored`), so
        that a model that learned nothing returns OI's posterior, and the
        observations enter the posterior once (through OI and the conditioning).
    model : str
        Name of the diffusion model (see :func:`xda.available_models`). A *joint* model
        (card ``joint: true``, e.g. ``"hs-t42-mv-v1"``, :mod:`xda.models.joint`) analyses all
        the variables of its state that the background holds at once, observed or not:
        heights update the winds and the other way round. Its anchor is multivariate
        (tuned OI per variable, winds given the geostrophically balanced increment of the
        heights); a variable of the state missing from the background is left out.
    variables : dict, optional
        ``{background_name: model_variable}`` where CF standard names do not identify
        the variable (e.g. ``{"HGT": "z500"}``).
    obs_error : float, str, quantity or dict, optional
        Observation-error std per variable; defaults to a ``<var>_error`` column or
        variable, else typical values by standard name (1 K, 10 m, 2 m/s).
    background_error : BackgroundError, dict of them, "tuned", "innovations" or "model", optional
        ``B`` statistics of the OI analysis (for both methods). Default ``"tuned"``, for
        any number of observations: empirical Bayes
        (:func:`xda.assimilation.covariance.estimate`): the scale of ``s_b``, ``L`` and
        (from 100 observations) the correlation family maximise the leave-one-out
        likelihood of the innovations plus a prior fitted to real archives for the
        variable's standard name (:func:`~xda.assimilation.covariance.prior_for`); with
        few observations the answer is the prior's. With an archive of (background,
        truth) pairs, ``BackgroundError.from_archive(backgrounds, truths, obs)`` is the
        strongest choice. ``"innovations"``: Hollingsworth-Lonnberg alone. ``"model"``:
        the model card's statistics, those of its training simulation (for that world's
        OSSE only).
    qc : float or None
        Background-check threshold in stds of ``d`` (None: no QC).
    members : int
        ``1`` (default): the best estimate, the posterior mean (method ``"xda"``: the
        model's posterior-mean head, one network evaluation). ``N > 1``: ``N``
        posterior samples along a new ``member`` dimension (``"xda"`` only), recentred
        on that best estimate: their mean is the ``members=1`` analysis (the same for
        every ``seed``) and their spread the sampler's (unbiased for ``N``).
    seed : int, optional
        Seed of the sampler's noise.
    steps : int, optional
        Heun steps of the sampler (``2 * steps - 1`` denoiser evaluations per member);
        default per architecture (:data:`xda.models.cards.DEFAULT_STEPS`: 6 for the
        anchored model, whose members are recentred on its estimate, 16 for the joint and
        latent ones).
    verify : bool
        Method ``"xda"``: weight the learned correction of OI by its skill at withheld
        observations (repeated 4-fold cross-validation, folds fixed by the observations'
        positions, :mod:`xda.assimilation.verify`: a weight in [0, 1] recorded as
        ``xda_correction_weight`` with ``xda_correction_weight_stderr``; 0 below 40
        observations or without 2-sigma skill), so that where the model is out of its
        depth the analysis is OI's, and scale the error std (and the members' spread) to
        fit the withheld observations (``xda_spread_scale``, 0.5-2). A grid outside the
        model's range gets the OI analysis with an :class:`~xda.errors.XdaWarning`.
        ``False``: the correction as learned, OI's error std.
    latent_optimization : bool or dict
        Latent joint models only (card ``latent: true``): LO-SDA's analysis (Li et al.
        2025) instead of the anchored one. The network is conditioned on the background
        alone and the observations enter through a few L-BFGS iterations on the latent at
        every noise level of the reverse process, minimising the observations' misfit
        plus the distance to the denoised latent (:class:`xda.models.latent.LatentOptimization`;
        a dict passes ``lo_steps``, default 5, and ``lr``, L-BFGS's first step, default 1).
        Gives samples: ``members=1`` is one sample. It loses to OI on the real cases
        (README): a research option, never the default.
    obs_space : bool
        Also return the analysis in observation space: ``(analysis, table)`` with one row
        per observation (O-B, O-A, QC flag and reason, ...; :func:`xda.assimilation.verify.obs_table`). The
        analysed variables carry Desroziers' consistency check in their attrs
        (``xda_desroziers_obs_error_std``: ``sqrt(E[(O-B)(O-A)])``, next to
        ``xda_assumed_obs_error_std``; Desroziers et al. 2005).
    window : str, Timedelta or None
        Assimilation window, full width, centred on the background's valid time (its
        scalar ``time`` coordinate): observations with times (a ``time`` coordinate,
        column or dimension) in ``[t - window/2, t + window/2)`` are used, the others
        dropped and counted. Default ``"6h"`` (+-3 h, the 6-hourly
        3D-Var cycle). A background without a time takes observations spanning at most
        ``window`` as simultaneous and refuses a longer span. ``None``: every
        observation, whatever its time. The counts of observations dropped are in each
        variable's attrs (``xda_n_obs_outside_window``, ``xda_n_obs_outside_grid``,
        ``xda_n_obs_missing``). A background with a time *dimension* is
        analysed time by time (each with its own window) and the analyses are
        concatenated along it; attrs that differ between times are dropped. A
        dask-backed background gives a dask-backed analysis, one task per chunk along time,
        each with only its windows' observations (:mod:`xda.tasks.lazy`; docs: scaling).
    orography : DataArray, False or None
        Surface altitude of the background's model on its grid (units of length), for
        the observation operator of near-surface temperature: reports with a station
        elevation (a column or coordinate ``elevation``/``altitude``, or CF standard
        name ``surface_altitude``) are compared with the background at their own height,
        ``H(x) = W x - 6.5 K/km (z_station - z_model)``, as operational surface analyses do
        (:func:`xda.labeled.observations.to_model_terrain`). Default: the background's
        ``surface_altitude`` variable (``orog``, ``zs``), else ETOPO20 averaged onto the
        background's cells. ``False``: no height term. Recorded in the variable's
        ``xda_obs_height_adjustment``.
    device : str or torch.device, optional
        Defaults to CUDA when available, else CPU (no GPU is needed).
    lat, lon : str, optional
        Names of the coordinates when cf-xarray cannot find them.

    Returns
    -------
    Dataset or DataArray (as ``background``)
        The analysis on the background's grid, with its coordinates, attrs and units,
        and provenance in attrs (``xda_*``); variables without observations are copied.
        Each analysed variable comes with ``<name>_standard_error``, the analysis-error
        std (a CF ancillary variable; a coordinate on DataArray output): OI's, scaled
        by ``xda_spread_scale`` for method ``"xda"``.

    Raises
    ------
    ObservationError, GridError, UnitsError, CoordinateError, ModelError, ValueError
        Each message names the variable and the fix.

    References
    ----------
    Daley (1991), Atmospheric Data Analysis, ch. 4-5 (OI); Karras et al. (2022), EDM;
    Qu et al. (2025), PhyDA (arXiv 2505.12882).
    """
    options = dict(method=method, model=model, variables=variables, obs_error=obs_error,
                   background_error=background_error, qc=qc, members=members, seed=seed, steps=steps, verify=verify,
                   latent_optimization=latent_optimization, window=window, orography=orography, device=device,
                   lat=lat, lon=lon, obs_space=obs_space)
    tdim = times.time_dim(background)
    if tdim is not None:
        return _per_time(background, tdim, obs, **options)
    call = _setup(background, obs, options)
    (results, nfe_total), = _solve([call])
    return _finish(call, results, nfe_total)


class _Call(NamedTuple):
    """One analysis time between its preparation (:func:`_setup`) and its write-back (:func:`_finish`)."""

    background: object  #: the caller's background (one time)
    bg: xr.Dataset  #: as a Dataset
    grid: object
    problems: dict  #: {name: :class:`Problem`}
    layouts: dict
    terrain: dict  #: the observation operator's height term per variable
    req: Request
    options: dict  #: the keyword arguments of :func:`assimilate`
    t_start: float


def _setup(background, obs, options: dict) -> _Call:
    """Checks, the model, the observations of one analysis time and its :class:`Problem` per variable."""
    t_start = time.perf_counter()
    o = options
    method, members, steps, model = o["method"], o["members"], o["steps"], o["model"]
    _validate(method, members, steps, o["qc"], o["seed"])
    if isinstance(background, xr.DataArray) and background.name is None:
        background = background.rename("variable")
    bg = background.to_dataset() if isinstance(background, xr.DataArray) else background
    _check_options(bg, o["variables"], o["background_error"], o["verify"], o["obs_space"])
    grid = grid_of(bg, lat=o["lat"], lon=o["lon"])
    memory.require(8.0 * 6 * int(members) * grid.shape[0] * grid.shape[1] * len(bg.data_vars),
                   f"{members} members of {len(bg.data_vars)} variables on a {grid.shape[0]} x {grid.shape[1]} grid",
                   "ask for fewer members per call and concatenate calls with different seeds along 'member'")
    net, card, dev = _load(method, model, o["device"])
    steps = DEFAULT_STEPS[architecture(card)] if steps is None and method != "oi" else steps
    keys, work_units = _working_units(bg, grid, card, o["variables"], obs)
    std = {n: card["variables"][k]["standard_name"] for n, k in keys.items() if k}
    obs_by_var = collect(obs, bg, grid, work_units, o["obs_error"], std, window=o["window"])
    obs_by_var, terrain = on_model_terrain(obs_by_var, bg, grid, work_units, o["orography"], std)

    req = Request(method, net, card, dev, o["background_error"], o["qc"], int(members), o["seed"], steps, o["verify"],
                  model=str(model), solver="oi" if method == "oi" else architecture(card))
    if o["latent_optimization"] is not False and not req.joint:
        raise ModelError(f"latent_optimization needs a latent joint model (card 'latent': true); {model!r} is not one")
    req = replace(req, latent_optimization=_latent_optimization(o["latent_optimization"]) if req.joint else None)
    problems, layouts = _prepare(bg, obs_by_var, keys, work_units, grid, req)  # labeled -> arrays, once
    return _Call(background, bg, grid, problems, layouts, terrain, req, options, t_start)


def _solve(calls: list) -> list:
    """The analyses of the times ``calls`` (one request: the same model and settings), plain arrays only:
    ({name: Analysis}, network evaluations) per time (:data:`METHODS`)."""
    grid, req = calls[0].grid, calls[0].req
    points = grid.shape[0] * grid.shape[1]
    with threads.limited(threads.for_analysis(points)):  # see threads.for_analysis
        return METHODS[req.solver]([c.problems for c in calls], replace(req, workers=threads.workers_for_analysis(points)))


def _finish(call: _Call, results: dict, nfe_total: int):
    """Arrays -> labeled, once: the analysis of one time as the caller's type, with its provenance."""
    out = call.bg.copy()  # shallow: never touches the caller's arrays
    report = _write_analyses(out, call.bg, call.problems, results, call.layouts, call.grid)
    for name, note in call.terrain.items():
        out[name].attrs["xda_obs_height_adjustment"] = note
    o = call.options
    what = (f"model {o['model']!r} anchored on optimal interpolation, members={o['members']}, steps={call.req.steps}, "
            f"seed={o['seed']}" if o["method"] == "xda" else "optimal interpolation")
    _provenance(out, call.bg, o["method"], what, report, nfe_total, call.t_start)
    res = _as_input(out, call.background, isinstance(call.background, xr.DataArray))
    return (res, _table(report)) if o["obs_space"] else res


def _table(report: dict):
    """The observation-space tables of all variables, one DataFrame."""
    import pandas as pd

    tables = [r["table"] for r in report.values() if "table" in r]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _per_time(background, tdim: str, obs, *, obs_space: bool, **kwargs):
    """:func:`assimilate` at each time of ``background[tdim]``, concatenated along ``tdim``; a dask-backed
    background gives a dask-backed result, one task per chunk (:mod:`xda.tasks.lazy`)."""
    if lazy.is_lazy(background):
        return _lazily(background, tdim, obs, obs_space, kwargs)
    analyses, tables, n = [], [], background.sizes[tdim]
    group = _times_per_batch(background, tdim)
    for lo in range(0, n, group):  # prepared and written back one at a time, solved together (analysis.by_time)
        calls = [_setup(background.isel({tdim: i}), obs, dict(kwargs, obs_space=obs_space))
                 for i in range(lo, min(n, lo + group))]
        for i, call, (results, nfe) in zip(range(lo, n), calls, _solve(calls)):
            res = _finish(call, results, nfe)
            if obs_space:
                res, table = res
                tables.append(table.assign(analysis_time=background[tdim].values[i]))
            analyses.append(res)
    out = xr.concat(analyses, dim=tdim, combine_attrs="drop_conflicts", data_vars="all", coords="different",
                    compat="equals")
    out = _in_dims_order_of(out, background)
    if isinstance(out, xr.DataArray):  # its standard error is per time, even where two times' are equal
        for se in [c for c in out.coords if str(c).endswith("_standard_error") and tdim not in out[c].dims]:
            per_time = out[se].expand_dims({tdim: out[tdim]})  # in the analysis's order, without its member dimension
            out = out.assign_coords({se: per_time.transpose(*[d for d in out.dims if d in per_time.dims])})
    if obs_space:
        import pandas as pd

        return out, pd.concat(tables, ignore_index=True)
    return out


#: Analysis times solved together, so that their network evaluations share batches (:func:`xda.tasks.analysis.by_time`).
TIMES_PER_BATCH = 8
#: Memory the times solved together may hold: each keeps its folds' OI analyses until the network has run.
BATCH_BYTES = 256 * 2**20


def _times_per_batch(background, tdim: str) -> int:
    """Times solved together: :data:`TIMES_PER_BATCH`, fewer where a time's fold analyses (about 20 fields of the
    grid per variable) would pass :data:`BATCH_BYTES`."""
    variables = [background] if isinstance(background, xr.DataArray) else list(background.data_vars.values())
    points = sum(v.size // v.sizes.get(tdim, 1) for v in variables)
    return int(np.clip(BATCH_BYTES // max(1, 20 * 8 * points), 1, TIMES_PER_BATCH))


def _lazily(background, tdim: str, obs, obs_space: bool, kwargs: dict):
    """:func:`_per_time` of each chunk of ``background`` along ``tdim`` as one task, with only the observations
    that can fall in its windows (:func:`xda.tasks.lazy.observations_for`)."""
    if obs_space:
        raise ParameterError("obs_space=True returns a table, which cannot be lazy; for a dask-backed background "
                             "compute it first (`background.compute()`), or call without obs_space and compare "
                             "observations with `xda.metrics`")
    try:
        t = times.to_datetime64(background[tdim].values, dict(background[tdim].attrs), tdim)
    except (TypeError, ValueError):  # times xda cannot compare: every task takes every observation
        t = None
    window = kwargs.get("window", times.DEFAULT_WINDOW)

    def split(lo: int, hi: int) -> tuple:
        return (obs if t is None else lazy.observations_for(obs, t[lo], t[hi - 1], window),)

    return lazy.blockwise(background, tdim, lambda block, ob: _per_time(block, tdim, ob, obs_space=False, **kwargs),
                          split)


def _in_dims_order_of(out, background):
    """``out`` (concatenated along time) with each variable's dimensions in the background's order."""
    if isinstance(out, xr.DataArray):
        return out.transpose(*background.dims) if set(out.dims) == set(background.dims) else out
    for name in out.data_vars:
        if name in background and set(out[name].dims) == set(background[name].dims):
            out[name] = out[name].transpose(*background[name].dims)
    return out


def _as_input(out: xr.Dataset, background, was_da: bool):
    """The analysis Dataset, or the DataArray (with its standard error as a coordinate) for DataArray input."""
    if was_da:
        res = out[background.name]
        se = f"{background.name}_standard_error"
        if se in out:  # a DataArray carries its analysis-error std as a coordinate
            res = res.assign_coords({se: out[se]})
        res.attrs.update({k: v for k, v in out.attrs.items() if k.startswith("xda_") and k not in res.attrs})
        return res
    return out


# ----------------------------------------------------------------------------- prepare and write back


def _prepare(bg: xr.Dataset, obs_by_var: dict, keys: dict, work_units: dict, grid, req: Request) -> tuple[dict, dict]:
    """Labeled -> arrays, once (:mod:`xda.labeled.io`): the :class:`Problem` of each variable to analyse
    (background in working units, latitudes ascending; observations indexing that grid; its B's prior) and
    the :class:`~xda.labeled.io.Layout` to write its analysis back with.

    Variables analysed: the observed ones, one at a time; for a joint model, every variable of its state.
    """
    joint = req.joint
    if joint:
        _require_joint(req, obs_by_var, keys)
    order = [n for n, k in keys.items() if k is not None] if joint else list(obs_by_var)
    agrid, problems, layouts = io.ascending(grid), {}, {}
    for name in order:
        da, key, units, ob = bg[name], keys[name], work_units[name], obs_by_var.get(name)
        xb, layouts[name] = _background_values(da, grid, name, units)
        how = req.method
        if req.method == "xda" and key is None:  # what the model does not know gets the classical analysis
            warnings.warn(XdaWarning(f"{_unknown_variable(req.model, name, da, req.card)}: {name!r} is analysed "
                                     "by OI (the other variables by the model)"), stacklevel=4)
            how = "oi"
        ob = None if ob is None else io.observations_ascending(ob, grid)
        # B's prior: of the data's standard name; for an unobserved variable of a joint state, of the model's
        sn = names.standard_name(name, da) if (ob is not None and ob.n > 0) or not joint else req.card["variables"][key]["standard_name"]
        prior = prior_for(sn, units)
        problems[name] = Problem(name, key, units, agrid, ob, xb, prior, how)
    return problems, layouts


def _write_analyses(out: xr.Dataset, bg: xr.Dataset, problems: dict, results: dict, layouts: dict, grid) -> dict:
    """Arrays -> labeled, once: each :class:`Analysis` into ``out`` in its background's units, dims, latitude
    order and attrs, with ``<name>_standard_error``, its observation-space table and Desroziers' check.

    Returns the report per variable (n_obs, rejected, dropped, table).
    """
    report = {}
    for name, r in results.items():
        p, layout = problems[name], layouts[name]
        a = io.from_arrays(r.xa[:, None], bg[name], layout, grid)
        a.attrs.update(r.attrs)
        a.attrs["ancillary_variables"] = f"{name}_standard_error"
        entry = dict(r.report)
        if "checks" in entry:
            ob, pre, ok = entry.pop("checks")
            entry["table"] = obs_table(name, ob, p.xb, r.xa, r.sa, pre, ok, p.units)
            a.attrs.update(desroziers(entry["table"]))
        out[name] = a
        out[f"{name}_standard_error"] = io.standard_error(
            r.sa, a, layout, grid, f"analysis-error standard deviation of {name} ({r.how})")
        report[name] = entry
    return report


def _background_values(da: xr.DataArray, grid, name: str, units: str):
    """x_b (ny, nx) in ``units``, latitudes ascending, and its :class:`~xda.labeled.io.Layout`; one analysis time."""
    extra = [d for d in da.dims if d not in (grid.lat_dim, grid.lon_dim)]
    if "member" in extra:
        raise GridError(
            f"background {name!r} has a 'member' dimension (size {da.sizes['member']}), which is where xda writes "
            f"its own members. For an ensemble background pass its mean, `bg.mean('member')`, with "
            f"`background_error=xda.BackgroundError.from_ensemble(bg[{name!r}])`; for a single member "
            "`bg.squeeze('member', drop=True)`")
    if any(da.sizes[d] != 1 for d in extra):
        raise GridError(
            f"{name!r} has dims {da.dims}; assimilate one analysis time at a time, e.g. `bg.isel(time=0)` "
            "(size-1 extra dimensions are fine)"
        )
    xb, layout = io.to_arrays(da, grid, units, name, "fill them (e.g. `.interpolate_na`) or crop the grid to where "
                              "the background is defined", label=f"background {name!r}")
    return xb[0], layout


def _unknown_variable(model, name: str, da: xr.DataArray, card: dict) -> str:
    return (f"model {model!r} does not know {name!r} (standard_name={da.attrs.get('standard_name')!r}); it knows "
            f"{[(k, e['standard_name']) for k, e in card['variables'].items()]} (map it with `variables={{{name!r}: ...}}`)")


def _require_joint(req: Request, obs_by_var: dict, keys: dict) -> None:
    """ModelError for LO-SDA without a latent model, or observed variables the joint model does not know."""
    card = req.card
    if req.latent_optimization is not None and architecture(card) != "latent":
        raise ModelError(f"latent_optimization needs a latent joint model (card 'latent': true); {card.get('name')!r} is not one")
    unknown = [n for n in obs_by_var if keys.get(n) is None]
    if unknown:
        raise ModelError(f"model {card.get('name')!r} does not know {unknown}; it knows "
                         f"{[(k, e['standard_name']) for k, e in card['variables'].items()]}. Map them with `variables=` "
                         "or use method='oi'")


# ----------------------------------------------------------------------------- settings


#: Most members of one call; larger ensembles: several calls with other seeds, concatenated along ``member``.
MAX_MEMBERS = 1000



def _validate(method: str, members, steps, qc, seed) -> None:
    """Refuse parameters outside their domain (:class:`ParameterError` naming the value and the fix)."""
    check_choice("method", method, CHOICES)
    check_number("members", members, minimum=1, maximum=MAX_MEMBERS, integer=True,
                 fix="1 gives the best estimate; for more than 1000 members call again with other seeds and "
                     "concatenate along 'member'")
    if steps is not None:
        check_number("steps", steps, minimum=1, integer=True,
                     fix="the default (None) is 6 for the anchored model and 16 for the joint ones")
    if qc is not None:
        check_number("qc", qc, minimum=0, inclusive=False,
                     fix="a threshold in stds of the innovation such as 5; qc=None switches the background check off")
    if seed is not None:
        check_number("seed", seed, minimum=0, maximum=2**63 - 1, integer=True, fix="an integer >= 0, or None for fresh entropy")
    if method == "oi" and members != 1:
        raise ParameterError("OI gives one deterministic analysis: use members=1 with method='oi'")


def _latent_optimization(spec) -> dict | None:
    """The keyword arguments of LO-SDA's latent optimisation (None: off), checked: ``lo_steps`` >= 1 (0 would
    return a sample that never saw the observations) and a finite ``lr`` > 0."""
    if spec is False or spec is None:
        return None
    if spec is True:
        return {}
    if not isinstance(spec, dict):
        raise ParameterError(f"latent_optimization={spec!r}: use True, False or a dict with 'lo_steps' and 'lr'")
    unknown = sorted(set(spec) - {"lo_steps", "lr"})
    if unknown:
        raise ParameterError(f"latent_optimization has unknown keys {unknown}; it takes 'lo_steps' and 'lr'")
    if "lo_steps" in spec:
        check_number("latent_optimization['lo_steps']", spec["lo_steps"], minimum=1, integer=True,
                     fix="5 is the default; 0 would ignore the observations")
    if "lr" in spec:
        check_number("latent_optimization['lr']", spec["lr"], minimum=0, inclusive=False, fix="1.0 (L-BFGS's first step) is the default")
    return dict(spec)


def _check_options(bg: xr.Dataset, variables, background_error, verify, obs_space) -> None:
    """Refuse malformed keyword arguments that would otherwise be ignored or crash later."""
    for name, value in (("verify", verify), ("obs_space", obs_space)):
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"{name}={value!r} must be True or False")
    if variables is not None and not isinstance(variables, dict):
        raise ParameterError(f"variables={variables!r} must be a dict {{background_name: model_variable}}")
    for what, spec in (("variables", variables), ("background_error", background_error)):
        unknown = sorted(set(spec) - set(bg.data_vars)) if isinstance(spec, dict) else []
        if unknown:
            raise ParameterError(f"{what} names {unknown}, which are not background variables {list(bg.data_vars)}; "
                                 "key it by the background's variable names")


def _load(method: str, model: str, device):
    """(network, card, device) for the learned method; (None, card or None, None) for OI (no torch).

    OI reads the card only for working units and variable names; an assimilation model's card is required
    when ``model`` was given explicitly (a downscaling model's card is refused by name)."""
    if method == "xda":
        from ..models.registry import load_model

        net, card = load_model(model, device=device)
        _require_anchored(card, model)
        return net, card, next(net.parameters()).device
    try:
        card = load_card(model)
    except WeightsError:  # a tampered or malformed model is never ignored
        raise
    except ModelError:
        if model != DEFAULT_MODEL:
            raise
        return None, None, None
    _require_anchored(card, model)
    return None, card, None


def _require_anchored(card: dict, model) -> None:
    require_kind(card, "assimilation", model, anchor="oi")


def _working_units(bg: xr.Dataset, grid, card, variables, obs=None):
    """Model variable and working units (the card's, else the variable's own) per variable on the grid.

    A variable without units is left out (copied as it is) unless ``obs`` observe it, where
    its :class:`~xda.errors.UnitsError` is raised.
    """
    keys, work_units = {}, {}
    observed = _observed_names(obs)
    for name, da in bg.data_vars.items():
        if not {grid.lat_dim, grid.lon_dim} <= set(da.dims):
            continue
        key = _model_variable(name, da, card, variables) if card else None
        unobserved = not ({"*", name, da.attrs.get("standard_name")} & observed)
        if key is None and unobserved and "units" not in da.attrs and not hasattr(da.data, "units"):
            continue  # not analysed: no units needed
        keys[name] = key
        work_units[name] = card["variables"][key]["units"] if key else str(xu.units_of(da, name=name))
    return keys, work_units


def _observed_names(obs) -> set:
    """Names of the variables ``obs`` may hold (columns, data variables, a DataArray's name; long tables' ``variable``)."""
    import pandas as pd

    if isinstance(obs, pd.DataFrame):
        return {str(c) for c in obs.columns} | ({str(v) for v in obs["variable"].unique()} if "variable" in obs else set())
    if isinstance(obs, xr.Dataset):
        return {str(k) for k in obs.data_vars} | {v.attrs["standard_name"] for v in obs.data_vars.values()
                                                   if v.attrs.get("standard_name")}
    if isinstance(obs, xr.DataArray):
        return {str(obs.name)} if obs.name is not None else {"*"}
    return set()


def _provenance(out: xr.Dataset, bg: xr.Dataset, method, what, report, nfe_total, t_start) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.attrs = dict(bg.attrs)
    out.attrs.update(
        xda_method=method,
        xda_version=__version__,
        xda_nfe=nfe_total,
        xda_seconds=round(time.perf_counter() - t_start, 3),
        history=(bg.attrs.get("history", "") + f"\n{stamp} xda {__version__} assimilate: {what}; "
                 + "; ".join(f"{k}: {v['n_obs']} obs, {v['rejected']} rejected" for k, v in report.items())).strip(),
    )
