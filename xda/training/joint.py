"""Training of the multivariate anchored model (:mod:`xda.models.joint`) on the simulated state.

    python -m xda.simulate --out ~/.cache/xda/hs_t42_mv_s0.nc --days 120 --interval-hours 6 --leads 6,12,24
    python -m xda.training.joint ~/.cache/xda/hs_t42_mv_s0.nc --name hs-t42-mv-v1 --minutes 12 \\
        [--encoder vre] [--physics-weight 0.1]

Cases are built as the analysis is at inference (:func:`make_joint_case`): a random
time of the split, the simulation's forecast background (lead 6-24 h), a random subset
of the state's variables observed (each with probability 1/2, at least one) at a
random density (log-uniform 0.5-10 %) off the grid with a random error (0.1-1 of the
background's rms error), each observed variable analysed by tuned OI
(:func:`xda.training.assimilation.make_case`) and the winds given the geostrophic
increment of the height analysis (:mod:`xda.numerics.balance`, the classical
multivariate anchor) before their own observations are analysed. Variables without
observations keep that anchor with ``s_a = s_b`` (the card's statistics).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..assimilation.anchor import balanced_anchor, std_grid
from ..assimilation.covariance import BackgroundError
from ..models.anchored import posterior_mean
from ..models.joint import MISSING_FIELDS, JointLoss, cell_geometry, joint_denoiser
from ..models.registry import save_model
from ..numerics import balance, stencils, threads
from ..numerics.regrid import WorkingGrid
from .assimilation import _paths, case_fields, make_case, open_split, variable_stats
from .loop import fit

log = logging.getLogger(__name__)

#: The state of the joint model: (standard_name, units, long_name); z500 first (the winds' balance reads it).
STATE = {
    "z500": ("geopotential_height", "m", "500 hPa geopotential height"),
    "tas": ("air_temperature", "K", "air temperature near the surface"),
    "u500": ("eastward_wind", "m s-1", "500 hPa eastward wind"),
    "v500": ("northward_wind", "m s-1", "500 hPa northward wind"),
}
#: Channels of z500, u500, v500 (the physics term and the balance).
BALANCE_INDEX = (0, 2, 3)


def make_joint_case(truth: dict, background: dict, lat, lon, observed: dict, rng, stats: dict, alpha: float) -> dict:
    """One multivariate case: per observed variable tuned OI, winds balanced with the height increment.

    Parameters
    ----------
    truth, background : dict of ndarray (ny, nx)
        Per variable of ``STATE`` present in the case (working units, global grid);
        a variable absent from ``background`` is missing from the case.
    observed : dict
        ``{variable: (density, error std)}`` for the observed variables (a subset of the present ones).
    stats : dict
        Card entries per variable (``sigma_b`` profile etc.) for the unobserved ones.
    alpha : float
        Balance coefficient (:func:`xda.numerics.balance.balance_coefficient`).

    Returns
    -------
    dict per present variable: the :func:`make_case` dict (``xa``, ``sa``, ``sb`` and the
    observations), with no observations for an unobserved variable.
    """
    def analyse(v, xb_v):
        case = make_case(truth[v], xb_v, lat, lon, *observed[v], rng)
        return case["xa"], case

    def unobserved(v, xb_v):
        sb, e = std_grid(BackgroundError.from_card(stats[v]), lat, lon), np.empty(0)
        return xb_v, dict(xa=xb_v, sa=sb, sb=sb, lat=e, lon=e, residual=e, error=e)

    return balanced_anchor(background, STATE, observed, analyse, unobserved, stencils.geometry(lat, lon, True), alpha)


#: Probability that a variable is missing from a training case's background.
P_MISSING = 0.15


def _case_draws(n: int, nt: int, seed: int) -> list:
    """Per case: seed, time, observed and present flags per variable, density, relative error."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        present = rng.random(len(STATE)) >= P_MISSING
        if not present.any():
            present[rng.integers(len(STATE))] = True
        obs = present & (rng.random(len(STATE)) < 0.5)
        if not obs.any():
            obs[rng.choice(np.flatnonzero(present))] = True
        draws.append((int(rng.integers(2**31)), int(rng.integers(nt)), tuple(bool(o) for o in obs), tuple(bool(p) for p in present),
                      float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), float(np.exp(rng.uniform(np.log(0.1), 0.0)))))
    return draws


