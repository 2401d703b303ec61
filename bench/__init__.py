"""polyformer's benchmarks: ``python -m bench`` (or ``polyformer bench``) runs them all.

Each topic is a module ``bench_<topic>.py`` with ``run(args) -> dict`` (see :mod:`bench.runner`
for the contract, :mod:`bench.common` for the rows a topic returns and the timing helpers,
:mod:`bench.models` for the models and checkpoints every topic measures). The runner prints
one table of ratios with their spread, writes ``results.json`` and ``table.md``, and draws the
figures (:mod:`bench.plots`, with matplotlib). docs/performance.md explains the numbers.

Importing this package imports no framework.
"""

#: Marks this package as polyformer's bench, for ``polyformer bench`` (another package may be called ``bench``).
POLYFORMER_BENCH = True


def main(argv=None, prog="python -m bench") -> int:
    from .runner import main as run_main

    return run_main(argv, prog=prog)
