"""``downscale``: a coarse near-surface temperature field on a grid ``factor`` times finer."""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import xarray as xr

from .._version import __version__
from ..labeled import io, names
from ..labeled import units as xu
from ..labeled.grid import grid_of
from ..errors import DataError, GridError, ModelError, NotFoundError, ParameterError, UnitsError, check_choice, check_number
from ..models.cards import DEFAULT_DOWNSCALING_MODEL, DEFAULT_STEPS, require_kind
from ..numerics import memory, regrid
from ..numerics.lapse_rate import MODEL_RELIEF_SIGMA, RELIEF_SIGMA
from ..errors import XdaWarning
from . import lazy
from .downscale_verify import Coarse, Fine, anchor, verified
from ..assimilation.verify import weight_attrs

#: The learned methods (:data:`METHODS` holds them all).
LEARNED = ("xda", "regression")
#: Classical methods and their interpolation (scipy's RegularGridInterpolator method).
CLASSICAL = {"lapse_rate": "cubic", "bicubic": "cubic", "bilinear": "linear"}
MIN_CELLS = 4
#: The reliefs the lapse-rate correction can follow (``relief=``), as recorded in ``xda_relief``.
RELIEFS = {"full": "cell means", "model": f"a model's: cell means smoothed by a Gaussian of {MODEL_RELIEF_SIGMA} cells"}
#: Refinement of the learned methods when neither `factor` nor `like` is given.
DEFAULT_FACTOR = 4


def _pick(ds: xr.Dataset, standard_name: str, what: str, required: bool):
    """The variable of ``ds`` that is ``standard_name`` (:func:`xda.labeled.names.find`: attribute, else a
    known short name with the right units), or None."""
    hits = names.find(ds, standard_name)
    if len(hits) > 1:
        raise NotFoundError(f"several variables have standard_name {standard_name!r}: {hits}; pass `{what}=` to choose")
    if hits:
        return hits[0]
    if required:
        raise NotFoundError(
            f"cannot find the {standard_name} variable among {list(ds.data_vars)}; pass `variable='name'` or set "
            f"`attrs['standard_name'] = {standard_name!r}` on it"
        )
    return None


def _field(da: xr.DataArray, grid, target_units: str, name: str, extra: list[str], like: xr.DataArray | None = None) -> np.ndarray:
    """Values (B, ny, nx) in ``target_units``, latitudes ascending; checks grid and NaNs."""
    if like is not None:
        g = grid_of(da)
        if not g.same_as(grid):
            raise GridError(f"{name!r} is on a {g.shape} grid that differs from the temperature's {grid.shape} grid; "
                            "interpolate it first, e.g. `u.interp_like(tas)`")
        da = da.rename({g.lat_dim: grid.lat_dim, g.lon_dim: grid.lon_dim}) if (g.lat_dim, g.lon_dim) != (grid.lat_dim, grid.lon_dim) else da
        da = da.broadcast_like(like)
    values, _ = io.to_arrays(da.transpose(*extra, grid.lat_dim, grid.lon_dim), grid, target_units, name,
                             f"downscaling needs complete fields. Fill them (e.g. `.interpolate_na({grid.lon_dim!r})`) "
                             f"or crop to where {name!r} is defined")
    return values


@xu.pint_in_pint_out
def coarsen(fine: xr.DataArray | xr.Dataset, factor: int, *, lat: str | None = None, lon: str | None = None):
    """Area-weighted ``factor x factor`` block means of every field on the lat-lon grid.

    The coarsening operator of the downscaling model's training pairs
    (:func:`xda.numerics.regrid.coarsen`: mean of the fine cells weighted by
    cos(latitude), not subsampling); use it to build a coarse input from a fine field and
    score :func:`downscale` against the original.

    Parameters
    ----------
    fine : DataArray or Dataset
        Fields on a regular lat-lon grid whose sizes are multiples of ``factor``.
        Variables with neither horizontal dimension are kept; those with only one
        (e.g. ``lat_bnds``) are dropped.
    factor : int
        Cells per coarse cell along each axis, ``>= 1`` (1 returns a copy) and at most
        the grid's size.
    lat, lon : str, optional
        Coordinate names, when they cannot be found.

    Returns
    -------
    Same type as ``fine``; coarse centres are the block means of the fine centres; attrs
    kept.

    Raises
    ------
    ParameterError
        ``factor`` not an integer >= 1, or larger than the grid.
    GridError
        If the grid is not a multiple of ``factor``.
    """
    factor = check_number("factor", factor, minimum=1, integer=True, fix="e.g. factor=4 for 4 x 4 fine cells per coarse cell")
    grid = grid_of(fine, lat=lat, lon=lon)
    if factor > min(grid.shape):
        raise ParameterError(f"factor={factor} is larger than the {grid.shape[0]} x {grid.shape[1]} grid "
                             f"({grid.lat_dim} x {grid.lon_dim}); use a factor that divides both sizes")
    if factor == 1:
        return fine.copy()
    if grid.shape[0] % factor or grid.shape[1] % factor:
        raise GridError(f"the {grid.shape[0]} x {grid.shape[1]} grid is not a multiple of factor {factor}; "
                        f"crop it first, e.g. `.isel({grid.lat_dim}=slice(0, {grid.shape[0] // factor * factor}))`")
    lat_c, lon_c = regrid.coarse_coords(grid.lat, grid.lon, factor)

    def one(da: xr.DataArray) -> xr.DataArray:
        core = [grid.lat_dim, grid.lon_dim]
        values = da if da.dtype.kind == "f" else da.astype(np.float64)  # block means of integers are not integers
        out = xr.apply_ufunc(lambda a: regrid.coarsen(a, factor, grid.lat), values, input_core_dims=[core],
                             output_core_dims=[["_y", "_x"]], dask="parallelized",
                             dask_gufunc_kwargs={"output_sizes": {"_y": lat_c.size, "_x": lon_c.size}},
                             output_dtypes=[da.dtype if da.dtype.kind == "f" else np.float64])
        out = out.rename({"_y": grid.lat_dim, "_x": grid.lon_dim}).transpose(*da.dims)
        out.attrs = dict(da.attrs)
        return out

    coords = {grid.lat_dim: (grid.lat_dim, lat_c, dict(fine[grid.lat_dim].attrs)),
              grid.lon_dim: (grid.lon_dim, lon_c, dict(fine[grid.lon_dim].attrs))}
    if isinstance(fine, xr.DataArray):
        res = one(fine).assign_coords(coords)
    else:
        horiz = {grid.lat_dim, grid.lon_dim}
        fields = {n: one(v) for n, v in fine.data_vars.items() if horiz <= set(v.dims)}
        other = {n: v for n, v in fine.data_vars.items() if not horiz & set(v.dims)}
        res = xr.Dataset({**fields, **other}, attrs=dict(fine.attrs)).assign_coords(coords)
    keep = {c: fine[c] for c in fine.coords if grid.lat_dim not in fine[c].dims and grid.lon_dim not in fine[c].dims}
    return res.assign_coords(keep)


