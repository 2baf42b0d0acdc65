"""Assimilate 2 % of a real NCEP 500 hPa height field into a climatological background.

    python examples/assimilate_ncep_z500.py [--field 0] [--members 8] [--out examples/ncep_z500_analysis.png]

The truth is one of the 21 bundled NCEP reanalysis fields; the background is the mean
of the other 20; 2 % of the grid points are observed with 10 m Gaussian noise. The
script prints latitude-weighted RMSE/MAE at the withheld points for the background,
optimal interpolation (the tuned classical baseline) and xda (its default, the posterior
mean anchored on OI, and members), and writes two figures (the second with xda.plot).
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import xda  # noqa: E402
import xda.plot  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--field", type=int, default=0)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="examples/ncep_z500_analysis.png")
    a = p.parse_args()

    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    truth = z.isel(time=a.field)
    background = z.drop_isel(time=a.field).mean("time")
    background.attrs = dict(z.attrs)
    rng = np.random.default_rng(a.seed)
    observed = rng.random(truth.shape) < 0.02
    obs = (truth + rng.normal(0, 10.0, truth.shape)).where(observed)
    obs.attrs = dict(z.attrs)

    t0 = time.perf_counter()
    oi = background.phyda.assimilate(obs, method="oi", obs_error="10 m")
    t_oi = time.perf_counter() - t0
    t0 = time.perf_counter()
    an = background.phyda.assimilate(obs, obs_error="10 m")  # the default: posterior mean, anchored on OI
    t_xda = time.perf_counter() - t0
    t0 = time.perf_counter()
    ens = background.phyda.assimilate(obs, obs_error="10 m", members=a.members, seed=a.seed)
    t_ens = time.perf_counter() - t0

    withheld = ~observed
    score = lambda f: (  # noqa: E731
        float(xda.metrics.rmse(f.where(withheld), truth, weights="latitude")),
        float(xda.metrics.mae(f.where(withheld), truth, weights="latitude")),
    )
    rows = [("background (climatology)", *score(background), "")]
    rows.append(("optimal interpolation (tuned)", *score(oi), f"{t_oi:.1f} s"))
    rows.append(("xda (default: posterior mean)", *score(an), f"{t_xda:.1f} s, correction weight {an.attrs['xda_correction_weight']}"))
    rows.append(("xda, one member", *score(ens.isel(member=0)), ""))
    rows.append((f"xda, mean of {a.members} members", *score(ens.mean("member")), f"{t_ens:.1f} s, {ens.attrs['xda_nfe']} denoiser calls"))
    print(f"NCEP z500 field {a.field} ({str(truth.time.values)[:10]}), {int(observed.sum())} observations (2 %), "
          "scores at withheld points [m]:")
    print(f"{'':34s} {'RMSE':>7s} {'MAE':>7s}")
    for name, r, m, extra in rows:
        print(f"{name:34s} {r:7.2f} {m:7.2f}  {extra}")
    print(f"B: {oi.attrs['xda_background_error']}")

    fig, ax = plt.subplots(2, 3, figsize=(15, 7), constrained_layout=True)
    kw = dict(vmin=float(truth.min()), vmax=float(truth.max()), cmap="viridis")
    truth.plot(ax=ax[0, 0], **kw)
    ax[0, 0].set_title("truth (NCEP reanalysis)")
    background.plot(ax=ax[0, 1], **kw)
    ax[0, 1].set_title("background (mean of the other fields)")
    ax[0, 1].scatter(*np.meshgrid(obs.lon, obs.lat), s=2 * observed, c="k")
    an.plot(ax=ax[0, 2], **kw)
    ax[0, 2].set_title("xda analysis (posterior mean)")
    ekw = dict(vmin=-150, vmax=150, cmap="RdBu_r")
    (background - truth).plot(ax=ax[1, 0], **ekw)
    ax[1, 0].set_title(f"background - truth (RMSE {rows[0][1]:.1f} m)")
    (oi - truth).plot(ax=ax[1, 1], **ekw)
    ax[1, 1].set_title(f"OI - truth (RMSE {rows[1][1]:.1f} m)")
    (an - truth).plot(ax=ax[1, 2], **ekw)
    ax[1, 2].set_title(f"xda - truth (RMSE {rows[2][1]:.1f} m)")
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")

    fig, ax = plt.subplots(1, 3, figsize=(17, 4), constrained_layout=True)  # xda.plot's quick looks
    xda.plot.increment(an, background, obs, ax=ax[0])
    xda.plot.spectra({"truth": truth, "background": background, "OI": oi, "xda": an}, ax=ax[1])
    xda.plot.spread_skill(ens, truth, ax=ax[2])
    out = a.out.replace(".png", "_diagnostics.png")
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