def _bank_cases(args):
    """Worker: (fields (n, V, 7, ny, nx), u (n, V, ny, nx), observed (n, V), present (n, V)) for a list of draws."""
    paths, split, draws, stats, alpha = args
    threads.set_num_threads(1)
    ds = open_split(paths, split)
    lat, lon = ds["lat"].values, ds["lon"].values
    data = {v: (ds[f"{v}_truth"].values.astype(np.float64), ds[f"{v}_background"].values.astype(np.float64)) for v in STATE}
    wg = WorkingGrid(lat, lon, True, float(360.0 / lon.size))
    missing = np.broadcast_to(np.asarray(MISSING_FIELDS, np.float32)[:, None, None], (len(MISSING_FIELDS), lat.size, lon.size))
    xs, us, os_, ps = [], [], [], []
    for seed, t, obs, present, density, rel in draws:
        rng = np.random.default_rng(seed)
        have = [v for v, p in zip(STATE, present) if p]
        xt, xb = {v: data[v][0][t] for v in have}, {v: data[v][1][t] for v in have}
        observed = {v: (density, rel * float(np.sqrt(np.mean((xt[v] - xb[v]) ** 2)))) for v, o in zip(STATE, obs) if o}
        case = make_joint_case(xt, xb, lat, lon, observed, rng, stats, alpha)
        pairs = [case_fields(stats[v], wg, xt[v], xb[v], case[v]) if v in case else (missing, np.zeros(lat.shape + lon.shape))
                 for v in STATE]
        xs.append(np.stack([p[0] for p in pairs]))
        us.append(np.stack([p[1] for p in pairs]))
        os_.append(obs)
        ps.append(present)
    return tuple(np.asarray(a, t) for a, t in zip((xs, us, os_, ps), (np.float32, np.float32, bool, bool)))


