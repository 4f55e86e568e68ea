"""``python -m readiness.cli``."""

import sys

from readiness.cli import main

sys.exit(main())
