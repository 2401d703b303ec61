"""The built-in tasks, registered through the ``polyformer`` entry-point group like any plugin's.

See :mod:`polyformer.tasks.plugin` for the records and :mod:`polyformer.tasks.examples`
for how the conformance suite makes inputs and labels for each task.
"""
