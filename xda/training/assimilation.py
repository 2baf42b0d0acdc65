"""Training of the assimilation denoiser on simulated (truth, background) pairs.

One reproducible command from data to weights::

    python -m xda.simulate --out ~/.cache/xda/hs_t42.nc            # ~25 min on 2 CPU cores
    python -m xda.training ~/.cache/xda/hs_t42.nc --out xda/weights --minutes 45

Training draws, for each example, a random training time and variable, augments it by
a random longitude roll and a north-south reflection (symmetries of Held-Suarez
statistics), observes a random fraction (log-uniform in 0.3-12 %) of grid points with a
random observation error (log-uniform in 0.05-1 background-error stds), and minimises
the EDM denoising loss of the normalised increment ``(x_t - x_b) / s_b``. A third of the
batches are random regional crops (non-periodic) so the network learns grid edges.
The exponential moving average of the weights is saved.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..models.diffusion import Denoiser, build_condition, edm_loss
from ..models.registry import save_model
from ..numerics import oi
from .loop import fit

#: Variables of the simulation file: (standard_name, units, long_name).
VARIABLES = {
    "z500": ("geopotential_height", "m", "500 hPa geopotential height"),
    "tas": ("air_temperature", "K", "air temperature near the surface"),
}


def background_error_stats(truth: np.ndarray, background: np.ndarray, lat: np.ndarray, seed: int = 0) -> dict:
    """Background-error statistics from (truth, background) pairs on a grid.

    ``s_b(lat)``: root-mean-square of ``x_b - x_t`` over time and longitude, symmetrised
    about the equator. Length scale: SOAR fit (:func:`xda.numerics.oi.fit_covariance`) to
    the binned covariances of normalised errors at 600 random grid points and up to 200
    times (Hollingsworth & Lonnberg 1986 applied to known errors).

    Parameters
    ----------
    truth, background : ndarray (time, lat, lon)
    lat : ndarray (lat,) in degrees, symmetric about the equator.
    """
    err = background - truth
    prof = np.sqrt((err.astype(np.float64) ** 2).mean(axis=(0, 2)))
    if np.allclose(lat, -lat[::-1], atol=1e-3):
        prof = np.sqrt(0.5 * (prof**2 + prof[::-1] ** 2))
    prof = np.maximum(prof, 0.05 * prof.max())
    rng = np.random.default_rng(seed)
    ny, nx = truth.shape[1:]
    pts = rng.choice(ny * nx, 600, replace=False)
    times = rng.choice(err.shape[0], min(200, err.shape[0]), replace=False)
    vals = (err[times] / prof[None, :, None]).reshape(len(times), -1)[:, pts]
    glat, glon = np.meshgrid(lat, np.linspace(0, 360, nx, endpoint=False), indexing="ij")
    xyz = oi.unit_vectors(glat.ravel()[pts], glon.ravel()[pts])
    centers, cov, count = oi.binned_covariance(vals, xyz, np.linspace(0, 4e6, 41))
    _, length = oi.fit_covariance(centers, cov, count, "soar")
    return {
        "sigma_b": {"lat": [float(x) for x in lat], "values": [float(x) for x in prof]},
        "length_scale_m": length,
        "correlation": "soar",
    }


def _log_uniform(rng: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    u = torch.rand(n, generator=rng)
    return torch.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))


class _Batches:
    """Random training examples from in-memory arrays (see module docstring)."""

    def __init__(self, fields: dict, card: dict, lat: np.ndarray, seed: int):
        self.names = list(fields)
        self.truth = [torch.as_tensor(fields[v][0], dtype=torch.float32) for v in self.names]
        self.bg = [torch.as_tensor(fields[v][1], dtype=torch.float32) for v in self.names]
        self.sb = [torch.as_tensor(card["variables"][v]["sigma_b"]["values"], dtype=torch.float32) for v in self.names]
        self.mean = [card["variables"][v]["clim_mean"] for v in self.names]
        self.std = [card["variables"][v]["clim_std"] for v in self.names]
        self.sin_lat = torch.as_tensor(np.sin(np.deg2rad(lat)), dtype=torch.float32)
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, batch: int, crop: tuple[int, int] | None = None):
        g = self.g
        nt, ny, nx = self.truth[0].shape
        var = torch.randint(len(self.names), (batch,), generator=g)
        t = torch.randint(nt, (batch,), generator=g)
        shift = torch.randint(nx, (batch,), generator=g)
        flip = torch.rand(batch, generator=g) < 0.5
        z, b = [], []
        for k in range(batch):
            v = int(var[k])
            xt, xb = self.truth[v][t[k]], self.bg[v][t[k]]
            zz = (xt - xb) / self.sb[v][:, None]
            bb = (xb - self.mean[v]) / self.std[v]
            zz, bb = (torch.roll(a, int(shift[k]), dims=-1) for a in (zz, bb))
            if flip[k]:
                zz, bb = zz.flip(-2), bb.flip(-2)
            z.append(zz)
            b.append(bb)
        z, b = torch.stack(z), torch.stack(b)
        sin_lat = self.sin_lat
        periodic = True
        if crop is not None:
            cy, cx = crop
            j = int(torch.randint(ny - cy + 1, (1,), generator=g))
            i = int(torch.randint(nx - cx + 1, (1,), generator=g))
            z, b = z[:, j : j + cy, i : i + cx], b[:, j : j + cy, i : i + cx]
            sin_lat = sin_lat[j : j + cy]
            periodic = False
        density = _log_uniform(g, batch, 0.003, 0.12)[:, None, None]
        mask = (torch.rand(z.shape, generator=g) < density).float()
        err = _log_uniform(g, batch, 0.05, 1.0)[:, None, None].expand_as(z)
        innov = z + err * torch.randn(z.shape, generator=g)
        cond = build_condition(b, sin_lat, innov * mask, mask, err * mask, periodic)
        return z[:, None], cond, var, periodic


def train(
    data: str | Path,
    out: str | Path,
    *,
    name: str = "hs-t42-v0",
    minutes: float = 30.0,
    max_steps: int = 100_000,
    batch: int = 16,
    lr: float = 3e-4,
    channels=(16, 32, 64, 128),
    seed: int = 0,
    device: str | None = None,
    init: str | Path | None = None,
) -> Path:
    """Train the assimilation denoiser on a simulation file from :mod:`xda.simulate`.

    Parameters
    ----------
    data : path
        netCDF with ``<var>_truth``, ``<var>_background`` (time, lat, lon) and ``split``.
    out : path
        Directory for ``<name>.safetensors`` and the model card ``<name>.json``.
    minutes, max_steps : float, int
        Stop at whichever comes first.
    batch, lr, channels, seed : training hyper-parameters.
    device : str, optional
        Defaults to CUDA when available.
    init : path, optional
        A ``.safetensors`` file of the same architecture to continue training from.

    Returns
    -------
    Path of the weight file.
    """
    torch.manual_seed(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ds = xr.open_dataset(data)
    lat = ds["lat"].values
    split = ds["split"].values
    fields, val_fields, card_vars = {}, {}, {}
    for k, (v, (sn, units, ln)) in enumerate(VARIABLES.items()):
        tr = ds[f"{v}_truth"].values[split == "train"]
        bg = ds[f"{v}_background"].values[split == "train"]
        fields[v] = (tr, bg)
        val_fields[v] = (ds[f"{v}_truth"].values[split == "validation"], ds[f"{v}_background"].values[split == "validation"])
        stats = background_error_stats(tr, bg, lat, seed)
        card_vars[v] = dict(index=k, standard_name=sn, units=units, long_name=ln,
                            clim_mean=float(tr.mean()), clim_std=float(tr.std()), **stats)
        print(f"{v}: s_b {np.min(stats['sigma_b']['values']):.3g}..{np.max(stats['sigma_b']['values']):.3g} {units}, "
              f"L = {stats['length_scale_m'] / 1e3:.0f} km", flush=True)
    card = {
        "description": "EDM denoiser of normalised analysis increments, conditioned on the background and an observation encoding",
        "variables": card_vars,
        "grid": {"name": "T42 Gaussian", "shape": [int(ds.sizes["lat"]), int(ds.sizes["lon"])], "global": True},
        "training_data": dict({k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}, file=Path(data).name, times_train=int((split == "train").sum())),
        "training": dict(minutes=minutes, batch=batch, lr=lr, seed=seed, ema=0.999,
                         command=f"python -m xda.training {Path(data).name} --minutes {minutes} --seed {seed}"),
    }
    ny, nx = ds.sizes["lat"], ds.sizes["lon"]
    batches = _Batches(fields, card, lat, seed)
    val = _Batches(val_fields, card, lat, seed + 1)
    model = Denoiser(channels, n_variables=len(VARIABLES))
    if init is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(init))
        card["training"]["initialised_from"] = Path(init).name
    model = model.to(dev)
    gcrop = torch.Generator().manual_seed(seed + 7)
    t0 = time.perf_counter()

    def loss_fn(step):
        crop = (32, 48) if torch.rand(1, generator=gcrop) < 1 / 3 and min(ny - 32, nx - 48) > 0 else None
        z, cond, var, periodic = batches(batch, crop)
        return edm_loss(model, z.to(dev), cond.to(dev), var.to(dev), periodic)

    ema, step, losses = fit(model, loss_fn, minutes=minutes, max_steps=max_steps, lr=lr)
    # validation loss of the EMA model at fixed noise levels
    torch.manual_seed(seed + 2)
    with torch.no_grad():
        vl = []
        for _ in range(8):
            z, cond, var, periodic = val(batch)
            vl.append(float(edm_loss(ema, z.to(dev), cond.to(dev), var.to(dev), periodic)))
    card["training"].update(steps=step, final_train_loss=float(np.mean(losses[-100:])), validation_loss=float(np.mean(vl)),
                            wall_seconds=round(time.perf_counter() - t0))
    print(f"done: {step} steps, validation loss {np.mean(vl):.4f}", flush=True)
    return save_model(ema.cpu(), card, Path(out), name)


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the xda assimilation denoiser.")
    p.add_argument("data")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "weights"))  # xda/weights
    p.add_argument("--name", default="hs-t42-v0")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--max-steps", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--init", default=None, help="continue from this .safetensors file")
    a = p.parse_args(argv)
    train(a.data, a.out, name=a.name, minutes=a.minutes, max_steps=a.max_steps, batch=a.batch, seed=a.seed, lr=a.lr, init=a.init)


if __name__ == "__main__":
    main()
