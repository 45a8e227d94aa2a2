"""`python3 -m emlearn_lab demo`: the same as the `emlearn-lab` command."""
import sys

from .cli import main

sys.exit(main())
