"""Progress of a grid evaluation: the points evaluated out of the points scheduled so far.

A coarse-to-fine or octree evaluation does not know up front how many points it will query
(at R = 512 about a million of the 134 M grid points); it learns each level's count only when
the level before it is done. So every grid evaluator (:mod:`grid`, :mod:`torch_grid`,
:mod:`original_octree`, :mod:`torch_octree`) reports two running counts, and the total grows:

- before a level is evaluated, its point count is added to ``scheduled`` and reported (a dense
  evaluation schedules all R^3 points at once; a level with no points reports nothing);
- after each chunk of points is evaluated, ``done`` grows and is reported.

So ``scheduled`` grows once per level with points, both counts never decrease,
``done <= scheduled``, and after the last call both equal the points evaluated (which the
evaluators also return).
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]
"""Progress callback ``progress(done, scheduled)``: the points evaluated so far and the points
scheduled so far (the levels started; the total grows), as in the module docstring."""


class GridProgress:
    """The running counts behind a :data:`ProgressFn`; with ``None`` it only counts."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress
        self.done = 0
        """Points evaluated so far."""
        self.scheduled = 0
        """Points scheduled so far: the sum over the levels started."""

    def schedule(self, n: int) -> None:
        """A level of ``n`` points starts: the total grows (reported when ``n > 0``)."""
        if n > 0:
            self.scheduled += n
            self._report()

    def advance(self, n: int) -> None:
        """``n`` more points of the scheduled ones were evaluated."""
        self.done += n
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.scheduled)
