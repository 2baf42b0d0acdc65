"""The one training driver: recipes, their presets, and the options recorded in the model card.

A *recipe* is what trains one model (its function, the shipped model it reproduces, its
options): the four pretraining recipes on simulations from :mod:`xda.simulate` and the two
fine-tuning recipes on a user's own data. A *preset* is a named set of its options:
``"default"`` (for a pretraining recipe, the settings of the weights that ship with xda),
``"smoke"`` a few steps to check an installation or a change. :func:`run` resolves the preset, applies the caller's overrides, trains, and
records the resolved options in the card as ``training_options`` (EDM2's
``training_options.json``, kept with the weights and covered by their manifest hash), so
a model says how to train it again: ``run(card["training_options"]["recipe"], data, out,
**options)``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..errors import ParameterError, check_choice


@dataclass(frozen=True)
class Option:
    """One option of a recipe: its keyword, type, default (the ``"default"`` preset's value) and help."""

    name: str
    type: type
    default: object
    help: str


@dataclass(frozen=True)
class Recipe:
    """What trains one model: ``function`` (``module:function``, called as ``function(data, out=out, **options)``),
    the shipped ``model`` it reproduces (None: a fine-tuning, named after its ``init``), what it trains, its
    :class:`Option`\\ s, presets beyond ``"default"``, and its ``data``: ``"simulation"`` (paths of
    :mod:`xda.simulate` files; these recipes are ``xda train TASK``) or ``"dataset"`` (an xarray Dataset)."""

    function: str
    model: str | None
    what: str
    options: tuple
    presets: Mapping = field(default_factory=dict)
    data: str = "simulation"

    def preset(self, name: str) -> dict:
        """The options of preset ``name`` (``"default"``: every option's default)."""
        check_choice("preset", name, ("default", *self.presets))
        return {**{o.name: o.default for o in self.options}, **self.presets.get(name, {})}


_COMMON = (Option("minutes", float, 12.0, "wall-clock budget of the training, minutes"),
           Option("max_steps", int, 1_000_000, "step limit"),
           Option("batch", int, 12, "cases per optimiser step"),
           Option("cases", int, 1600, "training cases computed into the bank"),
           Option("bank", str, None, ".npz cache of the training cases (written if missing)"))


def _with(options: tuple, **changes) -> tuple:
    """``options`` with the defaults in ``changes`` replaced."""
    return tuple(Option(o.name, o.type, changes.get(o.name, o.default), o.help) for o in options)


_SMOKE = {"minutes": 0.5, "max_steps": 3, "batch": 2, "cases": 8}

#: The recipes, by the task name of ``xda train TASK``. A new recipe is an entry here.
RECIPES = {
    "assimilation": Recipe(
        "xda.training.assimilation:train", "hs-t42-v2",
        "the anchored assimilation model (torchrun --nproc_per_node N for several processes)",
        _with(_COMMON, minutes=40.0, batch=16, cases=2400)
        + (Option("lr", float, 3e-4, "learning rate (AdamW)"), Option("init", str, None, "continue from this .safetensors file"),
           Option("misspecified", float, 0.0, "fraction of the cases whose B is deliberately wrong (L, s_b x 0.5-2, "
                  "the other family half the time)"),
           Option("climatology_days", str, "all", "averaging windows of the climatological backgrounds, days, "
                  "comma-separated ('all': the training split's mean)"),
           Option("consistency_weight", float, 0.0, "weight of the penalty on the sampler's raw mean minus the "
                  "posterior-mean head (0: none)"),
           Option("keep_head", float, 0.0, "with init and consistency_weight: the penalty's target is the initial "
                  "model's head, and this weight holds the head there (0: none)")),
        {"smoke": _SMOKE}),
    "assimilation-mean-head": Recipe(
        "xda.training.assimilation_mean_head:train_mean_head", None,
        "an anchored assimilation model given a mean head: its own sampler's mean, distilled",
        _with(_COMMON, minutes=40.0, batch=16, cases=1600)
        + (Option("init", str, "hs-t42-v2", "the anchored model whose sampler is distilled"),
           Option("members", int, 4, "members whose raw mean is each target"),
           Option("share", float, 0.5, "fraction of the budget spent drawing the sampler's means"),
           Option("channels", str, None, "U-Net widths of the mean head, comma-separated (default: the denoiser's)"),
           Option("misspecified", float, 0.0, "fraction of the cases whose B is deliberately wrong"),
           Option("climatology_days", str, "all", "averaging windows of the climatological backgrounds, days"),
           Option("lr", float, 3e-4, "learning rate (AdamW)")),
        {"smoke": dict(_SMOKE, members=2)}),
    "joint": Recipe(
        "xda.training.joint:train", "hs-t42-mv-v1", "the multivariate anchored assimilation model",
        _COMMON + (Option("encoder", str, "analytic", "observation encoder: analytic or vre (PhyDA's)"),
                   Option("physics_weight", float, 0.0, "weight of the physics (PRDO) term of the loss")),
        {"smoke": _SMOKE}),
    "latent": Recipe(
        "xda.training.latent:train", "hs-t42-mv-latent-v1", "the latent multivariate assimilation model",
        (Option("ae_minutes", float, 6.0, "minutes for the autoencoder"),) + _with(_COMMON, cases=1200),
        {"smoke": dict(_SMOKE, ae_minutes=0.2)}),
    "downscaling": Recipe(
        "xda.training.downscaling:train_downscaler", "hs-t63-ds-v1", "the downscaling model",
        (Option("stages", str, "regressor,denoiser", "stages to train, comma-separated"),
         Option("minutes_regressor", float, 12.0, "minutes for the regression stage"),
         Option("minutes_denoiser", float, 14.0, "minutes for the denoiser stage"),
         Option("minutes_consistency", float, 20.0, "minutes for the consistency stage (fine-tunes the denoiser)"),
         Option("minutes_mean_head", float, 40.0, "minutes for the mean-head stage (distils the sampler's mean; half "
                "of them sampling)"),
         Option("consistency_weight", float, 10.0, "weight of the sampler-mean penalty of the consistency stage"),
         Option("mean_head_members", int, 4, "members whose mean is each target of the mean-head stage"),
         Option("pde_weight", float, 1.0, "weight of the advection-diffusion loss"),
         Option("batch", int, 8, "cases per optimiser step"), Option("lr", float, 3e-4, "learning rate (AdamW)"),
         Option("init", str, None, "start from this model (its stages not trained are kept)"),
         Option("max_steps", int, 1_000_000, "step limit per stage")),
        {"smoke": {"minutes_regressor": 0.2, "minutes_denoiser": 0.2, "minutes_consistency": 0.2,
                   "minutes_mean_head": 0.2, "max_steps": 3,
                   "batch": 2}}),
    "assimilation-finetune": Recipe(
        "xda.training.finetune:finetune", None,
        "an anchored assimilation model fine-tuned on an archive of (background, truth) pairs",
        (Option("init", str, "hs-t42-v2", "the model to start from"), Option("minutes", float, 10.0, "wall-clock budget"),
         Option("cases", int, 300, "training cases built from the archive"), Option("batch", int, 8, "cases per step"),
         Option("lr", float, 1e-4, "learning rate (AdamW)"), Option("variable", str, None, "the archive's variable")),
        {"smoke": {"minutes": 0.05, "cases": 8, "batch": 2}}, data="dataset"),
    "downscaling-finetune": Recipe(
        "xda.training.downscaling_finetune:finetune_downscaler", None,
        "the downscaling model fine-tuned on a user's fine near-surface temperature (coarsened internally)",
        (Option("init", str, "hs-t63-ds-v1", "the model to start from"), Option("minutes", float, 5.0, "wall-clock budget"),
         Option("holdout", float, 0.25, "fraction of the last times held out"), Option("batch", int, 8, "cases per step"),
         Option("lr", float, 1e-4, "learning rate (AdamW)"), Option("max_steps", int, 1_000_000, "step limit")),
        {"smoke": {"minutes": 0.05, "max_steps": 2}}, data="dataset"),
}


def _keywords(task: str, options: dict) -> dict:
    """A recipe's options as its function's keywords (the downscaling stages and their budgets)."""
    kw = dict(options)
    if task == "downscaling":  # two stages, each with its own budget (a ``minutes`` dict given overrides them)
        if isinstance(kw["stages"], str):
            kw["stages"] = tuple(kw["stages"].split(","))
        budget = {stage: kw.pop(f"minutes_{stage}") for stage in ("regressor", "denoiser", "consistency",
                                                                              "mean_head")}
        kw["minutes"] = {**budget, **(kw.get("minutes") or {})}
    return kw


def run(task: str, data, out=None, *, preset: str = "default", name: str | None = None, seed: int = 0,
        **overrides) -> Path:
    """Train the model of recipe ``task`` with preset ``preset`` and the caller's overrides.

    Parameters
    ----------
    task : str
        A key of :data:`RECIPES`: ``"assimilation"``, ``"joint"``, ``"latent"``,
        ``"downscaling"`` (pretraining), ``"assimilation-finetune"``, ``"downscaling-finetune"``.
    data : path, list of paths or Dataset
        Simulation files (:mod:`xda.simulate`) for pretraining; the user's Dataset for
        fine-tuning (see each recipe's function).
    out : path, optional
        Directory of the weights (fine-tuning: default ``$XDA_WEIGHTS_DIR`` or
        ``~/.cache/xda/weights``).
    preset : str
        ``"default"`` (pretraining: the settings of the shipped weights) or ``"smoke"``.
    name : str, optional
        The model's name (default: the shipped model's; fine-tuning: ``<init>-ft``).
    seed : int
        Seed of the training cases and the weights.
    **overrides
        Options of the recipe (:attr:`Recipe.options`), replacing the preset's, or other
        keywords of its function (e.g. ``channels``, ``device``).

    Returns
    -------
    Path
        The weight file; its card holds ``training_options`` (recipe, preset, name,
        seed and every option), covered by the manifest hash.

    Raises
    ------
    ParameterError
        An unknown task, preset or option.
    """
    check_choice("task", task, tuple(RECIPES))
    recipe = RECIPES[task]
    module, function = recipe.function.split(":")
    train = getattr(importlib.import_module(module), function)
    known = {o.name for o in recipe.options} | set(inspect.signature(train).parameters) - {"data", "out"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(f"recipe {task!r} has no option {unknown}; its options are {sorted(known)}")
    options = {**recipe.preset(preset), **overrides}
    if out is None and recipe.data == "simulation":
        raise ParameterError(f"recipe {task!r} needs `out`, the directory of the weights")
    name = name or recipe.model
    path = Path(train(data, out=out, name=name, seed=seed, **_keywords(task, options)))
    _record(path, dict(recipe=task, preset=preset, name=name or path.stem, seed=seed, data=_described(data), **options))
    return path


def _described(data):
    """What the model was trained on, for its card: file names, or a Dataset's variables and sizes."""
    if isinstance(data, (str, Path)):
        return [str(data)]
    if hasattr(data, "sizes"):  # a Dataset or DataArray
        names = list(data.data_vars) if hasattr(data, "data_vars") else [data.name]
        return {"variables": [str(n) for n in names], "sizes": {str(k): int(v) for k, v in data.sizes.items()}}
    return [str(p) for p in data]


def _record(weights: Path, options: dict) -> None:
    """Write ``training_options`` into the card beside ``weights`` and re-seal its manifest (rank 0 only, under
    torchrun: the one that wrote the model)."""
    from ..models.cards import seal_card

    if int(os.environ.get("RANK", "0")) != 0:
        return
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    for key in ("sha256", "manifest_sha256"):  # re-sealed below, last, as every card ends
        card.pop(key, None)
    card["training_options"] = json.loads(json.dumps(options, default=str))
    card_path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    seal_card(card_path)
