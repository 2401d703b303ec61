"""Wav2Vec2 against transformers, in every framework that has Wav2Vec2 models.

transformers builds the checkpoints (random init, every weight perturbed so that a weight
loaded under a wrong name shows); each framework here loads them and must give the same
outputs on the frames that are not padding, with the same losses, and transformers must load
each framework's save with no missing or unexpected keys. Configurations cover Wav2Vec2's
options: group norm on the first convolution without conv bias, layer norm on every
convolution with conv bias and the pre-norm ("stable layer norm") encoder, odd and even
positional kernels, the weighted layer sum, small TDNN stacks, the adapter and MMS's attention
adapters. Comparisons use float32-rounding tolerances from the magnitude of the values compared
(:func:`polyformer.testing.assert_outputs_close`).
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

import polyformer
from polyformer.core.checkpoint import find_weight_files, load_tensors, save_tensors
from polyformer.core.numerics import conv_output_length
from polyformer.models.wav2vec2.masking import compute_mask_indices, sample_negative_indices
from polyformer.testing import assert_close, assert_outputs_close

from _torch_oracle import perturb, transformers

HEADS = {
    "base": "Wav2Vec2Model",
    "ctc": "Wav2Vec2ForCTC",
    "audio-classification": "Wav2Vec2ForSequenceClassification",
    "audio-frame-classification": "Wav2Vec2ForAudioFrameClassification",
    "audio-xvector": "Wav2Vec2ForXVector",
    "pretraining": "Wav2Vec2ForPreTraining",
}
PREFIX = {"torch": "", "keras": "TF", "flax": "Flax"}
TINY = dict(vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
            conv_dim=(8, 8, 8), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=5,
            num_conv_pos_embedding_groups=2, tdnn_dim=(8, 8, 6), tdnn_kernel=(3, 3, 1), tdnn_dilation=(1, 2, 1),
            xvector_output_dim=7, classifier_proj_size=5, num_labels=3, codevector_dim=8, proj_codevector_dim=6,
            num_codevectors_per_group=5, num_codevector_groups=2, num_negatives=4, mask_time_length=2,
            mask_time_prob=0.3)
CONFIGS = {
    # wav2vec2-base's layout: GroupNorm on the first convolution, no conv bias, post-norm encoder.
    "group-nobias": dict(TINY),
    # wav2vec2-large-lv60's: LayerNorm on every convolution, conv bias, pre-norm encoder (and an attention mask).
    "stable-layer-bias": dict(TINY, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
                              hidden_act="gelu_new", feat_extract_activation="relu", layer_norm_eps=1e-6),
    "even-kernel-weighted": dict(TINY, num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=4,
                                 use_weighted_layer_sum=True, feat_extract_norm="layer", num_hidden_layers=3),
    "small-tdnn": dict(TINY, tdnn_dim=(6, 4), tdnn_kernel=(2, 1), tdnn_dilation=(3, 1), xvector_output_dim=5,
                       num_labels=4, conv_dim=(6, 10), conv_kernel=(8, 4), conv_stride=(4, 3)),
    "adapter": dict(TINY, add_adapter=True, output_hidden_size=12, num_adapter_layers=2, adapter_stride=2,
                    feat_extract_norm="layer"),
    "mms-attention-adapters": dict(TINY, do_stable_layer_norm=True, feat_extract_norm="layer", adapter_attn_dim=6),
}


def _frameworks():
    registry = polyformer.get_registry()
    models = registry.architecture("wav2vec2").models
    return [b.name for b in registry.frameworks_by_priority() if b.name in models and b.is_available()]


FRAMEWORKS = _frameworks()


def _harness(framework):
    return importlib.import_module(polyformer.get_registry().backend(framework).harness)


def our_class(framework, head):
    return getattr(polyformer, PREFIX[framework] + HEADS[head])


def hf_checkpoint(folder, head, seed=0, **config):
    """A transformers checkpoint in ``folder`` (perturbed) and the model reloaded with eager attention."""
    torch.manual_seed(seed)
    model = perturb(getattr(transformers, HEADS[head])(transformers.Wav2Vec2Config(**config)), seed)
    model.save_pretrained(folder)
    return getattr(transformers, HEADS[head]).from_pretrained(folder, attn_implementation="eager").eval()


def hf_outputs(model, inputs, **flags):
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        out = model(**tensors, **flags)
    return {k: (tuple(t.numpy() for t in v) if isinstance(v, tuple) else v.numpy()) for k, v in out.items()}


def waveforms(config, batch=2, seed=0):
    """Example inputs: a padded batch with an attention mask for layer-norm models, none for group-norm ones."""
    return polyformer.Wav2Vec2Config(**config).example_inputs(batch, seed=seed)


def frame_lengths(config, inputs, with_adapter=True):
    values = inputs["input_values"]
    lengths = np.asarray(inputs["attention_mask"]).sum(-1) if "attention_mask" in inputs else np.full(len(values), values.shape[1])
    lengths = conv_output_length(lengths, config["conv_kernel"], config["conv_stride"])
    if with_adapter and config.get("add_adapter"):
        count = config["num_adapter_layers"]
        lengths = conv_output_length(lengths, [3] * count, [config["adapter_stride"]] * count, [1] * count)
    return lengths


def loss_inputs(head, config, inputs, seed=1):
    """Labels (or pre-training masks and negatives) that fit ``head`` on ``inputs``."""
    rng = np.random.default_rng(seed)
    batch = len(inputs["input_values"])
    frames = frame_lengths(config, inputs)
    if head == "ctc":
        length = int(frames.min()) // 2
        labels = rng.integers(1, config["vocab_size"], size=(batch, length))  # never the blank (pad_token_id 0)
        labels[1:, length // 2:] = -100
        return {"labels": labels}
    if head in ("audio-classification", "audio-xvector"):
        return {"labels": rng.integers(0, config["num_labels"], size=(batch,))}
    if head == "audio-frame-classification":
        classes = rng.integers(0, config["num_labels"], size=(batch, int(frames.max())))
        return {"labels": np.eye(config["num_labels"], dtype=np.int64)[classes]}
    if head == "pretraining":
        total = int(frames.max())
        frame_mask = np.arange(total)[None, :] < frames[:, None]
        mask = compute_mask_indices((batch, total), 0.4, 2, attention_mask=frame_mask, min_masks=2, rng=rng)
        negatives = sample_negative_indices((batch, total), config["num_negatives"], mask, rng=rng)
        return {"mask_time_indices": mask, "sampled_negative_indices": negatives.astype(np.int64)}
    return {}


def real_frames(outputs, frames):
    """Outputs with every padded frame (of hidden states, logits, attentions' queries) set to 0.

    Padding is zeroed before the encoder, but its frames still get hidden states and logits,
    which no one reads; transformers documents only the real frames.
    """
    def keep(name, array):
        array = np.array(array)
        if array.ndim >= 3 and name.split(".")[0] in ("last_hidden_state", "hidden_states", "logits", "extract_features",
                                                     "projected_states", "projected_quantized_states"):
            axis = 1
        elif array.ndim == 4 and name.startswith("attentions"):
            axis = 2
        else:
            return array
        mask = np.arange(array.shape[axis])[None, :] < np.asarray(frames)[:, None]
        array[~np.broadcast_to(mask.reshape(mask.shape + (1,) * (array.ndim - 2)) if axis == 1 else
                               mask[:, None, :, None], array.shape)] = 0
        return array

    result = {}
    for name, value in outputs.items():
        if isinstance(value, tuple):
            result[name] = tuple(keep(name, item) for item in value)
        else:
            result[name] = keep(name, value)
    return result


def _applies(head, config):
    # transformers' classification heads refuse adapters, and its x-vector and pre-training heads read
    # hidden_size-wide frames that an adapter (here: output_hidden_size=12) has narrowed.
    return not config.get("add_adapter") or head in ("base", "ctc")


CASES = [(f, h, c) for f in FRAMEWORKS for h in HEADS for c in CONFIGS if _applies(h, CONFIGS[c])]


@pytest.mark.parametrize("framework,head,config_name", CASES)
def test_transformers_checkpoint_gives_the_same_outputs_and_losses(tmp_path, framework, head, config_name):
    config = CONFIGS[config_name]
    reference = hf_checkpoint(tmp_path, head, **config)
    model, info = our_class(framework, head).from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    inputs = waveforms(config)
    inputs.update(loss_inputs(head, config, inputs))
    flags = {"output_hidden_states": True, "output_attentions": True}
    want = hf_outputs(reference, inputs, **flags)
    got = _harness(framework).forward(model, inputs, **flags)
    assert "loss" in got or head == "base"
    assert sorted(got) == sorted(want)
    # Hidden states and attentions are the encoder's, before the adapter's shorter frames.
    frames, encoder_frames = frame_lengths(config, inputs), frame_lengths(config, inputs, with_adapter=False)
    for name in want:
        if name == "loss" and head == "audio-xvector":
            # The additive-margin softmax's cross-entropy reads logits up to its scale (30) in magnitude, so float32
            # rounds the loss by about 1e-5 of that whatever the loss's own size: a confident model's is ~6e-8, all
            # rounding (1 + 6e-8 rounds to 1 or to 1 + 1.2e-7), which a tolerance relative to the loss cannot take.
            assert abs(float(got[name]) - float(want[name])) <= 1e-5 * 30, (got[name], want[name])
            continue
        keep = frames if name in ("last_hidden_state", "logits") else encoder_frames
        assert_outputs_close(real_frames({name: want[name]}, keep), real_frames({name: got[name]}, keep),
                             where=f"{framework} {HEADS[head]} ({config_name})")


@pytest.mark.parametrize("framework,head", [(f, h) for f in FRAMEWORKS for h in HEADS])
def test_our_save_loads_in_transformers(tmp_path, framework, head):
    config = CONFIGS["stable-layer-bias"]
    hf_checkpoint(tmp_path / "hf", head, **config)
    model = our_class(framework, head).from_pretrained(tmp_path / "hf")
    model.save_pretrained(tmp_path / "ours")
    names = set(load_tensors(find_weight_files(tmp_path / "ours")))
    assert any(name.endswith("pos_conv_embed.conv.parametrizations.weight.original0") for name in names)  # today's names
    reloaded, info = getattr(transformers, HEADS[head]).from_pretrained(
        tmp_path / "ours", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    inputs = waveforms(config)
    frames = frame_lengths(config, inputs)
    assert_outputs_close(real_frames(hf_outputs(reloaded.eval(), inputs), frames),
                         real_frames(_harness(framework).forward(model, inputs), frames))


def _legacy_names(folder):
    """Rewrite a checkpoint as transformers < 4.40 (and most Hub checkpoints) wrote the weight norm."""
    tensors = load_tensors(find_weight_files(folder))
    renamed = {name.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): array for name, array in tensors.items()}
    assert renamed.keys() != tensors.keys()
    save_tensors(renamed, folder)
    return renamed


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkpoints_with_the_old_weight_norm_names_load_and_save_with_the_new_ones(tmp_path, framework):
    config = CONFIGS["group-nobias"]
    reference = hf_checkpoint(tmp_path / "old", "ctc", **config)
    old = _legacy_names(tmp_path / "old")
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in old
    model, info = our_class(framework, "ctc").from_pretrained(tmp_path / "old", output_loading_info=True)
    assert not any(info.values()), info
    inputs = waveforms(config)
    assert_outputs_close(hf_outputs(reference, inputs), _harness(framework).forward(model, inputs))
    model.save_pretrained(tmp_path / "new")
    saved = load_tensors(find_weight_files(tmp_path / "new"))
    assert not any(name.endswith(("weight_g", "weight_v")) for name in saved)
    prefix = "wav2vec2.encoder.pos_conv_embed.conv."
    np.testing.assert_array_equal(saved[prefix + "parametrizations.weight.original0"], old[prefix + "weight_g"])
    np.testing.assert_array_equal(saved[prefix + "parametrizations.weight.original1"], old[prefix + "weight_v"])


def test_a_checkpoint_with_both_names_reads_the_new_one(tmp_path):
    """The old name is then an unexpected extra, not a second source for the same weight."""
    config = CONFIGS["group-nobias"]
    hf_checkpoint(tmp_path, "base", **config)
    tensors = load_tensors(find_weight_files(tmp_path))
    new = "encoder.pos_conv_embed.conv.parametrizations.weight.original0"
    tensors["encoder.pos_conv_embed.conv.weight_g"] = tensors[new] * 0 + 7.0
    save_tensors(tensors, tmp_path)
    model, info = polyformer.Wav2Vec2Model.from_pretrained(tmp_path, output_loading_info=True)
    assert info["unexpected_keys"] == ["encoder.pos_conv_embed.conv.weight_g"]
    assert not info["missing_keys"]
    np.testing.assert_array_equal(model.encoder.pos_conv_embed.conv.parametrizations.weight.original0.detach().numpy(),
                                  tensors[new])


# ---- losses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("reduction,zero_infinity", [("sum", False), ("mean", False), ("mean", True)])
def test_ctc_loss_equals_transformers(tmp_path, framework, reduction, zero_infinity):
    config = dict(CONFIGS["stable-layer-bias"], ctc_loss_reduction=reduction, ctc_zero_infinity=zero_infinity)
    reference = hf_checkpoint(tmp_path, "ctc", **config)
    model = our_class(framework, "ctc").from_pretrained(tmp_path)
    inputs = waveforms(config, batch=3)
    labels = loss_inputs("ctc", config, inputs)["labels"]
    labels[2, 1] = labels[2, 0]  # a repeated token: CTC needs a blank between the two
    inputs["labels"] = labels
    want, got = hf_outputs(reference, inputs)["loss"], _harness(framework).forward(model, inputs)["loss"]
    # A CTC loss sums about a hundred log-probabilities per example: float32 rounding of each.
    assert_close(got, want, rtol=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ctc_labels_longer_than_the_frames(tmp_path, framework):
    """transformers gives an infinite loss; here a clear error, or (ctc_zero_infinity) transformers' zeroed loss."""
    config = CONFIGS["stable-layer-bias"]
    reference = hf_checkpoint(tmp_path, "ctc", **config)
    inputs = waveforms(config)
    frames = frame_lengths(config, inputs)
    first, second = int(frames[0]), int(frames[1])
    labels = np.full((2, first + 3), -100)
    labels[0] = np.arange(first + 3) % (config["vocab_size"] - 1) + 1  # no blank, no two equal neighbours
    labels[1, :second - 2] = labels[0, :second - 2]  # the second transcript fits
    inputs["labels"] = labels
    model = our_class(framework, "ctc").from_pretrained(tmp_path)
    assert np.isinf(hf_outputs(reference, inputs)["loss"])
    with pytest.raises(ValueError, match=rf"^labels of example 0 need at least {first + 3} output frames "
                                         rf"\({first + 3} tokens\), but its audio gives {first} frames: CTC "
                                         rf"cannot align them .*ctc_zero_infinity=True"):
        _harness(framework).forward(model, inputs)
    # As many tokens as frames, but two equal neighbours need a blank between them: one frame too few.
    repeated = labels.copy()
    repeated[0, first:] = -100
    repeated[0, 1] = repeated[0, 0]
    assert np.isinf(hf_outputs(reference, {**inputs, "labels": repeated})["loss"])
    with pytest.raises(ValueError, match=rf"^labels of example 0 need at least {first + 1} output frames \({first} "
                                         rf"tokens, and a blank between each of 1 repeated pair\(s\)\)"):
        _harness(framework).forward(model, {**inputs, "labels": repeated})
    forgiving = hf_checkpoint(tmp_path / "zero", "ctc", **dict(config, ctc_zero_infinity=True))
    model = our_class(framework, "ctc").from_pretrained(tmp_path / "zero")
    want, got = hf_outputs(forgiving, inputs)["loss"], _harness(framework).forward(model, inputs)["loss"]
    assert np.isfinite(got)
    assert_close(got, want)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_pretraining_losses_equal_transformers(tmp_path, framework):
    config = CONFIGS["group-nobias"]
    reference = hf_checkpoint(tmp_path, "pretraining", **config)
    model = our_class(framework, "pretraining").from_pretrained(tmp_path)
    inputs = waveforms(config, batch=3)
    inputs.update(loss_inputs("pretraining", config, inputs))
    want, got = hf_outputs(reference, inputs), _harness(framework).forward(model, inputs)
    for name in ("loss", "contrastive_loss", "diversity_loss", "codevector_perplexity"):
        assert_close(got[name], want[name], name=name)
    assert want["contrastive_loss"] > 0 and want["diversity_loss"] > 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("head", ["ctc", "pretraining"])
def test_training_lowers_the_ctc_and_pretraining_losses(framework, head):
    config = dict(CONFIGS["group-nobias"], hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                  feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0, mask_time_prob=0.3)
    torch.manual_seed(0)
    model = our_class(framework, head)(polyformer.Wav2Vec2Config(**config))
    inputs = waveforms(config, batch=2)
    inputs.update(loss_inputs(head, config, inputs))
    if head == "pretraining":  # a cold quantiser: Gumbel samples close to the argmax, so the loss moves by learning
        model.set_gumbel_temperature(0.05)
    losses = _harness(framework).train_losses(model, inputs, steps=8, learning_rate=1e-2)
    assert losses[-1] < losses[0], losses


# ---- end to end ------------------------------------------------------------------------------------
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "N": 9, "I": 10, "S": 11}


