"""The training loop shared by xda's models (AdamW, warm-up, gradient clipping, EMA)."""

from __future__ import annotations

import copy
import logging
import os
import time

import numpy as np
import torch

log = logging.getLogger(__name__)


def fit(module: torch.nn.Module, loss_fn, *, minutes: float, lr: float, max_steps: int = 1_000_000,
        warmup: int = 200, ema_decay: float = 0.999, label: str = "", pass_fraction: bool = False, log_every: int = 50):
    """The training loop shared by xda's models: AdamW, warm-up, clipping, EMA.

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters are optimised.
    loss_fn : callable
        ``loss_fn(step)`` (or ``loss_fn(step, elapsed_fraction)`` with ``pass_fraction``,
        the fraction of the wall-clock or step budget used so far) returns a scalar loss tensor.
    minutes, max_steps : float, int
        Stop at whichever comes first.
    lr : float
        Peak learning rate, reached linearly over ``warmup`` steps.
    ema_decay : float
        Exponential moving average of the weights, ``min(ema_decay, (1 + n) / (10 + n))``.

    Returns
    -------
    (ema_module, steps, losses)

    Notes
    -----
    Under torch DDP (``module`` a ``DistributedDataParallel``), the EMA is of the wrapped
    module and every process stops at the same step (rank 0's clock decides).
    """
    base = getattr(module, "module", module)  # the network inside a DDP wrapper
    ema = copy.deepcopy(base).requires_grad_(False)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    t0, step, losses = time.perf_counter(), 0, []
    budget = 60 * minutes
    from tqdm.auto import tqdm

    total = round(budget) if np.isfinite(budget) else None
    bar = tqdm(total=total, desc=label or "training", unit="s", disable=None if _rank() == 0 else True)
    while step < max_steps and not _stop(time.perf_counter() - t0 >= budget):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / warmup)
        frac = max((time.perf_counter() - t0) / budget, step / max_steps)
        loss = loss_fn(step, frac) if pass_fraction else loss_fn(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{label} the loss is {loss.item()} at step {step}; nothing is saved")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), base.parameters()):
                pe.lerp_(pm, 1 - decay)
        losses.append(loss.item())
        step += 1
        bar.update(min(round(time.perf_counter() - t0), total or np.inf) - bar.n)
        if step % log_every == 0 and _rank() == 0:
            bar.set_postfix(step=step, loss=f"{np.mean(losses[-log_every:]):.4f}")
            log.info(f"{label} step {step} loss {np.mean(losses[-log_every:]):.4f} {time.perf_counter() - t0:.0f} s")
    bar.close()
    return ema, step, losses


def device_for(device=None) -> torch.device:
    """The training device, one policy for every trainer: ``device`` when given, else the GPU of this process
    (``cuda:$LOCAL_RANK`` under torchrun) when there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")


def _rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def _stop(flag: bool) -> bool:
    """Rank 0's decision, shared with all processes under torch.distributed."""
    if not torch.distributed.is_initialized():
        return flag
    t = torch.tensor([int(flag)])
    torch.distributed.broadcast(t, 0)
    return bool(t.item())
