"""What the Keras Wav2Vec2 does beyond the cross-framework tests (tests/test_wav2vec2.py, test_wav2vec2_conformance.py).

Compiled with XLA (``tf.function(jit_compile=True)``, audio lengths known when traced) every head
gives its eager outputs and loss, and traced with open sizes too; ``fit`` trains in training mode,
with XLA as without (the same steps when nothing is drawn; fresh draws at each compiled call); the CTC loss gives PyTorch's values and gradients, also under XLA; randomness
while training (dropout, LayerDrop, SpecAugment's spans, Gumbel noise) comes from Keras seed
generators, follows the distributions of the PyTorch model's (the numpy sampler of
``masking.py``, the Gumbel-max categorical) and runs traced.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

import polyformer  # noqa: E402
from polyformer.models.wav2vec2.masking import compute_mask_indices  # noqa: E402
from polyformer.models.wav2vec2.modeling_keras import random_spans  # noqa: E402
from polyformer.testing import assert_close, assert_outputs_close  # noqa: E402

import keras  # noqa: E402  (on TensorFlow: see tests/conftest.py)
import tensorflow as tf  # noqa: E402

from test_wav2vec2 import CONFIGS, HEADS, QUIET, TINY, loss_inputs, waveforms  # noqa: E402


def model_of(head, config, seed=0):
    keras.utils.set_random_seed(seed)
    return getattr(polyformer, "TF" + HEADS[head])(polyformer.Wav2Vec2Config(**config))


def as_numpy(outputs) -> dict:
    return {k: tuple(np.asarray(t) for t in v) if isinstance(v, tuple) else np.asarray(v) for k, v in outputs.items()}


def tensors(inputs):
    return {k: tf.constant(v) for k, v in inputs.items()}


# ---- compiled and traced -------------------------------------------------------------------------
# Layer norm (so an attention mask and a shorter last waveform), pre-norm, weighted layer sum: every path.
COMPILED = dict(CONFIGS["stable-layer-bias"], use_weighted_layer_sum=True)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_jit_compiled_call_gives_the_eager_outputs_and_loss(head):
    model = model_of(head, COMPILED)
    flags = dict(output_hidden_states=True, output_attentions=True)
    compiled = tf.function(lambda batch: model(batch, **flags), jit_compile=True)
    for frames in (24, 17):  # a second audio length: traced again, for its shapes
        inputs = polyformer.Wav2Vec2Config(**COMPILED).example_inputs(2, frames=frames)
        inputs.update(loss_inputs(head, COMPILED, inputs))
        got = as_numpy(compiled(tensors(inputs)))
        assert ("loss" in got) == (head != "base")
        assert_outputs_close(as_numpy(model(inputs, **flags)), got, where=f"TF{HEADS[head]} under XLA ({frames} frames)")


@pytest.mark.parametrize("head", sorted(HEADS))
def test_traced_with_open_batch_and_audio_sizes(head):
    """A signature that leaves every size open (as a SavedModel export may): the eager outputs."""
    model = model_of(head, COMPILED)
    inputs = waveforms(COMPILED)
    inputs.update(loss_inputs(head, COMPILED, inputs))
    signature = {k: tf.TensorSpec((None,) * np.ndim(v), tf.as_dtype(np.asarray(v).dtype)) for k, v in inputs.items()}
    traced = tf.function(lambda batch: model(batch), input_signature=[signature])
    assert_outputs_close(as_numpy(model(inputs)), as_numpy(traced(tensors(inputs))))


def test_open_sizes_while_training():
    """SpecAugment's spans, LayerDrop and dropout traced with the frame count unknown."""
    config = dict(COMPILED, mask_time_prob=0.5, mask_feature_prob=0.3, mask_feature_length=2, layerdrop=0.5)
    model = model_of("ctc", config)
    inputs = waveforms(config)
    inputs.update(loss_inputs("ctc", config, inputs))
    signature = {k: tf.TensorSpec((None, None), tf.as_dtype(v.dtype)) for k, v in inputs.items()}
    traced = tf.function(lambda batch: model(batch, training=True)["loss"], input_signature=[signature])
    assert np.isfinite(float(traced(tensors(inputs))))


