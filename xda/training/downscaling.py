"""Training of the anchored downscaling model (:class:`xda.models.downscaling.AnchoredDownscaler`).

One reproducible command from data to weights (``scripts/reproduce_downscaling_weights.sh``)::

    python -m xda.simulate --kind downscaling --seed 0 --out ~/.cache/xda/hs_t63_ls_s0.nc
    python -m xda.simulate --kind downscaling --seed 1 --out ~/.cache/xda/hs_t63_ls_s1.nc
    python -m xda.training.downscaling ~/.cache/xda/hs_t63_ls_s0.nc ~/.cache/xda/hs_t63_ls_s1.nc

Training examples (:class:`Examples`), drawn afresh every step from the train split of
all the simulation files (several seeds):

* **fine grids**: the simulation's T63 grid (1.9 deg) and its 2 x 2 block means (3.75
  deg), :data:`LEVELS`;
* **factors** 2, 3 and 4 (:data:`FACTORS`): the coarse input is the fine truth's
  area-weighted block mean (:func:`xda.numerics.regrid.coarsen`);
* **domains**: regional crops of :data:`CROPS` fine cells at random places (not
  periodic, with the edges a user's regional field has), and whole globes;
* augmentation: north-south reflection of the whole world (``v -> -v``, a symmetry of
  the forcing when orography and land move with the fields), random longitudes; the
  winds are withheld from a quarter of the batches so the model also works without them.

Every example's inputs are computed by the same :func:`xda.models.downscaling.features`
that inference uses, on the example's own (regional or global) grid, so the lapse rate
is estimated from the example's coarse field as it will be from a user's.

Stages (each keeps an exponential moving average of the weights):

1. ``regressor``: MSE of the normalised departure from the lapse-rate baseline,
   ``(T - L(T_c)) / departure_std``. Then ``residual2_std``, the std of its error.
2. ``denoiser``: EDM loss on ``(T - L - s_d Reg) / (s_d s_2)``, plus the physics loss

   ``lambda(t) * mean_b[ w(sigma_b) <R(T_hat_b)^2>_A ] / R_0^2``

   with ``T_hat = L + s_d (Reg + s_2 D(z_sigma; sigma))`` the denoised estimate,
   ``R = u dT/dx + v dT/dy - kappa lap T`` (:func:`~xda.models.downscaling.pde_residual`,
   winds: bilinear interpolation of the coarse winds, what exists at inference),
   ``<.>_A`` the area mean, ``R_0^2`` the same for the truth of that fine grid (the
   truth scores 1), ``w(sigma) = 1 / (1 + sigma^2)`` and ``lambda`` ramping linearly
   from 0 to ``pde_weight`` over the first half of the stage; batches without winds
   have no physics term. ``kappa`` is the least-squares effective diffusivity of the
   training truth on each fine grid.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..models.cards import DEFAULT_STEPS
from ..models.diffusion import edm_loss
from ..models.downscaling import FEATURES, WIND_SCALE, AnchoredDownscaler, features, pde_residual
from ..models.registry import save_model
from ..numerics import regrid, stencils
from .loop import device_for, fit

log = logging.getLogger(__name__)

#: Fine grids: the simulation's grid block-averaged by these.
LEVELS = (1, 2)
#: Refinement factors trained for.
FACTORS = (2, 3, 4)
#: Regional crops, fine cells (rows, columns), divisible by every factor.
CROPS = ((36, 48), (48, 72))
#: Fraction of batches that are whole globes, per level.
GLOBAL_FRACTION = {1: 0.1, 2: 0.4}


def load_simulation(paths, split: str, every: int = 1) -> list[dict]:
    """The truth of one split, pooled over simulation files, on every fine grid of :data:`LEVELS`.

    Returns
    -------
    list of dict (one per level): ``tas``, ``uas``, ``vas`` (T, ny, nx) float32,
    ``lat``, ``lon`` (degrees), ``orog`` (m), ``land`` (0..1), ``level``.
    """
    fields = {v: [] for v in ("tas", "uas", "vas")}
    for path in paths:
        with xr.open_dataset(Path(path).expanduser()) as ds:
            idx = np.flatnonzero(ds["split"].values == split)[::every]
            for v in fields:
                fields[v].append(ds[v].values[idx].astype(np.float32))
            lat, lon = ds["lat"].values.astype(np.float64), ds["lon"].values.astype(np.float64)
            orog, land = ds["orog"].values.astype(np.float64), ds["sftlf"].values.astype(np.float64)
    native = {v: np.concatenate(a) for v, a in fields.items()}
    out = []
    for k in LEVELS:
        if k == 1:
            lev = dict(native, lat=lat, lon=lon, orog=orog, land=land)
        else:
            lat_k, lon_k = regrid.coarse_coords(lat, lon, k)
            lev = {v: regrid.coarsen(a, k, lat).astype(np.float32) for v, a in native.items()}
            lev.update(lat=lat_k, lon=lon_k, orog=regrid.coarsen(orog, k, lat), land=regrid.coarsen(land, k, lat))
        out.append(dict(lev, level=k))
    return out


class Examples:
    """Random training examples (see the module docstring): one grid, factor and domain per batch."""

    def __init__(self, levels: list[dict], seed: int, wind_dropout: float = 0.25):
        self.levels, self.rng, self.wind_dropout = levels, np.random.default_rng(seed), wind_dropout

    def __call__(self, batch: int) -> dict:
        rng = self.rng
        lev = self.levels[rng.integers(len(self.levels))]
        f = int(rng.choice(FACTORS))
        nt, ny, nx = lev["tas"].shape
        times = rng.integers(nt, size=batch)
        flip = rng.random() < 0.5
        periodic = rng.random() < GLOBAL_FRACTION.get(lev["level"], 0.0) and not (ny % f or nx % f)
        rows, cols = self._domain(ny, nx, f, periodic)
        take = lambda a: a[..., rows, :][..., cols]  # noqa: E731
        pick = lambda a: take(a[times][:, ::-1] if flip else a[times])  # noqa: E731
        tas, u, v = pick(lev["tas"]), pick(lev["uas"]), pick(lev["vas"]) * (-1 if flip else 1)
        orog, land = (take(lev[k][::-1] if flip else lev[k]) for k in ("orog", "land"))
        lat = lev["lat"][rows]
        dlon = float(lev["lon"][1] - lev["lon"][0])
        lon = lev["lon"][cols[0]] + dlon * np.arange(cols.size)
        lat_c, lon_c = regrid.coarse_coords(lat, lon, f)
        winds = rng.random() >= self.wind_dropout
        t_c, u_c, v_c = (regrid.coarsen(a.astype(np.float64), f, lat) for a in (tas, u, v))
        base, gamma, x = features(t_c, lat_c, lon_c, lat, lon, orog, land, periodic,
                                  u_c if winds else None, v_c if winds else None)
        return dict(x=x, tas=tas, base=base, lat=lat, lon=lon, periodic=periodic, winds=winds,
                    level=lev["level"], factor=f)

    def _domain(self, ny: int, nx: int, f: int, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices (columns wrap) of a whole globe or a random crop."""
        if periodic:
            return np.arange(ny), (np.arange(nx) + f * self.rng.integers(nx // f)) % nx
        h, w = CROPS[self.rng.integers(len(CROPS))]
        h, w = min(h, ny - ny % f), min(w, nx - nx % f)
        r0 = self.rng.integers(ny - h + 1)
        return np.arange(r0, r0 + h), (np.arange(w) + self.rng.integers(nx)) % nx


def effective_kappa(lev: dict, every: int = 8) -> tuple[float, float]:
    """Least-squares diffusivity of the steady residual on one fine grid, and the truth's residual mean square.

    Returns
    -------
    (kappa [m2 s-1], R_0^2 [K2 s-2]) with area weights cos(lat).
    """
    geo = stencils.geometry(lev["lat"], lev["lon"], periodic=True)
    t, u, v = (lev[k][::every].astype(np.float64) for k in ("tas", "uas", "vas"))
    a = stencils.advection(t, u, v, geo)
    lap = stencils.laplacian(t, geo)
    w = np.cos(np.deg2rad(lev["lat"]))[None, :, None] * np.ones_like(a)
    kappa = float((w * a * lap).sum() / (w * lap * lap).sum())
    return kappa, float((w * (a - kappa * lap) ** 2).sum() / w.sum())


def train_downscaler(
    data,
    out: str | Path,
    *,
    name: str = "hs-t63-ds-v1",
    stages=("regressor", "denoiser"),
    minutes: dict | None = None,
    pde_weight: float = 1.0,
    consistency_weight: float = 10.0,
    mean_head_members: int = 4,
    batch: int = 8,
    lr: float = 3e-4,
    seed: int = 0,
    init: str | Path | None = None,
    device: str | None = None,
    max_steps: int = 1_000_000,
    channels=(32, 64, 128),
) -> Path:
    """Train (some stages of) the anchored downscaling model on :mod:`xda.simulate` files.

    Parameters
    ----------
    data : path or sequence of paths
        netCDF files from ``python -m xda.simulate --kind downscaling`` (several seeds
        are pooled).
    out : path
        Directory for ``<name>.safetensors`` and the card ``<name>.json``.
    name : str
    stages : sequence of {"regressor", "denoiser", "consistency", "mean_head"}
        Stages to run (in this order); the others are taken from ``init``. ``"consistency"``
        fine-tunes the denoiser (from ``init``'s, or the one just trained) so that the
        sampler's mean is the regression's (:meth:`_Stages.consistency`); ``"mean_head"``
        distils the sampler's mean into a head of its own, the model's estimate
        (:meth:`_Stages.mean_head`). A model whose regressor or denoiser is retrained
        loses its mean head unless ``"mean_head"`` is run too.
    minutes : dict, optional
        Wall-clock budget per stage (defaults: regressor 12, denoiser 14, consistency 20,
        mean_head 40: those of hs-t63-ds-v2).
    pde_weight : float
        Final weight ``lambda`` of the physics loss (0: the ablation without it).
    consistency_weight : float
        Weight of the consistency stage's penalty on the sampler's mean.
    mean_head_members : int
        Members whose mean is each training target of the mean-head stage.
    batch, lr, seed : int, float, int
    init : path, optional
        A ``.safetensors`` model to start from (and its ``.json`` card).
    device : str, optional
        Defaults to CUDA when available.
    max_steps : int
        Step limit per stage (with the time budget, whichever comes first).
    channels : sequence of int
        U-Net widths of a new model.

    Returns
    -------
    Path of the weight file.
    """
    torch.manual_seed(seed)
    paths = [data] if isinstance(data, (str, Path)) else list(data)
    dev = device_for(device)
    budget = {"regressor": 12.0, "denoiser": 14.0, "consistency": 20.0, "mean_head": 40.0, **(minutes or {})}
    tr, va = load_simulation(paths, "train"), load_simulation(paths, "validation")
    log.info(f"train: {tr[0]['tas'].shape[0]} times, validation {va[0]['tas'].shape[0]}")
    if init is not None:
        model, card = _from_init(init, [s for s in stages if s != "consistency"], seed)
        if model.mean_head is not None and "mean_head" not in stages:
            log.info("the mean head of the init model is dropped: the networks it distils are retrained")
            model.mean_head = None  # the card's network is the model's config when saved
    else:
        model, card = AnchoredDownscaler(channels, "mean_head" in stages), _new_card(paths, tr, seed, batch, lr)
    run = _Stages(model.to(dev), card, Examples(tr, seed), batch, dev, max_steps, lr)
    if "regressor" in stages:
        run.regressor(budget["regressor"])
        run.departure_scale()
    if "denoiser" in stages:
        run.denoiser(budget["denoiser"], pde_weight)
    if "consistency" in stages:
        run.consistency(budget["consistency"], pde_weight, consistency_weight)
    if "mean_head" in stages:
        run.mean_head(budget["mean_head"], mean_head_members)
    run.validate(Examples(va, seed + 1, wind_dropout=0.0))
    card["network"] = model.config
    _finish_card(card, paths, name, stages, pde_weight, seed, init, max_steps)
    return save_model(model.cpu(), card, Path(out), name, dtype=torch.float16)


def _from_init(init, stages, seed) -> tuple[AnchoredDownscaler, dict]:
    """A saved model whose ``stages`` restart from scratch (same seed as a fresh model)."""
    import copy

    from ..models.cards import require_kind
    from ..models.registry import load_model

    net, card = load_model(init, device="cpu")  # the manifest-checked weights and card
    require_kind(card, "downscaling", init)
    model, card = copy.deepcopy(net).float().requires_grad_(True).train(), card.to_dict()
    torch.manual_seed(seed)
    fresh = AnchoredDownscaler(**dict(card["network"], **({"mean_head": True} if "mean_head" in stages else {})))
    if model.mean_head is None and fresh.mean_head is not None:
        model.mean_head = fresh.mean_head
    for stage in stages:
        getattr(model, stage).load_state_dict(getattr(fresh, stage).state_dict())
    card["training"] = dict(card["training"], initialised_from=Path(init).name)
    return model, card


def _new_card(paths, tr: list[dict], seed: int, batch: int, lr: float) -> dict:
    """The card of a new model: departure scale, diffusivity per grid, range, provenance."""
    ex = Examples(tr, seed + 7)
    d = np.concatenate([(b["tas"] - b["base"]).ravel() for b in (ex(batch) for _ in range(40))])
    physics = {}
    for lev in tr:
        kappa, r0 = effective_kappa(lev)
        physics[str(lev["level"])] = {"kappa": kappa, "residual_ms_truth": r0,
                                      "spacing_deg": float(abs(lev["lat"][1] - lev["lat"][0]))}
    with xr.open_dataset(Path(paths[0]).expanduser()) as ds:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}
    spacing = [p["spacing_deg"] for p in physics.values()]
    log.info(f"departure from the lapse-rate baseline: std {d.std():.3f} K; physics {physics}")
    return {
        "kind": "downscaling",
        "anchor": "lapse_rate",
        "factors": list(FACTORS),
        "fine_spacing_deg": [round(min(spacing), 3), round(max(spacing), 3)],
        "features": list(FEATURES),
        "variable": {"name": "tas", "standard_name": "air_temperature", "units": "K"},
        "departure_std": float(d.std()),
        "physics": physics,
        "coarsening": "area-weighted (cos lat) block mean over f x f cells",
        "base": "xda.numerics.lapse_rate.lapse_rate_downscale (conservative bicubic + estimated lapse rate x "
                "orography detail)",
        "physics_winds": "bilinear interpolation of the coarse winds to the fine grid",
        "domains": f"regional crops {list(CROPS)} fine cells and whole globes; fine grids T63 block-averaged by {list(LEVELS)}",
        "training_data": dict(attrs, files=[Path(p).name for p in paths], times_train=int(tr[0]["tas"].shape[0])),
        "training": {"seed": seed, "batch": batch, "lr": lr, "ema": 0.999, "stages": {}},
    }


def _finish_card(card, paths, name, stages, pde_weight, seed, init, max_steps) -> None:
    log = card["training"]["stages"]
    card["pde_weight"] = log.get("denoiser", {}).get("pde_weight", card.get("pde_weight"))
    card["description"] = ("downscaling of near-surface temperature anchored on lapse-rate downscaling: a regression "
                           "U-Net of the departure from the baseline and an EDM denoiser of the departure from the "
                           "regression, on the fine grid, projected onto conservative fields; physics loss: steady "
                           "advection-diffusion residual"
                           + ("; a mean head (the sampler's mean, distilled) gives the estimate the members are centred on"
                              if card["network"].get("mean_head") else ""))
    card["training"]["commands"] = list(card["training"].get("commands", [])) + [
        f"python -m xda.training.downscaling {' '.join(Path(p).name for p in paths)} --name {name} "
        f"--stages {','.join(stages)} --pde-weight {pde_weight} --seed {seed}"
        + (f" --minutes-consistency {card['training']['stages']['consistency']['minutes']} --consistency-weight "
           f"{card['training']['stages']['consistency']['consistency_weight']}" if "consistency" in stages else "")
        + (f" --minutes-mean-head {card['training']['stages']['mean_head']['minutes']} --mean-head-members "
           f"{card['training']['stages']['mean_head']['members']}" if "mean_head" in stages else "")
        + (f" --init {Path(init).name}" if init else "")
        + (f" --max-steps {max_steps}" if max_steps < 1_000_000 else "")
    ]


class _Stages:
    """The training stages, sharing the model, card, examples and device."""

    def __init__(self, model, card, examples, batch, dev, max_steps, lr):
        self.model, self.card, self.examples, self.batch, self.dev = model, card, examples, batch, dev
        self.max_steps, self.lr = max_steps, lr
        self.log = card["training"]["stages"]

    def _fit(self, module, loss, minutes, label, **kw):
        ema, steps, losses = fit(module, loss, minutes=minutes, lr=self.lr, label=label, max_steps=self.max_steps, **kw)
        module.load_state_dict(ema.state_dict())
        self.log[label] = dict(steps=steps, loss=float(np.mean(losses[-100:])), minutes=minutes)
        return self.log[label]

    def _tensors(self, b: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, normalised departure (B, 1, fy, fx)) of a batch."""
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=self.dev)  # noqa: E731
        return t(b["x"]), t((b["tas"] - b["base"])[:, None] / self.card["departure_std"])

    def regressor(self, minutes):
        m = self.model

        def reg_loss(step):
            b = self.examples(self.batch)
            x, d = self._tensors(b)
            return ((m.regress(x, b["periodic"]) - d) ** 2).mean()

        self._fit(m.regressor, reg_loss, minutes, "regressor")

    def departure_scale(self):
        with torch.no_grad():
            e = []
            for _ in range(24):
                b = self.examples(self.batch)
                x, d = self._tensors(b)
                e.append((d - self.model.regress(x, b["periodic"])).flatten())
        self.card["residual2_std"] = float(torch.cat(e).std())
        log.info(f"departure from the regression: std {self.card['residual2_std']:.3f} (units of departure_std)")

    def _denoiser_batch(self, b):
        """(features, regression, target of the denoiser) of a batch."""
        x, d = self._tensors(b)
        with torch.no_grad():
            reg = self.model.regress(x, b["periodic"])
        return x, reg, (d - reg) / self.card["residual2_std"]

    def denoiser(self, minutes, pde_weight):
        """EDM denoising loss plus ``lambda * w(sigma) * |R(T_hat)|^2 / |R(T)|^2`` (linear ramp of lambda)."""
        entry = self._fit(self.model.denoiser, self._denoiser_loss(pde_weight), minutes, "denoiser", pass_fraction=True)
        entry.update(pde_weight=pde_weight, pde_schedule="linear ramp 0 -> pde_weight over the first half, w(sigma)=1/(1+sigma^2)")

    def consistency(self, minutes, pde_weight, weight, members: int = 4, steps: int = 6):
        """Fine-tune the denoiser so that its sampler's mean is the regression's: the denoising loss (with the
        physics term at full weight) plus ``weight`` times the squared members' mean of ``D(z_sigma; sigma)`` at
        states ``z_sigma`` of its own sampler, stopped at a random one of its ``steps`` noise levels.

        Over the sampler's marginal, ``E[D(z_sigma; sigma) | x] = E[z | x] = 0`` (the tower property; ``z`` is
        the departure from the regression). The U-statistic ``(|sum_k D_k|^2 - sum_k |D_k|^2) / (K (K - 1))``
        over ``K = members`` estimates that mean's square without the bias of its sampling noise, so the penalty
        does not shrink the members' spread.
        """
        from ..models.diffusion import sample_heun, sigma_schedule, squared_mean

        m, dev = self.model, self.dev
        base = self._denoiser_loss(pde_weight)
        rng = np.random.default_rng(self.card["training"]["seed"] + 3)
        sigmas = sigma_schedule(steps, device=dev)

        def loss(step):
            b = self.examples(max(1, self.batch // members))
            x, reg, _ = self._denoiser_batch(b)
            cond = torch.cat([x, reg], dim=1).repeat(members, 1, 1, 1)
            var0 = torch.zeros(cond.shape[0], dtype=torch.long, device=dev)
            i = int(rng.integers(steps))
            with torch.no_grad():
                z = torch.randn((cond.shape[0], 1, *cond.shape[-2:]), device=dev) * sigmas[0]
                if i:
                    z = sample_heun(m.denoiser, z, sigmas[: i + 1], dict(cond=cond, variable=var0, periodic=b["periodic"]))
            d = m.denoiser(z, sigmas[i].expand(cond.shape[0]), cond, var0, b["periodic"]).reshape(members, -1)
            return base(step, 1.0) + weight * squared_mean(d)

        entry = self._fit(m.denoiser, loss, minutes, "consistency", warmup=20)
        entry.update(pde_weight=pde_weight, consistency_weight=weight, members=members, sampler_steps=steps)

    def mean_head(self, minutes, members: int = 4, steps: int = DEFAULT_STEPS["downscaling"], share: float = 0.5):
        """Distil the sampler's mean into the mean head (:meth:`AnchoredDownscaler.estimate`).

        The departure's estimate and the members must agree: the members' raw mean should be
        the estimate within sampling noise, with no recentring. The regression and the
        sampler's mean disagree by more than that (the denoiser, which sees the regression,
        corrects it), and on the simulation's test split and on real climate-model fields at
        x2 the sampler's mean is the better estimate (``benchmarks/results/downscaling_consistency.md``).
        So the estimate is taken from the samples, distilled: ``share`` of the budget draws
        training batches and runs the sampler (``members`` members of ``steps`` Heun steps
        each, the default call's) for their raw mean; the rest fits the head, whose input is
        the features and the regression, to those means (MSE; their sampling noise averages
        out over the batches), cycling through them. The regressor and the denoiser are kept.
        """
        m, dev, s_2 = self.model, self.dev, self.card["residual2_std"]
        if m.mean_head is None:
            raise RuntimeError("the model has no mean head: build it with AnchoredDownscaler(..., mean_head=True)")
        gen, drawn, t0 = torch.Generator(device=dev).manual_seed(self.card["training"]["seed"] + 5), [], time.perf_counter()
        with torch.no_grad():
            while time.perf_counter() - t0 < 60 * minutes * share and len(drawn) < self.max_steps:
                b = self.examples(self.batch)
                x, reg, _ = self._denoiser_batch(b)
                z = torch.stack([m.sample(x, reg, b["periodic"], steps=steps, generator=gen)[0] for _ in range(members)])
                drawn.append((x, reg, s_2 * z.mean(0), b["periodic"]))
        log.info(f"mean head: the sampler's mean of {len(drawn)} batches, {time.perf_counter() - t0:.0f} s")

        def loss(step):
            x, reg, target, periodic = drawn[step % len(drawn)]
            return ((m.estimate(x, reg, periodic) - reg - target) ** 2).mean()

        entry = self._fit(m.mean_head, loss, minutes * (1 - share), "mean_head")
        entry.update(minutes=minutes, batches=len(drawn), members=members, sampler_steps=steps, share_sampling=share)

    def _denoiser_loss(self, pde_weight):
        """``loss(step, elapsed_fraction)`` of the denoiser stage (see :meth:`denoiser`)."""
        m, dev, card = self.model, self.dev, self.card
        i_u = FEATURES.index("u")

        def dn_loss(step, elapsed_fraction):
            b = self.examples(self.batch)
            x, reg, z = self._denoiser_batch(b)
            var0 = torch.zeros(x.shape[0], dtype=torch.long, device=dev)
            cond, p = torch.cat([x, reg], dim=1), b["periodic"]
            lam = pde_weight * min(1.0, 2 * elapsed_fraction)
            if lam <= 0 or not b["winds"]:
                return edm_loss(m.denoiser, z, cond, var0, p)
            loss, dz, sigma = edm_loss(m.denoiser, z, cond, var0, p, return_denoised=True)
            phys = card["physics"][str(b["level"])]
            that = torch.as_tensor(b["base"], dtype=torch.float32, device=dev) + card["departure_std"] * (
                reg + card["residual2_std"] * dz)[:, 0]
            geo = stencils.geometry(b["lat"], b["lon"], periodic=p)
            uv = x[:, i_u : i_u + 2] * WIND_SCALE
            res = pde_residual(that, uv[:, 0], uv[:, 1], phys["kappa"], geo)
            area = torch.as_tensor(np.cos(np.deg2rad(b["lat"])), dtype=torch.float32, device=dev)[:, None]
            if not p:  # the stencils leave the edge of a regional grid undefined
                res, area = res[..., 1:-1, 1:-1], area[1:-1]
            ms = (area * res**2).mean(dim=(-2, -1)) / area.mean() / phys["residual_ms_truth"]
            return loss + lam * (ms / (1 + sigma**2)).mean()

        return dn_loss

    def validate(self, examples, n: int = 12):
        """RMSE of the baseline and of the regression, and the denoising loss, on validation examples."""
        torch.manual_seed(self.card["training"]["seed"] + 2)
        base_ms, reg_ms, est_ms, dn = [], [], [], []
        with torch.no_grad():
            for _ in range(n):
                b = examples(self.batch)
                x, reg, z = self._denoiser_batch(b)
                s_d, s_2 = self.card["departure_std"], self.card["residual2_std"]
                base_ms.append(float(((b["tas"] - b["base"]) ** 2).mean()))
                reg_ms.append(float((s_d * s_2 * z).pow(2).mean()))
                est_ms.append(float((s_d * (s_2 * z + reg - self.model.estimate(x, reg, b["periodic"]))).pow(2).mean()))
                var0 = torch.zeros(x.shape[0], dtype=torch.long, device=self.dev)
                dn.append(float(edm_loss(self.model.denoiser, z, torch.cat([x, reg], 1), var0, b["periodic"])))
        v = dict(rmse_baseline_K=float(np.sqrt(np.mean(base_ms))), rmse_regression_K=float(np.sqrt(np.mean(reg_ms))),
                 denoiser_loss=float(np.mean(dn)))
        if self.model.mean_head is not None:
            v["rmse_estimate_K"] = float(np.sqrt(np.mean(est_ms)))
        self.card["validation"] = v
        log.info(f"validation: {v}")


if __name__ == "__main__":  # python -m xda.training.downscaling ...: the xda command's parser (xda train downscaling --help)
    from ..cli import main

    raise SystemExit(main(["train", "downscaling", *sys.argv[1:]]))
