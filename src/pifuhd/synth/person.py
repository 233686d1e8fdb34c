"""One synthetic person in memory (what ``pifuhd.synth.people`` builds and ``person_io`` writes).

Frame: centimetres, y up, the person facing +z, standing on y = 0 (see ``people``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SynthPerson:
    """One synthetic person, ready to write (frame: see the module docstring).

    Attributes:
        seed: the seed it was drawn from.
        vertices: (V, 3) float64 posed positions (cm); rest_vertices: (V, 3) rest pose.
        faces: (F, 3) int64, counter-clockwise from outside; uv: (V, 2) float64 atlas uv.
        texture: (H, W, 3) uint8 sRGB atlas, row 0 at the top (v = 1).
        weights: (V, J) float64 skinning weights (rows sum to 1, at most 9 non-zero).
        transforms: (J, 4, 4) float64 bone transforms, rest -> posed (cm).
        bone_labels, bone_parents: the skeleton (J bones).
        params: JSON-ready description (``person.json``).
        arrays: extra arrays for ``avatar.npz`` (Anny pose deltas, frame change, joints).
    """

    seed: int
    vertices: np.ndarray
    rest_vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    texture: np.ndarray
    weights: np.ndarray
    transforms: np.ndarray
    bone_labels: list[str]
    bone_parents: list[int]
    params: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
