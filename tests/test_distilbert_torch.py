"""DistilBERT in PyTorch against ``transformers``: same checkpoints, same outputs, both ways."""

import pytest
import torch

import polyformer
from polyformer.core.configuration import ACTIVATIONS
from polyformer.core.outputs import BaseModelOutput, SequenceClassifierOutput
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import (
    CONFIGS,
    HEADS,
    load_hf,
    make_inputs,
    pf_class,
    pf_config,
    run_both,
    save_hf_checkpoint,
)

FLAGS = dict(output_hidden_states=True, output_attentions=True)


def _config_for(head, name):
    kwargs = dict(CONFIGS[name])
    if head == "question-answering":
        kwargs["num_labels"] = 2
    return kwargs


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_transformers_checkpoint_loads_with_same_outputs(tmp_path, head, config_name):
    kwargs = _config_for(head, config_name)
    hf_model = save_hf_checkpoint(tmp_path, head, seed=1, **kwargs)
    model, info = pf_class(head).from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert not model.training
    inputs = make_inputs(kwargs, head)
    hf_model.set_attn_implementation("eager")
    expected, actual = run_both(hf_model, model, inputs, **FLAGS)
    assert ("loss" in actual) == ("labels" in inputs or "start_positions" in inputs)
    assert_outputs_close(expected, actual)  # the loss included
    # and through the fused attention path (no weights asked for)
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)


