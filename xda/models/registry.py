"""Loading and saving models, and the cache of loaded ones (cards and the manifest: :mod:`xda.models.cards`).

A model is two files in ``xda/weights`` (or in ``$XDA_WEIGHTS_DIR``, or anywhere when
named by path): ``<name>.safetensors`` (tensors only, never pickle) and ``<name>.json``,
the model card: variables with units and CF standard names, normalisation,
background-error statistics of the training data, grid, training data and command,
the sha256 of the weight file and the ``manifest_sha256`` over card and weights.
:func:`save_model` writes both hashes; :func:`load_model` verifies both (an edited
card or weight file, or a card without them, is a :class:`~xda.errors.WeightsError`),
as well as the safetensors format and that the tensors fit the card's architecture.
Loading needs no network.

Loaded models are cached per ``(card file, manifest hash, device, dtype)``: repeated
calls reuse the module, which stays on the GPU when there is one; a changed
``$XDA_WEIGHTS_DIR`` or an edited and re-saved model gives another entry (the one it
replaces is dropped). Each call re-reads the card and ``stat``s the weight file, which
is re-hashed only when its size, inode, mtime or ctime changed.
"""

from __future__ import annotations

import os

import hashlib
import json
from pathlib import Path

import torch

from ..errors import ModelError, WeightsError
from ..numerics import threads
from .cards import (
    DEFAULT_DOWNSCALING_MODEL, DEFAULT_MODEL, FIX, ModelFiles, available_models, find, load_card, manifest_sha256,
    open_model, require_kind, seal_card, sha256, weights_dirs)
from . import cards

__all__ = ["DEFAULT_DOWNSCALING_MODEL", "DEFAULT_MODEL", "available_models", "clear_cache", "default_device", "find",
           "load_card", "load_model", "require_kind", "save_model", "seal_card", "sha256", "weights_dirs"]

_CACHE: dict[tuple[str, str, str, torch.dtype], tuple[torch.nn.Module, dict]] = {}


def default_device() -> torch.device:
    """CUDA when available, else CPU.

    Returns
    -------
    torch.device
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name=DEFAULT_MODEL, device=None, dtype=torch.float32) -> tuple[torch.nn.Module, cards.ModelCard]:
    """Load (or fetch from the cache) a verified denoiser and its card.

    Parameters
    ----------
    name : str or os.PathLike
        A model name (see :func:`available_models`), or a path to its card
        (``.json``), its weight file (``.safetensors``) or either without the suffix;
        the other file is taken from next to it.
    device : str or torch.device, optional
        Defaults to CUDA when available, else CPU.
    dtype : torch.dtype

    Returns
    -------
    (Module, ModelCard)
        The module (a :class:`Denoiser`; for ``kind: downscaling`` cards, a
        :class:`~xda.models.downscaling.AnchoredDownscaler`; for ``joint`` cards a
        :class:`~xda.models.joint.JointDenoiser`) in eval mode on ``device`` and the model card.

    Raises
    ------
    ModelError
        If the model is unknown, or a CUDA device is requested where there is none.
    WeightsError
        (a ModelError) If ``$XDA_WEIGHTS_DIR`` does not exist, a file is missing or
        malformed, the card lacks a required key or its hashes, a hash does not match
        (card or weights edited or corrupt), or the tensors do not fit the card's network.
    """
    try:
        device = torch.device(device) if device is not None else default_device()
    except (RuntimeError, TypeError) as e:
        raise ModelError(f"device={device!r} is not a torch device; leave it unset (CUDA when present, else CPU), "
                         "or pass 'cpu' or 'cuda'") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"device={str(device)!r} was requested but torch sees no CUDA GPU; leave `device` unset "
            "(CUDA when present, else CPU) or pass device='cpu'"
        )
    threads.apply_to_torch()
    files = open_model(name)
    key = (str(files.card_path), files.manifest, str(device), dtype)
    if key in _CACHE:
        return _CACHE[key]
    model = _instantiate(files).to(device=device, dtype=dtype).eval().requires_grad_(False)
    for old in [k for k in _CACHE if k[0] == key[0] and k[2:] == key[2:]]:  # the same files, since changed
        del _CACHE[old]
    _CACHE[key] = (model, files.card)
    return _CACHE[key]


def _instantiate(files: ModelFiles) -> torch.nn.Module:
    """The module of a verified card with its weights (re-checked against the bytes that are loaded)."""
    from safetensors.torch import load as load_bytes

    data = files.weights_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != files.card["sha256"]:
        raise WeightsError(f"weight file {files.weights_path} changed while it was being loaded; load it again once "
                           "it is written, or " + FIX)
    try:
        state = load_bytes(data)
    except Exception as e:  # safetensors raises its own SafetensorError, or others on odd headers
        raise WeightsError(f"weight file {files.weights_path} is not a readable safetensors file "
                           f"({type(e).__name__}: {e}); " + FIX) from e
    try:
        with torch.random.fork_rng(devices=[]):  # the untrained init must not advance the user's global RNG
            model = _build(files.card)
    except (TypeError, ValueError, KeyError) as e:
        raise WeightsError(f"the 'network' of model card {files.card_path} does not describe a network xda can "
                           f"build ({type(e).__name__}: {e}); " + FIX) from e
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:300]
        raise WeightsError(f"the tensors in {files.weights_path} do not fit the network in its card "
                           f"{files.card_path} ({detail}); " + FIX) from e
    return model


def _build(card: dict) -> torch.nn.Module:
    """An untrained module of the architecture a card names (:data:`xda.models.cards.ARCHITECTURES`)."""
    import importlib

    module, cls = cards.ARCHITECTURES[cards.architecture(card)].split(":")
    return getattr(importlib.import_module(module), cls)(**card["network"])


def save_model(model: torch.nn.Module, card: dict, directory: Path, name: str, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``<name>.safetensors`` and its card ``<name>.json`` with ``sha256`` and ``manifest_sha256``.

    Parameters
    ----------
    model : Module
        A module with a ``config`` attribute (its constructor arguments, the card's ``network``).
    card : dict or ModelCard
        The card (JSON-compatible); ``name``, ``network``, ``architecture`` (a key of
        :data:`xda.models.cards.ARCHITECTURES`), ``schema_version`` and the two hashes are (re)set.
    directory : path
        Created if needed.
    name : str
        Model name (file stem).
    dtype : torch.dtype
        ``torch.float16`` halves the file; weights are cast back at load.

    Returns
    -------
    Path
        The weight file.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wfile = directory / f"{name}.safetensors"
    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, wfile, metadata={"name": name, "format": "xda-denoiser-v0"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(wfile, 0o666 & ~umask)  # safetensors writes 0600; the weights are as shareable as their card
    digest = sha256(wfile)
    base = card.to_dict() if isinstance(card, cards.ModelCard) else dict(card)
    card = json.loads(json.dumps(dict(base, name=name, network=model.config, sha256=digest, schema_version=cards.SCHEMA_VERSION,
                                      architecture=cards.architecture(card))))  # hash what loads back
    card["manifest_sha256"] = manifest_sha256(card, digest)
    (directory / f"{name}.json").write_text(json.dumps(card, indent=1))
    return wfile


def clear_cache() -> None:
    """Forget all loaded models (and the cached hashes of weight files)."""
    from . import cards

    cards._DIGESTS.clear()
    _CACHE.clear()
