"""Physics diagnostics of the January 1996 blizzard (real 6-hourly analyses).

    python examples/storm1996_diagnostics.py [--outdir examples]

Surface temperature with 10 m winds over North America: advection, laplacian and the
advection-diffusion residual, a least-squares effective diffusivity, the isotropic
power spectrum of the regional temperature, and the zonal spectrum and slope of the
global NCEP 500 hPa heights for comparison. Writes PNG figures and prints numbers.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import xda  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--outdir", default="examples")
    a = p.parse_args()
    out = Path(a.outdir)
    t = xda.datasets.open_dataset("storm1996_t")["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]

    kappa = xda.effective_diffusivity(t, u, v)
    print(f"effective diffusivity (least squares over all points and times): {float(kappa):.3g} m2 s-1")
    per_time = xda.effective_diffusivity(t, u, v, dim=["lat", "lon"])
    print(f"  per analysis time: median {float(per_time.median()):.3g}, 10-90 %: "
          f"{float(per_time.quantile(0.1)):.3g} .. {float(per_time.quantile(0.9)):.3g} m2 s-1")
    k = max(float(kappa), 0.0)
    r0 = xda.advection_diffusion_residual(t, u, v, kappa=0.0)
    r = t.phyda.advection_diffusion_residual(u, v, kappa=k)
    tend = xda.advection_diffusion_residual(t, u, v, kappa=0.0) + xda.advection(t, u, v)  # R = dT/dt - advection
    rms = lambda x: float(np.sqrt((x**2).mean()))  # noqa: E731
    print(f"RMS dT/dt {rms(tend) * 86400:.2f} K/day, RMS residual with kappa=0: {rms(r0) * 86400:.2f} K/day, "
          f"with kappa={k:.3g}: {rms(r) * 86400:.2f} K/day")

    when = 24  # 1996-01-11 00 UTC
    fig, ax = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    t.isel(time=when).plot(ax=ax[0, 0], cmap="coolwarm")
    ax[0, 0].quiver(u.lon[::2], u.lat[::2], u.isel(time=when)[::2, ::2], v.isel(time=when)[::2, ::2], scale=400)
    ax[0, 0].set_title(f"surface temperature and 10 m wind, {str(t.time.values[when])[:13]}")
    (xda.advection(t, u, v).isel(time=when) * 86400).plot(ax=ax[0, 1], cmap="RdBu_r", robust=True,
                                                           cbar_kwargs={"label": "K day-1"})
    ax[0, 1].set_title("temperature advection -u.grad(T)")
    (tend.isel(time=when) * 86400).plot(ax=ax[1, 0], cmap="RdBu_r", robust=True, cbar_kwargs={"label": "K day-1"})
    ax[1, 0].set_title("tendency dT/dt (centred, 6-hourly)")
    (r.isel(time=when) * 86400).plot(ax=ax[1, 1], cmap="RdBu_r", robust=True, cbar_kwargs={"label": "K day-1"})
    ax[1, 1].set_title(f"residual dT/dt + u.grad(T) - kappa lap(T), kappa = {k:.2g} m2/s")
    fig.savefig(out / "storm1996_residual.png", dpi=80)

    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    interior = t.isel(lon=slice(7, 29))  # the largest rectangle the file defines (its corners are missing)
    iso = xda.isotropic_power_spectrum(interior).mean("time")
    ax[0].loglog(iso.wavelength, iso, "o-")
    ax[0].invert_xaxis()
    ax[0].set_xlabel("wavelength (km)")
    ax[0].set_ylabel("K2")
    slope_iso = float(xda.spectral_slope(iso, band=(float(iso.freq_r[1]), float(iso.freq_r[-1]))))
    ax[0].set_title(f"isotropic spectrum, blizzard surface T (slope {slope_iso:.2f})")
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    zs = xda.power_spectrum(z.sel(lat=slice(30, 60))).mean(["time", "lat"])
    band = (8 / 360, 40 / 360)
    slope = float(xda.spectral_slope(zs, band=band))
    ax[1].loglog(zs.wavenumber[1:], zs[1:], "o-")
    ax[1].set_xlabel("zonal wavenumber")
    ax[1].set_ylabel("m2")
    ax[1].set_title(f"zonal spectrum, NCEP z500 30-60N (slope {slope:.2f} over k=8-40)")
    fig.savefig(out / "storm1996_spectra.png", dpi=80)
    print(f"isotropic spectral slope of surface T: {slope_iso:.2f}; zonal z500 slope (k=8-40, 30-60N): {slope:.2f}")
    print(f"wrote {out / 'storm1996_residual.png'} and {out / 'storm1996_spectra.png'}")


if __name__ == "__main__":
    main()
