"""What is Flax's own in Wav2Vec2: the functional module under ``jax.jit``, a jitted training step,
and the randomness of training (dropout, LayerDrop, SpecAugment, Gumbel noise) drawn from the
``"dropout"`` rng.

The outputs and losses against transformers, saving, the Auto classes and bad inputs are checked
for every framework in ``test_wav2vec2.py`` and ``test_wav2vec2_conformance.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import polyformer
from polyformer.core.numerics import conv_output_length
from polyformer.models.wav2vec2.masking import compute_mask_indices, sample_negative_indices
from polyformer.testing import assert_outputs_close

TINY = dict(vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
            conv_dim=(8, 8, 8), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=5,
            num_conv_pos_embedding_groups=2, tdnn_dim=(8, 8, 6), tdnn_kernel=(3, 3, 1), tdnn_dilation=(1, 2, 1),
            xvector_output_dim=7, classifier_proj_size=5, num_labels=3, codevector_dim=8, proj_codevector_dim=6,
            num_codevectors_per_group=5, num_codevector_groups=2, num_negatives=4, mask_time_length=2,
            mask_time_prob=0.3)
#: The stable-layer-norm layout, which takes an attention mask (a padded batch).
LAYER = dict(TINY, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
QUIET = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
             final_dropout=0.0, layerdrop=0.0, feat_quantizer_dropout=0.0)


def batch_for(head, config, seed=1):
    """Padded waveforms, and the loss inputs of ``head`` that fit them."""
    inputs = polyformer.Wav2Vec2Config(**config).example_inputs(2, seed=0)
    frames = conv_output_length(np.asarray(inputs["attention_mask"]).sum(-1), config["conv_kernel"], config["conv_stride"])
    rng = np.random.default_rng(seed)
    if head == "ctc":
        labels = rng.integers(1, config["vocab_size"], size=(2, int(frames.min()) // 2))  # never the blank (0)
        labels[1, labels.shape[1] // 2:] = -100
        inputs["labels"] = labels
    elif head == "pretraining":
        total = int(frames.max())
        real = np.arange(total)[None, :] < np.asarray(frames)[:, None]
        mask = compute_mask_indices((2, total), 0.4, 2, attention_mask=real, min_masks=2, rng=rng)
        inputs["mask_time_indices"] = mask
        inputs["sampled_negative_indices"] = sample_negative_indices((2, total), 4, mask, rng=rng).astype(np.int32)
    return inputs


def as_numpy(output) -> dict:
    return {k: (tuple(np.asarray(t) for t in v) if isinstance(v, tuple) else np.asarray(v))
            for k, v in output.items() if v is not None}


@pytest.mark.parametrize("head", ["FlaxWav2Vec2Model", "FlaxWav2Vec2ForCTC", "FlaxWav2Vec2ForPreTraining"])
def test_jit_of_module_apply_gives_the_model_outputs(head):
    """The stateless module under the user's own jax.jit, with the loss inputs, gives what the model object gives."""
    model = getattr(polyformer, head)(polyformer.Wav2Vec2Config(**LAYER), seed=2)
    kind = {"FlaxWav2Vec2ForCTC": "ctc", "FlaxWav2Vec2ForPreTraining": "pretraining"}.get(head, "base")
    inputs = batch_for(kind, LAYER)

    @jax.jit
    def run(params, inputs):
        return model.module.apply({"params": params}, **inputs, output_hidden_states=True)

    want = model(**inputs, output_hidden_states=True)
    got = run(model.params, {k: jnp.asarray(v) for k, v in inputs.items()})
    # two compiled programs of the same computation: float32 rounding apart at most
    assert_outputs_close(as_numpy(want), as_numpy(got), where=head)
    if kind != "base":
        assert np.isfinite(float(got.loss)) and float(got.loss) > 0


def test_a_jitted_training_step_lowers_the_ctc_loss_with_dropout_and_spec_augment():
    """optax Adam on module.apply's CTC loss, dropout, LayerDrop and SpecAugment on, each step's key split
    from one seed; one compile for every step, and the evaluated loss falls."""
    config = dict(LAYER, hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, feat_proj_dropout=0.1,
                  final_dropout=0.1, layerdrop=0.1, mask_time_prob=0.3, mask_feature_prob=0.1, mask_feature_length=2)
    model = polyformer.FlaxWav2Vec2ForCTC(polyformer.Wav2Vec2Config(**config), seed=0)
    batch = {k: jnp.asarray(v) for k, v in batch_for("ctc", config).items()}
    optimizer = optax.adam(1e-2)

    def loss_fn(params, key, train):
        rngs = {"dropout": key} if train else {}
        return model.module.apply({"params": params}, **batch, train=train, rngs=rngs).loss

    @jax.jit
    def step(params, state, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, key, True)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    evaluate = jax.jit(lambda params: loss_fn(params, None, False))
    params, state, rng = model.params, optimizer.init(model.params), jax.random.PRNGKey(0)
    before = float(evaluate(params))
    for _ in range(15):
        rng, key = jax.random.split(rng)
        params, state, loss = step(params, state, key)
        assert np.isfinite(float(loss))
    after = float(evaluate(params))
    assert step._cache_size() == 1
    # 15 Adam steps at 1e-2 on one batch: a random model's CTC loss (~5 per token here) falls by far more than
    # the noise the random masks and dropout add to a step.
    assert after < 0.9 * before, (before, after)


