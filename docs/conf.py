"""Sphinx configuration: the method pages (MyST markdown), the API reference from the
numpydoc docstrings, and the notebooks, executed on the bundled data at every build.

Build: ``pip install -e ".[docs]" && python -m sphinx -b html docs docs/_build/html``
(.ci/run does it, warnings as errors).
"""

import os

import xda

project = "xda"
author = "the xda developers"
release = xda.__version__
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "sphinx.ext.mathjax"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "pydata_sphinx_theme"
html_title = f"xda {release}"
html_theme_options = {"navigation_with_keys": False}

autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

# notebooks: executed on every build, on the bundled data; a failing cell fails the build
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # the notebooks write their files to a temporary folder
nb_execution_show_tb = True
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore:IProgress not found")  # pooch imports tqdm.auto in the kernels
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "myst.xref_missing", "misc.highlighting_failure"]