# ---- the CTC loss -------------------------------------------------------------------------------------
def _ctc_case():
    """Logits of 4 examples with their own frame counts, and transcripts that take every path of the algorithm:
    an empty one, a repeated token, -100 padding and blank ids inside (both left out), and one that cannot fit."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 12, 6)).astype(np.float32) * 2
    frames = np.array([12, 9, 12, 4])
    labels = np.array([[1, 2, 2, 3, -100], [0, 4, 0, 5, 1], [-100, -100, -100, -100, -100], [3, 1, 4, 2, 5]])
    return logits, labels, frames


def _torch_ctc(logits, labels, frames, reduction):
    logits = torch.tensor(logits, requires_grad=True)
    kept = torch.from_numpy((labels != -100) & (labels != 0))
    targets = torch.from_numpy(labels)
    loss = torch.nn.functional.ctc_loss(
        torch.log_softmax(logits, -1).transpose(0, 1), targets.masked_select(kept), torch.from_numpy(frames),
        kept.sum(-1), blank=0, reduction=reduction, zero_infinity=True)
    loss.backward()
    return loss.detach().numpy(), logits.grad.numpy()


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ctc_loss_gives_pytorchs_values_and_gradients(reduction):
    """Example 3 needs 5 frames, more than its 4 (zero_infinity: zero loss and gradient, as in PyTorch)."""
    from polyformer.backends.keras.losses import ctc_loss

    logits, labels, frames = _ctc_case()
    want_loss, want_grad = _torch_ctc(logits, labels, frames, reduction)

    def loss_and_gradient(logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = ctc_loss(logits, tf.constant(labels), tf.constant(frames), blank=0, reduction=reduction,
                            zero_infinity=True)
        return loss, tape.gradient(loss, logits)

    compiled = tf.function(loss_and_gradient, jit_compile=True)
    for where, (loss, grad) in {"eager": loss_and_gradient(tf.constant(logits)),
                                "XLA": compiled(tf.constant(logits))}.items():
        # Sums of a few dozen float32 log-probabilities: rounding of each.
        assert_close(np.asarray(loss), want_loss, rtol=1e-5, name=f"{where} CTC loss ({reduction})")
        assert np.isfinite(np.asarray(grad)).all(), where
        assert not np.asarray(grad)[3].any(), f"{where}: the transcript that cannot fit has a gradient"
        assert_close(np.asarray(grad), want_grad, name=f"{where} CTC gradient ({reduction})")


# ---- training ---------------------------------------------------------------------------------------
def _changed(before, model, name):
    return not np.array_equal(before[name], model._canonical_weights()[name].numpy())


def _weights(model):
    return {name: weight.numpy() for name, weight in model._canonical_weights().items()}


def test_fit_trains_in_training_mode():
    """fit must call the model with training=True: only then does SpecAugment use (and train) the mask embedding."""
    config = dict(TINY, **QUIET, mask_time_prob=0.5)
    model = model_of("ctc", config)
    inputs = waveforms(config)
    inputs.update(loss_inputs("ctc", config, inputs))
    before = _weights(model)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(inputs, epochs=1, batch_size=2, verbose=0)
    assert _changed(before, model, "wav2vec2.masked_spec_embed")


def test_fit_with_xla_trains_as_without():
    """With nothing drawn at random, a training step compiled by XLA (the CTC loss's while_loop and its gradient
    included, labels given as y) is the eager step: the same losses, step after step."""
    config = dict(CONFIGS["stable-layer-bias"], **QUIET, mask_time_prob=0.0)
    inputs = waveforms(config)
    labels = loss_inputs("ctc", config, inputs)["labels"]
    histories = []
    for jit_compile in (False, True):
        model = model_of("ctc", config)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
        histories.append(model.fit(inputs, labels, epochs=3, batch_size=2, shuffle=False, verbose=0).history["loss"])
    assert histories[0][-1] < histories[0][0]
    # A CTC sum of ~70 after a few Adam steps, compiled two ways: float32 rounding, well under 1e-4 of it.
    assert_close(np.array(histories[1]), np.array(histories[0]), rtol=1e-4)


def test_training_randomness_runs_under_xla():
    """Dropout, LayerDrop and SpecAugment's spans over time and channels, compiled by XLA: a new draw at each call
    (the seed generators' state advances inside the compiled function), and none without training. (Under XLA
    TensorFlow's stateless generator uses another algorithm, so the draws are not the eager ones for one seed.)
    fit compiled by XLA then trains the mask embedding, which only SpecAugment's drawn spans reach."""
    config = dict(CONFIGS["stable-layer-bias"], mask_time_prob=0.4, mask_feature_prob=0.3, mask_feature_length=2,
                  layerdrop=0.3, hidden_dropout=0.1, final_dropout=0.1)
    model = model_of("ctc", config)
    inputs = waveforms(config)
    inputs.update(loss_inputs("ctc", config, inputs))
    compiled = tf.function(lambda batch, training: model(batch, training=training)["loss"], jit_compile=True)
    trained = [float(compiled(tensors(inputs), True)) for _ in range(2)]
    evaluated = [float(compiled(tensors(inputs), False)) for _ in range(2)]
    assert np.isfinite(trained).all() and trained[0] != trained[1], trained
    assert evaluated[0] == evaluated[1] and evaluated[0] not in trained
    before = _weights(model)
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    history = model.fit(inputs, epochs=1, batch_size=2, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    assert _changed(before, model, "wav2vec2.masked_spec_embed")


def test_freezing_the_feature_encoder():
    config = dict(TINY, **QUIET, mask_time_prob=0.0)
    model = model_of("ctc", config)
    model.freeze_feature_encoder()
    trained = {v.path for v in model.trainable_weights}
    assert not any(v.path in trained for v in model.wav2vec2.feature_extractor.weights)
    inputs = waveforms(config)
    inputs.update(loss_inputs("ctc", config, inputs))
    before = _weights(model)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(inputs, epochs=1, batch_size=2, verbose=0)
    encoder = [n for n in before if n.startswith("wav2vec2.feature_extractor.")]
    assert encoder and not any(_changed(before, model, n) for n in encoder)
    assert _changed(before, model, "lm_head.weight")
    model.freeze_base_model()
    assert {v.path for v in model.trainable_weights} == {model.lm_head.kernel.path, model.lm_head.bias.path}


def test_x_vector_with_a_silent_channel_trains():
    """A TDNN channel the ReLU silences on every frame has zero spread: its gradient is 0 (torch.std's), not NaN."""
    config = dict(TINY, **QUIET, mask_time_prob=0.0, feat_extract_norm="layer")
    model = model_of("audio-xvector", config)
    last = model.tdnn[-1].kernel
    last.bias.assign(np.where(np.arange(last.out_features) == 0, -1e4, 0.0).astype(np.float32))
    inputs = waveforms(config)
    inputs.update(loss_inputs("audio-xvector", config, inputs))
    with tf.GradientTape() as tape:
        loss = model(inputs, training=True)["loss"]
    gradients = tape.gradient(loss, model.trainable_weights)
    assert all(np.isfinite(np.asarray(g)).all() for g in gradients if g is not None)


# ---- randomness ------------------------------------------------------------------------------------
def test_training_randomness_comes_from_keras_seeds():
    """Dropout, LayerDrop and SpecAugment: another draw at each call, the same draws from the same seed."""
    config = dict(TINY, hidden_dropout=0.1, layerdrop=0.5, mask_time_prob=0.5, mask_feature_prob=0.3,
                  mask_feature_length=2)
    inputs = waveforms(config)

    def two_training_calls(seed):
        model = model_of("base", config, seed)
        return [np.asarray(model(inputs, training=True)["last_hidden_state"]) for _ in range(2)]

    first, second = two_training_calls(0)
    assert not np.array_equal(first, second)
    again = two_training_calls(0)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    model = model_of("base", config)
    np.testing.assert_array_equal(np.asarray(model(inputs)["last_hidden_state"]),
                                  np.asarray(model(inputs)["last_hidden_state"]))  # not training: no draw


def test_layerdrop_traced_skips_layers_as_often_as_asked():
    config = dict(TINY, **dict(QUIET, layerdrop=0.5), mask_time_prob=0.0, num_hidden_layers=4)
    model = model_of("base", config)
    traced = tf.function(lambda batch: model(batch, training=True, output_hidden_states=True)["hidden_states"])
    inputs = tensors(waveforms(config))
    skipped = []
    for _ in range(60):
        hidden = [np.asarray(h) for h in traced(inputs)]
        skipped += [np.array_equal(after, before) for before, after in zip(hidden, hidden[1:])]
    # 240 draws with probability 1/2: 120 expected, standard deviation 7.7; 4.5 of them either way.
    assert 85 <= sum(skipped) <= 155, sum(skipped)


def test_spec_augment_masks_frames_and_channels_while_training():
    config = polyformer.Wav2Vec2Config(**dict(TINY, **QUIET, mask_time_prob=0.5, mask_time_length=3,
                                              mask_feature_prob=0.3, mask_feature_length=2))
    model = model_of("base", config.to_dict())
    hidden = np.random.default_rng(0).standard_normal((3, 40, config.hidden_size)).astype(np.float32) + 5.0
    real = np.arange(40)[None, :] < np.array([40, 30, 40])[:, None]
    embed = np.asarray(model.masked_spec_embed.variable)
    given = np.zeros((3, 40), bool)
    given[0, 5:8] = True
    masked = np.asarray(model.mask_hidden_states(hidden, given))  # a given mask applies without training too
    np.testing.assert_array_equal(masked[0, 5:8], np.broadcast_to(embed, (3, config.hidden_size)))
    np.testing.assert_array_equal(masked[~given], hidden[~given])

    keras.utils.set_random_seed(0)
    model.seed_generator = keras.random.SeedGenerator()
    first = np.asarray(model.mask_hidden_states(hidden, frame_mask=real, training=True))
    keras.utils.set_random_seed(0)
    model.seed_generator = keras.random.SeedGenerator()
    np.testing.assert_array_equal(first, np.asarray(model.mask_hidden_states(hidden, frame_mask=real, training=True)))
    channels = (first == 0).all(1)
    frames = ((first == embed) | channels[:, None, :]).all(-1)  # masked frames lose channels too
    assert frames.any(1).all() and not frames[1, 30:].any()  # spans on real frames only
    assert channels.any(1).all()  # whole channels zeroed, in every example
    kept = ~frames[..., None] & ~channels[:, None, :]
    np.testing.assert_array_equal(first[kept], np.broadcast_to(hidden, first.shape)[kept])


def test_random_spans_follow_the_numpy_sampler():
    """The same distribution as masking.compute_mask_indices: per position, per row, and within the real lengths."""
    batch, length, prob, span, draws = 16, 40, 0.35, 3, 400
    lengths = np.array([40] * 8 + [25] * 8)
    real = np.arange(length)[None, :] < lengths[:, None]
    generator = keras.random.SeedGenerator(0)
    ours = np.stack([np.asarray(random_spans((batch, length), prob, span, lengths, 1, generator))
                     for _ in range(draws)])
    rng = np.random.default_rng(0)
    theirs = np.stack([compute_mask_indices((batch, length), prob, span, attention_mask=real, min_masks=1, rng=rng)
                       for _ in range(draws)])
    assert not ours[:, ~real].any()
    for rows in (slice(0, 8), slice(8, 16)):  # full rows, rows with padding
        # Per-position rates from 3200 rows: a standard error below 0.01 (less than that between rows that share
        # a draw); 0.05 is 5 of them, and a wrong span count or start range moves some rates by 0.1 or more.
        np.testing.assert_allclose(ours[:, rows].mean((0, 1)), theirs[:, rows].mean((0, 1)), atol=0.05)
        # Masked positions per row: means of 3200 rows of about 10, spread about 1.5.
        assert abs(ours[:, rows].sum(-1).mean() - theirs[:, rows].sum(-1).mean()) < 0.3
    with pytest.raises(ValueError, match=r"mask_length \(9\) must not exceed the length of the masked axis \(8\)"):
        random_spans((2, 8), 0.5, 9)


def test_gumbel_codes_follow_the_softmax_and_read_the_temperature():
    """Gumbel-max: the code drawn for a frame is distributed as the softmax of its logits; the temperature is a
    variable, so setting it reaches a function already traced."""
    config = dict(TINY, **QUIET)
    model = model_of("pretraining", config)
    quantizer = model.quantizer
    features = np.broadcast_to(np.random.default_rng(0).standard_normal(8).astype(np.float32), (1, 4000, 8))
    codes, _ = quantizer(features, training=True)
    codebook = np.asarray(quantizer.codevectors.variable)[0]  # (groups * codes, dim / groups)
    first_group = np.asarray(codes)[0, :, :4]
    drawn = np.argmin(np.abs(first_group[:, None, :] - codebook[None, :5]).sum(-1), axis=1)
    logits = np.asarray(quantizer.weight_proj(features[:, :1]))[0, 0, :5]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    # 4000 draws: standard errors below 0.008; 0.04 is 5 of them.
    np.testing.assert_allclose(np.bincount(drawn, minlength=5) / 4000, expected, atol=0.04)

    weight = quantizer.weight_proj.kernel

    @tf.function
    def gradient():
        quantizer.seed_generator.state.assign([0, 0])
        with tf.GradientTape() as tape:
            codes, _ = quantizer(features[:, :50], training=True)
            total = tf.reduce_sum(codes * tf.range(8, dtype=codes.dtype))
        return tape.gradient(total, weight)

    model.set_gumbel_temperature(2.0)
    warm = np.asarray(gradient())
    model.set_gumbel_temperature(0.5)
    cold = np.asarray(gradient())
    assert np.abs(warm).max() > 0 and not np.allclose(warm, cold)


# ---- grouped convolution --------------------------------------------------------------------------------
def test_grouped_conv1d_runs_eagerly_without_compiling_and_as_pytorch():
    """Keras' grouped convolution on TensorFlow compiles a new XLA function at every call (a compile per eager
    forward of the positional convolution); Conv1d convolves group by group instead, with PyTorch's numbers."""
    from unittest import mock

    from polyformer.backends.keras.layers import Conv1d

    def refuse_compiled_functions(*args, **kwargs):
        """Stands for tf.function(...): the functions it makes fail when run (Keras makes one at every conv)."""
        def decorate(function):
            def run(*args, **kwargs):
                raise AssertionError(f"an eager Conv1d call ran the tf.function {function.__name__}")
            return run
        return decorate

    conv = Conv1d(8, 12, 5, stride=2, padding=2, groups=4, weight_norm_dim=2)
    x = np.random.default_rng(0).standard_normal((2, 30, 8)).astype(np.float32)
    with mock.patch.object(tf, "function", refuse_compiled_functions):
        got = np.asarray(conv(x))
    reference = torch.nn.Conv1d(8, 12, 5, stride=2, padding=2, groups=4)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(np.asarray(conv.weight())))
        reference.bias.copy_(torch.tensor(np.asarray(conv.bias)))
        want = reference(torch.from_numpy(x).transpose(1, 2)).transpose(1, 2).numpy()
    # Sums of 10 products of values of about 1: float32 rounding.
    assert_close(got, want)
