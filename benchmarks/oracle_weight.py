"""How much of the learned correction each real case wants, against the weight the verification gives it.

    python benchmarks/oracle_weight.py [--cases 12]

For the real cases of ``evaluate_oi.py`` (winter z500 and global z500 with climatological
backgrounds, the blizzard's surface T with 24 h persistence), 2 % and 10 % observed: the
*oracle slope* ``a* = sum w r c / sum w c^2`` at the withheld grid points, with ``r`` the
truth minus the OI analysis and ``c`` the full learned correction (``verify=False`` minus
``method="oi"``): the weight that would have been best for that case; next to the default's
verified ``xda_correction_weight``. Tells whether a prior on the weight fitted to such cases
would differ from N(0, 0.5^2). Writes benchmarks/results/oracle_weight.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import xda

sys.path.insert(0, str(Path(__file__).parent))
import evaluate_oi as E  # noqa: E402

warnings.filterwarnings("ignore")


def oracle(truth, bg, density, so, rng) -> tuple[float, float]:
    g = xda.labeled.grid.grid_of(truth)
    mask = rng.random(truth.shape) < density
    y = truth.values + rng.normal(0, so, truth.shape)
    name = bg.name or "x"
    obs = truth.copy(data=np.where(mask, y, np.nan)).assign_attrs(bg.attrs).rename(name)
    bg = bg.rename(name)
    oi = xda.assimilate(bg, obs, method="oi", obs_error=so).values
    full = xda.assimilate(bg, obs, obs_error=so, verify=False).values
    w_default = xda.assimilate(bg, obs, obs_error=so).attrs["xda_correction_weight"]
    w = np.broadcast_to(np.cos(np.deg2rad(g.lat))[:, None], truth.shape)[~mask]
    r, c = (truth.values - oi)[~mask], (full - oi)[~mask]
    return float(np.sum(w * r * c) / np.sum(w * c * c)), float(w_default)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--cases", type=int, default=12)
    a = p.parse_args(argv)
    sources = {"winter z500 N. Atlantic (climatology)": (lambda: E.climatology_cases(E.natl(a.data)), 10.0, (0.02, 0.1)),
               "global z500 (climatology)": (lambda: E.climatology_cases(
                   xda.datasets.open_dataset("ncep_z500_global")["z500"]), 10.0, (0.02,)),
               "blizzard surface T (24 h persistence)": (lambda: E.persistence_cases(E.storm()), 1.0, (0.02, 0.1))}
    lines = ["| case | observed | cases | oracle slope a*: mean (sd) | default weight: mean | corr(w, a*) |",
             "|---|---|---|---|---|---|"]
    t0 = time.perf_counter()
    for label, (make, so, densities) in sources.items():
        cases = list(make())
        pick = np.linspace(0, len(cases) - 1, min(a.cases, len(cases))).round().astype(int)
        for d in densities:
            rng = np.random.default_rng(0)
            res = np.array([oracle(cases[i][0], cases[i][1], d, so, rng) for i in pick])
            corr = np.corrcoef(res.T)[0, 1] if res[:, 1].std() > 0 else float("nan")
            lines.append(f"| {label} | {d:.0%} | {len(res)} | {res[:, 0].mean():.2f} ({res[:, 0].std():.2f}) | "
                         f"{res[:, 1].mean():.2f} | {corr:.2f} |")
            print(lines[-1], flush=True)
    text = "\n".join(["# The weight each real case wants (oracle) and the one the verification gives", "",
                      f"`python benchmarks/oracle_weight.py` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s)",
                      "", *lines]) + "\n"
    (Path(__file__).parent / "results" / "oracle_weight.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
