"""Learned models (torch): networks, EDM preconditioning, samplers, the anchored assimilation model, cards, registry.

Importing this package does not import torch; its modules other than
:mod:`xda.models.cards` do.
"""
