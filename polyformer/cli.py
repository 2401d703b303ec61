"""The ``polyformer`` command: ``demo``, ``inspect``, ``convert``, ``download``, ``env``, ``plugins``, ``bench``.

Each sub-command is a small function; argparse only wires them up. Errors a user
can cause (a missing folder, a bad file) print one line naming the problem and exit
with status 2, never a traceback.

What the frameworks print on their own is not the command's output: TensorFlow's C++
start-up lines (oneDNN, CPU features) and the Python loggers of TensorFlow, absl and JAX
are silenced here (never by ``import polyformer``), unless ``$POLYFORMER_VERBOSITY`` is
``debug``. Output meant for a terminal (a redrawn progress bar) is not written to pipes
and files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["main"]


# ---- framework noise -----------------------------------------------------------
#: Python loggers of the frameworks, set to ERROR by the command line.
_FRAMEWORK_LOGGERS = ("tensorflow", "absl", "jax", "h5py")


def _silence_framework_logs() -> None:
    """Before any framework is imported: keep their start-up chatter off the command's output."""
    from . import logging as polyformer_logging

    if polyformer_logging.get_verbosity() <= polyformer_logging.DEBUG:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines
    for name in _FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _import_quietly(module: str) -> None:
    """Import ``module`` with the process's stderr (file descriptor 2) set aside.

    TensorFlow 2.21 writes its oneDNN notice from C++ before its logging is set up, so
    ``TF_CPP_MIN_LOG_LEVEL`` does not reach it; only the file descriptor does. What was
    written is shown if the import fails (it may say why), and dropped otherwise.
    """
    from . import logging as polyformer_logging

    if module in sys.modules or polyformer_logging.get_verbosity() <= polyformer_logging.DEBUG:
        return
    import importlib

    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            importlib.import_module(module)
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                captured.seek(0)
                sys.stderr.write(captured.read().decode("utf-8", "replace"))


def _prepare_framework(framework: str) -> None:
    """Import the modules a backend needs, quietly, before polyformer imports them with noise."""
    from .core.plugins import get_registry

    for module in get_registry().backends[framework].requires:
        _import_quietly(module)


def _table(rows: list[tuple], indent: str = "  ", right: tuple[int, ...] = ()) -> list[str]:
    """Rows of cells as lines of aligned columns; the columns numbered in ``right`` are right-aligned."""
    rows = [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(len(row) for row in rows))]
    return [
        (indent + "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row))).rstrip()
        for row in rows
    ]


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
#: Config keys inspect shows (when present), after model_type and architectures.
_INSPECT_CONFIG_KEYS = (
    "vocab_size", "hidden_size", "dim", "num_hidden_layers", "n_layers", "num_attention_heads", "n_heads",
    "intermediate_size", "hidden_dim", "max_position_embeddings", "image_size", "patch_size", "dtype", "torch_dtype",
)
#: safetensors dtype codes -> the names users know.
_DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def _is_parameter(dtype_code: str) -> bool:
    """Floating-point tensors are a model's parameters; integer ones (``position_ids``) are buffers.

    That is the rule every backend's ``num_parameters()`` follows: the integer tensors of
    older checkpoints are index buffers, which a loaded model does not count (and which
    transformers no longer saves).
    """
    return dtype_code.startswith(("F", "BF"))


def _checkpoint_files(folder: Path) -> list[Path]:
    """Every file of the folder, subfolders included (not hidden ones such as ``.git`` or staging)."""
    found = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found.extend(Path(root) / name for name in sorted(names))
    return found


def inspect_checkpoint(folder: Path, *, tensors: bool = False) -> dict:
    """What ``polyformer inspect`` reports, as plain data (its ``--json`` output).

    A damaged weights file does not stop the summary (seeing the folder's files is what
    one needs to repair it): its error is the ``"error"`` entry.
    """
    from .core.checkpoint import (LEGACY_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, CheckpointError,
                                  find_weight_files, read_tensor_infos)
    from .core.configuration import CONFIG_NAME, read_json_dict

    summary: dict = {"path": str(folder), "config": None, "weights": None, "weights_note": None, "files": [], "error": None}
    if (folder / CONFIG_NAME).is_file():
        summary["config"] = read_json_dict(folder / CONFIG_NAME)
    if not any((folder / name).exists() for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)):
        if (folder / LEGACY_WEIGHTS_NAME).is_file():
            summary["weights_note"] = f"only {LEGACY_WEIGHTS_NAME}, which is not read"
    else:
        try:
            weight_files = find_weight_files(folder)
            infos = read_tensor_infos(weight_files)
        except CheckpointError as exc:
            summary["error"] = str(exc)
        else:
            summary["weights"] = _weights_summary(folder, weight_files, infos, tensors)
    for path in _checkpoint_files(folder):
        summary["files"].append({"name": path.relative_to(folder).as_posix(), "bytes": path.stat().st_size})
    return summary


