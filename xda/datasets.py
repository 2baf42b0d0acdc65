"""Real sample data shipped with xda (public entry point; the code is :mod:`xda.labeled.datasets`)."""

from .labeled.datasets import DATA_DIR, available, open_dataset, path

__all__ = ["DATA_DIR", "available", "open_dataset", "path"]
