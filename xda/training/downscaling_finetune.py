"""Fine-tuning the downscaling model on a user's own fine fields (coarsened internally), verified on held-out times.

    ft = xda.train(fine_tas, task="downscaling", init="hs-t63-ds-v1", minutes=5)   # fine_tas: (time, lat, lon)
    fine = coarse.phyda.downscale(4, model=ft.stem)

The fields are split by time: the last ``holdout`` fraction is never trained on. Training
examples are built as in :mod:`xda.training.downscaling` (random factors 2-4, regional crops
that never wrap across a regional grid's edges, whole globes only on a global grid, the same
:func:`~xda.models.downscaling.features` as inference) from the user's fields, and the
regression stage of ``init`` is trained further (the denoiser and the normalisation are
kept; the spread of the regression's error is re-estimated; a mean head, which distils the
sampler about ``init``'s regression, is dropped, and the members are recentred on the
fine-tuned regression). On the held-out times each
factor is scored by the lapse-rate method, ``init``'s regression and the fine-tuned one
(coarsened by block means and downscaled back); the card records the data, the settings and
these RMSEs, and the default call verifies the weight on the user's input as ever. The relief the
user's fields follow (the cell means, or smoothed as a model's) is chosen on the training times
by the lapse-rate method's error (:func:`fit_relief`); the card records it and the fine-tuned
model's anchor follows it under ``relief="auto"``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from ..errors import DataError, GridError
from ..labeled import units as xu
from ..labeled.grid import grid_of
from ..models.cards import DEFAULT_DOWNSCALING_MODEL, require_kind, output_dir
from ..models.registry import load_model, save_model
from ..numerics import regrid
from .downscaling import CROPS, FACTORS, Examples, _Stages
from .loop import device_for


class _UserExamples(Examples):
    """:class:`Examples` of one user grid: crops never wrap across a regional grid's edges."""

    def __init__(self, level: dict, seed: int, wind_dropout: float):
        super().__init__([level], seed, wind_dropout)
        self.global_grid = level["level"] == 1

    def _domain(self, ny: int, nx: int, f: int, periodic: bool):
        if periodic or self.global_grid:
            return super()._domain(ny, nx, f, periodic)
        h, w = CROPS[self.rng.integers(len(CROPS))]
        h, w = min(h, ny - ny % f), min(w, nx - nx % f)
        r0, c0 = self.rng.integers(ny - h + 1), self.rng.integers(nx - w + 1)
        return np.arange(r0, r0 + h), np.arange(c0, c0 + w)


def _level(fields: xr.Dataset, times) -> dict:
    """The fine truth of ``times`` as a level dict of :mod:`xda.training.downscaling` (latitudes ascending)."""
    from ..labeled.static import land_area_fraction, surface_altitude

    g = grid_of(fields["tas"])
    order = np.argsort(g.lat)
    arr = lambda v, u: xu.magnitude(fields[v].isel(time=times).transpose("time", g.lat_dim, g.lon_dim),  # noqa: E731
                                    u, name=v)[:, order].astype(np.float32)
    tas = arr("tas", "K")
    winds = "uas" in fields and "vas" in fields
    lat, lon = g.lat[order], g.lon
    return dict(tas=tas, uas=arr("uas", "m s-1") if winds else np.zeros_like(tas),
                vas=arr("vas", "m s-1") if winds else np.zeros_like(tas), lat=lat, lon=lon,
                orog=surface_altitude(lat, lon), land=land_area_fraction(lat, lon), level=1 if g.periodic else 0,
                winds=winds)