def _weights_summary(folder: Path, weight_files: list[Path], infos: dict, tensors: bool) -> dict:
    parameters = buffers = parameter_tensors = 0
    buffer_names = []
    dtypes: dict[str, dict[str, int]] = {}
    for info in infos.values():
        count = 1
        for dim in info.shape:
            count *= dim
        if _is_parameter(info.dtype):
            parameters += count
            parameter_tensors += 1
        else:
            buffers += count
            buffer_names.append(info.name)
        entry = dtypes.setdefault(_DTYPE_NAMES.get(info.dtype, info.dtype), {"tensors": 0, "values": 0, "bytes": 0})
        entry["tensors"] += 1
        entry["values"] += count
        entry["bytes"] += info.nbytes
    weights = {
        "files": [path.relative_to(folder).as_posix() for path in weight_files],
        "parameters": parameters,
        "parameter_tensors": parameter_tensors,
        "buffers": {"values": buffers, "tensors": sorted(buffer_names)},
        "dtypes": dict(sorted(dtypes.items())),
    }
    if tensors:
        weights["tensors"] = [{"name": name, "shape": list(info.shape), "dtype": _DTYPE_NAMES.get(info.dtype, info.dtype)}
                              for name, info in sorted(infos.items())]
    return weights


def _print_inspection(summary: dict) -> None:
    from .core.convert import format_size

    print(f"Checkpoint {summary['path']}")
    config = summary["config"]
    print("\nConfig" + ("" if config is not None else "  (no config.json)"))
    if config is not None:
        rows = [("model_type", config.get("model_type", "?")),
                ("architectures", ", ".join(config.get("architectures") or []) or "-")]
        rows += [(key, config[key]) for key in _INSPECT_CONFIG_KEYS if key in config]
        print("\n".join(_table(rows)))
    weights = summary["weights"]
    if weights is None:
        reason = f"unreadable: {summary['error']}" if summary["error"] else (summary["weights_note"] or "none")
        print(f"\nWeights  {reason}")
    else:
        print(f"\nWeights  {', '.join(weights['files'])}")
        buffers = weights["buffers"]
        rows = [("parameters", f"{weights['parameters']:,} ({_short_count(weights['parameters'])}) "
                               f"in {_plural(weights['parameter_tensors'], 'floating-point tensor')}")]
        if buffers["tensors"]:
            rows.append(("buffers", f"{buffers['values']:,} values in {_plural(len(buffers['tensors']), 'integer tensor')} "
                                    f"({', '.join(buffers['tensors'])}): not parameters"))
        print("\n".join(_table(rows)))
        rows = [("dtype", "tensors", "values", "size")]
        rows += [(name, entry["tensors"], f"{entry['values']:,}", format_size(entry["bytes"]))
                 for name, entry in weights["dtypes"].items()]
        print("\n".join(_table(rows, right=(1, 2, 3))))
        if "tensors" in weights:
            rows = [(entry["name"], str(entry["shape"]), entry["dtype"]) for entry in weights["tensors"]]
            print("\nTensors")
            print("\n".join(_table(rows)))
    print("\nFiles")
    print("\n".join(_table([(entry["name"], format_size(entry["bytes"])) for entry in summary["files"]], right=(1,))))


