"""The hooks a polyformer plugin can implement.

A plugin is a module (usually ``yourpackage/plugin.py``) named in the
``polyformer`` entry-point group of its distribution::

    [project.entry-points.polyformer]
    myarch = "my_package.plugin"

and it implements any of these hooks with ``@polyformer.hookimpl``. Hooks receive a
``register`` callback rather than returning values, so a plugin can register several
things and the host can tell which plugin registered what.
"""

import pluggy

PROJECT_NAME = "polyformer"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_architectures(register):
    """Register architectures: call ``register(Architecture(...))`` once per model_type."""


@hookspec
def register_backends(register):
    """Register framework backends: call ``register(Backend(...))`` once per framework."""


@hookspec
def register_tasks(register):
    """Register tasks: call ``register(Task(...))`` once per task a model can serve.

    Tasks are registered before architectures, so any architecture may serve a task
    another plugin registered.
    """