@xu.pint_in_pint_out
def downscale(
    coarse: xr.DataArray | xr.Dataset,
    factor: int | None = None,
    *,
    like: xr.DataArray | xr.Dataset | None = None,
    members: int = 1,
    seed: int | None = None,
    method: str = "xda",
    variable: str | None = None,
    u: str | xr.DataArray | None = None,
    v: str | xr.DataArray | None = None,
    winds: bool = True,
    orography: xr.DataArray | None = None,
    lapse_rate=None,
    relief: str = "auto",
    model: str = DEFAULT_DOWNSCALING_MODEL,
    steps: int = DEFAULT_STEPS["downscaling"],
    lat: str | None = None,
    lon: str | None = None,
    device=None,
) -> xr.DataArray | xr.Dataset:
    """Near-surface temperature on a grid ``factor`` times finer, conservatively.

    Parameters
    ----------
    coarse : DataArray or Dataset
        Temperature (``standard_name: air_temperature``, any temperature units), on a
        regular latitude-longitude grid, global or regional, with any extra dimensions
        (time, ...), which are processed as a batch; dask-backed, lazily, one task (one
        batch, verified on its own fields) per chunk (:mod:`xda.tasks.lazy`). A Dataset
        may also hold the near-surface winds (``eastward_wind`` / ``northward_wind``, or
        ``uas`` / ``vas``), which the model uses when present.
    factor : int, optional
        Refinement per direction; default 4, or with ``like`` the smallest that is at
        least as fine as the target. The ``"xda"`` and ``"regression"`` methods do the
        factors the model was trained for (card ``factors``: 2, 3, 4); the classical
        methods do any.
    like : DataArray or Dataset, optional
        A target grid (regular lat-lon, e.g. Gaussian or regional, inside the coarse
        domain): the result is computed on the grid ``factor`` times finer and
        interpolated bilinearly onto exactly these coordinates. Block means are then
        conserved only where the target's cells nest in the coarse ones (when the target
        *is* that grid, exactly).
    members : int
        Number of samples (``"xda"`` only); ``> 1`` adds a ``member`` dimension.
    seed : int, optional
        Seed of the sampler's noise, for reproducible members.
    method : {"xda", "regression", "lapse_rate", "bicubic", "bilinear"}
        ``"xda"``: the diffusion model's members (their ensemble mean is close to
        ``"regression"``); ``"regression"``: the learned mean departure from the
        lapse-rate baseline; ``"lapse_rate"``: conservative bicubic
        interpolation plus the lapse-rate correction of the fine orography
        (:func:`xda.numerics.lapse_rate.lapse_rate_downscale`); ``"bicubic"`` /
        ``"bilinear"``: conservative interpolation
        (:func:`xda.numerics.regrid.conservative_upsample`). Every method's output has
        block means equal to the input (area-weighted, to rounding).
    variable : str, optional
        The temperature variable of a Dataset, when it cannot be found.
    u, v : str or DataArray, optional
        Winds (names in ``coarse`` or DataArrays on its grid), overriding detection.
    winds : bool
        False ignores any winds (the model then runs in its "no winds" mode).
    orography : DataArray, optional
        Surface altitude on the *fine* grid (any length units), for the learned methods
        and ``"lapse_rate"``. Default: ETOPO20 averaged onto the fine grid
        (:func:`xda.static.surface_altitude`).
    lapse_rate : float, str or pint Quantity, optional
        For ``"lapse_rate"`` and the learned methods' anchor: a fixed lapse rate (a number in K/km, e.g. ``-6.5``, or
        with units, ``"-6.5 K/km"``); default: estimated from each coarse field
        (:func:`xda.numerics.lapse_rate.estimate_lapse_rate`), recorded in
        ``xda_lapse_rate``.
    relief : {"auto", "full", "model"}
        What the fine field's temperature follows, for the lapse-rate correction of
        ``"lapse_rate"`` and the learned methods' anchor: ``"full"``, the cell-mean relief
        (what observations and km-scale products see); ``"model"``, the relief a climate
        model resolves on the fine grid, the cell means smoothed at the grid scale
        (:func:`xda.numerics.lapse_rate.model_relief`, fitted in the training world).
        ``"auto"`` (default): the relief as given (``"full"``) when you pass
        ``orography=``; with a fine-tuned model, the one its card found your fields follow
        (:func:`xda.training.downscaling_finetune.fit_relief`); else the model's, the smaller
        risk when the fine truth is unknown: on every real field of the benchmarks
        (climate-model fields and an analysis) it cuts the lapse-rate method's error by
        up to a third at x2 (2-11 % at x4); where the truth follows the full relief it
        costs -2 to +2 % at x2 but 6-23 % at x4 (``benchmarks/results/relief.md``).
        Recorded in ``xda_relief``.
    model : str
        Model name (:func:`xda.models.registry.available_models`).
    steps : int
        Heun steps of the sampler (``2 * steps - 1`` denoiser evaluations per member);
        default 6 (:data:`xda.models.cards.DEFAULT_STEPS`): the members are recentred on
        the estimate, and on real cases their CRPS and spread-skill at 6 steps equal those
        at 16 to 1.5 % (``benchmarks/results/steps.md``).
    lat, lon : str, optional
        Coordinate names, when cf-xarray cannot find them.
    device : str, optional
        ``"cuda"`` or ``"cpu"``; default CUDA when available.

    Returns
    -------
    DataArray or Dataset (like ``coarse``; a Dataset holds only the temperature)
        Shape ``(..., factor * ny, factor * nx)`` (plus ``member`` first when
        ``members > 1``), in the input's units and dimension names. Fine cell centres
        split each coarse cell (bounds half-way between centres) into ``factor`` equal
        parts (:func:`xda.numerics.regrid.fine_coords`). Provenance in ``attrs``
        (``xda_method``, ``xda_model``, ``xda_factor``, ``xda_winds``,
        ``xda_orography``, ``xda_lapse_rate``, ``history``).

    Raises
    ------
    ModelError
        A factor the model was not trained for; an unknown model; ``device="cuda"``
        without a GPU.
    GridError
        Fewer than 4 coarse cells along an axis; winds or orography on another grid; a
        ``like`` grid coarser than the input or outside its domain.
    UnitsError
        Temperature, winds, orography or lapse rate without (or with wrong) units.
    ValueError
        NaNs in the inputs; only one wind component; an unknown method.

    Warns
    -----
    UserWarning
        A fine grid outside the spacings the model was trained on (card
        ``fine_spacing_deg``, widened by :data:`SPACING_SLACK` each way).

    Notes
    -----
    The learned model is anchored on the lapse-rate baseline: it predicts the fine
    field's departure from it, from the baseline, the orography's and the ETOPO land
    fraction's fine structure and the coarse winds (see :mod:`xda.models.downscaling`),
    and its output is projected onto the conservative fields
    (:func:`xda.numerics.regrid.conserve`); a network that learned nothing returns the
    baseline. It was trained on Held-Suarez simulations with ETOPO20 orography and a
    seasonal land-sea contrast, 2-m temperature, fine grids of 1.9 and 3.75 deg,
    factors 2-4, regional crops and whole globes. Lapse-rate downscaling after Dodson &
    Marks (1997); the learned method after the PDE-informed downscaling of 2-m
    temperature (arXiv 2510.23866) with explicit winds, EDM (Karras et al. 2022) and
    the residual target of CorrDiff (Mardani et al. 2025).
    """
    if lazy.is_lazy(coarse):  # one task per chunk, each its own call
        return _lazily(coarse, {k: v for k, v in locals().items() if k != "coarse"})
    t_start = time.perf_counter()
    _validate(method, members, steps, seed, factor)
    check_choice("relief", relief, ("auto", *RELIEFS))
    for key, value in (("lapse_rate", lapse_rate), ("orography", orography),
                       ("relief", None if relief in ("auto", "full") else relief)):
        if value is not None and method in ("bicubic", "bilinear"):
            warnings.warn(f"{key}= is not used by method={method!r} (plain interpolation); use method='lapse_rate' or "
                          "the default for a height correction", XdaWarning, stacklevel=2)
    ds, tname, was_da = _temperature(coarse, variable)
    if members > 1 and "member" in ds[tname].dims:
        raise GridError(f"{tname!r} already has a 'member' dimension (size {ds[tname].sizes['member']}), where the "
                        "samples would go: with members=1 its members are downscaled as a batch; or rename it, e.g. "
                        "`.rename(member='realization')`")
    tas = ds[tname]
    grid = grid_of(tas, lat=lat, lon=lon)
    target = grid_of(like) if like is not None else None
    if target is not None and factor is None:
        factor = _factor_for(grid, target)
    net, card, factor = _load(method, model, factor, device, capped=target is not None, name=tname)
    if min(grid.shape) < MIN_CELLS:
        raise GridError(f"{tname!r} has {grid.shape[0]} x {grid.shape[1]} cells; downscaling needs at least "
                        f"{MIN_CELLS} x {MIN_CELLS} coarse cells")
    grid.without_cyclic_point(f"downscaling {tname!r}")
    extra = [d for d in tas.dims if d not in (grid.lat_dim, grid.lon_dim)]
    _require_memory(tas, grid, factor, members, extra)
    t_c = _field(tas, grid, "K", tname, extra)
    lat_c = np.sort(grid.lat)
    lat_f, lon_f = regrid.fine_coords(lat_c, grid.lon, factor, grid.periodic)
    orog_f, orog_src = (_orography(orography, lat_f, lon_f, tname) if method not in ("bicubic", "bilinear")
                        else (None, "not used"))
    info = dict(xda_factor=factor, xda_orography=orog_src, xda_winds="not used", xda_nfe=0)
    relief, why = _relief(relief, orography, card, method, model)
    if orog_f is not None:
        info["xda_relief"] = RELIEFS[relief] + why
    learned = method in LEARNED
    u_c, v_c = _winds(ds, tas, grid, extra, u, v, was_da) if learned and winds else (None, None)
    c = Coarse(t_c, lat_c, grid.lon, grid.periodic, u_c, v_c)
    f = Fine(lat_f, lon_f, orog_f, _land(lat_f, lon_f) if learned else None, factor, RELIEF_SIGMA[relief])
    solve = Solve(method, net, card, (model, tname), Sampling(int(members), steps, seed), _lapse_rate(lapse_rate),
                  None if lapse_rate is None else str(lapse_rate))
    fine, se, more = METHODS[method](solve, c, f)
    info.update(more)
    lat_c_f, lon_c_f = lat_f, lon_f
    if target is not None:
        fine, lat_f, lon_f = _onto(fine, lat_c_f, lon_c_f, target, grid, tname)
        se = None if se is None else _onto(se[None], lat_c_f, lon_c_f, target, grid, tname)[0][0]
    elif grid.lat[0] > grid.lat[-1]:
        fine, lat_f = fine[..., ::-1, :], lat_f[::-1]
        se = None if se is None else se[..., ::-1, :]
    out = _write_back(_in_units(fine, tas, tname), tas, tname, grid, extra, lat_f, lon_f, members)
    what = (f"model {model!r}, members={members}, steps={steps}, seed={seed}" if method == "xda"
            else f"model {model!r} regression" if method == "regression" else f"conservative {method}")
    _provenance(out, tas, method, info, what, t_start)
    se_da = None if se is None else _standard_error(se, out, tas, tname, (grid, extra, lat_f, lon_f))
    if was_da:
        return out if se_da is None else out.assign_coords({se_da.name: se_da})
    res = xr.Dataset({tname: out} if se_da is None else {tname: out, se_da.name: se_da}, attrs=dict(ds.attrs))
    res.attrs["history"] = out.attrs["history"]
    return res


