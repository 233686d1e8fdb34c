"""What one reconstruction returns, and the small conversions around it (device, network
image, colours)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import trimesh

from pifuhd.errors import InputError
from pifuhd.geometry.marching import is_watertight
from pifuhd.inference_settings import NATIVE_SETTINGS, InferenceSettings
from pifuhd.io.crops import CropRect

Frame = Literal["cube", "pixel"]
StageCallback = Callable[[str, int, int], None]
"""Progress callback: (stage name, units done so far, units scheduled so far); the grid
schedules its levels one after another, so the second number may grow."""


@dataclass
class Reconstruction:
    """The result of one photo."""

    mesh: trimesh.Trimesh
    """Closed triangle mesh with vertex normals, in ``frame`` coordinates; with a colour net
    also per-vertex colours (``mesh.visual.vertex_colors``, uint8 sRGB albedo + alpha 255)."""
    normals: list[np.ndarray]
    """Predicted [front, back] normal maps at the coarse size, (H, W, 3) float32 in [-1, 1]."""
    crop: CropRect
    """The square crop of the input image, in pixels."""
    crop_method: str
    """How the crop was chosen (rect, keypoints-fullbody, mask, alpha, foreground, ...)."""
    frame: Frame
    resolution: int
    points_evaluated: int
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage."""
    mask_method: str | None = None
    """Where the person mask came from (None: no mask; see ``pifuhd.io.people``)."""
    fragments_dropped: int = 0
    """Floating pieces removed (``pifuhd.geometry.fragments``)."""
    settings: InferenceSettings = NATIVE_SETTINGS
    """The pipeline settings used (``pifuhd.inference_settings``)."""
    people_found: int = 1
    """People found in the photo (one reconstruction each with ``all_people``)."""
    warnings: list[str] = field(default_factory=list)
    """Notes for the user (several people, no body fit, the body fit's own warnings)."""
    body: tuple[np.ndarray, np.ndarray] | None = None
    """The body fitted to the photo ((V, 3) cube vertices, (F, 3) faces) when its depth bounded
    the carving (``pifuhd.guards``), else None."""
    body_fit: Any = None
    """The fitted body itself (``pifuhd.body.observations.BodyFit``: shape, pose, cube
    placement) whenever a body was fitted, else None."""
    occupancy: Any = None
    """With ``Reconstructor.fit_body``: the photo's occupancy field, points (N, 3) float32 in
    the cube -> (N,) float32 in [0, 1] (carved as the mesh was), else None."""
    color_evidence: Any = None
    """With texture: what colours any cube-frame surface of this photo
    (``pifuhd.surface_colors.PhotoEvidence``; e.g. a true mesh, to score colour apart from
    shape), else None."""

    def info(self) -> dict[str, Any]:
        """JSON-serialisable summary (crop, resolution, timings, mesh size)."""
        return {
            "crop": {"x": self.crop.x, "y": self.crop.y, "w": self.crop.w, "h": self.crop.h},
            "crop_method": self.crop_method,
            "mask_method": self.mask_method,
            "fragments_dropped": self.fragments_dropped,
            "people_found": self.people_found,
            "settings": self.settings.to_dict(),
            "warnings": list(self.warnings),
            "body_fit": self.body is not None,
            "frame": self.frame,
            "resolution": self.resolution,
            "points_evaluated": self.points_evaluated,
            "vertices": len(self.mesh.vertices),
            "faces": len(self.mesh.faces),
            "watertight": is_watertight(self.mesh.faces, len(self.mesh.vertices)),
            "vertex_colors": self.mesh.visual.kind == "vertex",
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def pick_device(name: str = "auto") -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available here; use --device cpu")
    return torch.device(name)


def to_network_image(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(S, S, 3) float32 in [0, 1] -> (1, 3, S, S) in [-1, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    return (tensor.unsqueeze(0).to(device) - 0.5) / 0.5


def srgb_to_uint8(colors: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> uint8, round(c * 255) after clipping."""
    return np.rint(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)