@pytest.mark.parametrize("config_name", ["learned-gelu-4heads", "untied-gelu_new-4heads"])
@pytest.mark.parametrize("head", sorted(HEADS))
def test_our_checkpoint_loads_in_transformers(tmp_path, head, config_name):
    kwargs = _config_for(head, config_name)
    torch.manual_seed(2)
    model = pf_class(head)(pf_config(**kwargs)).eval()
    model.save_pretrained(tmp_path)
    hf_model, info = load_hf(tmp_path, head, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    expected, actual = run_both(hf_model, model, make_inputs(kwargs, head), **FLAGS)
    assert_outputs_close(expected, actual)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_matches(tmp_path, activation):
    kwargs = dict(CONFIGS["learned-gelu-4heads"], activation=activation, n_layers=1)
    hf_model = save_hf_checkpoint(tmp_path, "masked-lm", seed=3, **kwargs)
    model = polyformer.DistilBertForMaskedLM.from_pretrained(tmp_path)
    expected, actual = run_both(hf_model, model, make_inputs(kwargs, "masked-lm"))
    assert_outputs_close(expected, actual)


@pytest.mark.parametrize(
    "num_labels, problem, problem_type",
    [
        (1, "regression", None),
        (3, "single_label_classification", None),
        (3, "multi_label_classification", None),
        (3, "regression", "regression"),  # explicit: MSE on 3 outputs
    ],
)
def test_sequence_classification_losses(tmp_path, num_labels, problem, problem_type):
    kwargs = dict(CONFIGS["learned-gelu-4heads"], num_labels=num_labels, problem_type=problem_type, n_layers=1)
    hf_model = save_hf_checkpoint(tmp_path, "sequence-classification", **kwargs)
    model = polyformer.DistilBertForSequenceClassification.from_pretrained(tmp_path)
    inputs = make_inputs(kwargs, "sequence-classification", problem=problem)
    if problem_type == "regression":
        inputs["labels"] = torch.randn(3, num_labels)
    expected, actual = run_both(hf_model, model, inputs)
    assert_outputs_close(expected, actual)
    # inferred from the labels and written into the config, as transformers does
    assert model.config.problem_type == hf_model.config.problem_type


def test_fresh_sinusoidal_table_matches_transformers():
    import transformers

    kwargs = CONFIGS["sinusoidal-relu-2heads"]
    hf_model = transformers.DistilBertModel(transformers.DistilBertConfig(**kwargs))
    ours = polyformer.DistilBertModel(pf_config(**kwargs))
    table = ours.embeddings.position_embeddings.weight
    # Both compute sin / cos in float64 and round once to float32; the float64 libm / SIMD routines
    # may differ in the last bit, which can move a float32 by one ulp (1.2e-7 at 1.0, the largest value).
    assert_close(table, hf_model.embeddings.position_embeddings.weight, rtol=0, atol_scale=1.2e-7)
    assert not table.requires_grad  # fixed positions are not trained


@pytest.fixture(scope="module")
def mlm():
    torch.manual_seed(0)
    kwargs = CONFIGS["learned-gelu-4heads"]
    return polyformer.DistilBertForMaskedLM(pf_config(**kwargs)).eval(), kwargs


def test_outputs_read_by_attribute_key_and_index(mlm):
    model, kwargs = mlm
    inputs = make_inputs(kwargs, "masked-lm")
    out = model(**inputs, output_hidden_states=True)
    assert out[0] is out.loss is out["loss"]
    assert out[1] is out.logits is out["logits"]
    assert list(out.keys()) == ["loss", "logits", "hidden_states"]
    assert len(out.hidden_states) == kwargs["n_layers"] + 1
    as_tuple = model(**inputs, output_hidden_states=True, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 3
    assert_close(as_tuple[1], out.logits)  # another forward pass
    base = model.distilbert(inputs["input_ids"])
    assert isinstance(base, BaseModelOutput) and base.hidden_states is None and base.attentions is None


def test_attention_paths_agree(mlm):
    """The fused SDPA path and the explicit softmax path give the same numbers."""
    model, kwargs = mlm
    inputs = make_inputs(kwargs, "base")
    with torch.no_grad():
        fused = model.distilbert(**inputs)
        explicit = model.distilbert(**inputs, output_attentions=True)
    assert_close(fused.last_hidden_state, explicit.last_hidden_state)
    weights = explicit.attentions[0]
    assert weights.shape == (3, 4, 7, 7)
    assert torch.all(weights[0, :, :, -2:] == 0)  # padding is never attended: exp(-inf) is exactly 0
    assert_close(weights.sum(-1), torch.ones(3, 4, 7))


def test_inputs_embeds_equals_input_ids(mlm):
    model, kwargs = mlm
    inputs = make_inputs(kwargs, "base")
    with torch.no_grad():
        by_ids = model.distilbert(**inputs).last_hidden_state
        embeds = model.get_input_embeddings()(inputs["input_ids"])
        kept = embeds.clone()
        by_embeds = model.distilbert(inputs_embeds=embeds, attention_mask=inputs["attention_mask"]).last_hidden_state
    assert_close(by_ids, by_embeds)
    assert torch.equal(embeds, kept)  # the caller's tensor is never modified
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model.distilbert(input_ids=inputs["input_ids"], inputs_embeds=embeds)


def test_head_mask_silences_a_head(tmp_path):
    """Masking head h equals zeroing the out_lin columns that read head h (checked in transformers)."""
    kwargs = dict(CONFIGS["learned-gelu-4heads"])
    hf_model = save_hf_checkpoint(tmp_path, "base", **kwargs)
    model = polyformer.DistilBertModel.from_pretrained(tmp_path)
    head_mask = torch.ones(2, 4)
    head_mask[0, 1] = 0
    head_mask[1, 3] = 0
    with torch.no_grad():
        size = kwargs["dim"] // kwargs["n_heads"]
        hf_model.transformer.layer[0].attention.out_lin.weight[:, 1 * size:2 * size] = 0
        hf_model.transformer.layer[1].attention.out_lin.weight[:, 3 * size:4 * size] = 0
    inputs = make_inputs(kwargs, "base")
    expected, actual = run_both(hf_model, model, inputs)
    with torch.no_grad():
        masked = model(**inputs, head_mask=head_mask)
    assert (expected.last_hidden_state - actual.last_hidden_state).abs().max() > 1e-3
    assert_outputs_close(expected, masked)


def test_chunked_feed_forward_is_the_same(mlm):
    model, kwargs = mlm
    inputs = make_inputs(kwargs, "base", seq=9)
    chunked = polyformer.DistilBertModel(pf_config(**kwargs, chunk_size_feed_forward=2)).eval()
    chunked.load_state_dict(model.distilbert.state_dict())
    with torch.no_grad():
        assert_close(chunked(**inputs).last_hidden_state, model.distilbert(**inputs).last_hidden_state)


def test_dropout_only_in_training(mlm):
    _, kwargs = mlm
    torch.manual_seed(0)
    model = polyformer.DistilBertForSequenceClassification(pf_config(**kwargs))
    inputs = make_inputs(kwargs, "sequence-classification", with_labels=False)
    assert model.training  # a model built from a config trains; from_pretrained gives eval mode
    with torch.no_grad():
        first, second = model(**inputs).logits, model(**inputs).logits
        assert not torch.allclose(first, second)
        model.eval()
        assert_close(model(**inputs).logits, model(**inputs).logits)  # with dropout: off by their own size


def test_multiple_choice_with_inputs_embeds(mlm):
    _, kwargs = mlm
    model = polyformer.DistilBertForMultipleChoice(pf_config(**kwargs)).eval()
    inputs = make_inputs(kwargs, "multiple-choice")
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    with torch.no_grad():
        by_ids = model(**inputs)
        by_embeds = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], labels=inputs["labels"])
    assert by_ids.logits.shape == (3, 2)
    assert_outputs_close(by_ids, by_embeds)


def test_question_answering_needs_two_labels():
    with pytest.raises(ValueError, match="num_labels == 2"):
        polyformer.DistilBertForQuestionAnswering(pf_config(**CONFIGS["untied-gelu_new-4heads"]))


def test_top_level_names_and_output_classes(mlm):
    model, kwargs = mlm
    from polyformer.models.distilbert import modeling_torch

    assert polyformer.DistilBertModel is modeling_torch.DistilBertModel
    classifier = polyformer.DistilBertForSequenceClassification(pf_config(**kwargs)).eval()
    out = classifier(**make_inputs(kwargs, "sequence-classification"))
    assert isinstance(out, SequenceClassifierOutput) and out.loss.ndim == 0
