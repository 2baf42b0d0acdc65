"""The anchored denoiser: what the optimal-interpolation analysis gets wrong, learned.

xda's learned analysis is anchored on the classical one. Optimal interpolation (OI,
:mod:`xda.numerics.oi`) with tuned background-error statistics gives an analysis
``x_a`` and its error std ``s_a``. The network models the *normalised departure* of the
truth from it,

    u = (x_t - x_a) / s_a,

which is ``N(0, C)`` with unit variance at every point if OI's Gaussian assumptions
hold. The denoiser is EDM-preconditioned with ``sigma_data = 1`` (Karras et al. 2022),
so a network whose output is zero is exactly the denoiser of ``N(0, I)``:

* its posterior mean (:func:`posterior_mean`) is ``u = 0``: the analysis is OI's;
* its samples (:func:`posterior_samples`) have mean 0 and unit variance: members
  spread as OI's analysis error, point by point.

A trained network moves away from OI only where training taught it that OI is
wrong (flow-dependent and non-Gaussian errors, misestimated ``B``). Observations
enter once: through OI and the conditioning, never again through guidance.

Conditioning (all dimensionless, :func:`anchored_condition`): the background
normalised by the variable's climatology, sin(latitude), the OI increment over
``s_b``, ``s_a / s_b`` (1 far from observations), ``s_b`` over the climatological std
(the regime: short forecast or climatology), and the multi-scale encoding of the
analysis residuals ``(y - H x_a) / s_b`` at observed cells
(:func:`xda.models.diffusion.encode_observations`).

The posterior mean is a deterministic head of the same network: the denoiser at a
very large noise level ``SIGMA_HEAD`` with a zero input, ``D(0; SIGMA_HEAD) ~
E[u | condition]``, trained by an extra term of the loss (:class:`AnchoredLoss`);
one network evaluation.

References
----------
Karras, Aittala, Aila, Laine (2022): Elucidating the design space of diffusion-based
generative models (EDM), NeurIPS.
Daley (1991): Atmospheric Data Analysis, ch. 4 (OI and its analysis error).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import GridError
from ..numerics.interp import bilinear_weights, to_cells
from ..numerics.regrid import WorkingGrid
from .diffusion import (ENCODER_SCALES, Denoiser, EDMLoss, encode_observations, sample_heun, sigma_schedule,
                        squared_mean)
from .network import UNet

#: Condition channels: background, increment, s_a/s_b, s_b/clim, sin(lat), + the residual encoding.
N_COND_ANCHORED = 5 + 3 + 2 * len(ENCODER_SCALES)
#: Noise level at which the denoiser with a zero input is the posterior-mean head.
SIGMA_HEAD = 80.0


#: Input fields of the anchored network, in order (:func:`condition_fields`).
FIELDS = ("background", "increment", "ratio", "regime", "residual", "mask", "obs_error")


def condition_fields(xb, xa, sa, sb, residual, mask, obs_error, clim_mean: float, clim_std: float) -> np.ndarray:
    """The anchored network's input fields (len(FIELDS), ny, nx), dimensionless, from working-unit arrays.

    Parameters
    ----------
    xb, xa, sa, sb : ndarray (ny, nx)
        Background, OI analysis, its error std and the background-error std.
    residual, mask, obs_error : ndarray (ny, nx)
        ``y - H x_a`` and ``s_o`` binned to cells (:func:`xda.numerics.interp.to_cells`), 1 where observed.
    clim_mean, clim_std : float
        The variable's climatological mean and std (model card).

    Returns
    -------
    ndarray (7, ny, nx): ``(x_b - mean) / std``, ``(x_a - x_b) / s_b``, ``s_a / s_b``,
    ``s_b / std``, ``(y - H x_a) / s_b``, mask, ``s_o / s_b``.
    """
    sb = np.maximum(sb, 1e-6 * clim_std)
    return np.stack([(xb - clim_mean) / clim_std, (xa - xb) / sb, sa / sb, sb / clim_std,
                     residual * mask / sb, mask, obs_error * mask / sb])


def anchored_condition(fields: torch.Tensor, sin_lat: torch.Tensor, periodic: bool) -> torch.Tensor:
    """The conditioning channels: the fields, sin(latitude) and the multi-scale residual encoding.

    Parameters
    ----------
    fields : Tensor (B, len(FIELDS), ny, nx)
        From :func:`condition_fields`.
    sin_lat : Tensor (ny,)
    periodic : bool

    Returns
    -------
    Tensor (B, N_COND_ANCHORED, ny, nx)
    """
    b, _, ny, nx = fields.shape
    lat = sin_lat.to(fields.dtype)[None, None, :, None].expand(b, 1, ny, nx)
    enc = encode_observations(fields[:, 4], fields[:, 5], fields[:, 6], periodic)
    return torch.cat([fields[:, :4], lat, enc], dim=1)


def working_grid(card: dict, lat, lon, periodic: bool, name: str = "the variable") -> WorkingGrid:
    """The model's working grid over a grid's domain (:class:`xda.numerics.regrid.WorkingGrid`).

    Raises
    ------
    GridError
        Where the grid's spacing is outside the card's ``valid_spacing_deg`` or the
        domain is smaller than 4 x 4 cells of the model's grid.
    """
    spacing = card["grid"].get("spacing_deg", 360.0 / card["grid"]["shape"][1])
    lo, hi = card["grid"].get("valid_spacing_deg", [0.25, 6.0])
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    dlat = abs(lat[-1] - lat[0]) / max(lat.size - 1, 1)
    dlon = 360.0 / lon.size if periodic else abs(lon[-1] - lon[0]) / max(lon.size - 1, 1)
    if not (lo <= dlat <= hi and lo <= dlon <= hi):
        raise GridError(f"the grid spacing {dlat:.3g} x {dlon:.3g} deg is outside the range {lo}-{hi} deg the model "
                        f"{card.get('name')!r} supports for {name!r}; regrid the background, or use method='oi'")
    wg = WorkingGrid(lat, lon, periodic, spacing)
    if min(wg.wlat.size, wg.wlon.size) < 4:
        raise GridError(f"the domain of {name!r} ({lat.size} x {lon.size} points) is smaller than 4 x 4 cells of the "
                        f"model's {spacing:.3g}-degree grid; use method='oi' for so small a region")
    return wg


def network_fields(entry: dict, wg: WorkingGrid, xb, xa, sa, sb, obs_lat, obs_lon, residual, obs_error) -> np.ndarray:
    """The network's input fields on the working grid (:func:`condition_fields`), from the input grid.

    Parameters
    ----------
    entry : dict
        The variable's card entry (``clim_mean``, ``clim_std``).
    wg : WorkingGrid
    xb, xa, sa, sb : ndarray (ny, nx)
        Background, OI analysis and its error std, background-error std (working units).
    obs_lat, obs_lon, residual, obs_error : ndarray (n,)
        Observation positions (degrees), ``y - H x_a`` and ``s_o``.

    Returns
    -------
    ndarray (len(FIELDS), wny, wnx)
    """
    op, _ = bilinear_weights(wg.wlat, wg.wlon, obs_lat, obs_lon, periodic=wg.periodic)
    res, mask, err = to_cells(op, residual, obs_error)
    return condition_fields(*(wg.to_work(a) for a in (xb, xa, sa, sb)), res, mask, err, entry["clim_mean"], entry["clim_std"])


class AnchoredDenoiser(Denoiser):
    """The anchored denoiser (:class:`~xda.models.diffusion.Denoiser` of ``u``), with an optional mean head.

    The posterior-mean head ``D(0; SIGMA_HEAD)`` (:func:`posterior_mean`, the estimate) and the
    sampler (:func:`posterior_samples`) are two readings of one network, and the members' raw
    mean misses the head by more than sampling noise (``benchmarks/results/consistency.md``).
    The mean head is a U-Net of the condition and the head whose output, added to the head,
    is the model's estimate of its own sampler's mean (:func:`sampler_mean`), trained on that
    sampler (:mod:`xda.training.assimilation_mean_head`). Members are then the raw draws about
    it, ``u_k - sampler_mean``, moved to the estimate: no recentring on the ensemble's own mean
    (issue 27, item 3). Its output layer starts at zero (the sampler's mean taken as the head).

    Parameters
    ----------
    channels, n_variables, x_channels, cond_channels
        As :class:`~xda.models.diffusion.Denoiser`'s.
    mean_head : bool or sequence of int
        Attach an (untrained) mean head: True with the denoiser's ``channels``, else with these.
    """

    def __init__(self, channels=(16, 32, 64, 128), n_variables: int = 2, x_channels: int = 1,
                 cond_channels: int = N_COND_ANCHORED, mean_head: bool | list = False):
        super().__init__(channels, n_variables=n_variables, x_channels=x_channels, cond_channels=cond_channels)
        self.mean_head = None
        if mean_head:
            self.attach_mean_head(None if mean_head is True else mean_head)

    def attach_mean_head(self, channels=None) -> None:
        """A fresh mean head whose output is zero (the sampler's mean taken as the head ``D(0; SIGMA_HEAD)``), of
        U-Net widths ``channels`` (default: the denoiser's)."""
        c = self.config
        widths = tuple(c["channels"] if channels is None else channels)
        self.mean_head = UNet(c["cond_channels"] + c["x_channels"], c["x_channels"], widths,
                              c["n_variables"]).to(next(self.parameters()))
        torch.nn.init.zeros_(self.mean_head.out.weight)
        torch.nn.init.zeros_(self.mean_head.out.bias)
        self.config["mean_head"] = True if channels is None else [int(w) for w in widths]

    def drop_mean_head(self) -> None:
        """No mean head (a denoiser retrained without it samples about another mean)."""
        self.mean_head = None
        self.config.pop("mean_head", None)


def anchored_denoiser(channels=(16, 32, 64, 128), n_variables: int = 2, mean_head: bool | list = False) -> AnchoredDenoiser:
    """An untrained anchored denoiser (output layer zero: exactly the OI posterior)."""
    return AnchoredDenoiser(channels, n_variables=n_variables, mean_head=mean_head)


def posterior_mean(denoiser: Denoiser, cond: torch.Tensor, variable: torch.Tensor, periodic: bool) -> torch.Tensor:
    """``E[u | cond]`` by the posterior-mean head ``D(0; SIGMA_HEAD)``: one evaluation.

    Returns
    -------
    Tensor (B, 1, ny, nx)
    """
    b, _, ny, nx = cond.shape
    x = torch.zeros((b, denoiser.x_channels, ny, nx), dtype=cond.dtype, device=cond.device)
    sigma = torch.full((b,), SIGMA_HEAD, dtype=cond.dtype, device=cond.device)
    return denoiser(x, sigma, cond, variable, periodic)


def has_mean_head(denoiser) -> bool:
    """Whether ``denoiser`` (or the module a DDP wrapper holds) has a mean head (:class:`AnchoredDenoiser`)."""
    return getattr(getattr(denoiser, "module", denoiser), "mean_head", None) is not None


def sampler_mean(denoiser: AnchoredDenoiser, cond: torch.Tensor, variable: torch.Tensor, periodic: bool) -> torch.Tensor:
    """The model's estimate of its sampler's mean: the head plus the mean head's correction, two evaluations.

    Returns
    -------
    Tensor (B, 1, ny, nx)

    Raises
    ------
    ValueError
        Where the model has no mean head.
    """
    if not has_mean_head(denoiser):
        raise ValueError("the model has no mean head: give it one with xda train assimilation-mean-head")
    head = posterior_mean(denoiser, cond, variable, periodic)
    zero = torch.zeros(cond.shape[0], dtype=cond.dtype, device=cond.device)
    return head + getattr(denoiser, "module", denoiser).mean_head(torch.cat([cond, head], dim=1), zero, variable, periodic)


#: Fields per network call on a CPU, heads and members alike. Measured (``hs-t42-v2`` at 64 x 128, one
#: thread, 2026-12-02): the head 12-14 ms a field in batches of 1-2, 15-16 in 4-8, 20 in 32, 42 in 72 (a larger
#: batch's activations outgrow the caches and the allocator's reused memory); 8 members of 6 steps of one analysis
#: 1.41 s in batches of 2, 1.76 s in 4, 2.0 s in 8 (identical members: the noise is drawn in order).
CPU_BATCH = 2
#: Fields per network call on an accelerator; memory stays bounded whatever the ensemble (not measured on a GPU).
DEVICE_BATCH = 32


def batch_size(device) -> int:
    """Fields per network call on ``device`` (:data:`CPU_BATCH` on a CPU, else :data:`DEVICE_BATCH`): the tasks'
    members, and the posterior-mean heads of a verification's folds and of several times, go through in batches
    of this size."""
    return CPU_BATCH if torch.device(device).type == "cpu" else DEVICE_BATCH


@torch.no_grad()
def posterior_samples(denoiser: Denoiser, cond, variable, periodic: bool, *, steps: int = 8,
                      generator: torch.Generator | None = None, noise: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, int]:
    """Samples of ``u`` by the EDM probability-flow ODE, integrated exactly for its Gaussian part.

    The ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` (Karras et al. 2022, eq. 4) is
    solved for ``y = x / sqrt(1 + sigma^2)``, which is constant when ``D`` is the
    denoiser of ``N(0, I)`` (``D = x / (1 + sigma^2)``, a zero network): Heun's method
    (Algorithm 1's steps, EDM noise levels) then discretises only what the network
    learned, and a zero network returns exactly unit-variance samples at any ``steps``
    -- the OI posterior. The initial ``y`` is standard normal, the exact marginal at
    ``sigma_max``. No guidance: the observations are already in the condition.

    ``noise``: that initial ``y`` (B, 1, ny, nx), drawn by the caller (then ``generator`` is
    not used): the ODE is deterministic, so samples drawn in any batches from the same
    noise are the same.

    Returns
    -------
    (Tensor (B, 1, ny, nx), number of denoiser evaluations per sample)
    """
    b, _, ny, nx = cond.shape
    sigmas = sigma_schedule(steps, device=cond.device, dtype=cond.dtype)

    from tqdm.auto import tqdm

    y = (torch.randn((b, denoiser.x_channels, ny, nx), generator=generator, device=cond.device, dtype=cond.dtype)
         if noise is None else noise)
    # a bar over the noise levels for ensembles (off when not a terminal, or with TQDM_DISABLE=1)
    with tqdm(total=len(sigmas) - 1, desc=f"sampling {b} members", leave=False, disable=None if b > 1 else True) as bar:
        y = sample_heun(_in_y(denoiser), y, sigmas, dict(cond=cond, variable=variable, periodic=periodic),
                        callback=lambda _: bar.update())
    return y, 2 * steps - 1


def _in_y(denoiser):
    """The denoiser seen by ``y = x / sqrt(1 + sigma^2)`` (:func:`posterior_samples`): ``(y - D_y) / sigma`` is
    ``y``'s slope."""
    def in_y(y, s, **extra):
        scale = torch.sqrt(1 + s**2)
        x = y * scale
        slope = ((x - denoiser(x, s.reshape(1), **extra)) / s - x * s / (1 + s**2)) / scale
        return y - s * slope

    return in_y


@torch.no_grad()
def in_batches(denoiser: Denoiser, conds: list, variable: int, periodic: bool, members: int = 0, *, steps: int = 8,
               seed: int | None = None, finish=None) -> tuple[np.ndarray, int]:
    """The departures of several cases, in batches of :func:`batch_size` fields whatever their number.

    ``conds``: each case's condition (1, C, ny, nx), on one device. ``members=0``: the
    posterior-mean head of each case (:func:`posterior_mean`); else ``members`` samples of
    each (:func:`posterior_samples`), each case's initial noise drawn from its own generator
    of ``seed``, so that a case's members are those it has alone, in any batch; with a mean head
    (:class:`AnchoredDenoiser`), the draws about the model's estimate of their mean, ``u_k -``
    :func:`sampler_mean` (its two evaluations per case are not in the count returned). ``finish(u,
    cond, cases)``: applied to each batch's output (e.g. back from a latent space), ``cases``
    the index of each field's case.

    Returns
    -------
    (ndarray (len(conds) * max(members, 1), channels, ny, nx) float64, members of a case in a row;
    denoiser evaluations per field)
    """
    from .diffusion import generator

    device, dtype = conds[0].device, conds[0].dtype
    n_each = max(members, 1)
    n = len(conds) * n_each
    if members:
        shape = (members, denoiser.x_channels, *conds[0].shape[-2:])
        noise = torch.cat([torch.randn(shape, generator=generator(seed, device), dtype=dtype, device=device)
                           for _ in conds])
        centre = _sampler_means(denoiser, conds, variable, periodic) if has_mean_head(denoiser) else None
    parts, nfe = [], 1
    for start in range(0, n, batch_size(device)):  # the network's memory does not grow with the cases
        which = [k // n_each for k in range(start, min(n, start + batch_size(device)))]  # each field's case
        cond = torch.cat([conds[k] for k in which])
        var = torch.full((len(which),), int(variable), dtype=torch.long, device=device)
        if members:
            u, nfe = posterior_samples(denoiser, cond, var, periodic, steps=steps,
                                       noise=noise[start : start + len(which)])
            if centre is not None:
                u = u - centre[which]
        else:
            u = posterior_mean(denoiser, cond, var, periodic)
        parts.append((u if finish is None else finish(u, cond, which)).double().cpu().numpy())
    return np.concatenate(parts), nfe


def _sampler_means(denoiser, conds: list, variable: int, periodic: bool) -> torch.Tensor:
    """:func:`sampler_mean` of each case (len(conds), 1, ny, nx), in batches of :func:`batch_size`."""
    k, device = batch_size(conds[0].device), conds[0].device
    var = torch.full((len(conds),), int(variable), dtype=torch.long, device=device)
    return torch.cat([sampler_mean(denoiser, torch.cat(conds[i : i + k]), var[i : i + k], periodic)
                      for i in range(0, len(conds), k)])


@torch.no_grad()
def sampler_state(denoiser: Denoiser, cond, variable, periodic: bool, *, steps: int, stop: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, sigma)``: the state of :func:`posterior_samples` (``steps`` Heun steps) when it reaches its noise
    level number ``stop`` (0 = ``sigma_max``, the initial draw; ``steps - 1`` = the last before 0), in ``x``
    (B, 1, ny, nx)."""
    b, _, ny, nx = cond.shape
    sigmas = sigma_schedule(steps, device=cond.device, dtype=cond.dtype)
    y = torch.randn((b, denoiser.x_channels, ny, nx), generator=generator, device=cond.device, dtype=cond.dtype)
    y = sample_heun(_in_y(denoiser), y, sigmas[: stop + 1], dict(cond=cond, variable=variable, periodic=periodic))
    return y * torch.sqrt(1 + sigmas[stop] ** 2), sigmas[stop]


class ConsistencyPenalty:
    """The squared members' mean of ``D(x_sigma; sigma) - D(0; SIGMA_HEAD)`` at states of the model's own sampler.

    Over the sampler's marginal at ``sigma``, ``E[D(x_sigma; sigma)] = E[u | cond]`` (the
    tower property), which the posterior-mean head estimates; a sampler whose members'
    raw mean drifts from the head (measured: 1.46x its sampling noise on real cases,
    ``benchmarks/evaluate_consistency.py``) has a denoiser biased along its own path. At
    a random one of the sampler's ``steps`` noise levels, ``members`` states per case are
    drawn (:func:`sampler_state`), and the U-statistic
    ``(|sum_k e_k|^2 - sum_k |e_k|^2) / (K (K - 1))`` of ``e_k = D(x_k; sigma) - head``
    (head held fixed) estimates the square of their mean without the bias of its sampling
    noise, so the penalty does not shrink the members' spread. The same penalty as the
    downscaling model's ``consistency`` stage (:mod:`xda.training.downscaling`), whose
    target is 0 rather than the head.

    With a ``teacher`` (a frozen copy of the model being fine-tuned) the target is the
    teacher's head, and ``keep_head`` adds ``keep_head * mean |head - teacher's head|^2``
    (the student's head, with its gradient): the sampler is distilled onto the head the
    model had, and the head is held where it was (a sampler made consistent by moving the
    head instead would cost the estimate its skill).
    """

    def __init__(self, members: int = 4, steps: int = 6, seed: int = 0, teacher: Denoiser | None = None,
                 keep_head: float = 0.0):
        if members < 2:
            raise ValueError(f"members={members}: the penalty needs at least 2 members per case")
        if keep_head and teacher is None:
            raise ValueError("keep_head holds the head at a teacher's: pass teacher= (a frozen copy of the model)")
        self.members, self.steps, self.rng = int(members), int(steps), np.random.default_rng(seed)
        self.teacher, self.keep_head = teacher, float(keep_head)

    def __call__(self, denoiser, cond, variable, periodic: bool) -> torch.Tensor:
        """The penalty (a scalar) on cases ``cond`` (B, C, ny, nx) of variables ``variable`` (B,)."""
        k = self.members
        cond_k, var_k = cond.repeat(k, 1, 1, 1), variable.repeat(k)
        x, sigma = sampler_state(denoiser, cond_k, var_k, periodic, steps=self.steps,
                                 stop=int(self.rng.integers(self.steps)))
        with torch.no_grad():
            head = posterior_mean(denoiser if self.teacher is None else self.teacher, cond, variable, periodic)
        out = squared_mean((denoiser(x, sigma.expand(x.shape[0]), cond_k, var_k, periodic) - head.repeat(k, 1, 1, 1))
                           .reshape(k, -1))
        if self.keep_head:
            out = out + self.keep_head * torch.mean((posterior_mean(denoiser, cond, variable, periodic) - head) ** 2)
        return out


class AnchoredLoss:
    """EDM denoising loss of ``u`` plus the posterior-mean head's squared error, in one network call.

    ``L = mean lambda(sigma) |D(u + sigma n; sigma) - u|^2 + head_weight * mean |D(0; SIGMA_HEAD) - u|^2``
    with ``ln sigma ~ N(p_mean, p_std^2)`` and ``lambda = (sigma^2 + 1) / sigma^2`` (Karras
    et al. 2022, eq. 2, 8 and Table 1, ``sigma_data = 1``). The second term is the EDM
    loss at ``sigma = SIGMA_HEAD`` with the noise replaced by its mean, so the head
    learns ``E[u | cond]``. Both halves go through the denoiser as one batch (one
    forward pass, as torch DDP expects).
    """

    def __init__(self, p_mean: float = -1.2, p_std: float = 1.2, head_weight: float = 1.0):
        self.edm, self.head_weight = EDMLoss(p_mean, p_std, 1.0), head_weight

    def __call__(self, denoiser, u, cond, variable, periodic: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, head loss) for a batch ``u`` (B, 1, ny, nx); ``denoiser`` may be DDP-wrapped."""
        cond2, var2 = torch.cat([cond, cond]), torch.cat([variable, variable])
        edm, head, _ = self.edm.with_head(lambda x, sig: denoiser(x, sig, cond2, var2, periodic), u, SIGMA_HEAD)
        return edm + self.head_weight * head, head
