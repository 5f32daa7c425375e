"""The ``dgm`` command."""
import sys

from .entry import main

sys.exit(main())
