"""``python -m vtrial.cli``: the ``vtrial`` command."""

import sys

from vtrial.cli import main

sys.exit(main())
