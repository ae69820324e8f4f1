"""`python -m course_lib COMMAND`: the command line of `course_lib.machinery.cli`."""

import sys

from .machinery.cli import main

if __name__ == "__main__":
    sys.exit(main())