def _short_count(n: int) -> str:
    """22713216 -> 22.7M."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}"
    return str(n)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def cmd_inspect(args: argparse.Namespace) -> int:
    from .core.hub import resolve_folder

    summary = inspect_checkpoint(resolve_folder(args.path), tensors=args.tensors)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_inspection(summary)
    if summary["error"]:
        print(f"polyformer inspect: error: {summary['error']}", file=sys.stderr)
        return 2
    return 0


# ---- convert -------------------------------------------------------------------
def cmd_convert(args: argparse.Namespace) -> int:
    from .core.convert import convert_checkpoint, format_size, print_progress, print_shard
    from .core.hub import resolve_folder

    source = resolve_folder(args.source)
    framework = None
    if args.framework and args.weights_only:
        raise ValueError("--framework loads the result, which needs its config.json: --weights-only does not copy it")
    if args.framework:  # checked before the work, so a typo costs nothing
        from .core.auto import choose_framework

        framework = choose_framework(args.framework)
    # A redrawn bar for a terminal; one line per weight file for logs and pipes.
    interactive = sys.stderr.isatty()
    result = convert_checkpoint(
        source, args.destination, dtype=args.dtype, max_shard_size=args.max_shard_size, weights_only=args.weights_only,
        progress=print_progress if interactive and not args.quiet else None,
        on_shard=print_shard if not interactive and not args.quiet else None,
    )
    count = len(result.shards)
    written = f"{count} weight shards and their index" if result.index else "1 weight file"
    copied = "no other files (--weights-only)" if args.weights_only else _plural(len(result.copied), "other file")
    print(f"wrote {written} ({_plural(result.tensors, 'tensor')}, {format_size(result.weight_bytes)}) "
          f"and copied {copied} to {result.folder}")
    rows = []
    for number, path in enumerate(result.shards, start=1):
        rows.append((path.name, format_size(path.stat().st_size), f"weights, shard {number} of {count}" if result.index else "weights"))
    if result.index:
        rows.append((result.index.name, format_size(result.index.stat().st_size), "index of the shards"))
    for path in result.copied:
        name = path.relative_to(result.folder).as_posix()
        note = f"copied, dtype set to {result.config_dtype}" if result.config_dtype and name == "config.json" else "copied"
        rows.append((name, format_size(path.stat().st_size), note))
    print("\n".join(_table(rows, right=(1,))))
    if framework:
        from .core.auto import AutoModel

        _prepare_framework(framework)
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
_DEMO_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _train_demo_vocab(folder: Path) -> Path:
    """Train a tiny WordPiece vocabulary on the demo text: the guide's "your own tokenizer".

    The same every run. The trainer numbers the word-continuing pieces ("##e") in the order
    of a Rust hash map, which changes from process to process, and breaks ties between
    merges of equal count by those numbers: so the merges, and the size of the vocabulary
    (229 or 230 tokens), changed from run to run. Naming those pieces up front, sorted, as
    tokens the vocabulary starts with fixes their numbers, and so the whole training.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    continuing = set()
    for text in _DEMO_CORPUS:
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
            continuing.update("##" + char for char in word[1:])
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=_DEMO_SPECIAL_TOKENS + sorted(continuing),
                                        show_progress=False)
    tokenizer.train_from_iterator(_DEMO_CORPUS, trainer=trainer)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    path = folder / "my_vocab_file.txt"
    path.write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    return path


@contextlib.contextmanager
def _torch_cache_in(folder: Path):
    """Point PyTorch's compile cache into ``folder`` (unless the user chose one) while the block runs.

    Building a model on the meta device imports ``torch._dynamo``, which creates its cache
    folder (``torchinductor_<user>``) in the temp dir; a demo that promises to leave nothing
    there keeps it inside its own temporary folder instead. Read when ``torch._dynamo`` is
    first imported, so it must be set before the first model is built.
    """
    name = "TORCHINDUCTOR_CACHE_DIR"
    if name in os.environ:
        yield
        return
    os.environ[name] = str(folder)
    try:
        yield
    finally:
        os.environ.pop(name, None)


