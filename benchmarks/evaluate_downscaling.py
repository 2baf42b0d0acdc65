"""Downscaling scores: bilinear, bicubic, regression U-Net and latent diffusion, same cases.

    python benchmarks/evaluate_downscaling.py --sim ~/.cache/xda/hs_t63_orog.nc \
        --ablation ~/.cache/xda/weights/hs-t63-ds-nopde-v0.safetensors ~/.cache/xda/weights/hs-t63-ds-pde1-v0.safetensors

Prints one markdown table and writes it to ``benchmarks/results/downscaling.md``.
Cases (factor 4, T63 96 x 192 fine grid, 24 x 48 coarse):

1. Held-Suarez with ETOPO20 orography, held-out *test* split (later times than the
   training and validation splits, 5-day gaps): fine truth, coarse input = area-weighted
   block means of temperature and winds.
2. Real MPI-ESM-LR 2005 monthly-mean ``tas`` (with ``uas``, ``vas``), coarsened the same
   way and downscaled back to its own T63 grid.

Scores (latitude-weighted where spatial): RMSE, MAE; SSIM (Gaussian window 1.5 cells);
flux ratio across coarse-cell edges (:func:`xda.metrics.flux_ratio`, 1 = truth); spectral
slope difference ``|slope - slope_truth|`` of the zonal power spectrum averaged over
|lat| < 60 deg and time, between zonal wavenumbers 24 (the coarse grid's Nyquist) and
60 (both truths are T63 spectral fields: nothing beyond 63); spectral divergence (:func:`xda.spectral_divergence`, mean over |lat| < 70);
physics: rms of the steady advection-diffusion residual ``u.grad T - kappa lap T``
(coarse winds interpolated bilinearly; ``kappa`` of the model card) divided by the
truth's; for ensembles the fair CRPS and the spread-skill ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import xda
from xda.models.downscaling import downscale_arrays
from xda.models.registry import load_model
from xda.numerics import regrid, stencils
from xda.static import surface_altitude

FACTOR = 4
#: Zonal wavenumbers of the slope: from the coarse grid's Nyquist (48 / 2) to the T63
#: truncation of both the simulation and MPI-ESM (their grids hold no power beyond 63).
K_MIN, K_MAX = 24, 60


def _da(a, lat, lon):
    dims = ("sample", "lat", "lon") if a.ndim == 3 else ("member", "sample", "lat", "lon")
    return xr.DataArray(a, dims=dims, coords={"lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                                              "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})},
                        name="tas", attrs={"units": "K"})


def residual_rms(t, u, v, kappa, lat, lon):
    geo = stencils.geometry(lat, lon, periodic=True)
    r = stencils.advection(t, u, v, geo) - kappa * stencils.laplacian(t, geo)
    w = np.cos(np.deg2rad(lat))[None, :, None] * np.ones_like(r)
    return float(np.sqrt((w * r * r).sum() / w.sum()))


def zonal_slope(field: xr.DataArray) -> float:
    p = xda.power_spectrum(field.where(abs(field.lat) < 60, drop=True))
    p = p.mean([d for d in p.dims if d != "freq_lon"])
    return float(xda.spectral_slope(p, band=(K_MIN / 360, K_MAX / 360)))


def scores(pred: np.ndarray, truth: np.ndarray, lat, lon, u_f, v_f, kappa, one_member: bool = False) -> dict:
    """pred (members, B, fy, fx); scores of the ensemble mean (or of member 0)."""
    est = pred[0] if one_member else pred.mean(axis=0)
    e, t = _da(est, lat, lon), _da(truth, lat, lon)
    out = dict(
        rmse=float(xda.metrics.rmse(e, t, weights="latitude")),
        mae=float(xda.metrics.mae(e, t, weights="latitude")),
        ssim=float(xda.metrics.ssim(e, t).mean()),
        flux_ratio=float(xda.metrics.flux_ratio(e, t, FACTOR).mean()),
        slope_diff=abs(zonal_slope(e) - zonal_slope(t)),
        spectral_divergence=float(xda.spectral_divergence(e, t).where(abs(e.lat) < 70).mean()),
        residual_ratio=residual_rms(est.astype(np.float64), u_f, v_f, kappa, lat, lon)
        / residual_rms(truth.astype(np.float64), u_f, v_f, kappa, lat, lon),
    )
    if pred.shape[0] > 1 and not one_member:
        ens = _da(pred, lat, lon)
        out["crps"] = float(xda.metrics.crps(ens, t, weights="latitude"))
        out["spread_skill"] = float(xda.metrics.spread_skill_ratio(ens, t, weights="latitude"))
    return out


def run_case(case, truth, tas_c, u_c, v_c, lat, lon, models, members, steps, rows, seed=0):
    lat_c, lon_c = regrid.coarse_coords(lat, lon, FACTOR)
    orog = surface_altitude(lat, lon)
    u_f = regrid.upsample(u_c, lat_c, lon_c, lat, lon, "linear")
    v_f = regrid.upsample(v_c, lat_c, lon_c, lat, lon, "linear")
    kappa = models[0][2]["kappa"]
    common = dict(lat_c=lat_c, lon_c=lon_c, lat_f=lat, lon_f=lon, orog_f=orog, periodic=True)
    for method in ("bilinear", "bicubic"):
        t0 = time.perf_counter()
        pred, _ = downscale_arrays(tas_c, **common, model=None, card=None, method=method)
        rows.append(dict(case=case, method=method, seconds=time.perf_counter() - t0,
                         **scores(pred, truth, lat, lon, u_f, v_f, kappa)))
    label0, net0, card = models[0]
    t0 = time.perf_counter()
    pred, _ = downscale_arrays(tas_c, **common, model=net0, card=card, u_c=u_c, v_c=v_c, method="regression")
    rows.append(dict(case=case, method="regression U-Net", seconds=time.perf_counter() - t0,
                     **scores(pred, truth, lat, lon, u_f, v_f, kappa)))
    for k, (label, net, card) in enumerate(models):
        variants = [("", u_c, v_c, False)]
        if k == 0:
            variants += [(", no winds", None, None, False), (", calibrated spread", u_c, v_c, True)]
        for suffix, uu, vv, cal in variants:
            t0 = time.perf_counter()
            pred, nfe = downscale_arrays(tas_c, **common, model=net, card=card, u_c=uu, v_c=vv, method="xda",
                                         members=members, steps=steps, seed=seed, calibrated=cal)
            sec = time.perf_counter() - t0
            rows.append(dict(case=case, method=f"{label}{suffix}, {members}-member mean", seconds=sec,
                             **scores(pred, truth, lat, lon, u_f, v_f, kappa)))
            rows.append(dict(case=case, method=f"{label}{suffix}, one member", seconds=np.nan,
                             **scores(pred, truth, lat, lon, u_f, v_f, kappa, one_member=True)))
        print(f"{case}: {label} done", file=sys.stderr, flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", default="~/.cache/xda/hs_t63_orog.nc")
    p.add_argument("--model", default="hs-t63-ds-v0")
    p.add_argument("--ablation", nargs="*", default=[],
                   help=".safetensors downscalers that differ from --model only by the PDE weight of the denoiser stage")
    p.add_argument("--every", type=int, default=4, help="use every n-th test time")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "downscaling.md"))
    a = p.parse_args(argv)
    net, card = load_model(a.model, device="cpu")
    models = [(f"xda (PDE weight {card.get('pde_weight')})", net, card)]
    for path in a.ablation:
        abl = Path(path).expanduser()
        os.environ["XDA_WEIGHTS_DIR"] = str(abl.parent)
        n2, c2 = load_model(abl.stem, device="cpu")
        models.append((f"xda (PDE weight {c2.get('pde_weight')})", n2, c2))
    rows = []
    from xda.training.downscaling import load_pairs

    sim = Path(a.sim).expanduser()
    pairs = load_pairs(sim, a.split, FACTOR, every=a.every)
    n = pairs["tas"].shape[0]
    run_case(f"Held-Suarez+orography {a.split} ({n} times)", pairs["tas"], pairs["tas_c"], pairs["u_c"], pairs["v_c"],
             pairs["lat"], pairs["lon"], models, a.members, a.steps, rows)
    # real: MPI-ESM monthly means
    t = xda.datasets.open_dataset("esm_tas")["tas"]
    u = xr.open_dataset(xda.datasets.DATA_DIR / "esm_uas_monthly_t63.nc")["uas"]
    v = xr.open_dataset(xda.datasets.DATA_DIR / "esm_vas_monthly_t63.nc")["vas"]
    lat, lon = t["lat"].values, t["lon"].values
    tc, uc, vc = (regrid.coarsen(x.values.astype(np.float64), FACTOR, lat) for x in (t, u, v))
    run_case("MPI-ESM-LR 2005 monthly tas (12 months)", t.values.astype(np.float64), tc, uc, vc, lat, lon,
             models, a.members, a.steps, rows)
    df = pd.DataFrame(rows)
    for case, g in df.groupby("case", sort=False):
        bic = g.loc[g.method == "bicubic"].iloc[0]
        df.loc[g.index, "rmse/bicubic"] = g["rmse"] / bic["rmse"]
        df.loc[g.index, "slope_diff/bicubic"] = g["slope_diff"] / bic["slope_diff"]
    cols = ["case", "method", "rmse", "rmse/bicubic", "mae", "ssim", "flux_ratio", "slope_diff", "slope_diff/bicubic",
            "spectral_divergence", "residual_ratio", "crps", "spread_skill", "seconds"]
    df = df[[c for c in cols if c in df]]
    table = df.to_markdown(index=False, floatfmt=".3g")
    header = (f"Downscaling x{FACTOR}, T63 fine grid; model {a.model} (card: kappa = {card['kappa']:.3g} m2/s); "
              f"{a.members} members, {a.steps} Heun steps; RMSE/MAE in K. Produced by benchmarks/evaluate_downscaling.py.\n\n")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(header + table + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
