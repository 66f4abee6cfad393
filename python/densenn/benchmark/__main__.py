"""`python -m densenn.benchmark`: the benchmark's command line, and the child processes it starts (--child)."""
import sys

from . import main

sys.exit(main())
