"""Run by tests/test_task_plugin.py in a fresh interpreter, with the plugin installed: the task works end to end."""

import numpy as np
import torch

import polyformer
from polyformer.testing import ArchitectureConformance
from polyformer_denoise.configuration import TinyMLPConfig


class TestTinyMLPConformance(ArchitectureConformance):
    model_type = "tinymlp"

    def make_config(self, **overrides):
        return TinyMLPConfig(**overrides)


def test_auto_class_comes_from_the_task(tmp_path):
    model = polyformer.AutoModelForDenoising.from_config(TinyMLPConfig())
    assert type(model).__name__ == "TinyMLPForDenoising" and polyformer.TinyMLPForDenoising is type(model)
    model.save_pretrained(tmp_path)
    loaded = polyformer.AutoModelForDenoising.from_pretrained(tmp_path, framework="torch")
    features = torch.from_numpy(TinyMLPConfig().example_inputs(3)["features"])
    with torch.no_grad():
        np.testing.assert_allclose(loaded(features).reconstruction, model.eval()(features).reconstruction, rtol=1e-6)
    assert "AutoModelForDenoising" in dir(polyformer)
