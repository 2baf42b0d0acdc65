"""Bad input, faults and misuse (issue 13): one line per case.

Each case is the call, then what must happen: an error class and a fragment of its
message (the message names the variable, the value and the fix), a warning class and
fragment (legal but suspicious input), or a check of the right result. Every input
is checked to be unchanged after the call (``no_mutation``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import xarray as xr

import xda
from xda.errors import (CoordinateError, GridError, ModelError, ObservationError, ParameterError, PlausibilityWarning,
                        ResourceError, UnitsError, WeightsError, XdaError)


def refused(call, error, match):
    """Assert ``call()`` raises ``error`` (an XdaError) whose message matches ``match``."""
    assert issubclass(error, XdaError) or error in (TypeError,), error
    with pytest.raises(error, match=match):
        call()


def warned(call, warning, match):
    """Assert ``call()`` succeeds with a ``warning`` matching ``match``; returns its result."""
    with pytest.warns(warning, match=match):
        return call()
