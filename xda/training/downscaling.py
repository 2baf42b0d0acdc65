"""Training of the downscaling model (:class:`xda.models.downscaling.Downscaler`).

One reproducible command from data to weights::

    python -m xda.simulate --kind downscaling            # T63 Held-Suarez + ETOPO20 orography
    python -m xda.training.downscaling ~/.cache/xda/hs_t63_orog.nc --out xda/weights

Training pairs: the simulated lowest-level temperature and winds on the T63 grid (the
*fine* truth) and their area-weighted ``f x f`` block means (the *coarse* input,
:func:`xda.numerics.regrid.coarsen`), train split only (validation and test are later,
disjoint times). Augmentation: random longitude rolls by whole coarse cells and
north-south reflections (with ``v -> -v``), symmetries of Held-Suarez physics when the
orography moves with the fields; winds are withheld from 25 % of the examples so the
model also works without them.

Stages (each keeps an exponential moving average of the weights):

1. ``regressor``: the deterministic U-Net, MSE on the normalised residual
   ``(T - bicubic) / s_r``. With ``target="regression"`` (default) the std ``s_2`` of
   its error is stored, and the next stages model the departure
   ``(r / s_r - Reg) / s_2`` (residual against a reference U-Net, as CorrDiff and the
   PDE-informed downscaling paper).
2. ``ae``: the autoencoder of that departure, loss ``MSE + beta KL`` with
   ``beta = 1e-4``; then the per-channel latent std is stored so the diffusion latent
   has unit variance.
3. ``denoiser``: EDM denoising loss on the latent plus the physics loss

   ``lambda(step) * mean_b[ w(sigma_b) <R(T_hat_b)^2>_A ] / R_0^2``

   where ``T_hat = bicubic + s_r * (Reg + s_2 * Dec(D(z_sigma; sigma)))`` is the decoded
   denoised estimate, ``R = u dT/dx + v dT/dy - kappa lap T`` (:func:`pde_residual`, winds:
   bilinear interpolation of the coarse winds, what exists at inference),
   ``<.>_A`` the area-weighted mean, ``R_0^2`` the same mean for the true fields (so the
   truth scores 1), ``w(sigma) = 1 / (1 + sigma^2)`` (the physics of a heavily noised
   estimate is not meaningful) and ``lambda`` ramps linearly from 0 to ``pde_weight``
   over the first half of the stage. Examples without winds have no physics term.
   ``kappa`` is the least-squares effective diffusivity of the training truth
   (``argmin <(A - kappa L)^2>``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..models.diffusion import edm_loss
from ..models.downscaling import (
    OROG_SCALE,
    WIND_SCALE,
    Downscaler,
    condition,
    pde_residual,
    static_inputs,
)
from ..models.registry import save_model
from ..numerics import regrid, stencils
from .loop import fit


def load_pairs(data: str | Path, split: str, factor: int, every: int = 1) -> dict:
    """Fine truth and coarse inputs of one split of a downscaling simulation file.

    Returns a dict of float32 arrays: ``tas``, ``uas``, ``vas`` (fine, (T, fy, fx)),
    ``tas_c``, ``u_c``, ``v_c`` (coarse), ``base`` (bicubic of ``tas_c``), ``u_f``,
    ``v_f`` (bilinear of the coarse winds), ``orog_c``, ``detail`` (static), and the
    coordinates ``lat``, ``lon``, ``lat_c``, ``lon_c``.
    """
    with xr.open_dataset(data) as ds:
        sel = ds["split"].values == split
        idx = np.flatnonzero(sel)[::every]
        lat, lon = ds["lat"].values, ds["lon"].values
        tas, uas, vas = (ds[v].values[idx].astype(np.float32) for v in ("tas", "uas", "vas"))
        orog = ds["orog"].values.astype(np.float64)
    lat_c, lon_c = regrid.coarse_coords(lat, lon, factor)
    out = dict(tas=tas, uas=uas, vas=vas, lat=lat, lon=lon, lat_c=lat_c, lon_c=lon_c, time_index=idx)
    for k, a in (("tas_c", tas), ("u_c", uas), ("v_c", vas)):
        out[k] = regrid.coarsen(a, factor, lat)
    out["base"] = regrid.upsample(out["tas_c"], lat_c, lon_c, lat, lon, "cubic").astype(np.float32)
    out["u_f"] = regrid.upsample(out["u_c"], lat_c, lon_c, lat, lon, "linear").astype(np.float32)
    out["v_f"] = regrid.upsample(out["v_c"], lat_c, lon_c, lat, lon, "linear").astype(np.float32)
    oc, detail = static_inputs(orog, lat, lon, lat_c, lon_c, factor, True)
    out["orog_c"], out["detail"] = oc.astype(np.float32), detail.astype(np.float32)
    return out


def effective_kappa(tas, u, v, lat, lon) -> tuple[float, float]:
    """Least-squares ``kappa`` of the steady residual and the residual's mean square.

    Returns
    -------
    (kappa [m2 s-1], R_0^2 [K2 s-2]) with area weights cos(lat).
    """
    geo = stencils.geometry(lat, lon, periodic=True)
    a = stencils.advection(tas.astype(np.float64), u.astype(np.float64), v.astype(np.float64), geo)
    lap = stencils.laplacian(tas.astype(np.float64), geo)
    w = np.cos(np.deg2rad(lat))[None, :, None] * np.ones_like(a)
    kappa = float((w * a * lap).sum() / (w * lap * lap).sum())
    r0 = float((w * (a - kappa * lap) ** 2).sum() / w.sum())
    return kappa, r0


class _Batches:
    """Random augmented examples (see the module docstring) as normalised tensors."""

    def __init__(self, pairs: dict, card: dict, factor: int, seed: int, wind_dropout: float = 0.25):
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        self.f = factor
        self.r = t((pairs["tas"] - pairs["base"]) / card["residual_std"])
        self.base = t(pairs["base"])
        self.u_f, self.v_f = t(pairs["u_f"]), t(pairs["v_f"])
        self.tc = t((pairs["tas_c"] - card["tas_mean"]) / card["tas_std"])
        self.uc, self.vc = t(pairs["u_c"] / WIND_SCALE), t(pairs["v_c"] / WIND_SCALE)
        self.oc = t(pairs["orog_c"] / OROG_SCALE)
        self.detail = t(pairs["detail"] / OROG_SCALE)
        self.sin_lat_c = t(np.sin(np.deg2rad(pairs["lat_c"])))
        self.g = torch.Generator().manual_seed(seed)
        self.wind_dropout = wind_dropout

    def __call__(self, batch: int) -> dict:
        g, f = self.g, self.f
        nt, ny, nx = self.tc.shape
        ti = torch.randint(nt, (batch,), generator=g)
        roll = torch.randint(nx, (batch,), generator=g)
        flip = torch.rand(batch, generator=g) < 0.5
        flag = (torch.rand(batch, generator=g) >= self.wind_dropout).float()
        out = {k: [] for k in ("r", "base", "u_f", "v_f", "tc", "uc", "vc", "oc", "detail")}
        for k in range(batch):
            i, s = int(ti[k]), int(roll[k])
            fine = {"r": self.r[i], "base": self.base[i], "u_f": self.u_f[i], "v_f": self.v_f[i], "detail": self.detail}
            coarse = {"tc": self.tc[i], "uc": self.uc[i], "vc": self.vc[i], "oc": self.oc}
            fine = {n: torch.roll(a, s * f, dims=-1) for n, a in fine.items()}
            coarse = {n: torch.roll(a, s, dims=-1) for n, a in coarse.items()}
            if flip[k]:
                fine = {n: a.flip(-2) for n, a in fine.items()}
                coarse = {n: a.flip(-2) for n, a in coarse.items()}
                fine["v_f"], coarse["vc"] = -fine["v_f"], -coarse["vc"]
            for n, a in {**fine, **coarse}.items():
                out[n].append(a)
        out = {n: torch.stack(a) for n, a in out.items()}
        out["flag"] = flag
        out["cond"] = condition(out["tc"], out["uc"], out["vc"], flag, out["oc"], out["detail"], self.sin_lat_c, f)
        out["r"] = out["r"][:, None]
        return out


def train_downscaler(
    data: str | Path,
    out: str | Path,
    *,
    name: str = "hs-t63-ds-v0",
    factor: int = 4,
    stages=("regressor", "ae", "denoiser"),
    target: str = "regression",
    minutes: dict | None = None,
    pde_weight: float = 0.1,
    batch: int = 16,
    lr: float = 3e-4,
    seed: int = 0,
    init: str | Path | None = None,
    device: str | None = None,
    max_steps: int = 1_000_000,
    network: dict | None = None,
) -> Path:
    """Train (some stages of) the downscaling model on a :mod:`xda.simulate` file.

    Parameters
    ----------
    data : path
        netCDF from ``python -m xda.simulate --kind downscaling``.
    out : path
        Directory for ``<name>.safetensors`` and the card ``<name>.json``.
    name : str
    factor : int
        Refinement factor (a power of two dividing the grid).
    stages : sequence of {"regressor", "ae", "denoiser"}
        Stages to run (always in this order); the others are taken from ``init``.
    target : {"regression", "bicubic"}
        What the autoencoder and the denoiser model: the departure from the regression
        U-Net (default, as CorrDiff) or the residual from bicubic interpolation.
    minutes : dict, optional
        Wall-clock budget per stage (defaults: ae 8, regressor 6, denoiser 16).
    pde_weight : float
        Final weight ``lambda`` of the physics loss (0: plain latent diffusion).
    init : path, optional
        A ``.safetensors`` downscaler to start from (and its ``.json`` card).
    device : str, optional
        Defaults to CUDA when available.
    max_steps : int
        Step limit per stage (with the time budget, whichever comes first).
    network : dict, optional
        :class:`~xda.models.downscaling.Downscaler` arguments (``latent``, ``ae_widths``,
        ``channels``) for a new model.

    Returns
    -------
    Path of the weight file.
    """
    torch.manual_seed(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    budget = {"ae": 8.0, "regressor": 6.0, "denoiser": 16.0, **(minutes or {})}
    t_load = time.perf_counter()
    tr, va = load_pairs(data, "train", factor), load_pairs(data, "validation", factor)
    print(f"pairs: {tr['tas'].shape[0]} train, {va['tas'].shape[0]} validation ({time.perf_counter() - t_load:.0f} s)", flush=True)
    if init is not None:
        model, card = _from_init(init, stages, seed)
    else:
        model, card = Downscaler(factor=factor, **(network or {})), _new_card(data, tr, factor, seed, batch, lr)
    card["target"] = target
    if target == "bicubic":
        card.pop("residual2_std", None)
    run = _Stages(model.to(dev), card, _Batches(tr, card, factor, seed), batch, dev, target, max_steps, lr)
    if "regressor" in stages:
        run.regressor(budget["regressor"])
    if target == "regression" and ("regressor" in stages or "residual2_std" not in card):
        run.departure_scale()
    if "ae" in stages:
        run.autoencoder(budget["ae"])
    if "denoiser" in stages:
        run.denoiser(budget["denoiser"], pde_weight, tr["lat"], tr["lon"])
        run.validate(_Batches(va, card, factor, seed + 1, wind_dropout=0.0), seed)
    _finish_card(card, data, name, stages, target, pde_weight, seed, init, max_steps)
    return save_model(model.cpu(), card, Path(out), name, dtype=torch.float16)


def _from_init(init, stages, seed) -> tuple[Downscaler, dict]:
    """A shipped downscaler whose ``stages`` restart from scratch (same seed as a fresh model)."""
    import json

    from safetensors.torch import load_file

    card = json.loads(Path(init).with_suffix(".json").read_text())
    model = Downscaler(**card["network"])
    model.load_state_dict({k: v.float() for k, v in load_file(init).items()})
    # an ablation that retrains only the denoiser shares the autoencoder and nothing else
    torch.manual_seed(seed)
    fresh = Downscaler(**card["network"])
    for stage in stages:
        getattr(model, stage).load_state_dict(getattr(fresh, stage).state_dict())
    card["training"] = dict(card["training"], initialised_from=Path(init).name)
    return model, card


def _new_card(data, tr: dict, factor: int, seed: int, batch: int, lr: float) -> dict:
    """The model card of a new downscaler: normalisation, effective diffusivity, provenance."""
    kappa, r0 = effective_kappa(tr["tas"], tr["u_f"], tr["v_f"], tr["lat"], tr["lon"])
    res = tr["tas"] - tr["base"]
    with xr.open_dataset(data) as ds:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}
    print(f"kappa {kappa:.3g} m2/s, truth residual rms {np.sqrt(r0):.3g} K/s, residual std {res.std():.3f} K", flush=True)
    return {
        "kind": "downscaling",
        "factor": factor,
        "variable": {"name": "tas", "standard_name": "air_temperature", "units": "K"},
        "tas_mean": float(tr["tas"].mean()), "tas_std": float(tr["tas"].std()),
        "residual_std": float(res.std()),
        "kappa": kappa, "residual_ms_truth": r0,
        "coarsening": f"area-weighted (cos lat) block mean over {factor} x {factor} cells",
        "base": "scipy RegularGridInterpolator cubic (bicubic) of the coarse temperature",
        "physics_winds": "bilinear interpolation of the coarse winds to the fine grid",
        "grid": {"name": "T63 Gaussian (fine)", "shape": list(tr["tas"].shape[1:]), "global": True},
        "training_data": dict(attrs, file=Path(data).name, times_train=int(tr["tas"].shape[0])),
        "training": {"seed": seed, "batch": batch, "lr": lr, "ema": 0.999, "stages": {}},
    }


def _finish_card(card, data, name, stages, target, pde_weight, seed, init, max_steps) -> None:
    log = card["training"].setdefault("stages", {})
    card["pde_weight"] = log.get("denoiser", {}).get("pde_weight", card.get("pde_weight"))
    card["description"] = (
        "latent diffusion downscaling of near-surface temperature: "
        + ("departure from a regression U-Net on top of bicubic interpolation" if target == "regression"
           else "residual from bicubic interpolation")
        + ", conditioned on coarse T, winds and orography; physics loss: steady advection-diffusion residual")
    previous = card["training"].pop("command", None)
    card["training"]["commands"] = ([previous] if previous else []) + list(card["training"].get("commands", [])) + [
        f"python -m xda.training.downscaling {Path(data).name} --name {name} "
        f"--stages {','.join(stages)} --target {target} --pde-weight {pde_weight} --seed {seed}"
        + (f" --init {Path(init).name}" if init else "")
        + (f" --max-steps {max_steps}" if max_steps < 1_000_000 else "")
    ]


class _Stages:
    """The training stages of a downscaler, sharing the model, card, batches and device."""

    periodic = True

    def __init__(self, model, card, batches, batch, dev, target, max_steps, lr):
        self.model, self.card, self.batches, self.batch, self.dev = model, card, batches, batch, dev
        self.target, self.max_steps, self.lr = target, max_steps, lr
        self.log = card["training"].setdefault("stages", {})
        self.var0 = torch.zeros(batch, dtype=torch.long, device=dev)

    def _fit(self, module, loss, minutes, label, **kw):
        ema, steps, losses = fit(module, loss, minutes=minutes, lr=self.lr, label=label, max_steps=self.max_steps, **kw)
        module.load_state_dict(ema.state_dict())
        self.log[label] = dict(steps=steps, loss=float(np.mean(losses[-100:])), minutes=minutes)
        return self.log[label]

    def departure(self, b: dict) -> torch.Tensor:
        """What the autoencoder and the denoiser model: the normalised residual, or its
        departure from the (frozen) regression U-Net in units of ``residual2_std``."""
        r = b["r"].to(self.dev)
        if self.target == "bicubic":
            return r
        with torch.no_grad():
            return (r - self.model.regress(b["cond"].to(self.dev), self.periodic)) / self.card["residual2_std"]

    def regressor(self, minutes):
        m, dev = self.model, self.dev

        def reg_loss(step):
            b = self.batches(self.batch)
            return ((m.regress(b["cond"].to(dev), self.periodic) - b["r"].to(dev)) ** 2).mean()

        self._fit(m.regressor, reg_loss, minutes, "regressor")

    def departure_scale(self):
        m, dev = self.model, self.dev
        with torch.no_grad():
            d = [b["r"].to(dev) - m.regress(b["cond"].to(dev), self.periodic)
                 for b in (self.batches(self.batch) for _ in range(16))]
        self.card["residual2_std"] = float(torch.cat(d).std())
        print(f"departure from the regression: std {self.card['residual2_std']:.3f} (units of residual_std)", flush=True)

    def autoencoder(self, minutes, beta=1e-4):
        ae, p = self.model.ae, self.periodic

        def ae_loss(step):
            r = self.departure(self.batches(self.batch))
            mean, logvar = ae.encode(r, p)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
            kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).mean()
            return ((ae.decode(z, p) - r) ** 2).mean() + beta * kl

        entry = self._fit(ae, ae_loss, minutes, "ae")
        with torch.no_grad():
            scale = torch.cat([ae.encode(self.departure(self.batches(self.batch)), p)[0] for _ in range(8)]).std(dim=(0, 2, 3))
        self.model.latent_scale.copy_(scale)
        entry.update(beta=beta, latent_scale=[float(x) for x in scale])
        print(f"latent scale {scale.tolist()}", flush=True)

    def _latent(self, b):
        with torch.no_grad():
            return self.model.ae.encode(self.departure(b), self.periodic)[0] / self.model.latent_scale[None, :, None, None]

    def denoiser(self, minutes, pde_weight, lat, lon):
        """EDM denoising loss plus ``lambda * w(sigma) * |R(T_hat)|^2 / |R(T)|^2`` (linear ramp of lambda)."""
        m, dev, card, p = self.model, self.dev, self.card, self.periodic
        geo = stencils.geometry(lat, lon, periodic=True)
        area = torch.as_tensor(np.cos(np.deg2rad(lat)), dtype=torch.float32, device=dev)[:, None]
        area = area / area.mean()

        def dn_loss(step, elapsed_fraction):
            b = self.batches(self.batch)
            z, lam = self._latent(b), pde_weight * min(1.0, 2 * elapsed_fraction)
            if lam <= 0:
                return edm_loss(m.denoiser, z, b["cond"].to(dev), self.var0, p)
            loss, d, sigma = edm_loss(m.denoiser, z, b["cond"].to(dev), self.var0, p, return_denoised=True)
            rhat = m.decode(d, p)
            if self.target == "regression":
                with torch.no_grad():
                    reg = m.regress(b["cond"].to(dev), p)
                rhat = reg + card["residual2_std"] * rhat
            that = b["base"].to(dev) + card["residual_std"] * rhat[:, 0]
            res = pde_residual(that, b["u_f"].to(dev), b["v_f"].to(dev), card["kappa"], geo)
            ms = (area * res**2).mean(dim=(-2, -1)) / card["residual_ms_truth"]
            return loss + lam * (b["flag"].to(dev) / (1 + sigma**2) * ms).mean()

        m.ae.requires_grad_(False)
        entry = self._fit(m.denoiser, dn_loss, minutes, "denoiser", pass_fraction=True)
        m.ae.requires_grad_(True)
        entry.update(pde_weight=pde_weight, pde_schedule="linear ramp 0 -> pde_weight over the first half, w(sigma)=1/(1+sigma^2)")

    def validate(self, batches, seed):
        """Validation denoising loss (fixed seed), for the card."""
        torch.manual_seed(seed + 2)
        with torch.no_grad():
            vl = [float(edm_loss(self.model.denoiser, self._latent(b), b["cond"].to(self.dev), self.var0, self.periodic))
                  for b in (batches(self.batch) for _ in range(6))]
        self.log["denoiser"]["validation_loss"] = float(np.mean(vl))
        print(f"denoiser validation loss {np.mean(vl):.4f}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the xda downscaling model.")
    p.add_argument("data")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "weights"))  # xda/weights
    p.add_argument("--name", default="hs-t63-ds-v0")
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--stages", default="regressor,ae,denoiser")
    p.add_argument("--target", choices=["regression", "bicubic"], default="regression")
    p.add_argument("--minutes-ae", type=float, default=8.0)
    p.add_argument("--minutes-regressor", type=float, default=6.0)
    p.add_argument("--minutes-denoiser", type=float, default=16.0)
    p.add_argument("--pde-weight", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default=None)
    p.add_argument("--max-steps", type=int, default=1_000_000, help="step limit per stage")
    a = p.parse_args(argv)
    train_downscaler(a.data, a.out, name=a.name, factor=a.factor, stages=tuple(a.stages.split(",")),
                     minutes={"ae": a.minutes_ae, "regressor": a.minutes_regressor, "denoiser": a.minutes_denoiser},
                     pde_weight=a.pde_weight, batch=a.batch, lr=a.lr, seed=a.seed, init=a.init, max_steps=a.max_steps, target=a.target)


if __name__ == "__main__":
    main()
