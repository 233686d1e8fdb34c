"""How a checkpoint's photos are turned into network inputs and its field into a mesh.

These are the pipeline's guards against walls and blobs (issue 18), recorded per checkpoint in
the ``"inference"`` object of a native checkpoint's ``config.json``; an official ``pifuhd.pt``
has no config, so it gets :data:`OFFICIAL_SETTINGS`; a native folder without the object gets
:data:`NATIVE_SETTINGS`. Every field can be overridden per run (``pifuhd reconstruct --help``).

- ``background``: ``"keep"`` feeds the photo as it is (the official model was trained on random
  photo backgrounds); ``"fill"`` replaces every pixel outside the person mask by ``fill`` (what
  this project's models were trained on: synthetic renders over procedural backgrounds, whose
  plainest case is a flat colour). Pixels of the crop square beyond the photo are never black:
  ``fill`` with ``"fill"``, the median colour of the photo's outer band with ``"keep"``.
- ``carve``: a grid point whose (x, y) falls outside the person mask, dilated by
  ``carve_margin`` of the crop side, is outside (the pixel-aligned field has no reason to put
  surface there; PIFu's visual-hull argument), and so is every point within ``border`` (cube
  units) of the cube's faces, so no surface touches the border.
- ``body_depth`` (with ``carve``): the body fitted to the photo (``pifuhd.body``) bounds the
  depth too: a point farther than ``body_margin`` (cube units) plus ``body_slope`` times its
  sideways distance from the body's silhouette in front of or behind the body is outside
  (``pifuhd.geometry.body_depth``); it needs MediaPipe's landmarks of the person.
- ``fragment_share`` / ``fragment_gap``: a connected piece of the mesh with fewer than
  ``fragment_share`` of the largest piece's faces and farther than ``fragment_gap`` (cube units)
  from it is dropped (``pifuhd.geometry.fragments``).
- ``refine``: iterations of the normal-map refinement of the mesh (0: none): the visible
  surface is moved so its normals follow the predicted front and back normal maps
  (``pifuhd.geometry.normal_refine``; ICON's and CAR's refinement, without a rasteriser).
- ``resize``: how the crop is shrunk to the networks' sizes (``"bilinear"``: without
  antialiasing, as the original release; ``"antialias"``: as this project's training data).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pifuhd.checkpoint.native import is_native, read_inference_dict
from pifuhd.errors import CheckpointError, InputError
from pifuhd.models.pifuhd import PIFuHD

BACKGROUNDS = ("keep", "fill")
RESIZES = ("antialias", "bilinear")


@dataclass(frozen=True)
class InferenceSettings:
    """See the module docstring."""

    background: str = "fill"
    fill: tuple[float, float, float] = (0.5, 0.5, 0.5)
    carve: bool = True
    carve_margin: float = 0.01
    border: float = 0.02
    body_depth: bool = False
    body_margin: float = 0.06
    body_slope: float = 0.5
    fragment_share: float = 0.2
    fragment_gap: float = 0.03
    resize: str = "antialias"
    refine: int = 0

    def __post_init__(self) -> None:
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {self.background!r}")
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be one of {RESIZES}, got {self.resize!r}")
        fill = tuple(float(c) for c in self.fill)
        if len(fill) != 3 or not all(0.0 <= c <= 1.0 for c in fill):
            raise ValueError(f"fill must be three values in [0, 1], got {self.fill!r}")
        object.__setattr__(self, "fill", fill)
        if not 0.0 <= self.body_slope < 10.0:
            raise ValueError(f"body_slope must be in [0, 10), got {self.body_slope!r}")
        if not 0 <= int(self.refine) <= 1000:
            raise ValueError(f"refine must be 0-1000 iterations, got {self.refine!r}")
        object.__setattr__(self, "refine", int(self.refine))
        for name in ("carve_margin", "border", "fragment_share", "fragment_gap", "body_margin"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["fill"] = list(self.fill)
        return data

    def with_overrides(self, **overrides: Any) -> InferenceSettings:
        """A copy with the given fields changed (None values are ignored); InputError when a
        value is out of range."""
        try:
            return replace(self, **{k: v for k, v in overrides.items() if v is not None})
        except ValueError as exc:
            raise InputError(f"{exc} (pifuhd reconstruct --help)") from None


NATIVE_SETTINGS = InferenceSettings()
"""Native checkpoints without an ``"inference"`` object (this project's models; the bundled
one records its own, with ``body_depth``)."""

OFFICIAL_SETTINGS = InferenceSettings(background="keep", resize="bilinear")
"""The official ``pifuhd.pt``: the photo kept, resized as the original release resizes."""


def settings_from_dict(data: dict[str, Any] | None, source: str) -> InferenceSettings:
    """The ``"inference"`` object of ``source``'s config (None: :data:`NATIVE_SETTINGS`)."""
    if data is None:
        return NATIVE_SETTINGS
    known = {f.name for f in fields(InferenceSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CheckpointError(
            f"{source}: unknown inference settings {unknown}; known: {sorted(known)}"
        )
    try:
        return InferenceSettings(**data)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: invalid inference settings: {exc}") from None


def default_settings(checkpoint: str | os.PathLike | PIFuHD) -> InferenceSettings:
    """The pipeline settings a checkpoint records (``pifuhd.inference_settings``): a native
    folder's ``"inference"`` object, :data:`OFFICIAL_SETTINGS` for an official file."""
    if isinstance(checkpoint, PIFuHD):
        return NATIVE_SETTINGS
    if is_native(checkpoint):
        return settings_from_dict(read_inference_dict(checkpoint), str(checkpoint))
    return OFFICIAL_SETTINGS
