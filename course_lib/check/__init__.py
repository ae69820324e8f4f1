"""One checker per graded exercise, so that a notebook's check cell reads

    from course_lib import check
    check.softmax(softmax)

A passing check prints one line; a failing one raises `CheckFailed` whose message names the likely
mistake. Checkers are grouped by notebook in the modules of this package.
"""

from .framework import CheckFailed
from .orientation import softmax

__all__ = ["CheckFailed", "softmax"]
