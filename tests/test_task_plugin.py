"""A plugin adds a task and an architecture serving it, with no line about either in polyformer.

The plugin (``tests/plugin_packages/polyformer_denoise``) registers the task ``denoising``
and the architecture ``tinymlp``, whose input is a feature vector (``features``): neither
tokens nor pixels. Installed as a distribution (a dist-info on the path, as ``pip install``
leaves it), it gets ``polyformer.AutoModelForDenoising`` and runs the public conformance
suite, in a fresh interpreter as a user's test run would.
"""

import os
import subprocess
import sys
from pathlib import Path

from test_plugin_packages import source_tree_metadata  # noqa: F401  (fixture)

PACKAGES = Path(__file__).parent / "plugin_packages"


def test_a_plugin_task_runs_through_auto_classes_and_the_conformance_suite(tmp_path, source_tree_metadata):
    info = tmp_path / "polyformer_denoise-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: polyformer-denoise\nVersion: 1.0\nRequires-Dist: polyformer\n")
    (info / "entry_points.txt").write_text("[polyformer]\ndenoise = polyformer_denoise.plugin\n")
    root = Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(source_tree_metadata), str(tmp_path), str(PACKAGES), str(root),
                            os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, POLYFORMER_STRICT_PLUGINS="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         str(PACKAGES / "polyformer_denoise_tests" / "denoise_checks.py")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
