"""``python -m bench``: see :mod:`bench.runner`."""

import sys

from . import main

sys.exit(main())
