"""Does the learned correction repair a misspecified B? Real cases, the archive's B made deliberately wrong.

    python benchmarks/evaluate_misspecified.py [--cases 16] [--candidate path/to/model.safetensors]

Issue 27 asks the learned prior to earn its place where the classical answer is weak, and
the commonest weakness is B: estimated from another archive, another season, too few
observations. The real cases of ``evaluate_oi.py`` (winter z500 N. Atlantic and global z500
with leave-one-out climatological backgrounds, the blizzard's surface T with 24 h
persistence; none reserved for independent evaluation), 2 % and 10 % observed. For each case
the archive's B (:meth:`xda.BackgroundError.from_archive`, the strongest classical answer)
and four deliberately wrong versions of it (``L`` x 0.5 and x 2, ``s_b`` x 2, the other
correlation family). Rows per B: the OI with it, and the full-weight learned correction on
top (``verify=False``) of the shipped model and, with ``--candidate``, of another. RMSE at
the withheld grid points (latitude-weighted), its ratio to the OI with the archive's B, with
a 90 % paired-bootstrap interval over the cases. The learned correction earns its place if
``full weight`` is below its own B's OI row, and most where that B is wrong.
Writes benchmarks/results/misspecified.md (``--out`` to change).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import xda
from xda.training.assimilation import altered

sys.path.insert(0, str(Path(__file__).parent))
import evaluate_oi as E  # noqa: E402

warnings.filterwarnings("ignore")

#: The deliberately wrong Bs, as :func:`xda.training.assimilation.altered` of the archive's.
WRONG = {"archive B": {}, "L x 0.5": {"length": 0.5}, "L x 2": {"length": 2.0}, "s_b x 2": {"sigma": 2.0},
         "other family": {"other_family": True}}


def run_case(truth, bg, arch_bg, arch_truth, density, so, rng, models: dict) -> dict:
    """RMSE at the withheld points of every (B, method) row for one case."""
    g = xda.labeled.grid.grid_of(truth)
    tv = truth.transpose(g.lat_dim, g.lon_dim).values
    mask = rng.random(tv.shape) < density
    obs = truth.copy(data=np.where(mask, tv + rng.normal(0, so, tv.shape), np.nan)).assign_attrs(bg.attrs)
    name = bg.name or "x"
    bg, obs = bg.rename(name), obs.rename(name)
    arch = xda.BackgroundError.from_archive(arch_bg, arch_truth, obs, obs_error=so)
    w = np.broadcast_to(np.cos(np.deg2rad(g.lat))[:, None], tv.shape)[~mask]
    score = lambda a: float(np.sqrt(np.sum(w * (a.values - tv)[~mask] ** 2) / w.sum()))  # noqa: E731
    out = {}
    for label, change in WRONG.items():
        be = altered(arch, **change)
        out[f"{label}: OI"] = score(xda.assimilate(bg, obs, method="oi", obs_error=so, background_error=be))
        for m_label, model in models.items():
            out[f"{label}: {m_label}, full weight"] = score(
                xda.assimilate(bg, obs, obs_error=so, background_error=be, model=model, verify=False))
    return out


def summarise(rows: list[dict], ref: str = "archive B: OI", n_boot: int = 2000) -> list[str]:
    """Mean RMSE and its ratio to ``ref`` with a 90 % paired-bootstrap interval, per row."""
    r = {k: np.array([row[k] for row in rows]) for k in rows[0]}
    lines = []
    for k, v in r.items():
        ratio, lo, hi = E.bootstrap_ratio(v, r[ref], (5, 95), n_boot)
        lines.append(f"| {k} | {v.mean():.3g} | {ratio:.3f} [{lo:.3f}, {hi:.3f}] |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--cases", type=int, default=16)
    p.add_argument("--candidate", help="another model (path of its .safetensors) scored next to the shipped one")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "misspecified.md")
    a = p.parse_args(argv)
    models = {"shipped": xda.models.cards.DEFAULT_MODEL}
    if a.candidate:
        models["candidate"] = a.candidate
    sources = {"winter z500 N. Atlantic (climatology)": (lambda: E.climatology_cases(E.natl(a.data)), 10.0, (0.02, 0.1)),
               "global z500 (climatology)": (lambda: E.climatology_cases(
                   xda.datasets.open_dataset("ncep_z500_global")["z500"]), 10.0, (0.02,)),
               "blizzard surface T (24 h persistence)": (lambda: E.persistence_cases(E.storm()), 1.0, (0.02, 0.1))}
    t0 = time.perf_counter()
    text = ["# Does the learned correction repair a misspecified B? (real cases)", "",
            f"`python benchmarks/evaluate_misspecified.py --cases {a.cases}"
            + (f" --candidate {Path(a.candidate).name}" if a.candidate else "") + f"` ({time.strftime('%Y-%m-%d')}, "
            "2 CPU cores). RMSE at the withheld points; x arch = ratio to the OI with the archive's B [90 %].", ""]
    for label, (make, so, densities) in sources.items():
        cases = list(make())
        pick = np.linspace(0, len(cases) - 1, min(a.cases, len(cases))).round().astype(int)
        for d in densities:
            rng = np.random.default_rng(0)
            rows = [run_case(*cases[i], d, so, rng, models) for i in pick]
            text += [f"## {label}, {d:.0%} observed, {len(rows)} cases", "", "| B: method | mean RMSE | x arch [90 %] |",
                     "|---|---|---|", *summarise(rows), ""]
            print("\n".join(text[-len(rows[0]) - 5:]), flush=True)
    text.insert(3, f"Run time {time.perf_counter() - t0:.0f} s.")
    a.out.write_text("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
