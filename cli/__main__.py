"""``python -m qnic.cli``: the same as the ``qnic`` command."""

import sys

from qnic.cli import main

sys.exit(main())