def _speech_folder(folder, config):
    """transformers' model (CTC, layer norm: trained with a mask) and processor saved in one folder."""
    reference = hf_checkpoint(folder, "ctc", **config)
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    extractor = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=config.get("feat_extract_norm") == "layer")
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))
    transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return reference


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("config_name", ["stable-layer-bias", "group-nobias"])
def test_processor_and_auto_model_for_ctc_transcribe_as_transformers(tmp_path, framework, config_name):
    """Waveforms of different lengths -> AutoProcessor -> AutoModelForCTC -> batch_decode with word offsets."""
    config = dict(CONFIGS[config_name], vocab_size=len(VOCAB))
    reference = _speech_folder(tmp_path, config)
    rng = np.random.default_rng(4)
    audio = [rng.standard_normal(n).astype(np.float32) * 0.5 for n in (1900, 1370, 2400)]

    theirs = transformers.AutoProcessor.from_pretrained(tmp_path)
    batch = theirs(audio, sampling_rate=16000, padding=True, return_tensors="pt")
    with torch.no_grad():
        their_logits = reference(**batch).logits
    # A random model's logits: each frame's best token must win by more than twice what rounding may move
    # a logit (assert_close's allowance, 2e-5 of the largest logit), or the argmax could flip on another CPU.
    top2 = their_logits.topk(2, dim=-1).values
    assert float((top2[..., 0] - top2[..., 1]).min()) > 4e-5 * float(their_logits.abs().max())
    their_ids = their_logits.argmax(-1)
    their_text = theirs.batch_decode(their_ids, output_word_offsets=True)

    processor = polyformer.AutoProcessor.from_pretrained(tmp_path)
    model = polyformer.AutoModelForCTC.from_pretrained(tmp_path, framework=framework)
    assert type(model).__name__ == PREFIX[framework] + "Wav2Vec2ForCTC"
    ours = processor(audio=audio, sampling_rate=16000, padding=True, return_tensors="np")
    assert ("attention_mask" in ours) == (config_name == "stable-layer-bias")  # the saved setting follows the config
    logits = _harness(framework).forward(model, dict(ours))["logits"]
    assert_close(logits, their_logits.numpy())
    text = processor.batch_decode(logits.argmax(-1), output_word_offsets=True)
    assert text.text == their_text.text
    assert text.word_offsets == their_text.word_offsets
    assert any(text.text)  # a random model still says something