def cmd_demo(args: argparse.Namespace) -> int:
    from .core.auto import choose_framework
    from .core.seeding import set_seed

    framework = choose_framework(args.framework)
    _prepare_framework(framework)
    set_seed(args.seed, frameworks=[framework])  # same weights, so the same numbers, every run
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        _demo(out, framework, args)
        print(f"\nDone. Inspect the checkpoints with: polyformer inspect {out} (and {out / 'vision'}, {out / 'speech'})")
        return 0
    with tempfile.TemporaryDirectory(prefix="polyformer-demo-") as folder, _torch_cache_in(Path(folder) / ".torch-cache"):
        _demo(Path(folder), framework, args)
    print("\nDone. The files were written to a temporary folder, now deleted: "
          "pass --output DIR to keep them and inspect them with polyformer inspect DIR.")
    return 0


def _demo(out: Path, framework: str, args: argparse.Namespace) -> None:
    import numpy as np

    from . import AutoModel, AutoTokenizer, DistilBertConfig, DistilBertTokenizerFast

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


# ---- download --------------------------------------------------------------------
#: What ``polyformer download`` fetches when polyformer.core.hub has no download function of its
#: own: the files a polyformer folder is made of (configs, safetensors weights and index,
#: tokenizer and preprocessor files, sentence-transformers' module folders), not other formats' weights.
_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "README.md"]


def _download(repo_id: str, **options) -> Path:
    """The hub layer's download (the files ``from_pretrained`` would fetch), else ``snapshot_download``."""
    from .core import hub

    if hasattr(hub, "download"):
        return Path(hub.download(repo_id, **options))
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ImportError("polyformer download needs huggingface_hub: pip install huggingface_hub") from None
    return Path(snapshot_download(repo_id, allow_patterns=_DOWNLOAD_PATTERNS, library_name="polyformer", **options))


def cmd_download(args: argparse.Namespace) -> int:
    try:
        folder = _download(args.repo_id, revision=args.revision, cache_dir=args.cache_dir, token=args.token,
                           local_files_only=args.local_files_only, force_download=args.force_download)
    except (ValueError, TypeError, ImportError):
        raise  # a bad argument or a missing package: the message says it already
    except Exception as exc:  # network, cache and HTTP errors: one line naming the repo
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
        raise OSError(f"could not download {args.repo_id}: {type(exc).__name__}: {detail}") from exc
    print(folder)  # the path alone on stdout, for scripts: cd "$(polyformer download org/name)"
    return 0


# ---- env -------------------------------------------------------------------------
#: Distributions whose versions a bug report needs, besides the frameworks.
_ENV_PACKAGES = ("numpy", "tokenizers", "safetensors", "huggingface_hub", "Pillow", "pluggy", "ml_dtypes")


