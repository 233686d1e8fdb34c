"""Silhouette terms of the body fit (:mod:`pifuhd.body.fit`), without a rasteriser: projected
body points against the person mask's distance transform, coverage of the mask, and the soles
and a raised hand reaching the mask's bottom and top rows.

Cube frame (``docs/conventions.md``): x right, y up; an (M, M) mask's row 0 lies at cube y = +1.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from pifuhd.body.raised import raised_top


def edge_distance(mask: np.ndarray) -> np.ndarray:
    """(M, M) float64 signed distance of each pixel centre to the (M, M) bool mask's edge, in
    pixels: positive outside, negative inside, so that sampled bilinearly it is 0 on the edge
    itself, half a pixel beyond the last pixel centre inside (a distance transform of the
    outside alone reads half a pixel there, and its gradient pulls the body half a pixel in)."""
    if mask.all():
        return np.full(mask.shape, -float(max(mask.shape)))
    return np.where(
        mask,
        0.5 - ndimage.distance_transform_edt(mask),
        ndimage.distance_transform_edt(~mask) - 0.5,
    )


def coverage_term(
    points: torch.Tensor, silhouette: dict, margin: float = 0.02, saturate: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Silhouette terms for (N, 2) projected body points (cube x, y).

    Returns (inside, coverage): the mean squared distance (in units of ``margin``) of body
    points outside the mask, read from the mask's outside distance transform; and the mean
    squared excess over ``margin`` of each mask point's distance to its nearest body point.
    ``saturate`` > 0: that excess goes through Geman-McClure with this scale (in margins), so
    that mask points no body can reach (a skirt, a coat, hair) stop pulling the body.
    """
    grid = torch.stack([points[:, 0], -points[:, 1]], 1)[None, None]
    outside = torch.nn.functional.grid_sample(
        silhouette["outside"], grid, align_corners=False, padding_mode="border"
    )[0, 0, 0]
    inside = ((torch.relu(outside) / margin) ** 2).mean()
    # which body point is nearest (a k-d tree: 7x faster than all pairs' distances); the
    # distance to it keeps its gradient
    tree = cKDTree(points.detach().numpy())
    which = torch.from_numpy(tree.query(silhouette["points"].numpy())[1])
    gap = silhouette["points"] - points[which]
    nearest = torch.sqrt((gap**2).sum(dim=1) + 1e-12)
    excess = (torch.relu(nearest - margin) / margin) ** 2
    if saturate > 0.0:
        excess = saturate**2 * excess / (excess + saturate**2)
    return inside, excess.mean()


FLOOR_BELOW = 0.02
"""How far (cube units, about 2 cm) MediaPipe's person mask reaches below the body's soles:
shoes and the mask's soft edge. Median over the 80 views of tuning people 1020-1029 (the mask
of the fit, 256 px over the crop): 2.0 cm, 10th-90th percentile 0.8-3.0 cm."""

FLOOR_LOWEST = 5
"""Body points whose mean height is the body's lowest point in :func:`floor_term`."""


def floor_level(mask: np.ndarray, known: np.ndarray | None) -> float | None:
    """Cube y the body's soles should reach: the (M, M) bool mask's lowest row (row 0 at cube
    y = +1) raised by :data:`FLOOR_BELOW`. None where that row touches the crop's bottom edge or
    the photo's (``known``: (M, M) bool, True inside the photo): the person goes on beyond."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0 or rows[-1] >= mask.shape[0] - 1:
        return None
    last = rows[-1]
    if known is not None and not known[last + 1, mask[last]].all():
        return None
    return float(1.0 - (last + 1) * 2.0 / mask.shape[0] + FLOOR_BELOW)


def floor_term(heights: torch.Tensor, floor: float, margin: float = 0.02) -> torch.Tensor:
    """Squared height (in units of ``margin``) of the body's lowest point above ``floor``
    (:func:`floor_level`), 0 at or below it. heights: (N,) cube y of projected body points; the
    lowest point is the mean of the :data:`FLOOR_LOWEST` lowest (one-sided: a body lower than
    the mask is left to the inside term, so feet hidden behind something are not pulled up)."""
    lowest = -torch.topk(-heights, min(FLOOR_LOWEST, len(heights))).values.mean()
    return (torch.relu(lowest - floor) / margin) ** 2


CEILING_ABOVE = 0.01
"""How far (cube units) the person mask reaches above a raised hand's fingertips."""

CEILING_RISE = (1.4, 0.45)
"""The mask's rise above the ears (ear-to-shoulder lengths, torso lengths) beyond which
:func:`ceiling_level` takes its top for a raised hand (``pifuhd.body.raised.raised_top``)."""


def ceiling_level(
    keypoints: np.ndarray, mask: np.ndarray, known: np.ndarray | None
) -> float | None:
    """Cube y a hand raised above the head should reach: the (M, M) bool mask's top row
    lowered by :data:`CEILING_ABOVE`, where the mask rises above the head as
    :func:`pifuhd.body.raised.raised_top` says (keypoints: (33, 2) cube x, y); None otherwise,
    or where the top row touches the crop's or the photo's top edge."""
    m = mask.shape[0]
    pixels = np.stack([(keypoints[:, 0] + 1.0) * m / 2.0, (1.0 - keypoints[:, 1]) * m / 2.0], 1)
    top = raised_top(pixels, mask, *CEILING_RISE)
    if top is None or top == 0:
        return None
    if known is not None and not known[top - 1, mask[top]].all():
        return None
    return float(1.0 - top * 2.0 / m - CEILING_ABOVE)


def ceiling_term(heights: torch.Tensor, ceiling: float, margin: float = 0.02) -> torch.Tensor:
    """Squared depth (in units of ``margin``) of the body's highest point below ``ceiling``
    (:func:`ceiling_level`), 0 at or above it; the highest point is the mean of the
    :data:`FLOOR_LOWEST` highest (one-sided, as :func:`floor_term`)."""
    highest = torch.topk(heights, min(FLOOR_LOWEST, len(heights))).values.mean()
    return (torch.relu(ceiling - highest) / margin) ** 2
