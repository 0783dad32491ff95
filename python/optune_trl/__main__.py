"""``python -m optune_trl`` is ``python -m optune_trl.train``."""

import sys

from .train import main

sys.exit(main())