class _Coarse(NamedTuple):
    """Coarse fields (B, ny, nx) and their grid, of one factor."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    periodic: bool
    u: np.ndarray | None
    v: np.ndarray | None


def _problems(level: dict):
    """Per factor that fits ``level``'s grid: (factor, :class:`_Coarse` fields with their winds, fine grid
    (lat, lon, orography, land), truth (B, fy, fx) K, cell-area weights (fy, fx)), coarsened by block means."""
    periodic = level["level"] == 1
    for f in FACTORS:
        ny, nx = (level["lat"].size // f) * f, (level["lon"].size // f) * f
        if ny < 4 * f or nx < 4 * f:
            continue
        lat, lon, tas = level["lat"][:ny], level["lon"][:nx], level["tas"][:, :ny, :nx].astype(np.float64)
        uv = [regrid.coarsen(level[k][:, :ny, :nx].astype(np.float64), f, lat) for k in ("uas", "vas")] \
            if level["winds"] else [None, None]
        c = _Coarse(regrid.coarsen(tas, f, lat), *regrid.coarse_coords(lat, lon, f), periodic and nx == level["lon"].size,
                   *uv)
        yield f, c, (lat, lon, level["orog"][:ny, :nx], level["land"][:ny, :nx]), tas, \
            np.cos(np.deg2rad(lat))[:, None] * np.ones(nx)


def _rmse(a: np.ndarray, tas: np.ndarray, w: np.ndarray) -> float:
    return float(np.sqrt(np.sum(w * (a - tas) ** 2) / (w.sum() * tas.shape[0])))


def _lapse_rate(f: int, c, fine, relief: str) -> np.ndarray:
    """The lapse-rate method on one problem of :func:`_problems` (factor ``f``), following ``relief`` ("full" or
    "model")."""
    from ..numerics.lapse_rate import RELIEF_SIGMA, lapse_rate_downscale, model_relief

    lat, lon, orog, _ = fine
    z = model_relief(orog, c.periodic, RELIEF_SIGMA[relief])
    return lapse_rate_downscale(c.t, z, c.lat, c.lon, lat, lon, f, c.periodic)[0]


def _spacing(level: dict) -> list:
    """[least, largest] median grid spacing (degrees) of ``level``'s latitudes and longitudes: the fine spacing
    the fine-tuned model was trained on, which the default then counts as in its range."""
    d = [float(np.median(np.abs(np.diff(level[k])))) for k in ("lat", "lon")]
    return [round(min(d), 4), round(max(d), 4)]


def fit_relief(level: dict) -> tuple[str, dict]:
    """The relief the user's fine fields follow: ``"full"`` (the cell means) or ``"model"``, whichever gives the
    lapse-rate method the smaller squared error over the factors, and those RMSEs (K) per relief. Fitted on the
    training times only; recorded in the card (``relief``), where ``relief="auto"`` finds it."""
    sq, n = {"full": 0.0, "model": 0.0}, 0
    for f, c, fine, tas, w in _problems(level):
        n += 1
        for relief in sq:
            sq[relief] += _rmse(_lapse_rate(f, c, fine, relief), tas, w) ** 2
    rmse = {k: round(float(np.sqrt(v / max(n, 1))), 4) for k, v in sq.items()}
    return min(sq, key=sq.get), rmse


def _scores(net, card, level: dict, relief: str) -> dict:
    """RMSE (K) of the lapse-rate method (following ``relief``) and the regression on ``level``'s fields, per
    factor (block means back), and the weight of the regression's departure from that method there
    (:func:`~xda.assimilation.verify.correction_weight`, coarse blocks as clusters; None where unverified)."""
    from ..assimilation.verify import correction_weight
    from ..models.downscaling import downscale_arrays

    out = {}
    for f, c, (lat, lon, orog, land), tas, w in _problems(level):
        reg, _, _ = downscale_arrays(c.t, c.lat, c.lon, lat, lon, orog, land, c.periodic, model=net, card=card, u_c=c.u,
                                     v_c=c.v, method="regression")
        lr = _lapse_rate(f, c, (lat, lon, orog, land), relief)
        weight = correction_weight((tas - lr).ravel(), (reg[0] - lr).ravel(), regrid.block_labels(tas.shape, f))
        out[f"x{f}"] = dict(lapse_rate=round(_rmse(lr, tas, w), 4), regression=round(_rmse(reg[0], tas, w), 4),
                            weight=[round(float(x), 6) if np.isfinite(x) else None for x in weight])
    return out


def finetune_downscaler(fields, out=None, *, init: str = DEFAULT_DOWNSCALING_MODEL, minutes: float = 5.0,
                        holdout: float = 0.25, name: str | None = None, batch: int = 8, lr: float = 1e-4, seed: int = 0,
                        max_steps: int = 1_000_000, device: str | None = None) -> Path:
    """Fine-tune the downscaling model ``init`` on a user's fine near-surface temperature.

    Parameters
    ----------
    fields : DataArray or Dataset
        Fine ``tas`` (time, lat, lon) with units, on a regular lat-lon grid (regional or
        global), and optionally ``uas``/``vas``. A DataArray is the temperature.
    out : path, optional
        Directory for the weights (default ``$XDA_WEIGHTS_DIR``, else ``~/.cache/xda/weights``;
        load it by name with ``XDA_WEIGHTS_DIR`` pointing there).
    init : str
        The model to start from.
    minutes : float
        Wall-clock budget of the regression stage.
    holdout : float
        Fraction of the times (the last ones) never trained on, for the card's scores.
    name : str, optional
        Default ``"<init>-ft"``.
    batch, lr, seed, max_steps, device
        As :func:`xda.training.downscaling.train_downscaler`.

    Returns
    -------
    Path of the weight file (its card holds ``finetune``: the data, the settings, the fine
    grid's spacing (``fine_spacing_deg``: in the model's range from then on, with the
    pretraining's), the relief fitted, the held-out RMSEs of the lapse-rate method, ``init``
    and the fine-tuned model per factor, and the weight the fine-tuned departure earns on the
    held-out times per factor (``held_out_weight``: weight, its standard error, the slope and
    its standard error, :func:`xda.assimilation.verify.correction_weight`), which the default
    uses where an input is too small to verify one level up).

    Raises
    ------
    DataError
        NaNs, or fewer than 2 times.
    GridError
        A grid smaller than 16 x 16 cells.
    """
    out = output_dir() if out is None else out  # first: a missing $XDA_WEIGHTS_DIR is created, not refused
    ds = fields.to_dataset(name="tas") if isinstance(fields, xr.DataArray) else fields
    nt = ds["tas"].sizes.get("time", 0)
    if nt < 2:
        raise DataError(f"fine-tuning needs fine fields along 'time' (at least 2, some held out); got {dict(ds['tas'].sizes)}")
    if not bool(np.isfinite(ds["tas"]).all()):
        raise DataError("the fine fields have NaNs; crop to where they are defined (or fill them) before fine-tuning")
    if min(grid_of(ds["tas"]).shape) < 16:
        raise GridError(f"the fine grid is {grid_of(ds['tas']).shape}; fine-tuning needs at least 16 x 16 cells")
    n_test = max(1, int(round(holdout * nt)))
    train, test = _level(ds, np.arange(nt - n_test)), _level(ds, np.arange(nt - n_test, nt))
    dev = device_for(device)
    net, card = load_model(init, device="cpu")
    require_kind(card, "downscaling", init)
    model, card = copy.deepcopy(net).float().requires_grad_(True).train(), card.to_dict()
    relief, relief_rmse = fit_relief(train)
    before = _scores(net, card, test, relief)
    model.mean_head = None  # a mean head distils the sampler about init's regression, which is retrained here
    t0 = time.perf_counter()
    run = _Stages(model.to(dev), card, _UserExamples(train, seed, 0.0 if train["winds"] else 1.0), batch, dev, max_steps, lr)
    run.regressor(minutes)
    run.departure_scale()
    model = model.cpu().eval()
    after = _scores(model, card, test, relief)
    name = name or f"{Path(init).stem}-ft"
    card["finetune"] = dict(init=Path(init).name, times_train=int(nt - n_test), times_held_out=int(n_test),
                            grid=list(grid_of(ds["tas"]).shape), winds=bool(train["winds"]), minutes=minutes,
                            seconds=round(time.perf_counter() - t0, 1), lr=lr, seed=seed, relief=relief,
                            train_lapse_rate_rmse_K=relief_rmse, fine_spacing_deg=_spacing(train),
                            held_out_rmse_K={k: dict(lapse_rate=v["lapse_rate"], regression_init=before[k]["regression"],
                                                      regression=v["regression"]) for k, v in after.items()},
                            held_out_weight={k: v["weight"] for k, v in after.items() if None not in v["weight"]})
    card["training"] = dict(card["training"], finetuned_from=Path(init).name)
    card["relief"] = relief
    return save_model(model, card, out, name, dtype=torch.float16)
