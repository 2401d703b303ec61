"""The documentation site builds without a warning, and the public entry points document every argument.

The site (``mkdocs.yml``) is the pages of ``docs/`` plus an API reference that mkdocstrings
makes from the docstrings (``docs/reference/``). ``--strict`` turns every warning into a
failure: a page left out of the nav, a broken link, a docstring whose ``Args:`` names a
parameter the function does not have.

The docstring check is the other direction: each parameter of the public callables
(``inspect.signature``) must be named in their ``Args:`` section, so adding an argument
without documenting it fails here.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# ---- the site -----------------------------------------------------------------------------

# Page of the built site -> anchors it must hold (mkdocstrings names an object's anchor by its path).
REFERENCE_ANCHORS = {
    "reference/auto/index.html": [
        "polyformer.core.auto.AutoConfig.from_pretrained",
        "polyformer.core.auto.AutoTokenizer.from_pretrained",
        "polyformer.core.auto.AutoImageProcessor.from_pretrained",
        "polyformer.core.auto.AutoFeatureExtractor.from_pretrained",
        "polyformer.core.auto.AutoProcessor.from_pretrained",
        "polyformer.core.auto._AutoModel.from_pretrained",
        "polyformer.core.auto._AutoModel.from_config",
    ],
    "reference/configuration/index.html": [
        "polyformer.core.configuration.PretrainedConfig.from_pretrained",
        "polyformer.core.configuration.PretrainedConfig.save_pretrained",
    ],
    "reference/modeling/index.html": [
        "polyformer.core.modeling.PreTrainedModelMixin.from_pretrained",
        "polyformer.core.modeling.PreTrainedModelMixin.save_pretrained",
    ],
    "reference/torch/index.html": ["polyformer.backends.torch.modeling.PreTrainedModel",
                                   "polyformer.backends.torch.heads.HeadModel.forward"],
    "reference/keras/index.html": ["polyformer.backends.keras.modeling.TFPreTrainedModel",
                                   "polyformer.backends.keras.heads.HeadModel.call"],
    "reference/flax/index.html": ["polyformer.backends.flax.modeling.FlaxPreTrainedModel.__call__",
                                  "polyformer.backends.flax.heads.HeadModule.__call__"],
    "reference/models/index.html": ["polyformer.models.distilbert.modeling_torch.DistilBertModel.forward",
                                    "polyformer.models.vit.modeling_keras.TFViTModel.call",
                                    "polyformer.models.distilbert.modeling_flax.FlaxDistilBertModule.__call__",
                                    "polyformer.models.wav2vec2.modeling_torch.Wav2Vec2Model.forward"],
    "reference/pipelines/index.html": [
        "polyformer.pipelines.pipeline",
        "polyformer.pipelines.base.Pipeline",
        "polyformer.pipelines.feature_extraction.FeatureExtractionPipeline",
        "polyformer.pipelines.fill_mask.FillMaskPipeline",
        "polyformer.pipelines.text_classification.TextClassificationPipeline",
        "polyformer.pipelines.token_classification.TokenClassificationPipeline",
        "polyformer.pipelines.question_answering.QuestionAnsweringPipeline",
        "polyformer.pipelines.zero_shot_classification.ZeroShotClassificationPipeline",
        "polyformer.pipelines.image_classification.ImageClassificationPipeline",
        "polyformer.pipelines.audio_classification.AudioClassificationPipeline",
        "polyformer.pipelines.automatic_speech_recognition.AutomaticSpeechRecognitionPipeline",
    ],
    "reference/tokenization/index.html": ["polyformer.core.tokenization.PreTrainedTokenizerBase.from_pretrained",
                                          "polyformer.core.tokenization.PreTrainedTokenizerFast"],
    "reference/feature_extraction/index.html": ["polyformer.core.feature_extraction.SequenceFeatureExtractor"],
    "reference/image_processing/index.html": ["polyformer.core.image_processing.BaseImageProcessor"],
    "reference/processing/index.html": ["polyformer.core.processing.ProcessorMixin"],
    "reference/convert/index.html": ["polyformer.core.convert.convert_checkpoint"],
    "reference/plugins/index.html": ["polyformer.core.hookspecs", "polyformer.core.registry.Architecture",
                                     "polyformer.core.registry.Backend", "polyformer.core.registry.Task"],
    "reference/testing/index.html": ["polyformer.testing.conformance.ArchitectureConformance",
                                     "polyformer.testing.compare.assert_outputs_close"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once with ``mkdocs build --strict``: (output folder, the build's log)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return out, result.stderr


def test_site_builds_without_warnings(site):
    out, log = site
    assert "WARNING" not in log, log
    # Every docs/*.md page is in the site (the strict build also fails on a page left out of the nav).
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert (out / page.stem / "index.html").is_file(), f"docs/{page.name} is not in the site"


def test_home_page_is_the_readme(site):
    out, _ = site
    first_section = re.search(r"^## (.+)$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M).group(1)
    assert first_section in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", sorted(REFERENCE_ANCHORS))
def test_reference_page_documents(site, page):
    out, _ = site
    html = (out / page).read_text(encoding="utf-8")
    missing = [anchor for anchor in REFERENCE_ANCHORS[page] if f'id="{anchor}"' not in html]
    assert not missing, f"{page} lacks {missing}"


# ---- docstrings name every parameter ------------------------------------------------------

_ENTRY = re.compile(r"(\*{0,2}\w+)\s*(\([^)]*\))?\s*:")


def documented_parameters(doc: str | None) -> list[str]:
    """The names a Google-style ``Args:`` section lists (``*args`` and ``**kwargs`` keep their stars)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    for start, line in enumerate(lines):
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            break
    else:
        return []
    section_indent = len(lines[start]) - len(lines[start].lstrip())
    names, entry_indent = [], None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section_indent:
            break  # the next section
        entry_indent = indent if entry_indent is None else entry_indent
        if indent == entry_indent:
            match = _ENTRY.match(line.strip())
            if match:
                names.append(match.group(1))
    return names


