"""The ``polyformer`` command: ``demo``, ``inspect PATH``, ``convert SRC DST``, ``plugins``, ``bench``.

Each sub-command is a small function; argparse only wires them up. Errors a user
can cause (a missing folder, a bad file) print one line naming the problem and exit
with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


# ---- plugins -------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from .core.plugins import get_registry
    from .core.registry import class_name

    registry = get_registry()
    print("Plugins:")
    for info in sorted(registry.plugins.values(), key=lambda i: i.name):
        where = f"{info.distribution} {info.version}".strip() or "in-process"
        provides = ", ".join(
            [f"backend {b}" for b in info.backends] + [f"architecture {a}" for a in info.architectures]
        ) or "-"
        print(f"  {info.name:<16} {where:<24} {info.status:<9} {provides}")
        for error in info.errors:
            print(f"      ! {error}")
    print("\nBackends (framework: installed, return_tensors, extra):")
    for backend in registry.frameworks_by_priority():
        state = "installed" if backend.is_available() else "not installed"
        print(f"  {backend.name:<8} {state:<14} return_tensors={backend.tensor_type!r:<6} pip install 'polyformer[{backend.extra}]'")
    print("\nArchitectures:")
    for model_type, arch in sorted(registry.architectures.items()):
        print(f"  {model_type}  (plugin {arch.plugin})")
        print(f"    config:     {class_name(arch.config)}")
        tokenizers = [class_name(p) for p in (arch.tokenizer, arch.tokenizer_fast) if p]
        if tokenizers:
            print(f"    tokenizers: {', '.join(tokenizers)}")
        for framework, heads in sorted(arch.models.items()):
            print(f"    {framework + ':':<11} {', '.join(heads)}")
    print("\nTasks (Auto class):")
    for task in registry.tasks.values():
        print(f"  {task.name:<28} {task.auto_class:<40} (plugin {task.plugin})")
    if not args.check:
        print("\nClasses are imported only when used: `polyformer plugins --check` imports every one now.")
        return 0
    problems = registry.broken_paths()
    print(f"\nChecked every registered class path: {len(problems)} broken")
    for problem in problems:
        print(f"  ! {problem}")
    return 1 if problems else 0


# ---- inspect -------------------------------------------------------------------
def _human(n: float, unit: str = "") -> str:
    for suffix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.1f}{suffix}{unit}" if suffix else f"{int(n)}{unit}"
        n /= 1000
    return f"{n:.1f}P{unit}"


def cmd_inspect(args: argparse.Namespace) -> int:
    from .core.checkpoint import (LEGACY_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, CheckpointError,
                                  find_weight_files, read_tensor_infos)
    from .core.configuration import CONFIG_NAME, read_json_dict
    from .core.hub import resolve_folder

    folder = resolve_folder(args.path)
    print(f"Checkpoint: {folder}")
    config_path = folder / CONFIG_NAME
    if config_path.is_file():
        config = read_json_dict(config_path)
        print(f"  model_type:    {config.get('model_type', '?')}")
        print(f"  architectures: {', '.join(config.get('architectures') or []) or '-'}")
        for key in ("vocab_size", "dim", "hidden_size", "n_layers", "num_hidden_layers", "n_heads", "num_attention_heads"):
            if key in config:
                print(f"  {key + ':':<15}{config[key]}")
    else:
        print("  (no config.json)")
    # A damaged weights file is reported (and makes the exit status 2), but the summary goes on:
    # seeing the folder's files is what one needs to repair it.
    problem, infos = None, {}
    if not any((folder / name).exists() for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)):
        legacy = f" (only {LEGACY_WEIGHTS_NAME}, which is not read)" if (folder / LEGACY_WEIGHTS_NAME).is_file() else ""
        print(f"  weights:       none{legacy}")
    else:
        try:
            infos = read_tensor_infos(find_weight_files(folder))
        except CheckpointError as exc:
            problem = exc
            print(f"  weights:       unreadable ({exc})")
    if infos:
        n_params = 0
        dtypes: dict[str, int] = {}
        for info in infos.values():
            count = 1
            for dim in info.shape:
                count *= dim
            n_params += count
            dtypes[info.dtype] = dtypes.get(info.dtype, 0) + 1
        print(f"  parameters:    {n_params:,} ({_human(n_params)})")
        print(f"  tensors:       {len(infos)} ({', '.join(f'{n} {d}' for d, n in sorted(dtypes.items()))})")
        if args.tensors:
            for name, info in sorted(infos.items()):
                print(f"    {name:<64} {str(list(info.shape)):<18} {info.dtype}")
    print("  files:")
    for path in sorted(folder.iterdir()):
        if path.is_file():
            print(f"    {path.name:<40} {_human(path.stat().st_size, 'B')}")
    if problem is not None:
        print(f"polyformer inspect: error: {problem}", file=sys.stderr)
        return 2
    return 0


# ---- convert -------------------------------------------------------------------
def cmd_convert(args: argparse.Namespace) -> int:
    from .core.convert import convert_checkpoint, print_progress
    from .core.hub import resolve_folder

    source = resolve_folder(args.source)
    written = convert_checkpoint(source, args.destination, dtype=args.dtype, max_shard_size=args.max_shard_size,
                                 progress=None if args.quiet else print_progress)
    print(f"wrote {len(written)} weight file(s) to {args.destination}")
    if args.framework:
        from .core.auto import AutoModel, choose_framework

        framework = choose_framework(args.framework)
        model = AutoModel.for_architecture(args.destination, framework=framework)
        print(f"checked: loads as {type(model).__name__} ({framework}), {model.num_parameters():,} parameters")
    return 0


# ---- bench ---------------------------------------------------------------------
BENCH_MISSING = (
    "the benchmarks live in the bench/ folder of polyformer's source repository, which is not installed with "
    "the package and was not found next to it ({where}); run them from a checkout of the repository: "
    "`python -m bench` in its top folder (with pip install -e '.[all,bench]' for every framework and the figures)"
)


def find_bench():
    """The repository's ``bench`` package: importable already, or in the source checkout this package runs from."""
    import importlib

    checkout = Path(__file__).resolve().parents[1]
    for attempt in ("importable", "checkout"):
        if attempt == "checkout":
            if not (checkout / "bench" / "__main__.py").is_file():
                break
            sys.path.insert(0, str(checkout))
        try:
            bench = importlib.import_module("bench")
        except ImportError:
            continue
        if getattr(bench, "POLYFORMER_BENCH", False):
            return bench
        sys.modules.pop("bench", None)  # another package called bench: not ours
    raise ImportError(BENCH_MISSING.format(where=checkout / "bench"))


