"""Fine-tuning the anchored assimilation model on a user's archive of (background, truth) pairs.

    ft = xda.train(pairs, init="hs-t42-v2", minutes=10)      # pairs: Dataset(background, truth)
    analysis = bg.phyda.assimilate(obs, model=ft.stem)

Cases are built from the archive exactly as at inference (:func:`make_case` on the
archive's own grid, regional or global; B estimated from the observations; OI; the
network's inputs on its working grid), with random observation densities and errors,
and the pretrained network is trained further on them. The fine-tuned card carries the
archive's own background-error statistics (:meth:`BackgroundError.from_pairs`, a
latitude profile of ``s_b`` and ``L``): ``assimilate`` uses them below 100
observations, so the OI analysis the model is anchored on improves too (NCEP DJF z500,
2 % observed: 19.5 m with the archive's B vs 21.3 m tuned on the observations). The card
records the archive, the settings and the wall time.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataError, GridError, ModelError, NotFoundError
from ..labeled import units as xu
from ..assimilation.covariance import BackgroundError
from ..labeled.grid import grid_of
from ..models import anchored
from ..models.cards import DEFAULT_MODEL, load_card, output_dir
from ..models.registry import load_model, save_model
from ..models.anchored import AnchoredLoss, has_mean_head
from .assimilation import _Batches, case_fields, make_case
from .loop import fit


def _pairs(pairs: xr.Dataset, card: dict, variable: str | None):
    """(model key, truth, background (n, ny, nx) in the card's units, grid) of an archive."""
    for v in ("background", "truth"):
        if v not in pairs:
            raise NotFoundError(f"the archive needs variables 'background' and 'truth' (same grid and units); it has {list(pairs.data_vars)}")
    sn = pairs["truth"].attrs.get("standard_name", pairs["background"].attrs.get("standard_name"))
    key = variable or next((k for k, e in card["variables"].items() if e["standard_name"] == sn), None)
    if key not in card["variables"]:
        raise ModelError(f"the model does not know the archive's variable (standard_name={sn!r}); pass `variable=` "
                         f"one of {list(card['variables'])}")
    grid = grid_of(pairs)
    units = card["variables"][key]["units"]
    arrays = []
    for v in ("truth", "background"):
        da = pairs[v]
        sample = [d for d in da.dims if d not in (grid.lat_dim, grid.lon_dim)]
        if len(sample) != 1:
            raise GridError(f"{v!r} must have one sample dimension besides latitude and longitude; it has {da.dims}")
        arrays.append(xu.magnitude(da.transpose(*sample, grid.lat_dim, grid.lon_dim), units, name=v).astype(np.float64))
    if not all(np.isfinite(a).all() for a in arrays):
        raise DataError("the archive has NaN values; drop or fill them before fine-tuning")
    return key, arrays[0], arrays[1], grid


def _archive_error(truth, background, grid, units: str) -> BackgroundError:
    """The archive's background-error statistics (latitude profile of s_b, L) from arrays in the card's units."""
    coords = {"lat": ("lat", grid.lat, {"units": "degrees_north"}), "lon": ("lon", grid.lon, {"units": "degrees_east"})}
    da = lambda a: xr.DataArray(a, dims=("sample", "lat", "lon"), coords=coords, attrs={"units": units})  # noqa: E731
    return BackgroundError.from_pairs(da(background), da(truth), dim="sample", per_point=False)


def _bank(key, card, truth, background, grid, cases: int, seed: int) -> dict:
    entry = card["variables"][key]
    card_error = BackgroundError.from_card(entry)
    wg = anchored.working_grid(card, grid.lat, grid.lon, grid.periodic, key)
    rng = np.random.default_rng(seed)
    xs, us = [], []
    for _ in range(cases):
        t = int(rng.integers(truth.shape[0]))
        xt, xb = truth[t], background[t]
        err = float(np.exp(rng.uniform(np.log(0.1), 0.0))) * float(np.sqrt(np.mean((xt - xb) ** 2)))
        case = make_case(xt, xb, grid.lat, grid.lon, float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), err,
                         rng, periodic=grid.periodic, card_error=card_error)
        x, u = case_fields(entry, wg, xt, xb, case)
        xs.append(x)
        us.append(u)
    return dict(x=np.asarray(xs, np.float32), u=np.asarray(us, np.float32), lat=wg.wlat,
                variable=np.full(cases, int(entry["index"])), periodic=grid.periodic)


def finetune(pairs: xr.Dataset, *, init: str = DEFAULT_MODEL, minutes: float = 10.0, out=None, name: str | None = None,
             variable: str | None = None, cases: int = 300, batch: int = 8, lr: float = 1e-4, seed: int = 0) -> Path:
    """Fine-tune a shipped anchored model on an archive of (background, truth) pairs.

    Parameters
    ----------
    pairs : Dataset
        ``background`` and ``truth`` (sample, lat, lon) with ``units`` and a CF
        ``standard_name`` the model knows (or pass ``variable``); any regular grid in the
        model's range, global or regional.
    init : str
        The model to start from.
    minutes : float
        Wall-clock budget, building the cases included.
    out : path, optional
        Directory for the weights; default ``$XDA_WEIGHTS_DIR`` or ``~/.cache/xda/weights``
        (set ``XDA_WEIGHTS_DIR`` to that directory to load it by name).
    name : str, optional
        Default ``<init>-ft``.
    cases : int
        Cases built from the archive (each a random time, density 0.5-10 %, observation
        error 0.1-1 of the background's rms error); fewer if the budget runs out.

    Returns
    -------
    Path of the weight file.

    Raises
    ------
    ModelError, ValueError, GridError
        Unknown variable, malformed archive, grid outside the model's range.
    """
    t0 = time.perf_counter()
    out = output_dir() if out is None else out  # first: a missing $XDA_WEIGHTS_DIR is created, not refused
    card = load_card(init)
    if card.get("anchor") != "oi":
        raise ModelError(f"model {init!r} is not an anchored assimilation model; start from {DEFAULT_MODEL!r}")
    key, truth, background, grid = _pairs(pairs, card, variable)
    new = card.to_dict()  # the fine-tuned card: the archive's own B, used below 100 observations
    new["variables"][key].update(_archive_error(truth, background, grid, card["variables"][key]["units"]).card_entry())
    bank = _bank(key, new, truth, background, grid, cases, seed)
    built = time.perf_counter() - t0
    model = copy.deepcopy(load_model(init, device="cpu")[0]).requires_grad_(True).train()
    if has_mean_head(model):  # it learned init's sampler, which this retrains: members recentred
        model.drop_mean_head()
    batches, loss = _Batches(bank, seed), AnchoredLoss()

    def loss_fn(step):
        u, cond, var, periodic = batches(batch)
        return loss(model, u, cond, var, periodic)[0]

    ema, steps, losses = fit(model, loss_fn, minutes=max(minutes - built / 60, 0.1), lr=lr, warmup=20, ema_decay=0.99,
                             label="fine-tune")
    new["training"] = dict(new.get("training", {}), fine_tuned=dict(
        init=str(init), variable=key, archive_samples=int(truth.shape[0]), cases=int(len(bank["u"])), steps=steps,
        minutes=minutes, seconds=round(time.perf_counter() - t0), lr=lr, batch=batch, seed=seed,
        final_loss=float(np.mean(losses[-20:])) if losses else None,
        background_error="the archive's (BackgroundError.from_pairs, latitude profile); the cases use it below 100 "
                         "observations, as assimilate does"))
    return save_model(ema, new, Path(out), name or f"{card.get('name') or Path(str(init)).stem}-ft")
