"""The names ``framework=`` accepts, and the error that lists them all (aliases included)."""

import pytest

from polyformer.core.auto import choose_framework

ACCEPTED = ("flax, keras, torch, or an alias: jax (= flax), pt (= torch), pytorch (= torch), "
            "tensorflow (= keras), tf (= keras); case does not matter")


@pytest.mark.parametrize("name, backend", [("tensorflow", "keras"), ("TF", "keras"), ("jax", "flax"),
                                           ("pytorch", "torch"), ("Torch", "torch"), ("PT", "torch")])
def test_aliases_and_any_case_are_accepted(name, backend):
    assert choose_framework(name) == backend


def test_unknown_framework_lists_the_aliases_too(monkeypatch):
    with pytest.raises(ValueError) as caught:
        choose_framework("mxnet")
    assert str(caught.value) == f"framework='mxnet' is not a known framework; expected one of: {ACCEPTED}"
    monkeypatch.setenv("POLYFORMER_FRAMEWORK", "caffe")
    with pytest.raises(ValueError) as caught:
        choose_framework()
    assert str(caught.value) == f"$POLYFORMER_FRAMEWORK='caffe' is not a known framework; expected one of: {ACCEPTED}"


def test_aliases_of_frameworks_not_registered_are_not_offered(monkeypatch):
    import polyformer

    registry = polyformer.get_registry()
    monkeypatch.delitem(registry.backends, "flax")
    with pytest.raises(ValueError) as caught:
        choose_framework("jax")
    assert str(caught.value) == ("framework='jax' is not a known framework; expected one of: keras, torch, or an "
                                 "alias: pt (= torch), pytorch (= torch), tensorflow (= keras), tf (= keras); "
                                 "case does not matter")


def test_register_takes_the_same_names():
    from polyformer import AutoModel, PretrainedConfig
    from polyformer.core.plugins import get_registry, reset_registry

    class AliasConfig(PretrainedConfig):
        model_type = "aliasmini"

    class AliasModel:
        framework = ""

    reset_registry()
    try:
        AutoModel.register(AliasConfig, AliasModel, framework="PyTorch")
        assert get_registry().architectures["aliasmini"].models["torch"]["base"] is AliasModel
        with pytest.raises(ValueError) as caught:
            AutoModel.register(AliasConfig, AliasModel, framework="mxnet")
        assert str(caught.value) == f"AliasModel: unknown framework 'mxnet'; pass framework= one of {ACCEPTED}"
    finally:
        reset_registry()
