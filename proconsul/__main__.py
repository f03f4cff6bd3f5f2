"""``python -m proconsul`` runs the command line."""

import sys

from proconsul.cli.main import main

sys.exit(main())