def cmd_bench(args: argparse.Namespace) -> int:
    return find_bench().main(args.bench_args, prog="polyformer bench")


# ---- demo ----------------------------------------------------------------------
_DEMO_CORPUS = [
    "A configuration holds the attributes of a model, such as the number of attention heads.",
    "Every model shares the base class PreTrainedModel and a few common methods.",
    "A tokenizer turns raw text into tensors; a fast tokenizer also maps tokens to characters.",
    "Build your own transformer once, then run it in PyTorch, Keras or Flax.",
    "Hidden states flow from the base model into a task head that makes the final output.",
]


def _train_demo_vocab(folder: Path) -> Path:
    """Train a tiny WordPiece vocabulary on the demo text: the guide's "your own tokenizer"."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
    tokenizer.train_from_iterator(_DEMO_CORPUS, trainer=trainer)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    path = folder / "my_vocab_file.txt"
    path.write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from . import AutoModel, AutoTokenizer, DistilBertConfig, DistilBertTokenizerFast
    from .core.auto import choose_framework

    framework = choose_framework(args.framework)
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="polyformer-demo-"))
    out.mkdir(parents=True, exist_ok=True)

    def step(title: str) -> None:
        print(f"\n== {title}")

    step("1. A custom configuration (DistilBertConfig with activation='relu', attention_dropout=0.4)")
    vocab_file = _train_demo_vocab(out)
    vocab_size = sum(1 for _ in vocab_file.open(encoding="utf-8"))
    my_config = DistilBertConfig(activation="relu", attention_dropout=0.4, vocab_size=vocab_size,
                                 dim=args.dim, hidden_dim=4 * args.dim, n_layers=args.layers, n_heads=args.heads)
    print(my_config)

    step(f"2. Save it and load it back from {out / 'config.json'}")
    my_config.save_pretrained(save_directory=out)
    reloaded = DistilBertConfig.from_pretrained(out / "config.json")
    print(f"reloaded config equals the original: {reloaded == my_config}")

    step(f"3. A model from the configuration ({framework}, random weights)")
    model = AutoModel.from_config(reloaded, framework=framework)
    if hasattr(model, "eval"):  # PyTorch modules start in training mode; the others default to inference
        model.eval()
    print(f"{type(model).__name__}: {model.num_parameters():,} parameters")

    step(f"4. A tokenizer from our own vocabulary ({vocab_file.name}, {vocab_size} tokens)")
    tokenizer = DistilBertTokenizerFast(vocab_file=str(vocab_file))
    text = ["Build your own transformer once.", "Run it in PyTorch, Keras or Flax!"]
    backend_tensor = {"torch": "pt", "keras": "tf", "flax": "jax"}.get(framework, "np")
    batch = tokenizer(text, padding=True, return_tensors=backend_tensor)
    print("tokens:", tokenizer.convert_ids_to_tokens(np.asarray(batch["input_ids"])[0].tolist()))
    print("input_ids shape:", tuple(np.asarray(batch["input_ids"]).shape))

    step("5. Run the model")
    outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hidden = np.asarray(_to_numpy(outputs.last_hidden_state))
    print(f"last_hidden_state: shape {hidden.shape}, mean {hidden.mean():+.4f}, std {hidden.std():.4f}")

    step(f"6. Save a checkpoint to {out} and load it back with AutoModel / AutoTokenizer")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    again = AutoModel.from_pretrained(out, framework=framework)
    tokenizer_again = AutoTokenizer.from_pretrained(out)
    batch_again = tokenizer_again(text, padding=True, return_tensors=backend_tensor)
    hidden_again = np.asarray(_to_numpy(again(input_ids=batch_again["input_ids"],
                                              attention_mask=batch_again["attention_mask"]).last_hidden_state))
    print(f"max abs difference after the round trip: {float(np.abs(hidden - hidden_again).max()):.2e}")
    print("files:", ", ".join(sorted(p.name for p in out.iterdir() if p.is_file())))
    _demo_image(out / "vision", framework, step)
    _demo_speech(out / "speech", framework, step)
    print(f"\nDone. Inspect the checkpoints with: polyformer inspect {out}  (and {out / 'vision'}, {out / 'speech'})")
    return 0


def _demo_image(out: Path, framework: str, step) -> None:
    """The guide's vision part: an image processor (default, then customised), then a tiny ViT classifier."""
    import numpy as np

    from . import AutoImageProcessor, AutoModelForImageClassification, ViTConfig, ViTImageProcessor

    step("7. An image processor for vision (ViTImageProcessor), and a customised one")
    print(ViTImageProcessor())
    my_vit_extractor = ViTImageProcessor(resample="PIL.Image.BOX", do_normalize=False, image_mean=[0.3, 0.3, 0.3])
    print(my_vit_extractor)

    try:
        from PIL import Image
    except ImportError:
        print("(Pillow is not installed, so no pictures: pip install 'polyformer[vision]')")
        return
    step(f"8. A tiny ViT image classifier ({framework}, random weights) on two synthetic pictures")
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                       patch_size=8, num_labels=3, id2label={0: "sky", 1: "grass", 2: "sand"})
    model = AutoModelForImageClassification.from_config(config, framework=framework)
    if hasattr(model, "eval"):
        model.eval()
    rows, columns = np.mgrid[0:48, 0:64]
    gradient = np.stack([rows * 5, columns * 4, 255 - rows * 5], axis=-1).astype(np.uint8)
    pictures = [Image.fromarray(gradient, "RGB"), Image.fromarray(gradient[:40, :40, 0], "L").convert("RGB")]
    tensors = {"torch": "pt", "keras": "tf", "flax": "jax"}.get(framework, "np")
    pixels = processor(pictures, return_tensors=tensors)["pixel_values"]
    logits = np.asarray(_to_numpy(model(pixels).logits))
    print(f"pixel_values: shape {tuple(np.asarray(_to_numpy(pixels)).shape)} (a 64x48 and a 40x40 picture, resized)")
    print("labels (random weights, so arbitrary):", [config.id2label[int(i)] for i in logits.argmax(-1)])

    model.save_pretrained(out)
    processor.save_pretrained(out)
    again = AutoModelForImageClassification.from_pretrained(out, framework=framework)
    pixels_again = AutoImageProcessor.from_pretrained(out)(pictures, return_tensors=tensors)["pixel_values"]
    logits_again = np.asarray(_to_numpy(again(pixels_again).logits))
    print(f"saved to {out} and loaded back: max abs difference {float(np.abs(logits - logits_again).max()):.2e}")