def _version(name: str) -> str:
    """The installed version of a distribution or of the module it provides (``tensorflow`` from ``tensorflow-cpu``)."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for distribution in [name, *packages_distributions().get(name, [])]:
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "not installed"


def _devices(framework: str) -> str:
    """The devices a framework sees (importing it, quietly), or why it could not say."""
    try:
        if framework == "torch":
            _import_quietly("torch")
            import torch

            devices = ["cpu"]
            if torch.cuda.is_available():
                devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
            if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                devices.append("mps")
            return ", ".join(devices)
        if framework == "keras":  # Keras runs on the backend KERAS_BACKEND chose: its devices are that framework's
            _import_quietly("keras")
            import keras

            backend = keras.backend.backend()
            if backend == "tensorflow":
                import tensorflow as tf

                devices = ", ".join(d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices())
            else:
                devices = _devices({"jax": "flax"}.get(backend, backend))
            return f"{devices} (on {backend})"
        if framework == "flax":
            _import_quietly("jax")
            import jax

            return ", ".join(str(device) for device in jax.devices())
    except Exception as exc:  # a broken install is what a bug report needs to show
        return f"could not list ({type(exc).__name__}: {exc})"
    return "-"


def cmd_env(args: argparse.Namespace) -> int:
    import platform

    from . import __version__
    from .core.plugins import get_registry

    registry = get_registry()
    rows = [("polyformer", f"{__version__} ({Path(__file__).resolve().parent})"),
            ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
            ("platform", platform.platform())]
    rows += [(name, _version(name)) for name in _ENV_PACKAGES]
    modules = {"torch": ("torch",), "keras": ("keras", "tensorflow"), "flax": ("flax", "jax", "jaxlib")}
    for backend in registry.frameworks_by_priority():
        first, *others = modules.get(backend.name, backend.requires)
        versions = _version(first) + (f" ({', '.join(f'{m} {_version(m)}' for m in others)})" if others else "")
        rows.append((backend.name, f"{versions}" if backend.name == first else f"{first} {versions}"))
        if backend.is_available():
            rows.append(("", f"devices: {_devices(backend.name)}"))
    for number, info in enumerate(sorted(registry.plugins.values(), key=lambda info: info.name)):
        where = f"{info.distribution} {info.version}" if info.distribution else "in-process"
        problem = f" ({info.errors[0]})" if info.errors else ""
        rows.append(("plugins" if number == 0 else "", f"{info.name}: {where}, {info.status}{problem}"))
    settings = [f"{name}={value}" for name, value in sorted(os.environ.items())
                if name.startswith("POLYFORMER_") or name in ("KERAS_BACKEND", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HOME")]
    rows.append(("environment", ", ".join(settings) or "-"))
    print("polyformer environment (paste it into bug reports)")
    print("\n".join(_table(rows)))
    return 0


# ---- wiring --------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="polyformer", description="Transformer architectures in PyTorch, Keras and Flax.")
    parser.add_argument("--version", action="version", version=f"polyformer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="walk the custom-architecture guide end to end")
    demo.add_argument("--framework", help="torch, keras or flax (default: $POLYFORMER_FRAMEWORK or the first installed)")
    demo.add_argument("--output", help="folder to keep the config, vocabulary and checkpoints in (default: a temporary folder, deleted at the end)")
    demo.add_argument("--dim", type=int, default=768, help="hidden size (default 768, as in the guide)")
    demo.add_argument("--layers", type=int, default=6, help="number of layers (default 6)")
    demo.add_argument("--heads", type=int, default=12, help="attention heads (default 12)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the random weights (default 0: the same every run)")
    demo.set_defaults(func=cmd_demo)

    inspect = sub.add_parser("inspect", help="summarise a checkpoint folder")
    inspect.add_argument("path", help="a checkpoint folder or cached hub id")
    inspect.add_argument("--tensors", action="store_true", help="list every tensor")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(func=cmd_inspect)

    convert = sub.add_parser("convert", help="re-shard or re-type a checkpoint, streaming tensor by tensor")
    convert.add_argument("source", help="checkpoint folder (or cached hub id)")
    convert.add_argument("destination", help="folder to write")
    convert.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="cast floating-point tensors")
    convert.add_argument("--max-shard-size", default="5GB", help="largest weight file, e.g. 500MB (default 5GB)")
    convert.add_argument("--framework", help="after converting, load the result in this framework to check it")
    convert.add_argument("--weights-only", action="store_true",
                         help="write the weights only (by default the folder's other files are copied too)")
    convert.add_argument("--quiet", action="store_true", help="no progress output")
    convert.set_defaults(func=cmd_convert)

    download = sub.add_parser("download", help="download a model from the Hugging Face Hub into the cache")
    download.add_argument("repo_id", help="hub id, e.g. sentence-transformers/all-MiniLM-L6-v2")
    download.add_argument("--revision", help="branch, tag or commit (default: main)")
    download.add_argument("--cache-dir", help="cache folder (default: the Hugging Face cache, shared with transformers)")
    download.add_argument("--token", help="access token for gated or private models (default: $HF_TOKEN or hf auth login)")
    download.add_argument("--local-files-only", action="store_true", help="use the cache only, never the network")
    download.add_argument("--force-download", action="store_true", help="download again even if cached")
    download.set_defaults(func=cmd_download)

    env = sub.add_parser("env", help="versions, devices and plugins, for bug reports")
    env.set_defaults(func=cmd_env)

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
    _silence_framework_logs()
    try:
        return args.func(args)
    except (OSError, ValueError, ImportError, TypeError) as exc:  # OSError: missing or unreadable files
        print(f"polyformer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
