"""Training of the latent joint model (:mod:`xda.models.latent`): the autoencoder, then the latent denoiser.

    python -m xda.training.latent ~/.cache/xda/hs_t42_mv_s0.nc --bank ~/.cache/xda/bank_mv.npz \\
        --name hs-t42-mv-latent-v1 --ae-minutes 6 --minutes 12

The autoencoder learns the normalised truth states of the training split (longitude
rolls, north-south reflections with ``v -> -v``); the denoiser learns the latent
departure of the truth from the anchor on the joint model's bank of cases
(:mod:`xda.training.joint`, cases with the whole state present), a fifth of them with the
observations dropped (anchor = background), so that the same network serves LO-SDA's
background-conditioned latent optimisation (:func:`xda.models.latent.latent_optimization_samples`).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.joint import JointLoss
from ..models.latent import LatentJointDenoiser, StateAutoencoder
from ..models.registry import save_model
from .assimilation import _paths, open_split
from .joint import STATE, _banks, _card, state_stats
from .loop import fit

log = logging.getLogger(__name__)

#: Fraction of the denoiser's batches with the observations dropped (LO-SDA's background-only condition).
P_NO_OBS = 0.2


def _states(data, split: str, stats: dict) -> torch.Tensor:
    ds = open_split(data, split)
    f = [(ds[f"{v}_truth"].values - stats[v]["clim_mean"]) / stats[v]["clim_std"] for v in STATE]
    return torch.tensor(np.stack(f, axis=1), dtype=torch.float32)


def _augment(f: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    f = torch.roll(f, int(torch.randint(f.shape[-1], (1,), generator=g)), dims=-1)
    if torch.rand(1, generator=g) < 0.5:
        f = f.flip(-2).clone()
        f[:, list(STATE).index("v500")] *= -1  # the v500 mean is ~0; its normalised sign flips with the wind
    return f


def train_autoencoder(data, stats: dict, *, minutes: float, batch: int = 16, lr: float = 1e-3, beta: float = 1e-4,
                      seed: int = 0, max_steps: int = 1_000_000) -> tuple[StateAutoencoder, dict]:
    """The KL autoencoder of the normalised state; returns it and its validation RMSE per variable (working units)."""
    torch.manual_seed(seed)
    train, val = _states(data, "train", stats), _states(data, "validation", stats)
    ae = StateAutoencoder(len(STATE))
    g = torch.Generator().manual_seed(seed)

    def loss_fn(step):
        f = _augment(train[torch.randint(len(train), (batch,), generator=g)], g)
        mean, logvar = ae.encode(f, True)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rec = ((ae.decode(z, f.shape[-2:], True) - f) ** 2).mean()
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).mean()
        return rec + beta * kl

    ema, step, _ = fit(ae, loss_fn, minutes=minutes, max_steps=max_steps, lr=lr, label="[autoencoder]")
    with torch.no_grad():
        rec = torch.cat([ema.decode(ema.encode(val[k : k + 16], True)[0], val.shape[-2:], True) for k in range(0, len(val), 16)])
    err = (rec - val).pow(2).mean((0, 2, 3)).sqrt()
    return ema, {v: round(float(err[j]) * stats[v]["clim_std"], 4) for j, v in enumerate(STATE)} | {"steps": step}


def _targets(net: LatentJointDenoiser, x: torch.Tensor, u: torch.Tensor, periodic: bool):
    """(fields, latent target delta) of a batch; the truth's state from the anchor's and u."""
    fa, sa = net.anchor_state(x)
    ft = fa + sa * u
    with torch.no_grad():
        za, zt = (net.autoencoder.encode(f, periodic)[0] for f in (fa, ft))
    return (zt - za) / net.s_delta


def _drop_observations(x: torch.Tensor, u: torch.Tensor, drop: torch.Tensor):
    """Cases ``drop`` become background-only: x_a = x_b, s_a = s_b, no observations; u re-expressed."""
    x, u = x.clone(), u.clone()
    f1, f2 = x[drop, :, 1], x[drop, :, 2]
    u[drop] = f1 + f2 * u[drop]  # (x_t - x_b) / s_b
    x[drop, :, 1], x[drop, :, 2] = 0.0, 1.0
    x[drop, :, 4:] = 0.0
    return x, u


def _whole_state(bank: dict) -> dict:
    """The cases of a bank with every variable of the state present (the autoencoder needs them all)."""
    keep = np.asarray(bank["present"]).all(1)
    return dict(bank, **{k: bank[k][keep] for k in ("x", "u", "observed", "present")})


def train(data, out, *, name: str = "hs-t42-mv-latent-v1", bank=None, ae_minutes: float = 6.0, minutes: float = 12.0,
          batch: int = 12, lr: float = 3e-4, cases: int = 1200, seed: int = 0, max_steps: int = 1_000_000) -> Path:
    """Train the autoencoder and the latent denoiser; returns the weight file's path."""
    stats, alpha = state_stats(data)
    ae, recon = train_autoencoder(data, stats, minutes=ae_minutes, seed=seed, max_steps=max_steps)
    banks = _banks(data, stats, alpha, cases, seed, bank)
    full = {s: _whole_state(b) for s, b in banks.items()}
    means, stds = [stats[v]["clim_mean"] for v in STATE], [stats[v]["clim_std"] for v in STATE]
    net = LatentJointDenoiser(len(STATE), means=means, stds=stds)
    net.autoencoder.load_state_dict(ae.state_dict())
    x0, u0 = (torch.as_tensor(full["train"][k][:64]) for k in ("x", "u"))
    net.s_delta = net.config["s_delta"] = float(_targets(net, x0, u0, True).std())  # s_delta = 1 above
    g = torch.Generator().manual_seed(seed)
    xt, ut = torch.as_tensor(full["train"]["x"]), torch.as_tensor(full["train"]["u"])
    loss, lat, lon = JointLoss(), np.asarray(full["train"]["lat"]), np.asarray(full["train"]["lon"])

    def loss_fn(step):
        idx = torch.randint(len(xt), (batch,), generator=g)
        x, u = _drop_observations(xt[idx], ut[idx], torch.rand(batch, generator=g) < P_NO_OBS)
        shift = int(torch.randint(x.shape[-1], (1,), generator=g))
        x, u = torch.roll(x, shift, -1), torch.roll(u, shift, -1)
        cond = net.condition(x, torch.tensor(lat, dtype=torch.float32), torch.tensor(np.roll(lon, shift), dtype=torch.float32), True)
        return loss(net, _targets(net, x, u, True), cond, x, True)[0]

    t0 = time.perf_counter()
    ema, step, losses = fit(net, loss_fn, minutes=minutes, max_steps=max_steps, lr=lr, label="[latent]")
    settings = dict(minutes=minutes, autoencoder_minutes=ae_minutes, batch=batch, lr=lr, seed=seed, steps=step,
                    autoencoder_steps=recon.pop("steps"), p_no_obs=P_NO_OBS, encoder="analytic", physics_weight=0.0,
                    final_train_loss=float(np.mean(losses[-100:])) if losses else None,
                    wall_seconds=round(time.perf_counter() - t0),
                    reconstruction_rmse=recon,
                    command=f"python -m xda.training.latent {' '.join(p.name for p in _paths(data))} --name {name} "
                            f"--ae-minutes {ae_minutes} --minutes {minutes} --cases {cases} --batch {batch} --seed {seed}")
    log.info(f"done: {step} steps; autoencoder reconstruction RMSE {recon}")
    card = _card(stats, alpha, data, {k: len(b["u"]) for k, b in full.items()}, settings, "analytic")
    card.update(latent=True, description="EDM denoiser of the latent departure of the truth from the multivariate anchor, "
                "in a KL autoencoder's latent space (xda.models.latent); latent_optimization=True runs LO-SDA")
    return save_model(ema.cpu(), card, Path(out), name, dtype=torch.float16)  # fp16 file: half the size


if __name__ == "__main__":  # python -m xda.training.latent ...: the xda command's parser (xda train latent --help)
    from ..cli import main

    raise SystemExit(main(["train", "latent", *sys.argv[1:]]))
