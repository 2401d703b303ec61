"""Test helpers for plugin authors: the conformance suite every architecture runs."""

from .conformance import FRAMEWORKS, ArchitectureConformance

__all__ = ["ArchitectureConformance", "FRAMEWORKS"]
