"""Procedural albedo for synthetic people: skin, eyes, hair and cloth, as colour functions of
rest-pose positions (cm), deterministic in each style's seed.

Colours are sRGB in [0, 1]. Styles are small frozen dataclasses sampled from a generator and
described in ``person.json`` (``describe``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pifuhd.body.skinned import HeadFrame, Part
from pifuhd.synth.textures import fbm, value_noise

SKIN_TONES = np.array(
    [
        [0.97, 0.84, 0.76],
        [0.93, 0.76, 0.65],
        [0.87, 0.67, 0.53],
        [0.78, 0.57, 0.42],
        [0.67, 0.47, 0.33],
        [0.54, 0.36, 0.25],
        [0.40, 0.26, 0.18],
        [0.29, 0.18, 0.12],
    ]
)
"""Skin albedo from very light to very dark (sampled by interpolation)."""

HAIR_COLOURS = {
    "black": (0.05, 0.045, 0.04),
    "dark brown": (0.15, 0.10, 0.07),
    "brown": (0.30, 0.19, 0.11),
    "light brown": (0.48, 0.34, 0.21),
    "blond": (0.76, 0.62, 0.40),
    "auburn": (0.42, 0.17, 0.08),
    "grey": (0.58, 0.57, 0.55),
    "white": (0.85, 0.84, 0.81),
}

CLOTH_COLOURS = {
    "black": (0.06, 0.06, 0.07),
    "white": (0.90, 0.90, 0.88),
    "light grey": (0.68, 0.69, 0.70),
    "charcoal": (0.22, 0.23, 0.25),
    "navy": (0.10, 0.13, 0.28),
    "royal blue": (0.16, 0.28, 0.62),
    "sky blue": (0.50, 0.68, 0.86),
    "denim": (0.22, 0.32, 0.48),
    "olive": (0.35, 0.37, 0.18),
    "forest green": (0.11, 0.30, 0.18),
    "khaki": (0.72, 0.65, 0.48),
    "tan": (0.60, 0.45, 0.30),
    "brown": (0.33, 0.22, 0.14),
    "burgundy": (0.42, 0.08, 0.14),
    "red": (0.75, 0.12, 0.12),
    "orange": (0.90, 0.45, 0.12),
    "mustard": (0.82, 0.64, 0.15),
    "pink": (0.92, 0.60, 0.68),
    "lavender": (0.68, 0.60, 0.82),
    "teal": (0.10, 0.45, 0.48),
    "cream": (0.93, 0.89, 0.78),
}

CLOTH_PATTERNS = ("solid", "stripes", "checks", "dots", "mottled", "blobs", "denim")
IRIS_COLOURS = {
    "brown": (0.30, 0.17, 0.08),
    "dark": (0.12, 0.07, 0.04),
    "blue": (0.30, 0.45, 0.62),
    "green": (0.30, 0.42, 0.28),
    "hazel": (0.45, 0.33, 0.16),
}


@dataclass(frozen=True)
class ClothStyle:
    """A fabric: ``pattern`` (one of ``CLOTH_PATTERNS``) in ``colour`` over ``colour2`` at a
    period of ``scale`` cm; names are the palette names of the two colours."""

    pattern: str
    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    scale: float
    seed: int
    names: tuple[str, str] = ("", "")

    def describe(self) -> dict:
        return {
            "pattern": self.pattern,
            "colours": list(self.names),
            "scale_cm": round(self.scale, 1),
        }


@dataclass(frozen=True)
class SkinStyle:
    """Skin tone (``tone`` in [0, 1], light to dark), brow/scalp hair colour, lip and iris."""

    tone: float
    colour: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_name: str
    iris_name: str
    seed: int

    def describe(self) -> dict:
        return {
            "tone": round(self.tone, 3),
            "rgb": [round(c, 3) for c in self.colour],
            "hair_colour": self.hair_name,
            "eyes": self.iris_name,
        }


def sample_skin(rng: np.random.Generator, age_years: float) -> SkinStyle:
    """A skin tone, a hair colour (greyer with age) and an eye colour."""
    tone = float(rng.uniform(0.0, 1.0))
    pos = tone * (len(SKIN_TONES) - 1)
    i = min(int(pos), len(SKIN_TONES) - 2)
    base = SKIN_TONES[i] * (1 - (pos - i)) + SKIN_TONES[i + 1] * (pos - i)
    base = np.clip(base * rng.uniform(0.95, 1.05, 3), 0, 1)
    grey = np.clip((age_years - 40.0) / 35.0, 0.0, 0.85)
    names = list(HAIR_COLOURS)
    weights = np.array([3, 3, 2.5, 1.5, 1.5 * (1 - tone), 0.7, 0.1, 0.05])
    weights[[6, 7]] += 6 * grey
    hair = str(rng.choice(names, p=weights / weights.sum()))
    iris = str(
        rng.choice(
            list(IRIS_COLOURS),
            p=[0.4, 0.25, 0.15, 0.1, 0.1] if tone < 0.4 else [0.55, 0.35, 0.03, 0.02, 0.05],
        )
    )
    return SkinStyle(
        tone,
        tuple(float(c) for c in base),
        HAIR_COLOURS[hair],
        hair,
        iris,
        int(rng.integers(1 << 30)),
    )


def sample_cloth(
    rng: np.random.Generator,
    patterns: tuple[str, ...] = CLOTH_PATTERNS,
    colours: tuple[str, ...] | None = None,
) -> ClothStyle:
    """A random fabric among ``patterns`` with a main colour among ``colours`` (default: all)."""
    names = list(colours or CLOTH_COLOURS)
    first = str(rng.choice(names))
    second = str(rng.choice([n for n in CLOTH_COLOURS if n != first]))
    pattern = str(rng.choice(patterns))
    scale = {
        "stripes": rng.uniform(1.5, 6.0),
        "checks": rng.uniform(2.0, 8.0),
        "dots": rng.uniform(2.0, 6.0),
        "mottled": rng.uniform(4.0, 12.0),
        "blobs": rng.uniform(5.0, 14.0),
    }.get(pattern, 1.0)
    return ClothStyle(
        pattern,
        CLOTH_COLOURS[first],
        CLOTH_COLOURS[second],
        float(scale),
        int(rng.integers(1 << 30)),
        (first, second),
    )


def _mix(a: np.ndarray, b, w: np.ndarray) -> np.ndarray:
    return a * (1.0 - w[:, None]) + np.asarray(b, np.float64) * w[:, None]


def cloth_albedo(points: np.ndarray, style: ClothStyle) -> np.ndarray:
    """(N, 3) albedo of fabric ``style`` at rest points (N, 3) cm, with a fine weave grain."""
    p, s = points, style.scale
    base = np.broadcast_to(np.asarray(style.colour, np.float64), p.shape).copy()
    if style.pattern == "stripes":
        band = (np.mod(p[:, 1] / s, 1.0) < 0.45).astype(np.float64)
        base = _mix(base, style.colour2, band)
    elif style.pattern == "checks":
        across = np.mod((p[:, 0] + p[:, 2]) / s, 1.0) < 0.5
        down = np.mod(p[:, 1] / s, 1.0) < 0.5
        base = _mix(base, style.colour2, 0.5 * across + 0.5 * down)
    elif style.pattern == "dots":
        cell = np.floor(p / s)
        jitter = np.stack([value_noise(cell + 0.5, 1.0, style.seed + k) for k in range(3)], 1)
        centre = (cell + 0.5 + 0.15 * jitter) * s
        dot = np.linalg.norm(p - centre, axis=1) < 0.28 * s
        base = _mix(base, style.colour2, dot.astype(np.float64))
    elif style.pattern == "mottled":
        w = np.clip(0.5 + 1.2 * fbm(p, s, style.seed), 0.0, 1.0)
        base = _mix(base, style.colour2, 0.6 * w)
    elif style.pattern == "blobs":
        w = np.clip((fbm(p, s, style.seed) - 0.15) * 6.0, 0.0, 1.0)
        base = _mix(base, style.colour2, w)
    grain = 1.0 + 0.05 * value_noise(p, 0.35, style.seed + 1)
    if style.pattern == "denim":
        grain += 0.08 * value_noise(p * [1.0, 0.15, 1.0], 0.5, style.seed + 2)
        grain += 0.06 * fbm(p, 15.0, style.seed + 3, octaves=2)
    return np.clip(base * grain[:, None], 0.0, 1.0)


def hair_albedo(points: np.ndarray, colour, seed: int) -> np.ndarray:
    """(N, 3) hair: ``colour`` with fine strands (noise stretched along y) and sheen bands."""
    strands = value_noise(points * [1.0, 0.08, 1.0], 0.25, seed)
    sheen = fbm(points, 6.0, seed + 1, octaves=2)
    factor = 1.0 + 0.18 * strands + 0.12 * sheen
    lift = 0.03 * (1.0 + strands)[:, None]  # dark hair still shows strands
    return np.clip(np.asarray(colour)[None] * factor[:, None] + lift, 0.0, 1.0)


def skin_albedo(
    points: np.ndarray,
    parts: np.ndarray,
    head: HeadFrame,
    style: SkinStyle,
    scalp: np.ndarray | None = None,
) -> np.ndarray:
    """(N, 3) skin at rest points (N, 3) cm of body parts (N,): tone, blotches, lips, brows,
    eyeballs (sclera, iris, pupil) and an optional scalp hair shadow ``scalp`` (N,) in [0, 1].
    """
    tone = np.asarray(style.colour)
    out = np.broadcast_to(tone, points.shape).copy()
    out *= (1.0 + 0.05 * fbm(points, 8.0, style.seed, octaves=2))[:, None]
    redness = np.clip(fbm(points, 14.0, style.seed + 1, octaves=2), 0.0, 1.0)
    out = _mix(out, tone * [1.05, 0.85, 0.82], 0.5 * redness)
    out *= (1.0 + 0.025 * value_noise(points, 0.4, style.seed + 2))[:, None]
    on_head = parts == Part.HEAD
    out = _face_features(out, points, on_head, head, style)
    if scalp is not None:
        out = _mix(out, np.asarray(style.hair) * 0.9 + tone * 0.1, np.clip(scalp, 0, 1) * on_head)
    eyes = parts == Part.EYE
    if eyes.any():
        out[eyes] = _eye_albedo(points[eyes], head, style)
    return np.clip(out, 0.0, 1.0)


def _face_features(out, points, on_head, head: HeadFrame, style: SkinStyle) -> np.ndarray:
    eye_y = float(head.eyes[:, 1].mean())
    front = points[:, 2] > head.eyes[:, 2].mean() - 2.0
    mouth_y = eye_y - 0.62 * (eye_y - head.chin)
    lips = ((points[:, 0] / 2.4) ** 2 + ((points[:, 1] - mouth_y) / 0.85) ** 2) < 1.0
    tone = np.asarray(style.colour)
    lip_colour = tone * [0.86, 0.62, 0.62]
    out = _mix(out, lip_colour, 0.7 * (lips & front & on_head))
    brow = np.zeros(len(points), bool)
    for eye in head.eyes:
        dx = points[:, 0] - eye[0] - 0.15 * np.sign(eye[0])
        arc = eye[1] + 1.25 * head.eye_radius + 0.5 - 0.06 * dx**2
        brow |= (np.abs(dx) < 2.6) & (
            np.abs(points[:, 1] - arc) < 0.35 + 0.12 * (dx * np.sign(eye[0]) < 0)
        )
    brow_colour = np.asarray(style.hair) * 0.8 + tone * 0.2
    return _mix(out, brow_colour, 0.75 * (brow & front & on_head))


def _eye_albedo(points: np.ndarray, head: HeadFrame, style: SkinStyle) -> np.ndarray:
    centre = np.where((points[:, 0] >= 0)[:, None], head.eyes[0], head.eyes[1])
    d = points - centre
    cos = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
    out = np.tile([0.9, 0.88, 0.85], (len(points), 1))
    out = _mix(out, IRIS_COLOURS[style.iris_name], (cos > 0.86).astype(np.float64))
    return _mix(out, (0.02, 0.02, 0.02), (cos > 0.96).astype(np.float64))


def describe(style) -> dict:
    """JSON-ready description of any style dataclass."""
    return style.describe() if hasattr(style, "describe") else asdict(style)