def _lazily(coarse, options: dict):
    """:func:`downscale` of a dask-backed ``coarse``, one task per chunk along its first chunked non-spatial
    dimension (:func:`xda.tasks.lazy.blockwise`; each block verified on its own fields, its members seeded by
    ``(seed, its first index)``); a single field is computed."""
    g = grid_of(coarse, lat=options["lat"], lon=options["lon"])
    dim = lazy.chunk_dim(coarse, (g.lat_dim, g.lon_dim))
    seed = options.pop("seed")
    if dim is None:
        return downscale(coarse.compute(), seed=seed, **options)
    return lazy.blockwise(coarse, dim, lambda block, lo: downscale(block, seed=lazy.block_seed(seed, lo), **options),
                          lambda lo, hi: (lo,))


def _temperature(coarse, variable) -> tuple[xr.Dataset, str, bool]:
    """(Dataset, name of the temperature variable, whether the input was a DataArray)."""
    was_da = isinstance(coarse, xr.DataArray)
    ds = (coarse.rename(coarse.name or "tas").to_dataset()) if was_da else coarse
    tname = (coarse.name or "tas") if was_da else (variable or _pick(ds, "air_temperature", "variable", True))
    if tname not in ds:
        raise NotFoundError(f"variable {tname!r} is not in {list(ds.data_vars)}")
    return ds, tname, was_da


