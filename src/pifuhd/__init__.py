"""PIFuHD: multi-level pixel-aligned implicit functions for single-image 3D human digitization.

Saito, Simon, Saragih, Joo. "PIFuHD: Multi-Level Pixel-Aligned Implicit Function for
High-Resolution 3D Human Digitization", CVPR 2020.
"""

import os

# OpenMP threads that wait at a barrier sleep instead of spinning: two reconstructions on a
# shared 2-core machine each took 1.7-2.0x their time alone with libgomp's default (a waiting
# thread spins on the core its partner needs), 1.07-1.12x with PASSIVE, and one alone is as
# fast (benchmarks/shared_machine.py, BENCHMARKS.md). Read when torch first loads OpenMP, so it
# works when pifuhd is imported before torch (the command line always is); a value the user
# set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pifuhd.errors import PifuhdError

__version__ = "0.1.0"
__all__ = ["PifuhdError", "__version__"]
