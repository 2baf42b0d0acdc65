"""xda.plot draws on real results and returns the Axes (Agg backend, no display)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

import xda  # noqa: E402
import xda.plot  # noqa: E402


def test_plots_of_an_analysis_its_spectra_a_residual_and_an_ensemble(tmp_path):
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    truth, bg = z.isel(time=0), z.isel(time=slice(1, None)).mean("time").assign_attrs(z.attrs)
    mask = np.random.default_rng(0).random(truth.shape) < 0.02
    an, table = xda.assimilate(bg, truth.where(mask), method="oi", obs_space=True)
    ax = xda.plot.increment(an, bg, table)
    assert ax.collections and ax.get_title() == "analysis increment: z500"
    ax.figure.savefig(tmp_path / "increment.png")
    ax = xda.plot.increment(an, bg, truth.where(mask))
    ax = xda.plot.spectra({"truth": truth, "background": bg, "OI": an})
    assert len(ax.get_lines()) == 3
    t = xda.datasets.open_dataset("storm1996_t")["t"].isel(time=slice(0, 3))
    u = xda.datasets.open_dataset("storm1996_u")["u"].isel(time=slice(0, 3))
    v = xda.datasets.open_dataset("storm1996_v")["v"].isel(time=slice(0, 3))
    r = xda.advection_diffusion_residual(t, u, v).isel(time=1)
    assert xda.plot.residual(r).collections
    rng = np.random.default_rng(1)
    sd = rng.uniform(0.5, 3.0, 5000)  # a reliable toy ensemble: truth and members from the same N(0, sd)
    ens = xr.DataArray(sd * rng.standard_normal((30, 5000)), dims=("member", "x"), name="toy")
    ax = xda.plot.spread_skill(ens, xr.DataArray(sd * rng.standard_normal(5000), dims="x"))
    x, y = (np.asarray(a) for a in ax.get_lines()[0].get_data())
    assert len(x) == 10 and y[-1] > 2 * y[0] and abs(np.sqrt(np.mean(y**2) / np.mean(x**2)) - 1) < 0.15
    import matplotlib.pyplot as plt

    plt.close("all")
