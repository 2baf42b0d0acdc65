"""Training of the anchored assimilation model (:mod:`xda.models.anchored`) on simulated cases.

One reproducible command from simulation to shipped weights::

    python -m xda.simulate --out ~/.cache/xda/hs_t42_leads_s0.nc --days 120 --interval-hours 6 \\
        --leads 6,12,24,48,72 --seed 0                           # ~37 min on 2 CPU cores; likewise seed 1
    python -m xda.training ~/.cache/xda/hs_t42_leads_s0.nc ~/.cache/xda/hs_t42_leads_s1.nc --minutes 40

(the shipped weights: ``scripts/reproduce_assimilation_weights.sh``, two stages).

Training cases are built as the analysis is at inference (:func:`make_case`): a random
time and variable of the split; a background that is the simulation's forecast (lead
6-72 h, 70 %) or the climatology (mean of its file's training times, 30 %); a random
observation density (log-uniform 0.5-10 %) of point observations *off the grid*
(uniform on the sphere) with a random error (log-uniform 0.1-1 of the background's rms
error); background-error statistics estimated from those observations alone
(:func:`xda.assimilation.covariance.estimate`, noisy like at inference); and the OI
analysis ``x_a`` with its error std ``s_a``. The network learns ``u = (x_t - x_a) / s_a``.
With ``misspecified > 0``, that fraction of the cases gets a deliberately wrong B
(:func:`misspecify`: ``L`` and ``s_b`` scaled by 0.5-2, the other correlation family half
the time), meant to teach the correction to repair the B users actually have (it did not
transfer to real fields: ``benchmarks/results/misspecified.md``); with
``climatology_days``, the climatological backgrounds are means over windows of those
lengths around the case's time (its own +-1 day left out) instead of the whole split's.
Several files (seeds, or the worlds of ``xda simulate --world``) are pooled; each case's
climatology is taken within its own file. Cases are computed once into a bank
(:func:`make_bank`, in parallel processes) and augmented in training by longitude rolls, north-south reflection and regional crops
(half of the batches, 32 x 64 cells).

Scale-out: under ``torchrun --nproc_per_node N`` each process trains on its own
batches and gradients are averaged by torch DDP (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from ..assimilation.anchor import oi_anchor, std_grid
from ..assimilation.covariance import MIN_OBS_TUNED_DEFAULT, BackgroundError, estimate
from ..models.anchored import (AnchoredLoss, ConsistencyPenalty, anchored_condition, anchored_denoiser, network_fields,
                               posterior_mean)
from ..models.cards import DEFAULT_STEPS
from ..models.registry import save_model
from ..numerics import threads
from ..numerics.interp import apply, bilinear_weights
from ..numerics.regrid import WorkingGrid
from ..errors import GridError, ParameterError
from ..labeled.times import elapsed_seconds
from .loop import device_for, fit

log = logging.getLogger(__name__)

#: Variables of the simulation file: (standard_name, units, long_name).
VARIABLES = {
    "z500": ("geopotential_height", "m", "500 hPa geopotential height"),
    "tas": ("air_temperature", "K", "air temperature near the surface"),
}
#: Range of the factors by which :func:`misspecify` scales ``L`` and ``s_b`` (log-uniform).
MISSPECIFY_RANGE = (0.5, 2.0)


def altered(be: BackgroundError, length: float = 1.0, sigma: float = 1.0, other_family: bool = False) -> BackgroundError:
    """``be`` with ``L`` x ``length``, ``s_b`` x ``sigma`` and, with ``other_family``, the other correlation
    family (SOAR <-> Gaussian); its ``source`` says so."""
    family = ("gaussian" if be.correlation == "soar" else "soar") if other_family else be.correlation
    return replace(be, sigma=np.asarray(be.sigma) * sigma, length_scale=float(be.length_scale * length),
                   correlation=family, field=None if be.field is None else be.field * sigma,
                   source=f"{be.source}; altered (L x {length:.2f}, s_b x {sigma:.2f}, {family})")


def misspecify(be: BackgroundError, rng) -> BackgroundError:
    """``be`` made deliberately wrong (:func:`altered`): ``L`` and ``s_b`` scaled by log-uniform factors in
    :data:`MISSPECIFY_RANGE`, and the correlation family swapped half the time.

    The B a user hands ``assimilate`` is estimated from another archive, another season or
    too few observations; training on such B is meant to teach the correction to repair it
    (issue 27). Measured: in one Held-Suarez world it does not transfer to real fields
    (``benchmarks/results/misspecified.md``).
    """
    lo, hi = np.log(MISSPECIFY_RANGE)
    k_l, k_s = np.exp(rng.uniform(lo, hi, 2))
    return altered(be, k_l, k_s, rng.random() < 0.5)


def make_case(truth, background, lat, lon, density: float, error: float, rng, *, periodic: bool = True,
              max_obs: int = 300, card_error: BackgroundError | None = None, misspecified: bool = False) -> dict:
    """One case built as at inference: point observations, B estimated from them, the OI analysis.

    Parameters
    ----------
    truth, background : ndarray (ny, nx)
        On a lat-lon grid (latitudes in either order; global when ``periodic``).
    lat, lon : ndarray (ny,), (nx,)
    density : float
        Observations per grid point (e.g. 0.02 for 2 %), placed uniformly over the
        domain's area, off the grid.
    error : float
        Observation-error std (working units).
    periodic : bool
    card_error : BackgroundError, optional
        The model card's B: used, as ``assimilate`` does by default, when there are fewer
        than ``MIN_OBS_TUNED_DEFAULT`` (100) observations. Without it B is always
        estimated from the observations.
    misspecified : bool
        Make that B deliberately wrong (:func:`misspecify`) before the analysis.

    Returns
    -------
    dict with ``xa``, ``sa``, ``sb`` (ny, nx) and the observations ``lat``, ``lon``,
    ``residual`` (``y - H x_a``), ``error`` (n,)
    """
    ny, nx = truth.shape
    n = max(int(round(density * ny * nx)), 12)
    s0, s1 = np.sin(np.deg2rad([np.min(lat), np.max(lat)]))
    olat = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
    olon = lon[0] + rng.uniform(0.0, 360.0 if periodic else lon[-1] - lon[0], n)
    op, _ = bilinear_weights(lat, lon, olat, olon, periodic=periodic)
    err = np.full(n, error)
    y = apply(op, truth) + err * rng.standard_normal(n)
    d = y - apply(op, background)
    use_card = card_error is not None and n < MIN_OBS_TUNED_DEFAULT
    be = card_error if use_card else estimate(d, olat, olon, err, max_obs=max_obs)
    if misspecified:
        be = misspecify(be, rng)
    xa, sa = oi_anchor(background, d, olat, olon, err, be, lat, lon)  # the anchor inference uses
    return dict(xa=xa, sa=sa, sb=std_grid(be, lat, lon), lat=olat, lon=olon, residual=y - apply(op, xa), error=err)


def case_fields(entry: dict, wg, truth, background, case: dict) -> tuple[np.ndarray, np.ndarray]:
    """(network fields (len(FIELDS), wny, wnx), target u (wny, wnx)) of a case on the model's working grid."""
    fields = network_fields(entry, wg, background, case["xa"], case["sa"], case["sb"], case["lat"], case["lon"],
                            case["residual"], case["error"])
    u = (truth - case["xa"]) / np.maximum(case["sa"], 1e-3 * case["sb"])
    return fields, np.clip(wg.to_work(u), -10.0, 10.0)  # a rare degenerate B must not dominate the loss


