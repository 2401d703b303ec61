"""polyformer.logging: the library's verbosity, set by function or by $POLYFORMER_VERBOSITY."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

import polyformer
from polyformer import logging as pf_logging


@pytest.fixture
def restore_verbosity():
    logger = logging.getLogger("polyformer")
    level = logger.level
    yield
    logger.setLevel(level)


def run_python(code, env=None):
    environment = {key: value for key, value in os.environ.items() if key != pf_logging.VERBOSITY_ENV}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**environment, **(env or {})})


def test_set_verbosity_functions(restore_verbosity):
    for function, level in ((pf_logging.set_verbosity_debug, logging.DEBUG), (pf_logging.set_verbosity_info, logging.INFO),
                            (pf_logging.set_verbosity_error, logging.ERROR), (pf_logging.set_verbosity_warning, logging.WARNING)):
        function()
        assert pf_logging.get_verbosity() == level
        assert logging.getLogger("polyformer.core.modeling").getEffectiveLevel() == level  # modules' loggers follow
    pf_logging.set_verbosity("ERROR")
    assert pf_logging.get_verbosity() == pf_logging.ERROR
    pf_logging.set_verbosity(pf_logging.INFO)
    assert pf_logging.get_verbosity() == logging.INFO
    assert polyformer.logging is pf_logging  # reachable as polyformer.logging without an import of its own


@pytest.mark.parametrize("bad", ["loud", -1, True, None, 2.5])
def test_set_verbosity_rejects_what_is_not_a_level(bad, restore_verbosity):
    with pytest.raises(ValueError) as error:
        pf_logging.set_verbosity(bad)
    assert str(error.value) == (
        "set_verbosity(verbosity): expected a logging level (polyformer.logging.INFO...) or one of 'debug', 'info', "
        f"'warning', 'error', 'critical', got {bad!r}")


def test_get_logger_gives_children_of_the_library_logger():
    assert pf_logging.get_logger() is logging.getLogger("polyformer")
    assert pf_logging.get_logger("polyformer.core.hub") is logging.getLogger("polyformer.core.hub")
    assert pf_logging.get_logger("my_plugin") is logging.getLogger("polyformer.my_plugin")
    with pytest.raises(TypeError, match="expects a logger name such as 'polyformer.core.modeling', got ''"):
        pf_logging.get_logger("")


def test_verbosity_filters_the_library_messages(restore_verbosity, caplog):
    logger = pf_logging.get_logger("polyformer.core.modeling")
    with caplog.at_level(logging.DEBUG):  # the root logger lets everything through: only our level filters
        pf_logging.set_verbosity_info()
        logger.info("loading weights")
        logger.debug("a detail")
        pf_logging.set_verbosity_error()
        logger.warning("unused weights")
        logger.error("a broken file")
    assert [record.getMessage() for record in caplog.records if record.name.startswith("polyformer")] == [
        "loading weights", "a broken file"]


# A real library message: loading a classifier checkpoint as a base model leaves weights unused.
UNUSED_WEIGHTS = """
    import sys, tempfile
    import polyformer
    {setup}
    config = polyformer.DistilBertConfig(dim=16, n_heads=2, n_layers=1, hidden_dim=16, vocab_size=20, num_labels=2)
    folder = tempfile.mkdtemp()
    polyformer.DistilBertForSequenceClassification(config).save_pretrained(folder)
    polyformer.DistilBertModel.from_pretrained(folder)
    import shutil; shutil.rmtree(folder)
"""


def test_library_warnings_go_to_stderr_once_by_default_and_error_silences_them():
    shown = run_python(UNUSED_WEIGHTS.format(setup=""))
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stderr.splitlines() if "does not use" in line]
    assert len(lines) == 1 and lines[0].startswith("DistilBertModel: checkpoint ")
    silenced = run_python(UNUSED_WEIGHTS.format(setup="polyformer.logging.set_verbosity_error()"))
    assert silenced.returncode == 0 and "does not use" not in silenced.stderr
    by_env = run_python(UNUSED_WEIGHTS.format(setup=""), env={"POLYFORMER_VERBOSITY": "error"})
    assert by_env.returncode == 0 and "does not use" not in by_env.stderr


def test_an_application_that_configured_logging_gets_each_message_once_in_its_format():
    setup = "import logging; logging.basicConfig(format='APP %(name)s %(levelname)s %(message)s')"
    result = run_python(UNUSED_WEIGHTS.format(setup=setup))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "does not use" in line]
    assert len(lines) == 1 and lines[0].startswith("APP polyformer WARNING DistilBertModel: checkpoint ")


def test_environment_variable_sets_the_verbosity_at_import():
    code = "import polyformer; print(polyformer.logging.get_verbosity())"
    for value, level in (("info", logging.INFO), ("DEBUG", logging.DEBUG), (" error ", logging.ERROR), ("", logging.WARNING)):
        result = run_python(code, env={"POLYFORMER_VERBOSITY": value})
        assert result.returncode == 0 and result.stdout.strip() == str(level), (value, result.stderr)
    result = run_python(code, env={"POLYFORMER_VERBOSITY": "chatty"})
    assert result.returncode == 0 and result.stdout.strip() == str(logging.WARNING)
    assert result.stderr == ("$POLYFORMER_VERBOSITY='chatty' is not a verbosity; expected one of debug, info, warning, "
                             "error, critical. Using 'warning'.\n")
