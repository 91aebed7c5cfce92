"""`python -m echo_tui` runs the same command as `echo-tui`."""

import sys

from echo_tui.cli import main

sys.exit(main())
