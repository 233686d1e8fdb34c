"""PIFuHD: multi-level pixel-aligned implicit functions for single-image 3D human digitization.

Saito, Simon, Saragih, Joo. "PIFuHD: Multi-Level Pixel-Aligned Implicit Function for
High-Resolution 3D Human Digitization", CVPR 2020.
"""

from pifuhd.errors import PifuhdError

__version__ = "0.1.0"
__all__ = ["PifuhdError", "__version__"]