def _paths(data) -> list[Path]:
    """One simulation file or several (e.g. of different seeds), as a list of paths."""
    return [Path(p).expanduser() for p in ([data] if isinstance(data, (str, Path)) else data)]


def open_split(data, split: str) -> xr.Dataset:
    """The times of ``split`` ("train", "validation", "test") of one or several simulation files, concatenated,
    with the coordinate ``source`` (along time): the index of the file each time came from (its own world and
    trajectory, so climatologies are taken within it, :func:`_climatology`).

    Raises
    ------
    ValueError
        If the files are on different grids.
    """
    paths = _paths(data)
    parts = [xr.open_dataset(p) for p in paths]
    for p, ds in zip(paths[1:], parts[1:]):
        if ds.sizes["lat"] != parts[0].sizes["lat"] or ds.sizes["lon"] != parts[0].sizes["lon"]:
            raise GridError(f"simulation {p} is on a {ds.sizes['lat']} x {ds.sizes['lon']} grid, "
                             f"{paths[0]} on {parts[0].sizes['lat']} x {parts[0].sizes['lon']}: train on one grid")
    parts = [ds.isel(time=np.flatnonzero(ds["split"].values == split)) for ds in parts]
    parts = [ds.assign_coords(source=("time", np.full(ds.sizes["time"], k))) for k, ds in enumerate(parts)]
    return xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", compat="override", join="override")


