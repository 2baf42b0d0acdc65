"""Head and sampler consistency of the anchored model on real flow-dependent cases (issue 27, item 3).

    python benchmarks/evaluate_consistency.py [--cases 20] [--members 16] [--density 0.05] [--steps 16] [--model hs-t42-v2]

The anchored model gives its best estimate from a posterior-mean head (one evaluation) and its
members from the sampler, recentred on the head (``xda_members_recentred``). Recentring is only
honest if the sampler's raw mean agrees with the head within sampling noise. On the blizzard's
surface temperature with 6 h persistence backgrounds (``evaluate_flow.py``'s cases), per case:

* ``gap``: rms over the grid of ``mean(raw members) - head``, in units of OI's analysis-error std;
* ``noise``: rms over the grid of ``std(raw members) / sqrt(N)``, the sampling noise of that mean;
* ``gap / noise``: 1 for a consistent sampler (issue 27's target: <= 1.2).

Raw members and the head are read where the task computes them (``verify=False``, so that no
cross-validation solve is mixed in). A model with a mean head (:class:`xda.models.anchored.AnchoredDenoiser`)
centres its members on its estimate of their mean instead of the head: for it, ``gap`` is the rms of the
raw mean minus that estimate (the draws the task receives are already ``u_k`` minus it). Writes
benchmarks/results/consistency.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import xda
from xda.models.anchored import has_mean_head
from xda.models.registry import load_model
from xda.tasks import analysis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_flow as ef  # noqa: E402
import evaluate_oi as eo  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "consistency.md"


def recorded(bg, obs, members: int, seed: int, steps: int = 16, model: str = "hs-t42-v2") -> dict:
    """{members: u} of every call of the learned departure during one analysis of ``t``."""
    seen, original = {}, analysis._learned_departure

    def spy(req, p, cases, m):
        u, nfe = original(req, p, cases, m)
        seen[m] = u
        return u, nfe

    analysis._learned_departure = spy
    try:
        xda.assimilate(bg[["t"]], obs[["t"]], obs_error=1.0, members=members, seed=seed, verify=False, steps=steps,
                       model=model)
    finally:
        analysis._learned_departure = original
    return seen


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20)
    p.add_argument("--members", type=int, default=16)
    p.add_argument("--density", type=float, default=0.05)
    p.add_argument("--steps", type=int, default=16, help="Heun steps of the sampler")
    p.add_argument("--model", default="hs-t42-v2", help="the anchored model (a name or a card's path)")
    a = p.parse_args()
    centred = has_mean_head(load_model(a.model, device="cpu")[0])
    eo.use_prior_without(eo.prior_fits(), "storm1996")
    all_cases = list(ef.cases(ef.blizzard(), 1))
    pick = np.linspace(0, len(all_cases) - 1, min(a.cases, len(all_cases))).round().astype(int)
    rng, gaps, noises, t0 = np.random.default_rng(0), [], [], time.perf_counter()
    for k, i in enumerate(pick):
        truth, bg, _, _ = all_cases[i]
        obs, _ = ef.observe(truth, a.density, rng)
        u = recorded(bg, obs, a.members, seed=k, steps=a.steps, model=a.model)
        head, raw = 0 if centred else u[0][0], u[a.members]  # with a mean head, the draws less their mean
        gaps.append(float(np.sqrt(np.mean((raw.mean(0) - head) ** 2))))
        noises.append(float(np.sqrt(np.mean(raw.var(0, ddof=1) / a.members))))
    g, n = np.array(gaps), np.array(noises)
    lines = ([] if RESULTS.exists() else ["# Head and sampler consistency (anchored model, real flow-dependent cases)", ""]) + [
             f"`python benchmarks/evaluate_consistency.py --cases {a.cases} --members {a.members} --density {a.density} "
             f"--steps {a.steps} --model {a.model}` "
             f"({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s, 2 CPU cores): `{Path(a.model).stem}` on the "
             "blizzard's surface temperature, 6 h persistence backgrounds, default B, `verify=False`; units of OI's "
             "analysis-error std.", "",
             f"| cases | members | rms gap (raw mean - {'sampler mean' if centred else 'head'}) | rms sampling noise | "
             "gap / noise (median) | gap / noise (pooled) |",
             "|---|---|---|---|---|---|",
             f"| {len(g)} | {a.members} | {np.sqrt(np.mean(g**2)):.3f} | {np.sqrt(np.mean(n**2)):.3f} | "
             f"{np.median(g / n):.2f} | {np.sqrt(np.mean(g**2) / np.mean(n**2)):.2f} |", ""]
    with RESULTS.open("a") as f:  # one table per run, appended
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
