"""Draw the small synthetic test photo tests/assets/person.png (a stylised standing person).

Procedural, so it carries no licence restrictions: an ellipse head, a torso, arms and legs
in flat clothing colours over a light, slightly graded background.
Run: python tools/make_sample_person.py tests/assets/person.png
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def draw_person(width: int = 384, height: int = 512) -> Image.Image:
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    background = (np.array([225, 228, 232], np.float32) - 25 * yy) * np.ones((1, width, 1))
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(image)
    cx = width // 2
    skin, shirt, trousers, shoes, hair = (
        (224, 172, 140),
        (40, 90, 160),
        (50, 50, 60),
        (30, 25, 20),
        (60, 40, 25),
    )
    d.rectangle([cx - 52, 215, cx + 52, 275], fill=trousers)  # hips
    d.polygon([(cx - 50, 270), (cx - 8, 270), (cx - 14, 455), (cx - 42, 455)], fill=trousers)
    d.polygon([(cx + 8, 270), (cx + 50, 270), (cx + 42, 455), (cx + 14, 455)], fill=trousers)
    d.ellipse([cx - 50, 445, cx - 6, 470], fill=shoes)
    d.ellipse([cx + 6, 445, cx + 50, 470], fill=shoes)
    d.rounded_rectangle([cx - 60, 105, cx + 60, 235], radius=22, fill=shirt)  # torso
    d.polygon([(cx - 58, 112), (cx - 36, 120), (cx - 70, 250), (cx - 92, 244)], fill=shirt)
    d.polygon([(cx + 58, 112), (cx + 36, 120), (cx + 70, 250), (cx + 92, 244)], fill=shirt)
    d.ellipse([cx - 96, 238, cx - 68, 270], fill=skin)  # hands
    d.ellipse([cx + 68, 238, cx + 96, 270], fill=skin)
    d.rectangle([cx - 12, 88, cx + 12, 110], fill=skin)  # neck
    d.ellipse([cx - 30, 30, cx + 30, 100], fill=skin)  # head
    d.chord([cx - 32, 26, cx + 32, 80], 180, 360, fill=hair)
    return image.filter(ImageFilter.GaussianBlur(0.8))


if __name__ == "__main__":
    draw_person().save(sys.argv[1] if len(sys.argv) > 1 else "person.png", optimize=True)