def test_training_randomness_follows_the_dropout_rng():
    """Dropout, LayerDrop, SpecAugment and Gumbel noise: the same key gives the same outputs, another key others;
    without train=True nothing is random and no rng is needed."""
    config = dict(LAYER, hidden_dropout=0.1, layerdrop=0.5, mask_time_prob=0.5, num_hidden_layers=4)
    model = polyformer.FlaxWav2Vec2ForPreTraining(polyformer.Wav2Vec2Config(**config), seed=0)
    inputs = batch_for("base", config)

    def run(key, train=True):
        return as_numpy(model.module.apply({"params": model.params}, **inputs, train=train, output_hidden_states=True,
                                           rngs={"dropout": key} if train else {}))

    # Jitted once for the three keys (op by op, each run took ~8 s); the draws are the same either way.
    run_training = jax.jit(lambda key: model.module.apply({"params": model.params}, **inputs, train=True,
                                                          output_hidden_states=True, rngs={"dropout": key}))
    first, again, other = (as_numpy(run_training(jax.random.PRNGKey(seed))) for seed in (1, 1, 2))
    for name in ("projected_states", "projected_quantized_states"):
        np.testing.assert_array_equal(first[name], again[name])
        assert not np.array_equal(first[name], other[name]), name
    assert_outputs_close(run(None, train=False), as_numpy(model(**inputs, output_hidden_states=True)))
    with pytest.raises(Exception, match="dropout"):  # flax's error: training draws from the "dropout" rng
        model.module.apply({"params": model.params}, **inputs, train=True)


def test_layerdrop_skips_layers_at_its_rate_by_key():
    """Each layer is skipped with probability layerdrop, drawn per key: over many keys about half of them at 0.5."""
    config = dict(LAYER, **dict(QUIET, layerdrop=0.5), mask_time_prob=0.0, num_hidden_layers=4)
    model = polyformer.FlaxWav2Vec2Model(polyformer.Wav2Vec2Config(**config), seed=0)
    inputs = {k: jnp.asarray(v) for k, v in batch_for("base", config).items()}
    run = jax.jit(lambda key: model.module.apply({"params": model.params}, **inputs, train=True,
                                                 output_hidden_states=True, rngs={"dropout": key}).hidden_states)
    skipped = []
    for seed in range(40):
        hidden = [np.asarray(h) for h in run(jax.random.PRNGKey(seed))]
        skipped.append([np.array_equal(hidden[i + 1], hidden[i]) for i in range(4)])
    skipped = np.array(skipped)
    # 160 Bernoulli(0.5) draws: the rate's standard error is 0.04, so 0.3..0.7 is five of them either side.
    assert 0.3 < skipped.mean() < 0.7, skipped.mean()
    assert skipped.any(0).all() and (~skipped).any(0).all()  # every layer both skipped and run


def test_spec_augment_masks_frames_and_channels_from_the_rng():
    """As PyTorch's: spans of frames (real frames only) become masked_spec_embed, whole channels become 0,
    a given mask applies without training; the masks follow the key, at the configured rates."""
    config = polyformer.Wav2Vec2Config(**dict(TINY, **QUIET, mask_time_prob=0.5, mask_time_length=3,
                                              mask_feature_prob=0.3, mask_feature_length=2))
    model = polyformer.FlaxWav2Vec2Model(config, seed=0)
    variables = {"params": model.params}
    embed = np.asarray(model.params["masked_spec_embed"])
    hidden = np.random.default_rng(0).standard_normal((3, 40, config.hidden_size)).astype(np.float32) + 5.0
    real = np.arange(40)[None, :] < np.array([40, 30, 40])[:, None]

    given = np.zeros((3, 40), bool)
    given[0, 5:8] = True
    masked = np.asarray(model.module.apply(variables, hidden, given, method="mask_hidden_states"))
    np.testing.assert_array_equal(masked[0, 5:8], np.broadcast_to(embed, (3, config.hidden_size)))
    np.testing.assert_array_equal(masked[~given], hidden[~given])

    mask = jax.jit(lambda key: model.module.apply(variables, hidden, frame_mask=real, deterministic=False,
                                                  rngs={"dropout": key}, method="mask_hidden_states"))
    first = np.asarray(mask(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(first, np.asarray(mask(jax.random.PRNGKey(0))))  # the key fixes the masks
    channels = (first == 0).all(1)
    frames = ((first == embed) | channels[:, None, :]).all(-1)  # masked frames lose their zeroed channels too
    assert frames.any(1).all() and not frames[1, 30:].any()  # spans on real frames only
    assert channels.any(1).all()  # whole channels zeroed, in every example
    kept = ~frames[..., None] & ~channels[:, None, :]
    np.testing.assert_array_equal(first[kept], np.broadcast_to(hidden, first.shape)[kept])

    # Over keys, the masked shares are those of the numpy helper PyTorch draws from (same spans, other draws).
    ours = [np.asarray(mask(jax.random.PRNGKey(seed))) for seed in range(1, 31)]
    ours_frames = np.mean([((m == embed) | (m == 0)).all(-1)[real].mean() for m in ours])
    ours_channels = np.mean([(m == 0).all(1).mean() for m in ours])
    rng = np.random.default_rng(0)
    numpy_frames = np.mean([compute_mask_indices((3, 40), 0.5, 3, attention_mask=real, min_masks=2, rng=rng)[real].mean()
                            for _ in range(30)])
    numpy_channels = np.mean([compute_mask_indices((3, config.hidden_size), 0.3, 2, min_masks=0, rng=rng).mean()
                              for _ in range(30)])
    # 30 draws of 110 frames / 16 channels each: the mean shares' standard errors are about 0.01 and 0.02.
    assert abs(ours_frames - numpy_frames) < 0.06, (ours_frames, numpy_frames)
    assert abs(ours_channels - numpy_channels) < 0.1, (ours_channels, numpy_channels)
    assert len({m.tobytes() for m in ours}) == len(ours)  # every key its own masks