def signature_parameters(function) -> list[str]:
    """The parameters a caller gives, spelled as a docstring lists them (``self`` / ``cls`` left out)."""
    names = []
    for index, parameter in enumerate(inspect.signature(function).parameters.values()):
        if index == 0 and parameter.name in ("self", "cls"):
            continue
        prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
        names.append(prefix + parameter.name)
    return names


def undocumented(function) -> str | None:
    """What is wrong with ``function``'s ``Args:`` against its signature, or None."""
    documented, actual = documented_parameters(function.__doc__), signature_parameters(function)
    problems = []
    if missing := [name for name in actual if name not in documented]:
        problems.append(f"parameters not in its Args: {', '.join(missing)}")
    if stale := [name for name in documented if name not in actual]:
        problems.append(f"Args lists names it does not take: {', '.join(stale)}")
    return "; ".join(problems) or None


def test_the_check_finds_an_undocumented_argument():
    def documented(a, *rest, b=1, **options):
        """Do it.

        Args:
            a: the first.
            *rest: more.
            b (int): the second, over
                two lines.
            **options: the others.

        Returns:
            nothing: names in other sections are not parameters.
        """

    def one_missing(a, b):
        """Do it.

        Args:
            a: the first.
        """

    def stale(a):
        """Do it.

        Args:
            a: the first.
            c: gone.
        """

    assert undocumented(documented) is None
    assert undocumented(one_missing) == "parameters not in its Args: b"
    assert undocumented(stale) == "Args lists names it does not take: c"
    assert undocumented(lambda x: x) == "parameters not in its Args: x"