def _require_memory(tas: xr.DataArray, grid, factor: int, members: int, extra: list) -> None:
    """Refuse, before allocating, a fine grid that cannot fit (about 8 float64 fields per fine point and member)."""
    ny, nx = grid.shape[0] * factor, grid.shape[1] * factor
    n = float(ny) * nx * max(int(members), 1) * float(np.prod([tas.sizes[d] for d in extra]))
    memory.require(64.0 * n, f"downscaling {tas.name!r} by factor={factor} to {ny} x {nx} points",
                   "pass a smaller factor= (or a coarser like= grid), or downscale a sub-region")


def _relief(relief: str, orography, card, method: str, model: str) -> tuple[str, str]:
    """``relief`` with ``"auto"`` resolved, and why: the relief as given (``"full"``) with ``orography=``; else
    the one a fine-tuned model's card found its user's fields follow (``relief``; also for ``"lapse_rate"`` with
    that ``model=``, so that it is the same anchor); else a model's."""
    if relief != "auto":
        return relief, ""
    if orography is not None:
        return "full", " (relief='auto': orography= given, followed as given)"
    if card is None and method == "lapse_rate" and model != DEFAULT_DOWNSCALING_MODEL:
        from ..models.cards import load_card

        card = load_card(model)
    if card is not None and "relief" in card:
        return card["relief"], f" (relief='auto': what model {model!r}'s fine-tuning fields follow)"
    return "model", " (relief='auto': no orography= given)"


