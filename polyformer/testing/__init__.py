"""Test helpers for plugin authors: the conformance suite every architecture runs, and numeric comparisons."""

from .conformance import FRAMEWORKS, ArchitectureConformance
from .compare import ATOL_SCALE, RTOL, assert_close, assert_outputs_close, assert_weights_equal

__all__ = [
    "ATOL_SCALE",
    "ArchitectureConformance",
    "FRAMEWORKS",
    "RTOL",
    "assert_close",
    "assert_outputs_close",
    "assert_weights_equal",
]
