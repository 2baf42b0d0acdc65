"""Loading and saving models, and the cache of loaded ones (cards: :mod:`xda.models.cards`).

A model is two files in ``xda/weights`` (or in ``$XDA_WEIGHTS_DIR``):
``<name>.safetensors`` (tensors only, never pickle) and ``<name>.json``, the model
card: variables with units and CF standard names, normalisation, background-error
statistics of the training data, grid, training data and command, and the sha256 of
the weight file, checked at load. Loading needs no network.

Loaded models are cached per ``(name, device, dtype)``: repeated calls reuse the
module, which stays on the GPU when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import ModelError
from ..numerics import threads
from .cards import DEFAULT_DOWNSCALING_MODEL, DEFAULT_MODEL, available_models, find, load_card, sha256, weights_dirs  # noqa: F401
from .diffusion import Denoiser

_CACHE: dict[tuple[str, str, torch.dtype], tuple[torch.nn.Module, dict]] = {}


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name: str = DEFAULT_MODEL, device=None, dtype=torch.float32) -> tuple[torch.nn.Module, dict]:
    """Load (or fetch from the cache) a denoiser and its card.

    Parameters
    ----------
    name : str
        Model name (see :func:`available_models`).
    device : str or torch.device, optional
        Defaults to CUDA when available, else CPU.
    dtype : torch.dtype

    Returns
    -------
    (Module, dict)
        The module (a :class:`Denoiser`; for ``kind: downscaling`` cards, a
        :class:`~xda.models.downscaling.AnchoredDownscaler`; for ``joint`` cards a
        :class:`~xda.models.joint.JointDenoiser`) in eval mode on ``device`` and the model card.

    Raises
    ------
    ModelError
        If the model is unknown, its weight file does not match the card's sha256, or
        a CUDA device is requested where there is none.
    """
    from safetensors.torch import load_file

    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"device={str(device)!r} was requested but torch sees no CUDA GPU; leave `device` unset "
            "(CUDA when present, else CPU) or pass device='cpu'"
        )
    threads.apply_to_torch()
    key = (name, str(device), dtype)
    if key in _CACHE:
        return _CACHE[key]
    base = find(name)
    card = json.loads(base.with_suffix(".json").read_text())
    wfile = base.with_suffix(".safetensors")
    digest = sha256(wfile)
    if card.get("sha256") and card["sha256"] != digest:
        raise ModelError(f"weight file {wfile} does not match the sha256 in its card; reinstall or retrain {name!r}")
    model = _build(card)
    model.load_state_dict({k: v.float() for k, v in load_file(wfile).items()})
    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    _CACHE[key] = (model, card)
    return model, card


def _build(card: dict) -> torch.nn.Module:
    """An untrained module of the architecture a card describes."""
    if card.get("kind", "assimilation") == "downscaling":
        from .downscaling import AnchoredDownscaler

        return AnchoredDownscaler(**card["network"])
    if card.get("latent"):
        from .latent import LatentJointDenoiser

        return LatentJointDenoiser(**card["network"])
    if card.get("joint"):
        from .joint import JointDenoiser

        return JointDenoiser(**card["network"])
    return Denoiser(**card["network"])


def save_model(model: torch.nn.Module, card: dict, directory: Path, name: str, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``<name>.safetensors`` and its card ``<name>.json`` (with the sha256).

    ``dtype=torch.float16`` halves the file; weights are cast back at load.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wfile = directory / f"{name}.safetensors"
    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, wfile, metadata={"name": name, "format": "xda-denoiser-v0"})
    card = dict(card, name=name, network=model.config, sha256=sha256(wfile))
    (directory / f"{name}.json").write_text(json.dumps(card, indent=1))
    return wfile


def clear_cache() -> None:
    """Forget all loaded models."""
    _CACHE.clear()