AUTO = {
    "audio-classification": "AutoModelForAudioClassification",
    "audio-frame-classification": "AutoModelForAudioFrameClassification",
    "audio-xvector": "AutoModelForAudioXVector",
    "pretraining": "AutoModelForPreTraining",
    "base": "AutoModel",
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("head", sorted(AUTO))
def test_auto_models_through_the_registry(tmp_path, framework, head):
    config = CONFIGS["stable-layer-bias"]
    reference = hf_checkpoint(tmp_path, head, **config)
    model = getattr(polyformer, AUTO[head]).from_pretrained(tmp_path, framework=framework)
    assert type(model).__name__ == PREFIX[framework] + HEADS[head]
    inputs = waveforms(config)
    frames = frame_lengths(config, inputs)
    assert_outputs_close(real_frames(hf_outputs(reference, inputs), frames),
                         real_frames(_harness(framework).forward(model, inputs), frames))


# ---- bad input ------------------------------------------------------------------------------------
def _wave(*shape, dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


BAD_INPUTS = [
    ("one-waveform", lambda: {"input_values": _wave(500)},
     r"^input_values must have shape \(batch, samples\), got shape \(500,\): for one waveform add a batch axis"),
    ("channels", lambda: {"input_values": _wave(2, 500, 2)},
     r"^input_values must have shape \(batch, samples\), got shape \(2, 500, 2\): one mono waveform per row"),
    ("integers", lambda: {"input_values": _wave(2, 500, dtype=np.int16)},
     r"^input_values must hold audio samples as floats \(e.g. float32\), got dtype int16"),
    ("too-short", lambda: {"input_values": _wave(2, 30)},
     r"^input_values has shape \(2, 30\): waveforms of 30 samples are shorter than the 40 samples the convolutional "
     r"feature encoder needs for one frame \(its receptive field, conv_kernel=\[10, 3, 3\], conv_stride=\[5, 2, 2\]\)"),
    ("short-in-mask", lambda: {"input_values": _wave(2, 500), "attention_mask": np.array([[1] * 500, [1] * 39 + [0] * 461])},
     r"^attention_mask marks 39 samples of example 1 as audio, fewer than the 40 samples"),
    ("mask-shape", lambda: {"input_values": _wave(2, 500), "attention_mask": np.ones((2, 499), np.int64)},
     r"^attention_mask has shape \(2, 499\), but the inputs have shape \(2, 500\)"),
    ("time-mask-shape", lambda: {"input_values": _wave(2, 500), "mask_time_indices": np.ones((2, 5), bool)},
     r"^mask_time_indices has shape \(2, 5\), but the audio gives 24 frames per example: expected \(2, 24\)"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name,make,pattern", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_audio_gets_one_clear_error(framework, name, make, pattern):
    model = our_class(framework, "base")(polyformer.Wav2Vec2Config(**TINY))
    with pytest.raises(ValueError, match=pattern):
        _harness(framework).forward(model, make())


BAD_LABELS = [
    ("ctc", lambda: {"labels": np.array([[1, 2, 12], [1, -100, -100]])},
     r"^labels contains 12, outside the vocabulary \(0..11, or -100 for padding\)"),
    ("ctc", lambda: {"labels": np.array([1, 2, 3])},
     r"^labels has shape \(3,\), but CTC takes one transcript per waveform, shape \(2, target_length\).*add a batch axis"),
    ("ctc", lambda: {"labels": np.array([[1.0, 2.0], [1.0, 2.0]])}, r"^labels must hold token ids as integers"),
    ("audio-frame-classification", lambda: {"labels": np.zeros((2, 3), np.int64)},
     r"^labels has shape \(2, 3\), but the model predicts logits of shape \(2, 24, 3\): expected one one-hot row"),
    ("audio-xvector", lambda: {"labels": np.array([0, 3])},
     r"^labels contains 3, outside the 3 classes of this head"),
    ("pretraining", lambda: {"sampled_negative_indices": np.zeros((2, 24, 4), np.int64)},
     r"^sampled_negative_indices needs mask_time_indices"),
    ("pretraining", lambda: {"mask_time_indices": np.ones((2, 24), bool),
                             "sampled_negative_indices": np.zeros((2, 20, 4), np.int64)},
     r"^sampled_negative_indices has shape \(2, 20, 4\), but the model gives 24 frames for each of 2 examples"),
    ("pretraining", lambda: {"mask_time_indices": np.ones((2, 24), bool),
                             "sampled_negative_indices": np.full((2, 24, 4), 48, np.int64)},
     r"^sampled_negative_indices contains 48, outside the 48 frames of the batch"),
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("head,make,pattern", BAD_LABELS)
def test_bad_labels_get_one_clear_error(framework, head, make, pattern):
    model = our_class(framework, head)(polyformer.Wav2Vec2Config(**TINY))
    with pytest.raises(ValueError, match=pattern):
        _harness(framework).forward(model, {"input_values": _wave(2, 500), **make()})


def test_audio_at_another_sampling_rate_is_refused_by_the_processor(tmp_path):
    config = dict(CONFIGS["group-nobias"], vocab_size=len(VOCAB))
    _speech_folder(tmp_path, config)
    processor = polyformer.AutoProcessor.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"expects audio sampled at 16000 Hz .* but sampling_rate=8000 was given"):
        processor(audio=_wave(1000), sampling_rate=8000)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_heads_that_refuse_adapters_and_ctc_without_a_vocabulary(framework):
    with pytest.raises(ValueError, match="Sequence classification does not support Wav2Vec2 adapters"):
        our_class(framework, "audio-classification")(polyformer.Wav2Vec2Config(**CONFIGS["adapter"]))
    with pytest.raises(ValueError, match=r"needs config.vocab_size.*from_pretrained\(\.\.\., vocab_size=\.\.\.\)"):
        our_class(framework, "ctc")(polyformer.Wav2Vec2Config(**dict(TINY, vocab_size=None)))
    no_blank = our_class(framework, "ctc")(polyformer.Wav2Vec2Config(**dict(TINY, pad_token_id=None)))
    with pytest.raises(ValueError, match="needs config.pad_token_id for its loss: it is the CTC blank"):
        _harness(framework).forward(no_blank, {"input_values": _wave(2, 500), "labels": np.ones((2, 3), np.int64)})


# ---- masking helpers ----------------------------------------------------------------------------------
def test_mask_indices_follow_the_probability_the_length_and_the_padding():
    rng = np.random.default_rng(0)
    padding = np.ones((4, 200), bool)
    padding[1, 120:] = False
    mask = compute_mask_indices((4, 200), 0.5, 10, attention_mask=padding, min_masks=2, rng=rng)
    assert mask.shape == (4, 200) and mask.dtype == bool
    assert not mask[1, 120:].any()  # spans stay on real frames
    assert 0.25 < mask[[0, 2, 3]].mean() < 0.55  # about half, less where spans overlap
    runs = np.diff(np.concatenate([np.zeros((4, 1)), mask, np.zeros((4, 1))], axis=1).astype(int), axis=1)
    assert all((np.flatnonzero(row == -1) - np.flatnonzero(row == 1) >= 10).all() for row in runs)
    assert (compute_mask_indices((3, 9), 0.0, 3, min_masks=1, rng=rng).sum(1) == 3).all()  # min_masks spans
    assert not compute_mask_indices((2, 8), 0.0, 2, rng=rng).any()
    with pytest.raises(ValueError, match=r"mask_length \(9\) must not exceed the length of the masked axis \(8\)"):
        compute_mask_indices((2, 8), 0.5, 9)


def test_negatives_are_other_masked_frames_of_the_same_example():
    rng = np.random.default_rng(0)
    mask = np.zeros((3, 30), bool)
    mask[0, 3:13] = mask[1, [0, 29]] = True  # example 2: none masked
    negatives = sample_negative_indices((3, 30), 6, mask, rng=rng)
    assert negatives.shape == (3, 30, 6)
    for row in range(3):
        for frame in np.flatnonzero(mask[row]):
            picked = negatives[row, frame] - row * 30
            assert mask[row, picked].all() and (picked != frame).all()
    assert (negatives[1, 0] == 29 + 30).all() and (negatives[1, 29] == 0 + 30).all()  # the only other one
    with pytest.raises(ValueError, match="example 0 has a single masked frame"):
        sample_negative_indices((1, 5), 2, np.array([[0, 1, 0, 0, 0]], bool))


# ---- training-time behaviour ------------------------------------------------------------------------
QUIET = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
             final_dropout=0.0, layerdrop=0.0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_layerdrop_skips_layers_while_training_only(framework):
    config = polyformer.Wav2Vec2Config(**dict(TINY, **dict(QUIET, layerdrop=1.0), mask_time_prob=0.0))
    model = our_class(framework, "base")(config)
    inputs = waveforms(TINY)
    trained = _harness(framework).forward(model, inputs, train=True, output_hidden_states=True)
    assert len(trained["hidden_states"]) == config.num_hidden_layers + 1
    for hidden in trained["hidden_states"][1:]:  # every layer skipped: each passes its input on
        np.testing.assert_array_equal(hidden, trained["hidden_states"][0])
    evaluated = _harness(framework).forward(model, inputs, output_hidden_states=True)
    assert np.abs(evaluated["hidden_states"][-1] - evaluated["hidden_states"][0]).max() > 1e-3


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="PyTorch is not installed")
def test_spec_augment_masks_frames_and_channels_while_training():
    config = polyformer.Wav2Vec2Config(**dict(TINY, **QUIET, mask_time_prob=0.5, mask_time_length=3,
                                              mask_feature_prob=0.3, mask_feature_length=2))
    model = polyformer.Wav2Vec2Model(config)
    hidden = torch.randn(3, 40, config.hidden_size) + 5.0  # no value is 0 or the mask embedding by chance
    real = torch.arange(40)[None, :] < torch.tensor([40, 30, 40])[:, None]
    with torch.no_grad():
        given = torch.zeros(3, 40, dtype=torch.bool)
        given[0, 5:8] = True
        masked = model.eval().mask_hidden_states(hidden.clone(), given)  # a given mask applies in eval mode too
        assert torch.equal(masked[0, 5:8], model.masked_spec_embed.expand(3, -1))
        assert torch.equal(masked[~given], hidden[~given])

        model.train()
        torch.manual_seed(0)
        first = model.mask_hidden_states(hidden.clone(), frame_mask=real)
        torch.manual_seed(0)
        assert torch.equal(first, model.mask_hidden_states(hidden.clone(), frame_mask=real))  # torch's seed fixes it
    channels = (first == 0).all(1)
    frames = ((first == model.masked_spec_embed) | channels[:, None, :]).all(-1)  # masked frames lose channels too
    assert frames.any(1).all() and not frames[1, 30:].any()  # spans on real frames only
    assert channels.any(1).all()  # whole channels zeroed, in every example
    kept = ~frames[..., None] & ~channels[:, None, :]
    assert torch.equal(first[kept], hidden[kept])


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="PyTorch is not installed")
def test_gradient_checkpointing_and_freezing_the_feature_encoder():
    config = polyformer.Wav2Vec2Config(**dict(TINY, **QUIET, mask_time_prob=0.0))
    torch.manual_seed(0)
    model = polyformer.Wav2Vec2ForCTC(config).train()
    inputs = {k: torch.from_numpy(v) for k, v in waveforms(TINY).items()}
    inputs.update({k: torch.from_numpy(v) for k, v in loss_inputs("ctc", TINY, waveforms(TINY)).items()})

    def gradients():
        model.zero_grad()
        model(**inputs).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.gradient_checkpointing_enable()
    assert model.wav2vec2.feature_extractor.gradient_checkpointing and model.wav2vec2.encoder.gradient_checkpointing
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for name in plain:  # recomputed in the backward pass: the same numbers
        assert_close(checkpointed[name], plain[name], name=name)
    model.freeze_feature_encoder()
    frozen = gradients()
    assert not any(name.startswith("wav2vec2.feature_extractor.") for name in frozen)
    assert "lm_head.weight" in frozen
