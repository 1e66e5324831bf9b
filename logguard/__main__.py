"""``python -m logguard`` is the ``logguard`` command."""

import sys

from logguard.cli import main

sys.exit(main())
