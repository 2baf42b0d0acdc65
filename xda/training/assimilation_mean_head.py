"""The mean head of an anchored assimilation model: its sampler's mean, distilled (issue 27, item 3).

One command from a simulation file and a trained model to a model with a mean head::

    python -m xda.simulate --out ~/.cache/xda/hs_t42_leads_s4.nc --days 40 --spinup-days 80 \\
        --interval-hours 6 --leads 6,12,24,48,72 --seed 4
    xda train assimilation-mean-head ~/.cache/xda/hs_t42_leads_s4.nc --init hs-t42-v2 --minutes 40

The posterior-mean head ``D(0; SIGMA_HEAD)`` and the sampler are two readings of one network, and
they disagree by more than sampling noise (``benchmarks/results/consistency.md``: the members' raw
mean is 1.43x its sampling noise from the head on real cases), so the members were recentred on
the head with their own mean. The head is the better estimate (on Held-Suarez test cases the
sampler's mean, extrapolated to infinitely many members, has a 6-7 % larger squared error), so it
stays the estimate, and the sampler's mean is learned instead: ``share`` of the budget builds
training cases the way :mod:`xda.training.assimilation` does and runs the model's own sampler on
them (``members`` members of the default call's steps), the rest fits the mean head
(:class:`xda.models.anchored.AnchoredDenoiser`; input: the condition and the head) so that
:func:`~xda.models.anchored.sampler_mean` matches those members' raw means (MSE: their sampling
noise averages out over the batches). The denoiser is frozen. Members are then the raw draws about
that mean, moved to the estimate (:func:`xda.models.anchored.in_batches`), with no recentring.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.anchored import anchored_condition, posterior_mean, posterior_samples, sampler_mean
from ..models.cards import DEFAULT_STEPS
from ..models.registry import load_model, save_model
from .assimilation import VARIABLES, _Batches, _banks, _windows, variable_stats
from .loop import device_for, fit

log = logging.getLogger(__name__)


def train_mean_head(data, out, *, name: str | None = None, init: str = "hs-t42-v2", minutes: float = 40.0,
                    members: int = 4, cases: int = 1600, batch: int = 16, lr: float = 3e-4, seed: int = 0,
                    share: float = 0.5, channels=None, misspecified: float = 0.0, climatology_days: str = "all",
                    bank: str | Path | None = None, device: str | None = None, max_steps: int = 1_000_000) -> Path:
    """Give an anchored assimilation model a mean head trained on its own sampler.

    Parameters
    ----------
    data : path or list of paths
        Simulation files of :mod:`xda.simulate` (``--kind osse``); their train split gives the cases.
    out : path
        Directory for ``<name>.safetensors`` and its card.
    name : str, optional
        The new model's name (default ``<init>-mh``).
    init : str
        The anchored model (a name of the registry or a card's path) whose sampler is distilled.
    minutes : float
        Wall-clock budget: ``share`` of it drawing the sampler's means, the rest fitting.
    members : int
        Members per case whose raw mean is one target (at least 1; the mean of few is unbiased).
    channels : sequence of int or str, optional
        U-Net widths of the mean head (``"8,16,32,64"`` or a list; default: the denoiser's).
    misspecified, climatology_days
        How the cases are built, as in :func:`xda.training.assimilation.train` (deliberately wrong B in
        that fraction of them; the climatological backgrounds' averaging windows).
    cases, bank, seed, batch, lr, device, max_steps
        As :func:`xda.training.assimilation.train` (the bank's cases are conditioned with
        ``init``'s climatology, as at inference).

    Returns
    -------
    Path of the weight file.

    Raises
    ------
    ValueError
        ``members < 1`` or ``share`` outside (0, 1).
    """
    if members < 1 or not 0 < share < 1:
        raise ValueError(f"members={members}, share={share}: need members >= 1 and 0 < share < 1")
    if isinstance(channels, str):
        channels = [int(c) for c in channels.split(",")]
    torch.manual_seed(seed)
    dev = device_for(device)
    initial, card = load_model(init, device="cpu")
    model = copy.deepcopy(initial).float()
    model.attach_mean_head(channels)  # a fresh one, whatever init had
    model = model.to(dev)
    stats = variable_stats(data)
    for v in stats:  # condition as the model does at inference: with its card's climatology
        stats[v].update(clim_mean=card["variables"][v]["clim_mean"], clim_std=card["variables"][v]["clim_std"])
    banks = _banks(data, stats, cases, seed, bank, dict(misspecified=float(misspecified), windows=_windows(climatology_days)))
    t0 = time.perf_counter()
    drawn = _sampler_means(model, _Batches(banks["train"], seed + 1), batch, members, 60 * minutes * share, max_steps,
                           dev, seed)
    log.info(f"mean head: the sampler's mean on {len(drawn)} batches, {time.perf_counter() - t0:.0f} s")
    model.requires_grad_(False)
    model.mean_head.requires_grad_(True)

    def loss(step):
        cond, var, periodic, target = (a.to(dev) if torch.is_tensor(a) else a for a in drawn[step % len(drawn)])
        return ((sampler_mean(model, cond, var, periodic) - target) ** 2).mean()

    ema, step, losses = fit(model, loss, minutes=minutes * (1 - share), max_steps=max_steps, lr=lr, label="mean head")
    settings = dict(minutes=minutes, share_sampling=share, members=members, misspecified=float(misspecified),
                    climatology_days=str(climatology_days), sampler_steps=DEFAULT_STEPS["anchored"],
                    batches=len(drawn), batch=batch, lr=lr, seed=seed, steps=step,
                    final_train_loss=float(np.mean(losses[-100:])), wall_seconds=round(time.perf_counter() - t0),
                    validation=_validate(ema, banks["validation"], dev, seed, members),
                    command=_command(data, dict(init=init, minutes=minutes, members=members, cases=cases, batch=batch,
                                                seed=seed, channels=channels, misspecified=misspecified,
                                                climatology_days=climatology_days)))
    log.info(f"done: {step} steps, validation {settings['validation']}")
    return save_model(ema.cpu(), _card(card, data, settings), Path(out), name or f"{card['name'] or Path(str(init)).stem}-mh")


def _command(data, o: dict) -> str:
    """The ``xda train`` command that trains this mean head again (the card), from the options ``o``."""
    return (f"xda train assimilation-mean-head {' '.join(Path(p).name for p in _list(data))} --init {o['init']} "
            f"--minutes {o['minutes']} --members {o['members']} --cases {o['cases']} --batch {o['batch']} --seed {o['seed']}"
            + ("" if o["channels"] is None else f" --channels {','.join(str(c) for c in o['channels'])}")
            + (f" --misspecified {o['misspecified']}" if o["misspecified"] else "")
            + (f" --climatology-days {o['climatology_days']}" if o["climatology_days"] != "all" else ""))


def _list(data) -> list:
    return list(data) if isinstance(data, (list, tuple)) else [data]


@torch.no_grad()
def _sampler_means(model, batches, batch: int, members: int, seconds: float, max_batches: int, dev, seed: int) -> list:
    """(condition, variable, periodic, raw mean of ``members`` samples) of training batches for ``seconds``: half
    of them 32 x 64 regional crops, as in pretraining."""
    gen, drawn, t0 = torch.Generator(device=dev).manual_seed(seed + 5), [], time.perf_counter()
    gcrop, (ny, nx) = torch.Generator().manual_seed(seed + 7), batches.u.shape[-2:]
    while time.perf_counter() - t0 < seconds and len(drawn) < max_batches:
        regional = torch.rand(1, generator=gcrop) < 0.5 and ny > 32 and nx > 64
        _, cond, var, periodic = batches(batch, (32, 64) if regional else None)
        cond, var = cond.to(dev), var.to(dev)
        z = torch.stack([posterior_samples(model, cond, var, periodic, steps=DEFAULT_STEPS["anchored"], generator=gen)[0]
                         for _ in range(members)])
        drawn.append((cond.cpu(), var.cpu(), periodic, z.mean(0).cpu()))
    return drawn


@torch.no_grad()
def _validate(model, bank: dict, dev, seed: int, members: int, n: int = 48) -> dict:
    """Per variable, on ``n`` validation cases: rms of ``u`` (OI's error) and of ``u -`` head (the learned
    analysis's), and the rms of the raw mean of ``2 members`` samples minus the head and minus the sampler mean,
    over that mean's sampling noise (1: consistent)."""
    val = _Batches(bank, seed + 1)
    out, gen = {}, torch.Generator(device=dev).manual_seed(seed + 9)
    for v, name in enumerate(VARIABLES):
        pick = torch.nonzero(val.var == v).flatten()[:n]
        if not len(pick):
            continue
        cond = anchored_condition(val.x[pick], val.sin_lat, True).to(dev)
        var, u, k = val.var[pick].to(dev), val.u[pick][:, None].to(dev), 2 * members
        parts = [(cond[j : j + 8], var[j : j + 8]) for j in range(0, len(pick), 8)]
        head = torch.cat([posterior_mean(model, c, w, True) for c, w in parts])
        centre = torch.cat([sampler_mean(model, c, w, True) for c, w in parts])
        z = torch.stack([torch.cat([posterior_samples(model, c, w, True, steps=DEFAULT_STEPS["anchored"], generator=gen)[0]
                                    for c, w in parts]) for _ in range(k)])
        noise = float(z.var(0).mean() / k) ** 0.5
        rms = lambda a: float(a.pow(2).mean().sqrt())  # noqa: E731
        out[name] = dict(rms_u_oi=rms(u), rms_u_head=rms(u - head), gap_head_over_noise=rms(z.mean(0) - head) / noise,
                         gap_sampler_mean_over_noise=rms(z.mean(0) - centre) / noise)
    return out


def _card(card, data, settings: dict) -> dict:
    """The distilled model's card: the initial model's, with the mean head's training recorded."""
    new = card.to_dict()
    for key in ("sha256", "manifest_sha256", "name", "network"):
        new.pop(key, None)
    new["description"] = new.get("description", "") + "; with a mean head: its sampler's own mean, distilled"
    new["mean_head"] = dict(settings, initialised_from=card["name"],
                            data=[Path(p).name for p in _list(data)])
    return new


if __name__ == "__main__":  # python -m xda.training.assimilation_mean_head ...
    from ..cli import main

    raise SystemExit(main(["train", "assimilation-mean-head", *sys.argv[1:]]))
