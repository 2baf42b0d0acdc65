"""Head and sampler consistency of the downscaling model on real fields (issue 24, item 5).

    python benchmarks/evaluate_downscaling_consistency.py [--members 16] [--steps 6] [--fields 4] [--sim FILE ...]

The default model gives its members from a residual diffusion model,
``fine = baseline + s_d (reg + s_2 z)``, and its estimate from the regression ``reg`` plus, with a
mean head (``hs-t63-ds-v2``), the sampler's own mean distilled, ``s_2 m``. Its members are
consistent with its estimate when the sampler's raw mean of ``z`` is ``m`` (0 without a head)
within sampling noise; ``hs-t63-ds-v1`` (no head) recentres its members on the regression to
hide where it is not. On the real cases of ``evaluate_downscaling.py`` (MPI-ESM 2005 tas, the
globe and three regions; the 1996 blizzard), the first ``--fields`` times coarsened x2 and x4,
per case:

* ``gap``: rms over the grid of the raw members' mean of ``z`` less ``m`` (units of the residual's std);
* ``noise``: rms of ``std(z) / sqrt(N)``, the sampling noise of that mean;
* ``gap / noise``: 1 for a consistent sampler (target <= 1.2).

With ``--sim``, the test split of Held-Suarez simulations
(``python -m xda.simulate --kind downscaling``; a seed other than 0 and 1 is a world the model
never saw, its own climate) comes first: whether the sampler is consistent where it was trained.
A second table follows the sampler of one case step by step: the rms of the members' mean of the
denoised estimate ``D(z_sigma; sigma)`` less ``m`` at each noise level, where the bias arises.
Writes benchmarks/results/downscaling_consistency.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import xda
from xda.models import diffusion
from xda.models import downscaling as dm
from xda.models.cards import DEFAULT_DOWNSCALING_MODEL
from xda.models.registry import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_downscaling import blizzard_case, esm_cases, sim_cases  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "downscaling_consistency.md"


def raw_residuals(coarse, factor: int, members: int, steps: int) -> tuple[torch.Tensor | None, dict]:
    """The raw members' ``z`` (N, B, 1, fy, fx) of the default call, drawn by the sampler (before any recentring),
    less the model's estimate in the same units (its mean head's correction, 0 without one), and the sampler's
    inputs (denoiser, condition, variable, periodic) of its last call."""
    draws, heads, inputs = [], [], {}
    sample, estimate = dm.sample, dm.AnchoredDownscaler.estimate

    def spy_sample(den, cond, var, periodic, **kw):
        inputs.update(den=den, cond=cond, var=var, periodic=periodic)
        z, nfe = sample(den, cond, var, periodic, **kw)
        draws.append(z.clone())
        return z, nfe

    def spy_estimate(self, x, reg, periodic):
        est = estimate(self, x, reg, periodic)
        heads.append(est - reg)
        return est

    dm.sample, dm.AnchoredDownscaler.estimate = spy_sample, spy_estimate
    try:
        xda.downscale(coarse, factor, members=members, steps=steps, seed=0)
    finally:
        dm.sample, dm.AnchoredDownscaler.estimate = sample, estimate
    if not draws:
        return None, inputs
    chunks = len(draws) // members  # the network's batches of fields, each sampled member by member
    z = torch.cat([torch.stack(draws[i * members : (i + 1) * members]) for i in range(chunks)], dim=1)
    head = torch.cat(heads[:chunks])  # the target level's, first (then the one level up's)
    _, card = load_model(DEFAULT_DOWNSCALING_MODEL, device="cpu")
    inputs["head"] = head / card["residual2_std"]
    return z - inputs["head"], inputs


def gap_and_noise(z: torch.Tensor) -> tuple[float, float]:
    """rms of the members' mean and of its sampling noise, over the grid (members first)."""
    n = z.shape[0]
    return float(z.mean(0).pow(2).mean().sqrt()), float((z.std(0) / np.sqrt(n)).pow(2).mean().sqrt())


def trace(inputs: dict, members: int, steps: int) -> list[tuple[float, float, float]]:
    """(sigma, rms of the members' mean of D less the model's estimate, its sampling noise) at every step of the
    sampler, on the fields of its last network call."""
    den, cond, var, periodic = (inputs[k] for k in ("den", "cond", "var", "periodic"))
    b = cond.shape[0]
    cond_n, var_n = cond.repeat(members, 1, 1, 1), var.repeat(members)
    sigmas = diffusion.sigma_schedule(steps)
    x = torch.randn((cond_n.shape[0], 1, *cond.shape[-2:]), generator=torch.Generator().manual_seed(0)) * sigmas[0]
    rows = []

    def record(d):
        gap, noise = gap_and_noise(d["denoised"].reshape(members, b, *d["denoised"].shape[1:]) - inputs["head"][-b:])
        rows.append((float(d["sigma"]), gap, noise))

    with torch.no_grad():
        diffusion.sample_heun(lambda x, s, **kw: den(x, s.expand(x.shape[0]) if s.ndim == 0 else s, cond_n, var_n,
                                                     periodic), x, sigmas, callback=record)
    return rows


def _summary(ratios: dict, which, label: str) -> str:
    """One line: median and range of gap / noise over the cases ``which`` selects."""
    r = [v for k, v in ratios.items() if which(k)]
    return (f"gap / noise on {label}: median {np.median(r):.2f}, range {min(r):.2f}-{max(r):.2f} (target <= 1.2).\n"
            if r else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=16)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--fields", type=int, default=4)
    p.add_argument("--sim", nargs="*", default=[], help="Held-Suarez downscaling simulations (their test split)")
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args()
    t0 = time.time()
    cases = sim_cases(a.sim) if a.sim else {}
    cases.update(esm_cases())
    cases["blizzard surface T"] = blizzard_case()
    lines = ["| case | factor | gap | noise | gap / noise |", "|---|---|---|---|---|"]
    ratios, steps_of = {}, None
    for label, data in cases.items():
        for factor in (2, 4):
            z, inputs = raw_residuals(xda.coarsen(data.isel(time=slice(0, a.fields)), factor), factor, a.members, a.steps)
            if z is None:
                lines.append(f"| {label} | x{factor} | outside the model's range | | |")
                continue
            gap, noise = gap_and_noise(z)
            ratios[label, factor] = gap / noise
            lines.append(f"| {label} | x{factor} | {gap:.3f} | {noise:.3f} | {gap / noise:.2f} |")
            if label.endswith("Europe") and factor == 2:
                steps_of = trace(inputs, a.members, a.steps)
    sim = " --sim " + " ".join(Path(f).name for f in a.sim) if a.sim else ""
    text = ["# Head and sampler consistency of the downscaling model (real fields)\n",
            f"`python benchmarks/evaluate_downscaling_consistency.py --members {a.members} --steps {a.steps} --fields "
            f"{a.fields}{sim}` ({time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s, 2 CPU cores): "
            f"`{DEFAULT_DOWNSCALING_MODEL}`, the sampler's raw residual members less the model's estimate, in units "
            "of the residual's std.\n",
            _summary(ratios, lambda k: not k[0].startswith("Held-Suarez"), "real fields"),
            _summary(ratios, lambda k: k[0].startswith("Held-Suarez"), "the simulation's test split"),
            *lines, "", "## Where the bias arises (MPI-ESM Europe, x2): the members' mean of the denoised estimate less m\n",
            "| sigma | rms mean D | noise | ratio |", "|---|---|---|---|",
            *(f"| {s:.3f} | {g:.3f} | {n:.3f} | {g / n:.2f} |" for s, g, n in steps_of or [])]
    Path(a.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