def _bank_cases(args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker: (inputs (n, len(FIELDS), ny, nx), u (n, ny, nx), variable (n,)) for a list of :class:`Draw` s."""
    paths, split, draws, stats = args
    threads.set_num_threads(1)  # one worker per core
    ds = open_split(paths, split)
    lat, lon = ds["lat"].values, ds["lon"].values
    days = elapsed_seconds(ds["time"].values, {"units": "hours", **ds["time"].attrs}, "time") / 86400.0
    data = {v: (ds[f"{v}_truth"].values.astype(np.float64), ds[f"{v}_background"].values.astype(np.float64))
            for v in VARIABLES}
    wg = WorkingGrid(lat, lon, True, float(360.0 / lon.size))  # native: the simulation's own grid
    source = ds["source"].values
    xs, us, vs = [], [], []
    for d in draws:
        name = list(VARIABLES)[d.variable]
        xt = data[name][0][d.time]
        xb = data[name][1][d.time] if d.window is None else _climatology(
            data[name][0], days, d.time, d.window, stats[name]["climatology"][source[d.time]], source == source[d.time])
        rng = np.random.default_rng(d.seed)
        case = make_case(xt, xb, lat, lon, d.density, d.error * float(np.sqrt(np.mean((xt - xb) ** 2))), rng,
                         misspecified=d.misspecified)
        x, u = case_fields(stats[name], wg, xt, xb, case)
        xs.append(x)
        us.append(u)
        vs.append(d.variable)
    return np.asarray(xs, np.float32), np.asarray(us, np.float32), np.asarray(vs, np.int64)


#: Days either side of a case's time left out of its windowed climatology.
CLIMATOLOGY_GAP_DAYS = 1.0


def _climatology(truth: np.ndarray, days: np.ndarray, t: int, window: float, whole: np.ndarray,
                 same: np.ndarray | None = None) -> np.ndarray:
    """The climatological background of time ``t``: ``whole`` (the mean of its file's training times) for
    ``window = inf``, else the mean of the truths within ``window / 2`` days of it, less those within
    :data:`CLIMATOLOGY_GAP_DAYS`, of the times ``same`` (bool, those of its file: files of other worlds or
    seeds share the clock but not the weather)."""
    if not np.isfinite(window):
        return whole
    gap = np.abs(days - days[t])
    near = (gap <= window / 2) & (gap > CLIMATOLOGY_GAP_DAYS) & (True if same is None else same)
    return truth[near].mean(axis=0) if near.any() else whole


class Draw(NamedTuple):
    """How one training case is drawn (:func:`make_bank`)."""

    seed: int
    variable: int  #: index in :data:`VARIABLES`
    time: int  #: index in the split
    window: float | None  #: None: the forecast background; else a climatology over this many days (inf: the split)
    density: float  #: observations per grid point
    error: float  #: observation-error std over the background's rms error
    misspecified: bool  #: B made deliberately wrong (:func:`misspecify`)


def _draws(n: int, nt: int, seed: int, misspecified: float, windows: tuple) -> list[Draw]:
    """``n`` random :class:`Draw` s: 30 % climatological backgrounds (window uniform over ``windows``), density
    log-uniform 0.5-10 %, relative error log-uniform 0.1-1, a misspecified B with probability ``misspecified``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, var, t, clim = int(rng.integers(2**31)), int(rng.integers(len(VARIABLES))), int(rng.integers(nt)), rng.random() < 0.3
        density, error = float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), float(np.exp(rng.uniform(np.log(0.1), 0.0)))
        window = None if not clim else float(windows[int(rng.integers(len(windows)))] if len(windows) > 1 else windows[0])
        out.append(Draw(s, var, t, window, density, error, bool(misspecified and rng.random() < misspecified)))
    return out


def make_bank(data, split: str, n: int, stats: dict, seed: int = 0, processes: int = 2, *, misspecified: float = 0.0,
              windows: tuple = (np.inf,)) -> dict:
    """``n`` training cases of ``split`` of one or several simulation files (see the module docstring),
    computed in ``processes``.

    Parameters
    ----------
    misspecified : float
        Fraction of the cases whose B is made deliberately wrong (:func:`misspecify`).
    windows : tuple of float
        Averaging windows (days; ``inf``: the whole split) of the climatological backgrounds.

    Returns
    -------
    dict: ``x`` (n, len(FIELDS), ny, nx) float32 inputs, ``u`` (n, ny, nx) targets,
    ``variable`` (n,), ``lat`` (ny,).
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    ds = open_split(data, split)
    draws = _draws(n, ds.sizes["time"], seed, misspecified, tuple(windows))
    chunks = [([str(p) for p in _paths(data)], split, draws[k::processes * 4], stats) for k in range(processes * 4)]
    with ProcessPoolExecutor(processes) as pool:
        parts = list(tqdm(pool.map(_bank_cases, chunks), total=len(chunks), desc=f"{split} cases", disable=None))
    return dict(x=np.concatenate([p[0] for p in parts]), u=np.concatenate([p[1] for p in parts]),
                variable=np.concatenate([p[2] for p in parts]), lat=ds["lat"].values)


def variable_stats(data, variables: dict = VARIABLES) -> dict:
    """Climatology and background-error statistics of the training split of one or several simulation files,
    per variable of ``variables`` (``{name: (standard_name, units, long_name)}``; for the card)."""
    train = open_split(data, "train")
    stats = {}
    for k, (v, (sn, units, ln)) in enumerate(variables.items()):
        truth, bg = (train[f"{v}_{k}"].assign_attrs(units=units) for k in ("truth", "background"))
        be = BackgroundError.from_pairs(bg, truth, dim="time", per_point=False)
        per_file = truth.groupby("source").mean("time").values.astype(np.float64)  # (files, lat, lon)
        stats[v] = dict(index=k, standard_name=sn, units=units, long_name=ln, clim_mean=float(truth.mean()),
                        clim_std=float(truth.std()), climatology=per_file, **be.card_entry())
    return stats


class _Batches:
    """Random augmented batches from a bank: longitude roll, north-south reflection, regional crops."""

    def __init__(self, bank: dict, seed: int):
        self.x, self.u, self.var = (torch.as_tensor(bank[k]) for k in ("x", "u", "variable"))
        self.sin_lat = torch.as_tensor(np.sin(np.deg2rad(bank["lat"])), dtype=torch.float32)
        self.periodic = bool(bank.get("periodic", True))  # regional banks: no roll, reflection or crop
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, batch: int, crop: tuple[int, int] | None = None):
        g = self.g
        idx = torch.randint(len(self.u), (batch,), generator=g)
        x, u = self.x[idx], self.u[idx][:, None]
        if not self.periodic:
            return u, anchored_condition(x, self.sin_lat, False), self.var[idx], False
        shift = int(torch.randint(x.shape[-1], (1,), generator=g))
        x, u = torch.roll(x, shift, dims=-1), torch.roll(u, shift, dims=-1)
        if torch.rand(1, generator=g) < 0.5:
            x, u = x.flip(-2), u.flip(-2)
        sin_lat, periodic = self.sin_lat, True
        if crop is not None:
            (cy, cx), (ny, nx) = crop, x.shape[-2:]
            j = int(torch.randint(ny - cy + 1, (1,), generator=g))
            i = int(torch.randint(nx - cx + 1, (1,), generator=g))
            x, u, sin_lat, periodic = x[..., j : j + cy, i : i + cx], u[..., j : j + cy, i : i + cx], sin_lat[j : j + cy], False
        cond = anchored_condition(x, sin_lat, periodic)
        return u, cond, self.var[idx], periodic


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (torch.distributed.get_rank(), world) if world > 1 else (0, 1)


def _card(stats: dict, data, bank_sizes: dict, settings: dict) -> dict:
    paths = _paths(data)
    ds = xr.open_dataset(paths[0])
    lat = ds["lat"].values
    attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items() if k != "seed"}
    return {
        "kind": "assimilation",
        "anchor": "oi",
        "description": "EDM denoiser of the departure of the truth from the tuned OI analysis, in units of OI's "
                       "analysis-error std, conditioned on the background, the OI increment and error std and the "
                       "analysis residuals at the observations (xda.models.anchored)",
        "variables": {v: {k: x for k, x in e.items() if k != "climatology"} for v, e in stats.items()},
        "grid": {"name": "T42 Gaussian", "shape": [int(lat.size), int(ds.sizes["lon"])], "global": True,
                 "spacing_deg": float(360.0 / ds.sizes["lon"]), "valid_spacing_deg": [0.25, 6.0]},
        "training_data": dict(attrs, files=[p.name for p in paths],
                              seeds=[int(xr.open_dataset(p).attrs.get("seed", -1)) for p in paths], cases=bank_sizes,
                              cases_built=_cases_built(settings)),
        "training": settings,
    }


def _cases_built(settings: dict) -> str:
    """How the training cases were drawn, in words (the model card)."""
    days = settings.get("climatology_days", "all")
    text = (f"forecast (70 %) or climatological (30 %; averaged over {days} days) backgrounds; 0.5-10 % off-grid "
            "observations; B estimated from them (xda.assimilation.covariance.estimate)")
    if settings.get("misspecified"):
        text += f", deliberately misspecified in {100 * settings['misspecified']:.0f} % of the cases (L and s_b x 0.5-2, " \
                "the other correlation family half the time)"
    return text


def train(data, out, *, name: str = "hs-t42-v2", minutes: float = 40.0, max_steps: int = 1_000_000, batch: int = 16,
          lr: float = 3e-4, channels=(16, 32, 64, 128), cases: int = 2400, seed: int = 0, bank: str | Path | None = None,
          device: str | None = None, init: str | Path | None = None, misspecified: float = 0.0,
          climatology_days: str = "all", consistency_weight: float = 0.0, keep_head: float = 0.0) -> Path:
    """Train the anchored assimilation model on a simulation file from :mod:`xda.simulate`.

    Parameters
    ----------
    data : path or list of paths
        netCDF from :mod:`xda.simulate` with ``<var>_truth``, ``<var>_background``
        (time, lat, lon) and ``split``; several files (simulation seeds) are pooled.
    out : path
        Directory for ``<name>.safetensors`` and the model card ``<name>.json``.
    minutes, max_steps : float, int
        Stop at whichever comes first (all processes stop together under DDP).
    batch, lr, channels, seed : training hyper-parameters (``batch`` per process).
    cases : int
        Training cases in the bank (a tenth as many validation cases).
    bank : path, optional
        ``.npz`` cache of the banks: read if present, else written.
    device : str, optional
        Defaults to CUDA when available (``cuda:LOCAL_RANK`` under torchrun).
    init : path, optional
        A ``.safetensors`` file of the same architecture to continue training from.
    misspecified : float
        Fraction of the training cases whose B is deliberately wrong (:func:`misspecify`).
    climatology_days : str
        Averaging windows of the climatological backgrounds, days, comma-separated;
        ``"all"`` the training split's mean (e.g. ``"all,30,10"``).
    consistency_weight : float
        Weight of :class:`xda.models.anchored.ConsistencyPenalty` (0: none): the sampler's
        members' raw mean pulled towards the posterior-mean head (issue 27, item 3), on
        2 cases x 4 members of the default 6-step sampler per step. One process only.
    keep_head : float
        With ``init`` and ``consistency_weight``: the penalty's target is the initial model's
        head (a frozen copy, the teacher), and ``keep_head * mean |head - teacher's head|^2``
        is added to the loss, so the sampler is distilled onto the head without moving it.

    Returns
    -------
    Path of the weight file (written by rank 0 only; other ranks return it too).
    """
    rank, world = _distributed()
    if consistency_weight and world > 1:
        raise ParameterError("consistency_weight runs the network twice per step, which DDP does not allow: "
                             "train it in one process")
    if keep_head and not (consistency_weight and init is not None):
        raise ParameterError(f"keep_head={keep_head} holds the head of the initial model while the consistency penalty "
                             "distils the sampler onto it: pass init= (the model to fine-tune) and consistency_weight > 0")
    torch.manual_seed(seed)
    dev = device_for(device)
    stats = variable_stats(data)
    regime = dict(misspecified=float(misspecified), windows=_windows(climatology_days))
    banks = _banks(data, stats, cases, seed, bank, regime)
    model = anchored_denoiser(channels, n_variables=len(VARIABLES))
    if init is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(init))
    model = model.to(dev)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    batches, loss = _Batches(banks["train"], seed + 1000 * rank), AnchoredLoss()
    gcrop = torch.Generator().manual_seed(seed + 7 + 1000 * rank)
    ny, nx = banks["train"]["u"].shape[-2:]
    t0 = time.perf_counter()

    teacher = copy.deepcopy(model).eval().requires_grad_(False) if keep_head else None
    penalty = (ConsistencyPenalty(4, DEFAULT_STEPS["anchored"], seed + 11, teacher, keep_head / consistency_weight)
               if consistency_weight else None)

    def loss_fn(step):
        regional = torch.rand(1, generator=gcrop) < 0.5 and ny > 32 and nx > 64  # half the batches (and cheaper)
        crop = (32, 64) if regional else None
        u, cond, var, periodic = batches(batch, crop)
        total = loss(net, u.to(dev), cond.to(dev), var.to(dev), periodic)[0]
        if penalty is None:
            return total
        _, cond, var, periodic = batches(2, crop)
        return total + consistency_weight * penalty(net, cond.to(dev), var.to(dev), periodic)

    ema, step, losses = fit(net, loss_fn, minutes=minutes, max_steps=max_steps, lr=lr, label=f"[{rank}]")
    settings = dict(minutes=minutes, batch=batch, processes=world, lr=lr, seed=seed, ema=0.999, steps=step,
                    final_train_loss=float(np.mean(losses[-100:])), wall_seconds=round(time.perf_counter() - t0),
                    validation=_validate(ema, banks["validation"], dev, seed),
                    initialised_from=None if init is None else Path(init).name, misspecified=float(misspecified),
                    climatology_days=str(climatology_days), consistency_weight=float(consistency_weight),
                    keep_head=float(keep_head),
                    command=f"python -m xda.training {' '.join(p.name for p in _paths(data))} --minutes {minutes} --cases {cases} --batch {batch} --seed {seed} --lr {lr}"
                            + ("" if init is None else f" --init {Path(init).name}")
                            + (f" --misspecified {misspecified}" if misspecified else "")
                            + (f" --climatology-days {climatology_days}" if climatology_days != "all" else "")
                            + (f" --consistency-weight {consistency_weight}" if consistency_weight else "")
                            + (f" --keep-head {keep_head}" if keep_head else ""))
    out_file = Path(out) / f"{name}.safetensors"
    if rank == 0:
        log.info(f"done: {step} steps, validation {settings['validation']}")
        out_file = save_model(ema.cpu(), _card(stats, data, {k: len(b["u"]) for k, b in banks.items()}, settings), Path(out), name)
    if world > 1:
        torch.distributed.barrier()
    return out_file


def _windows(days: str) -> tuple:
    """``"all,30,10"`` -> (inf, 30.0, 10.0): the climatologies' averaging windows in days."""
    return tuple(np.inf if w.strip().lower() == "all" else float(w) for w in str(days).split(","))


def _banks(data, stats, cases: int, seed: int, cache, regime: dict | None = None) -> dict:
    """Training and validation banks, from the ``.npz`` cache when it exists."""
    if cache is not None and Path(cache).expanduser().exists():
        z = np.load(Path(cache).expanduser())
        return {s: {k[len(s) + 1:]: z[k] for k in z.files if k.startswith(s + "_")} for s in ("train", "validation")}
    t0 = time.perf_counter()
    regime = regime or {}
    banks = {"train": make_bank(data, "train", cases, stats, seed, **regime),
             "validation": make_bank(data, "validation", max(cases // 10, 16), stats, seed + 1, **regime)}
    log.info(f"banks of {cases} + {len(banks['validation']['u'])} cases: {time.perf_counter() - t0:.0f} s")
    if cache is not None:
        np.savez(Path(cache).expanduser(), **{f"{s}_{k}": v for s, b in banks.items() for k, v in b.items()})
    return banks


@torch.no_grad()
def _validate(model, bank: dict, dev, seed: int) -> dict:
    """Validation: rms of u (OI's error in units of s_a) and of u - head (the learned analysis's), per variable."""
    val = _Batches(bank, seed + 1)
    x, u, var = val.x.to(dev), val.u.to(dev)[:, None], val.var.to(dev)
    out = {}
    for v, name in enumerate(VARIABLES):
        m = var == v
        if not m.any():
            continue
        head = torch.cat([posterior_mean(model, anchored_condition(x[m][k : k + 32], val.sin_lat.to(dev), True), var[m][k : k + 32], True)
                          for k in range(0, int(m.sum()), 32)])
        out[name] = dict(rms_u_oi=float(u[m].pow(2).mean().sqrt()), rms_u_head=float((u[m] - head).pow(2).mean().sqrt()))
    return out


if __name__ == "__main__":  # python -m xda.training.assimilation ...: the xda command's parser (xda train assimilation --help)
    from ..cli import main

    raise SystemExit(main(["train", "assimilation", *sys.argv[1:]]))