def _lapse_rate(value) -> float | None:
    """A lapse rate dT/dz given as a number (K/km), a string with units or a pint Quantity -> K m-1.

    A temperature per length is a difference per length: ``'-6.5 degC/km'`` is -6.5 K/km.
    A positive value (the textbook sign convention, -dT/dz) is kept with an XdaWarning.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"lapse_rate={value!r} is not a lapse rate; pass dT/dz in K/km, e.g. lapse_rate=-6.5")
    try:
        q = xu.to_quantity(value, "K/m", name="lapse_rate", difference=True, number_units="K/km")
    except UnitsError as e:
        raise UnitsError(f"lapse_rate={value!r} is not a temperature per length (e.g. -6.5 or '-6.5 K/km'): {e}") from None
    if not np.isfinite(q) or abs(q) > 0.05:
        raise ParameterError(f"lapse_rate={value!r} is not a plausible lapse rate (|gamma| <= 50 K/km); numbers are in K/km")
    if q > 0:
        warnings.warn(f"lapse_rate={value!r} is positive: temperature will increase with height (an inversion). "
                      "xda's lapse rate is dT/dz, negative in the usual atmosphere (e.g. -6.5 K/km); if you meant the "
                      "textbook -dT/dz, pass lapse_rate=-6.5", XdaWarning, stacklevel=3)
    return q


# ----------------------------------------------------------------------------- stages


#: Most members of one call; more: several calls with other seeds, concatenated along ``member``.
MAX_MEMBERS = 1000


def _validate(method: str, members, steps, seed, factor) -> None:
    """Refuse parameters outside their domain (:class:`ParameterError` naming the value and the fix)."""
    check_choice("method", method, tuple(METHODS))
    check_number("members", members, minimum=1, maximum=MAX_MEMBERS, integer=True,
                 fix="for more than 1000 members call again with other seeds and concatenate along 'member'")
    check_number("steps", steps, minimum=1, integer=True, fix="6 is the default (11 denoiser evaluations per member)")
    if seed is not None:
        check_number("seed", seed, minimum=0, maximum=2**63 - 1, integer=True, fix="an integer >= 0, or None for fresh entropy")
    if factor is not None:
        check_number("factor", factor, minimum=2, integer=True, fix="the refinement per direction, e.g. 4")
    if method != "xda" and members != 1:
        raise ParameterError(f"method={method!r} is deterministic: use members=1 (members need method='xda')")


def _load(method: str, model: str, factor, device, capped: bool = False, name: str = "tas"):
    """(network, card, factor): the learned model fixes the factor; interpolation needs one (no torch).

    ``capped`` (a ``like=`` target finer than the model's largest factor reaches): that factor, then
    interpolation onto the target, with a warning.
    """
    net = card = None
    if method in ("xda", "regression"):
        from ..models.registry import load_model

        net, card = load_model(model, device=device)
        require_kind(card, "downscaling", model)
        factor = DEFAULT_FACTOR if factor is None else factor
        if capped and int(factor) > max(card["factors"]):
            warnings.warn(XdaWarning(
                f"the target grid is {factor}x finer than {name!r}; model {model!r} does factors {card['factors']}: "
                f"computed at x{max(card['factors'])} and interpolated onto the target; for more detail downscale twice "
                "(e.g. x4, then the result x2) or use method='lapse_rate' (any factor)"), stacklevel=4)
            factor = max(card["factors"])
        if int(factor) not in card["factors"]:
            raise ModelError(
                f"model {model!r} was trained for factors {card['factors']}, not {factor}; use one of them (twice for "
                f"a larger one, e.g. 4 then 2 for 8), or method='lapse_rate' for any factor")
    elif factor is None:
        raise ParameterError(f"method={method!r} needs a factor, e.g. `factor=4` (or a target grid `like=`)")
    return net, card, int(factor)


#: Slack on the model's trained fine spacings (card ``fine_spacing_deg``) within which a fine grid counts as
#: trained for: a grid's rounding, no more. The check one level up runs on a grid twice as coarse, so it cannot
#: vouch for a target spacing the model never saw: the blizzard's 1.25-degree rows (a third finer than trained)
#: verified a slope of 1.26 +- 0.11 one level up and lost 3 % to the anchor at the target (it was 1.5).
SPACING_SLACK = 1.1


def _check_spacing(card: dict, lat_f, lon_f, model: str, name: str, method: str) -> bool:
    """Whether the fine grid's spacing is inside one of the model's trained ranges (card ``fine_spacing_deg``, and a
    fine-tuned model's ``finetune.fine_spacing_deg``; widened by :data:`SPACING_SLACK` each way); if not, warn: the
    default answers with the lapse-rate method, ``method="regression"`` extrapolates."""
    tuned = card.get("finetune", {}).get("fine_spacing_deg")
    ranges = [card["fine_spacing_deg"]] + ([tuned] if tuned else [])
    d = [float(np.median(np.abs(np.diff(a)))) for a in (lat_f, lon_f) if a.size > 1]
    if not d or any(min(d) >= lo / SPACING_SLACK and max(d) <= hi * SPACING_SLACK for lo, hi in ranges):
        return True
    what = ("the answer is the lapse-rate method (xda_correction_weight = 0)" if method == "xda" else
            "its departure from the lapse-rate baseline is an extrapolation; compare with method='lapse_rate'")
    trained = " and ".join(f"{lo:.3g}-{hi:.3g}" for lo, hi in ranges)
    warnings.warn(XdaWarning(f"the fine grid of {name!r} ({min(d):.3g}-{max(d):.3g} deg) is outside the spacings model "
                             f"{model!r} was trained on ({trained} deg): {what}"), stacklevel=4)
    return False


class Sampling(NamedTuple):
    """How many members, with how many sampler steps, from which seed."""

    members: int
    steps: int
    seed: int | None


def _land(lat_f, lon_f) -> np.ndarray:
    from ..labeled.static import land_area_fraction

    return land_area_fraction(lat_f, lon_f)


class Solve(NamedTuple):
    """A downscaling call's settings, for its method (:data:`METHODS`)."""

    method: str
    net: object  #: the network (None for the classical methods)
    card: dict | None
    labels: tuple  #: (model name, variable name)
    sampling: Sampling
    gamma: float | None  #: the lapse rate given (K m-1), or None: estimated
    given: str | None  #: the lapse rate as the caller wrote it (for the provenance)


def _by_learning(req: Solve, c: Coarse, f: Fine):
    """``"xda"`` and ``"regression"``: :func:`_learned`."""
    return _learned((c, f), req)


def _by_lapse_rate(req: Solve, c: Coarse, f: Fine):
    """``"lapse_rate"``: conservative bicubic plus the lapse-rate correction of the fine relief."""
    fine, gamma = anchor(c, f, req.gamma)
    note = (f"{req.given} (given)" if req.given is not None else
            f"estimated {np.round(gamma * 1e3, 2).ravel().tolist()} K/km")
    return fine[None], None, {"xda_lapse_rate": note}


def _by_interpolation(req: Solve, c: Coarse, f: Fine):
    """``"bicubic"`` and ``"bilinear"``: conservative interpolation."""
    fine = regrid.conservative_upsample(c.t, c.lat, c.lon, f.lat, f.lon, f.factor, CLASSICAL[req.method], c.periodic)
    return fine[None], None, {}


#: The downscaling methods, one protocol: ``solve(request, coarse, fine)`` -> (fields (members, B, fy, fx) in K,
#: standard error (B, fy, fx) or None, attrs). A new method is a function and a line here.
METHODS = {"xda": _by_learning, "regression": _by_learning, "lapse_rate": _by_lapse_rate,
           "bicubic": _by_interpolation, "bilinear": _by_interpolation}


def _learned(problem, req: Solve):
    """``"xda"`` (the verified estimate, :func:`_verified`) or ``"regression"``: (fine (members, B, fy, fx),
    standard error or None, attrs)."""
    (model, name), gamma, method, net, card = req.labels, req.gamma, req.method, req.net, req.card
    if method == "xda":
        fine, gamma, se, info = _verified(problem, net, card, req.labels, req.sampling, gamma)
    else:
        from ..models.downscaling import downscale_arrays

        c, f = problem
        _check_spacing(card, f.lat, f.lon, model, name, method)
        se, info = None, {}
        fine, gamma, info["xda_nfe"] = downscale_arrays(c.t, c.lat, c.lon, f.lat, f.lon, f.orog, f.land, c.periodic,
                                                        model=net, card=card, u_c=c.u, v_c=c.v, method=method, gamma=gamma)
    info.update(xda_model=model, xda_winds="used" if problem[0].u is not None else "not used",
                xda_lapse_rate=(f"{req.given} (given; the anchor)" if req.given is not None else
                                f"estimated {np.round(gamma * 1e3, 2).ravel().tolist()} K/km (the anchor)"))
    return fine, se, info


def _verified(problem, net, card, labels, sampling: Sampling, gamma):
    """The default: the anchor plus the learned departure weighted by its skill one level up
    (:mod:`xda.tasks.downscale_verify`); members spread about that estimate.

    Returns (fine (members, B, fy, fx), gamma (B,), standard error (B, fy, fx), attrs).
    """
    (c, f), (model, name), (members, steps, seed) = problem, labels, sampling
    in_range = _check_spacing(card, f.lat, f.lon, model, name, "xda")
    learned = verified(c, f, net, card, in_range, gamma)
    w = learned.weight
    info = dict(weight_attrs(w), xda_nfe=0)
    fine = learned.estimate[None]
    if members > 1 and in_range:
        from ..models.downscaling import downscale_arrays

        samples, _, info["xda_nfe"] = downscale_arrays(c.t, c.lat, c.lon, f.lat, f.lon, f.orog, f.land, c.periodic,
                                                       model=net, card=card, u_c=c.u, v_c=c.v, method="xda",
                                                       members=members, steps=steps, seed=seed, gamma=learned.gamma)
        # centred on the model's own estimate (raw draws with a mean head, recentred without): moved with it
        fine = learned.estimate[None] + (samples - learned.regression[None])
        if net.mean_head is not None:
            info[names.MEMBERS_ATTR] = names.MEMBERS_SHIFTED_NOTE
        else:
            info[names.RECENTRED_ATTR] = names.RECENTRED_NOTE
    elif members > 1:  # outside the model's range: independent draws from the anchor's verified error, point by point
        z = np.random.default_rng(seed).standard_normal((members, *learned.estimate.shape))
        fine = learned.estimate[None] + np.nan_to_num(learned.standard_error)[None] * z
        if not np.isfinite(learned.standard_error).any():
            warnings.warn(XdaWarning(
                f"{members} members of {name!r} are identical: the grid is outside model {model!r}'s range and too "
                f"small ({c.lat.size} x {c.lon.size} coarse cells) to verify an error one level up, so there is no "
                "spread to draw from; the estimate is the lapse-rate method without an error estimate (pass a larger "
                "domain for members)"), stacklevel=5)
    return fine, learned.gamma, learned.standard_error, info


def _winds(ds, tas, grid, extra, u, v, was_da):
    """Coarse winds (B, ny, nx) in m s-1 from ``u=``/``v=`` or the Dataset, or (None, None)."""
    un = u if u is not None else (None if was_da else _pick(ds, "eastward_wind", "u", False))
    vn = v if v is not None else (None if was_da else _pick(ds, "northward_wind", "v", False))
    if (un is None) != (vn is None):
        label = lambda w: w if w is None or isinstance(w, str) else f"<DataArray {w.name!r}>"  # noqa: E731
        raise NotFoundError(f"only one wind component found (u={label(un)!r}, v={label(vn)!r}); pass both `u=` and `v=`, "
                            "or winds=False")
    if un is None:
        return None, None
    uda = ds[un] if isinstance(un, str) else un
    vda = ds[vn] if isinstance(vn, str) else vn
    return (_field(uda, grid, "m s-1", str(uda.name or "u"), extra, like=tas),
            _field(vda, grid, "m s-1", str(vda.name or "v"), extra, like=tas))


def _orography(orography, lat_f, lon_f, name: str = "tas"):
    """Fine surface altitude (m, latitudes ascending) and where it came from."""
    if orography is None:
        from ..labeled.static import RELIEF_SPACING, relief_for, surface_altitude

        relief = relief_for(lat_f, lon_f)
        d = float(np.median(np.abs(np.diff(lon_f)))) if lon_f.size > 1 else RELIEF_SPACING[relief]
        if d < 0.75 * RELIEF_SPACING[relief]:
            warnings.warn(XdaWarning(
                f"the fine grid of {name!r} ({d:.3g} deg) is finer than the relief xda has ({relief.upper()}, "
                f"{RELIEF_SPACING[relief]:.3g} deg): its orography is interpolated and has none of the finer relief, "
                "which is most of what the lapse-rate correction adds there; pass `orography=` (the surface altitude "
                "on the fine grid, e.g. a DEM averaged onto its cells)"
                + ("" if relief == "etopo5" else ", or install ETOPO5 (`apt-get install ferret-datasets`, or "
                   "XDA_ETOPO5=/path/to/etopo5.cdf)")), stacklevel=4)
        return surface_altitude(lat_f, lon_f), f"{relief.upper()} cell means (xda.static.surface_altitude)"
    og = grid_of(orography)
    if og.shape != (lat_f.size, lon_f.size):
        raise GridError(f"orography is {og.shape[0]} x {og.shape[1]}; it must be on the fine grid "
                        f"({lat_f.size} x {lon_f.size}), e.g. `xda.static.orography_like(...)`")
    oname = str(orography.name or "orography")
    orog_f = xu.magnitude(orography.transpose(og.lat_dim, og.lon_dim), "m", name=oname)
    if not np.isfinite(orog_f).all():
        raise DataError(f"orography {oname!r} has {int((~np.isfinite(orog_f)).sum())} missing (NaN) of {orog_f.size} "
                        "values; if they are sea points, pass `orography=orography.fillna(0)`; otherwise fill them "
                        "from another elevation model")
    return (orog_f[::-1] if og.lat[0] > og.lat[-1] else orog_f), "given"


def _factor_for(grid, target) -> int:
    """The smallest integer refinement of ``grid`` at least as fine as ``target`` (both regular lat-lon)."""
    d_c = abs(float(grid.lon[1] - grid.lon[0]))
    d_t = abs(float(target.lon[1] - target.lon[0]))
    ratio = d_c / d_t
    if ratio < 1.0 - 1e-6:
        raise GridError(f"the target grid ({d_t:.3g} deg) is coarser than the input ({d_c:.3g} deg): that is not "
                        "downscaling; use xda.coarsen (block means) or a conservative regridder such as xesmf")
    return max(2, int(np.ceil(ratio - 1e-6)))


def _onto(fine, lat_f, lon_f, target, grid, name: str):
    """Fine fields (members, B, fy, fx; ascending latitudes) onto the ``target`` grid: conservatively where its
    cells are no finer (their cell means kept: ``like=`` the input returns the input), bilinearly where finer."""
    if target.lat.size == lat_f.size and target.lon.size == lon_f.size and np.allclose(
            np.sort(target.lat), lat_f, atol=1e-6) and np.allclose(target.lon, lon_f, atol=1e-6):
        return (fine[..., ::-1, :] if target.lat[0] > target.lat[-1] else fine), target.lat, target.lon
    edges_lat = regrid.cell_bounds(lat_f, -90.0, 90.0)
    if grid.periodic:  # a global input covers the poles, whatever its outermost rows
        edges_lat = np.array([-90.0, 90.0])
    lat_ok = edges_lat[0] - 1e-6 <= np.min(target.lat) and np.max(target.lat) <= edges_lat[-1] + 1e-6
    lon_ok = grid.periodic or (lon_f[0] - 1e-6 <= target.lon[0] and target.lon[-1] <= lon_f[-1] + 1e-6)
    if not (lat_ok and lon_ok):
        raise GridError(
            f"the target grid (lat {np.min(target.lat):.2f}..{np.max(target.lat):.2f}, lon {target.lon[0]:.2f}.."
            f"{target.lon[-1]:.2f}) reaches outside {name!r}'s domain (lat {edges_lat[0]:.2f}..{edges_lat[-1]:.2f}, "
            f"lon {lon_f[0]:.2f}..{lon_f[-1]:.2f}); crop it, or use the same longitude convention (0..360 or -180..180)")
    if _spacing(target.lon) >= _spacing(lon_f) * (1 - 1e-6) and _spacing(target.lat) >= _spacing(lat_f) * (1 - 1e-6):
        out = regrid.conservative_remap(fine, lat_f, lon_f, target.lat, target.lon, grid.periodic)  # cell means kept
    else:
        out = regrid.resample(fine, lat_f, lon_f, target.lat, target.lon, grid.periodic)
    return out, target.lat, target.lon


def _spacing(c: np.ndarray) -> float:
    """Median spacing of 1-D coordinates (degrees); infinite for a single point."""
    return float(np.median(np.abs(np.diff(c)))) if np.size(c) > 1 else np.inf


def _in_units(fine, tas, tname: str, difference: bool = False) -> np.ndarray:
    """Fields in K -> the input's units and float dtype (``difference``: an error std, scaled without the offset)."""
    a, b = xu.scale_and_offset(xu.parse_units("K"), xu.units_of(tas, name=tname))
    return (fine * a + (0.0 if difference else b)).astype(tas.dtype if tas.dtype.kind == "f" else np.float64)


def _write_back(fine, tas, tname, grid, extra, lat_f, lon_f, members) -> xr.DataArray:
    """Fine fields (members, B, fy, fx) in the caller's units and the output's latitude order -> its dims."""
    shape_extra = [tas.sizes[d] for d in extra]
    coords = {d: tas[d] for d in extra if d in tas.coords}
    coords.update({c: v for c, v in tas.coords.items() if set(v.dims) <= set(extra)})  # scalar ones (a valid time) too
    coords[grid.lat_dim] = (grid.lat_dim, lat_f, dict(tas[grid.lat_dim].attrs) if grid.lat_dim in tas.coords else {})
    coords[grid.lon_dim] = (grid.lon_dim, lon_f, dict(tas[grid.lon_dim].attrs) if grid.lon_dim in tas.coords else {})
    dims = (*extra, grid.lat_dim, grid.lon_dim)
    if members > 1:
        out = xr.DataArray(fine.reshape(members, *shape_extra, lat_f.size, lon_f.size), dims=("member", *dims),
                           coords={**coords, "member": np.arange(members)})
    else:
        out = xr.DataArray(fine.reshape(*shape_extra, lat_f.size, lon_f.size), dims=dims, coords=coords)
    out = out.transpose(*(("member",) if members > 1 else ()), *tas.dims)
    out.name = tname
    return out


def _standard_error(se, out: xr.DataArray, tas, tname: str, where) -> xr.DataArray:
    """The estimate's standard error (B, fy, fx, K) as the CF ancillary variable ``<tname>_standard_error``."""
    grid, extra, lat_f, lon_f = where
    da = _write_back(_in_units(se[None], tas, tname, difference=True), tas, tname, grid, extra, lat_f, lon_f, 1)
    da.name = f"{tname}_standard_error"
    da.attrs = {"units": out.attrs.get("units", "K"),
                "long_name": f"standard error of {tname}: rms error of the same method one level up (the input's block "
                             "means downscaled back onto the input, 3 x 3 cells), extrapolated to this level and scaled "
                             "as calibrated in the training world"}
    if out.attrs.get("standard_name"):
        da.attrs["standard_name"] = f"{out.attrs['standard_name']} standard_error"
    out.attrs["ancillary_variables"] = da.name
    return da


def _provenance(out, tas, method, info: dict, what, t_start) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.attrs = dict(tas.attrs)
    out.attrs.update(xda_method=method, **info, xda_seconds=round(time.perf_counter() - t_start, 3),
                     xda_version=__version__,
                     history=(tas.attrs.get("history", "") + f"\n{stamp} xda {__version__} downscale x{info['xda_factor']}: "
                              f"{what}").strip())