def make_bank(data, split: str, n: int, stats: dict, alpha: float, seed: int = 0, processes: int = 2) -> dict:
    """``n`` cases of ``split`` (see the module docstring), computed in ``processes``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    ds = open_split(data, split)
    draws = _case_draws(n, ds.sizes["time"], seed)
    chunks = [([str(p) for p in _paths(data)], split, draws[k :: processes * 4], stats, alpha) for k in range(processes * 4)]
    # spawn: the parent may already run numba's OpenMP threads, which do not survive a fork
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(tqdm(pool.map(_bank_cases, chunks), total=len(chunks), desc=f"{split} cases", disable=None))
    return dict(x=np.concatenate([p[0] for p in parts]), u=np.concatenate([p[1] for p in parts]),
                observed=np.concatenate([p[2] for p in parts]), present=np.concatenate([p[3] for p in parts]),
                lat=ds["lat"].values, lon=ds["lon"].values)


def state_stats(data) -> tuple[dict, float]:
    """Per-variable climatology and background-error statistics of the training split, and the balance
    coefficient of the forecast errors (for the card)."""
    stats = {v: {k: x for k, x in e.items() if k != "climatology"} for v, e in variable_stats(data, STATE).items()}
    train = open_split(data, "train")
    geo = stencils.geometry(train["lat"].values, train["lon"].values, True)
    d = {v: (train[f"{v}_background"] - train[f"{v}_truth"]).values.astype(np.float64) for v in ("z500", "u500", "v500")}
    return stats, balance.balance_coefficient(d["z500"], d["u500"], d["v500"], geo)


class _Batches:
    """Random augmented batches: longitude roll, north-south reflection (v changes sign), regional crops."""

    def __init__(self, bank: dict, stats: dict, seed: int):
        self.x, self.u, self.present = (torch.as_tensor(bank[k]) for k in ("x", "u", "present"))
        self.lat, self.lon = np.asarray(bank["lat"], np.float64), np.asarray(bank["lon"], np.float64)
        self.v_index, self.v_mean_std = list(STATE).index("v500"), stats["v500"]["clim_mean"] / stats["v500"]["clim_std"]
        self.g = torch.Generator().manual_seed(seed)

    def _reflect(self, x, u):
        x, u = x.flip(-2), u.flip(-2)
        k = self.v_index  # v -> -v: background (x_b - m)/s -> -(x_b - m)/s - 2m/s; increment and residual change sign
        x, u = x.clone(), u.clone()
        x[:, k, 0] = -x[:, k, 0] - 2 * self.v_mean_std
        x[:, k, 1], x[:, k, 4], u[:, k] = -x[:, k, 1], -x[:, k, 4], -u[:, k]
        return x, u

    def __call__(self, batch: int, crop=None):
        g = self.g
        idx = torch.randint(len(self.u), (batch,), generator=g)
        x, u, present = self.x[idx], self.u[idx], self.present[idx].float()
        shift = int(torch.randint(x.shape[-1], (1,), generator=g))
        x, u, lon = torch.roll(x, shift, dims=-1), torch.roll(u, shift, dims=-1), np.roll(self.lon, shift)
        if torch.rand(1, generator=g) < 0.5:
            x, u = self._reflect(x, u)
        lat, periodic = self.lat, True
        if crop is not None:
            (cy, cx), (ny, nx) = crop, x.shape[-2:]
            j = int(torch.randint(ny - cy + 1, (1,), generator=g))
            i = int(torch.randint(nx - cx + 1, (1,), generator=g))
            x, u, lat, periodic = x[..., j : j + cy, i : i + cx], u[..., j : j + cy, i : i + cx], lat[j : j + cy], False
            lon = self.lon[0] + (np.arange(cx) + i) * (self.lon[1] - self.lon[0])
        return x, u, present, lat, lon, periodic


def train(data, out, *, name: str = "hs-t42-mv-v1", minutes: float = 12.0, batch: int = 12, lr: float = 3e-4,
          channels=(16, 32, 64, 128), cases: int = 1600, seed: int = 0, bank: str | Path | None = None,
          encoder: str = "analytic", physics_weight: float = 0.0, max_steps: int = 1_000_000) -> Path:
    """Train the joint anchored model (see the module docstring); returns the weight file's path.

    ``encoder``: "analytic" or "vre"; ``physics_weight``: lambda of the PRDO term (0: none).
    """
    torch.manual_seed(seed)
    stats, alpha = state_stats(data)
    banks = _banks(data, stats, alpha, cases, seed, bank)
    net = joint_denoiser(len(STATE), channels, encoder)
    means = [stats[v]["clim_mean"] for v in STATE]
    stds = [stats[v]["clim_std"] for v in STATE]
    loss = JointLoss(physics_weight, balance_index=BALANCE_INDEX, means=means, stds=stds)
    batches = _Batches(banks["train"], stats, seed)
    gcrop = torch.Generator().manual_seed(seed + 7)
    t0 = time.perf_counter()

    def loss_fn(step):
        big = batches.x.shape[-2] > 32 and batches.x.shape[-1] > 64
        crop = (32, 64) if big and torch.rand(1, generator=gcrop) < 0.5 else None  # half the batches regional
        x, u, present, lat, lon, periodic = batches(batch, crop)
        cond = net.condition(x, torch.tensor(lat, dtype=torch.float32), torch.tensor(lon, dtype=torch.float32), periodic)
        # the stencils need the longitudes in order (a rolled global batch is the same grid)
        geo = cell_geometry(lat, np.sort(lon) if periodic else lon, periodic) if physics_weight > 0 else None
        return loss(net, u, cond, x, periodic, geo, present)[0]

    ema, step, losses = fit(net, loss_fn, minutes=minutes, max_steps=max_steps, lr=lr, label="[joint]")
    validation = validate(ema, banks["validation"], stats)
    settings = dict(minutes=minutes, batch=batch, lr=lr, seed=seed, steps=step, ema=0.999, encoder=encoder,
                    physics_weight=physics_weight, physics_schedule="lambda(sigma) = physics_weight at every sigma and the head",
                    final_train_loss=float(np.mean(losses[-100:])), wall_seconds=round(time.perf_counter() - t0),
                    validation=validation,
                    command=f"python -m xda.training.joint {' '.join(p.name for p in _paths(data))} --name {name} "
                            f"--minutes {minutes} --cases {cases} --batch {batch} --seed {seed} --encoder {encoder} "
                            f"--physics-weight {physics_weight}")
    log.info(f"done: {step} steps, validation {validation}")
    card = _card(stats, alpha, data, {k: len(b["u"]) for k, b in banks.items()}, settings, encoder)
    return save_model(ema.cpu(), card, Path(out), name, dtype=torch.float16)  # fp16 file: half the size


def _banks(data, stats, alpha, cases: int, seed: int, cache) -> dict:
    if cache is not None and Path(cache).expanduser().exists():
        z = np.load(Path(cache).expanduser())
        return {s: {k[len(s) + 1:]: z[k] for k in z.files if k.startswith(s + "_")} for s in ("train", "validation")}
    t0 = time.perf_counter()
    banks = {"train": make_bank(data, "train", cases, stats, alpha, seed),
             "validation": make_bank(data, "validation", max(cases // 8, 16), stats, alpha, seed + 1)}
    log.info(f"banks of {cases} + {len(banks['validation']['u'])} cases: {time.perf_counter() - t0:.0f} s")
    if cache is not None:
        np.savez(Path(cache).expanduser(), **{f"{s}_{k}": v for s, b in banks.items() for k, v in b.items()})
    return banks


@torch.no_grad()
def validate(model, bank: dict, stats: dict) -> dict:
    """Per variable, observed and unobserved: rms of u (the anchor's error in units of s_a) and of u - head."""
    x, u, obs = torch.as_tensor(bank["x"]), torch.as_tensor(bank["u"]), np.asarray(bank["observed"])
    present = np.asarray(bank["present"])
    lat, lon = (torch.tensor(bank[k], dtype=torch.float32) for k in ("lat", "lon"))
    head = torch.cat([posterior_mean(model, model.condition(x[k : k + 16], lat, lon, True), torch.zeros(len(x[k : k + 16]), dtype=torch.long), True)
                      for k in range(0, len(x), 16)])
    out = {}
    for j, v in enumerate(STATE):
        for label, m in (("observed", obs[:, j]), ("unobserved", present[:, j] & ~obs[:, j])):
            if m.any():
                mm = torch.as_tensor(m)
                out[f"{v} {label}"] = dict(rms_u_anchor=round(float(u[mm, j].pow(2).mean().sqrt()), 4),
                                           rms_u_head=round(float((u[mm, j] - head[mm, j]).pow(2).mean().sqrt()), 4))
    return out


def _card(stats, alpha, data, bank_sizes, settings, encoder) -> dict:
    paths = _paths(data)
    ds = xr.open_dataset(paths[0])
    attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items() if k != "seed"}
    return {
        "kind": "assimilation",
        "anchor": "oi",
        "joint": True,
        "encoder": encoder,
        "balance_coefficient": alpha,
        "description": "EDM denoiser of the whole state's departure from the classical multivariate anchor (tuned OI per "
                       "variable, winds balanced with the height increment), in units of the anchor's error std "
                       f"(xda.models.joint); observation encoder {encoder!r}; physics weight {settings['physics_weight']}",
        "variables": stats,
        "grid": {"name": "T42 Gaussian", "shape": [int(ds.sizes["lat"]), int(ds.sizes["lon"])], "global": True,
                 "spacing_deg": float(360.0 / ds.sizes["lon"]), "valid_spacing_deg": [0.25, 6.0]},
        "training_data": dict(attrs, files=[p.name for p in paths], cases=bank_sizes,
                              cases_built="forecast backgrounds (6-24 h); each variable missing with probability 0.15, "
                                          "observed with probability 1/2 (at least one) at 0.5-10 % off the grid; tuned "
                                          "OI per variable, winds balanced"),
        "training": settings,
    }


if __name__ == "__main__":  # python -m xda.training.joint ...: the xda command's parser (xda train joint --help)
    from ..cli import main

    raise SystemExit(main(["train", "joint", *sys.argv[1:]]))
