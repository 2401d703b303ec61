"""Test helpers for plugin authors: the conformance suite every architecture runs, and numeric comparisons."""

from .compare import ATOL_SCALE, RTOL, assert_close, assert_outputs_close, assert_weights_equal
from .conformance import ArchitectureConformance

__all__ = [
    "ATOL_SCALE",
    "ArchitectureConformance",
    "RTOL",
    "assert_close",
    "assert_outputs_close",
    "assert_weights_equal",
]