def _public_entry_points():
    import polyformer
    from polyformer.core.convert import convert_checkpoint
    from polyformer.core.feature_extraction import FeatureExtractionMixin
    from polyformer.core.image_processing import ImageProcessingMixin
    from polyformer.core.modeling import PreTrainedModelMixin
    from polyformer.core.processing import ProcessorMixin
    from polyformer.core.registry import import_object
    from polyformer.pipelines import PIPELINE_TASKS
    from polyformer.core.tokenization import PreTrainedTokenizerBase

    pipeline_classes = [import_object(task.pipeline_class) for task in PIPELINE_TASKS.values()]
    auto = [getattr(polyformer, name) for name in ("AutoConfig", "AutoTokenizer", "AutoImageProcessor",
                                                   "AutoFeatureExtractor", "AutoProcessor")]
    return {
        **{f"{cls.__name__}.from_pretrained": cls.from_pretrained for cls in auto},
        "AutoConfig.for_model": polyformer.AutoConfig.for_model,
        # AutoModelFor<Task> are all made from one class: AutoModel's methods are theirs.
        "AutoModel.from_pretrained": polyformer.AutoModel.from_pretrained,
        "AutoModel.from_config": polyformer.AutoModel.from_config,
        "AutoModel.for_architecture": polyformer.AutoModel.for_architecture,
        "AutoModelForSequenceClassification.from_pretrained":
            polyformer.AutoModelForSequenceClassification.from_pretrained,
        "pipeline": polyformer.pipeline,
        # Each task's pipeline: the shared __call__, or the task's own.
        **{f"{cls.__name__}.__call__": cls.__call__ for cls in pipeline_classes},
        "convert_checkpoint": convert_checkpoint,
        "PretrainedConfig.from_pretrained": polyformer.PretrainedConfig.from_pretrained,
        "PretrainedConfig.save_pretrained": polyformer.PretrainedConfig.save_pretrained,
        "PreTrainedModelMixin.from_pretrained": PreTrainedModelMixin.from_pretrained,
        "PreTrainedModelMixin.save_pretrained": PreTrainedModelMixin.save_pretrained,
        # What the Auto classes hand over to.
        "PreTrainedTokenizerBase.from_pretrained": PreTrainedTokenizerBase.from_pretrained,
        "FeatureExtractionMixin.from_pretrained": FeatureExtractionMixin.from_pretrained,
        "ImageProcessingMixin.from_pretrained": ImageProcessingMixin.from_pretrained,
        "ProcessorMixin.from_pretrained": ProcessorMixin.from_pretrained,
    }


def test_public_entry_points_document_every_argument():
    problems = {name: undocumented(function) for name, function in _public_entry_points().items()}
    assert not {name: problem for name, problem in problems.items() if problem}


# What runs a model in each framework, and the module to import to know the framework is installed.
RUN_METHODS = {"torch": ("torch", "forward"), "keras": ("tensorflow", "call"), "flax": ("flax", "__call__")}


@pytest.mark.parametrize("framework", sorted(RUN_METHODS))
def test_every_model_documents_its_inputs(framework):
    """Each registered model's forward (torch) / call (keras) / __call__ (flax, and its linen module's),
    and its save_pretrained: where heads share the method, it is documented once, on the shared class."""
    requirement, method = RUN_METHODS[framework]
    pytest.importorskip(requirement)
    from polyformer.core.plugins import get_registry
    from polyformer.core.registry import import_object

    registry = get_registry()
    checked, problems = set(), {}
    for arch in registry.architectures.values():
        for path in arch.models.get(framework, {}).values():
            cls = import_object(path)
            functions = [getattr(cls, method), cls.save_pretrained]
            if framework == "flax":
                functions.append(cls.module_class.__call__)  # what module.apply runs
            for function in functions:
                if function in checked:
                    continue
                checked.add(function)
                if problem := undocumented(function):
                    problems[function.__qualname__] = problem
    assert checked, f"no {framework} model is registered"
    assert not problems, problems