#: The demo's CTC vocabulary: the blank (``<pad>``), special tokens, the word delimiter and the letters.
_SPEECH_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"]


def _demo_speech(out: Path, framework: str, step) -> None:
    """The guide's audio half: a feature extractor, a CTC tokenizer, a processor, then a tiny speech model."""
    import numpy as np

    from . import (AutoModelForCTC, AutoProcessor, Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                   Wav2Vec2Processor)
    from .core.plugins import get_registry

    out.mkdir(parents=True, exist_ok=True)
    step("9. A feature extractor for audio (Wav2Vec2FeatureExtractor(padding_value=1.0, do_normalize=True))")
    feature_extractor = Wav2Vec2FeatureExtractor(padding_value=1.0, do_normalize=True)
    print(feature_extractor)

    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps({token: i for i, token in enumerate(_SPEECH_VOCAB)}, indent=1), encoding="utf-8")
    step(f"10. A CTC tokenizer from our own vocabulary ({vocab_file.name}, {len(_SPEECH_VOCAB)} tokens) and a processor")
    tokenizer = Wav2Vec2CTCTokenizer(vocab_file=str(vocab_file))
    processor = Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    print("'HELLO WORLD' -> ids:", tokenizer("HELLO WORLD")["input_ids"])

    registry = get_registry()
    have = [b.name for b in registry.frameworks_by_priority()
            if b.name in registry.architecture("wav2vec2").models and b.is_available()]
    if not have:
        print("(no installed framework has Wav2Vec2 models: the speech model steps are skipped)")
        return
    speech_framework = framework if framework in have else have[0]
    note = "" if speech_framework == framework else f"; Wav2Vec2 has no {framework} model yet"
    step(f"11. A tiny Wav2Vec2ForCTC ({speech_framework}, random weights{note}) on two synthetic waveforms")
    # wav2vec2-base's convolution stack (a frame per 20 ms), narrow; a small transformer on top.
    config = Wav2Vec2Config(vocab_size=len(_SPEECH_VOCAB), pad_token_id=tokenizer.pad_token_id, hidden_size=32,
                            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(32,) * 7,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    model = AutoModelForCTC.from_config(config, framework=speech_framework)
    if hasattr(model, "eval"):
        model.eval()
    rate = feature_extractor.sampling_rate
    time = np.arange(rate) / rate
    waves = [np.sin(2 * np.pi * 440 * time).astype(np.float32),  # 1 s of A4
             np.sin(2 * np.pi * (200 + 300 * time[: rate * 6 // 10]) * time[: rate * 6 // 10]).astype(np.float32)]
    tensors = {"torch": "pt", "keras": "tf", "flax": "jax"}.get(speech_framework, "np")
    batch = processor(audio=waves, sampling_rate=rate, padding=True, return_tensors=tensors)
    logits = np.asarray(_to_numpy(model(input_values=batch["input_values"]).logits))
    transcripts = processor.batch_decode(logits.argmax(-1), skip_special_tokens=True)
    print(f"input_values: shape {tuple(np.asarray(_to_numpy(batch['input_values'])).shape)} (1 s and 0.6 s, padded)")
    print(f"logits: shape {logits.shape} (a frame per {config.inputs_to_logits_ratio} samples, 20 ms)")
    print("transcripts (random weights, so arbitrary letters):", transcripts)

    step(f"12. Save the speech model and processor to {out} and load them back with the Auto classes")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    again = AutoModelForCTC.from_pretrained(out, framework=speech_framework)
    processor_again = AutoProcessor.from_pretrained(out)
    batch_again = processor_again(audio=waves, sampling_rate=rate, padding=True, return_tensors=tensors)
    logits_again = np.asarray(_to_numpy(again(input_values=batch_again["input_values"]).logits))
    same = processor_again.batch_decode(logits_again.argmax(-1), skip_special_tokens=True) == transcripts
    print(f"same transcripts after the round trip: {same}")


def _to_numpy(tensor):
    if hasattr(tensor, "detach"):
        return tensor.detach().cpu().numpy()
    if hasattr(tensor, "numpy"):
        return tensor.numpy()
    return tensor


# ---- wiring --------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="polyformer", description="Transformer architectures in PyTorch, Keras and Flax.")
    parser.add_argument("--version", action="version", version=f"polyformer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="walk the custom-architecture guide end to end")
    demo.add_argument("--framework", help="torch, keras or flax (default: $POLYFORMER_FRAMEWORK or the first installed)")
    demo.add_argument("--output", help="folder to write the config, vocabulary and checkpoint to (default: a temp folder)")
    demo.add_argument("--dim", type=int, default=768, help="hidden size (default 768, as in the guide)")
    demo.add_argument("--layers", type=int, default=6, help="number of layers (default 6)")
    demo.add_argument("--heads", type=int, default=12, help="attention heads (default 12)")
    demo.set_defaults(func=cmd_demo)

    inspect = sub.add_parser("inspect", help="summarise a checkpoint folder")
    inspect.add_argument("path", help="a checkpoint folder or cached hub id")
    inspect.add_argument("--tensors", action="store_true", help="list every tensor")
    inspect.set_defaults(func=cmd_inspect)

    convert = sub.add_parser("convert", help="re-shard or re-type a checkpoint, streaming tensor by tensor")
    convert.add_argument("source", help="checkpoint folder (or cached hub id)")
    convert.add_argument("destination", help="folder to write")
    convert.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="cast floating-point tensors")
    convert.add_argument("--max-shard-size", default="5GB", help="largest weight file, e.g. 500MB (default 5GB)")
    convert.add_argument("--framework", help="after converting, load the result in this framework to check it")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(func=cmd_convert)

    plugins = sub.add_parser("plugins", help="list plugins, backends, architectures and tasks")
    plugins.add_argument("--check", action="store_true", help="import every registered class and report the broken ones")
    plugins.set_defaults(func=cmd_plugins)

    bench = sub.add_parser("bench", add_help=False,
                           help="run the benchmarks (from a source checkout): `polyformer bench --help` lists options")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = rest  # every option belongs to the bench's own parser
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.func(args)
    except (OSError, ValueError, ImportError, TypeError) as exc:  # OSError: missing or unreadable files
        print(f"polyformer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
