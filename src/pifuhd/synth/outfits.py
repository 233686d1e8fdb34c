"""Random outfits: a top with trousers, shorts or a skirt, or a dress; maybe a jacket; shoes.

Layering rules keep the shells nested: an untucked top is offset further than the trousers
under it, a skirt's waistband eases over the top tucked into it, a jacket sits over the top.
Outfits also constrain the pose: hanging arms keep clear of skirts and jackets, long skirts
shorten walking strides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pifuhd.synth.clothing import Garment
from pifuhd.synth.patterns import sample_cloth

SOFT = ("solid", "stripes", "checks", "dots", "mottled", "blobs")
PLAIN = ("solid", "solid", "mottled", "checks")
DENIM = ("denim", "navy", "black", "sky blue", "charcoal")
DARK = ("black", "charcoal", "navy", "brown", "olive", "burgundy", "khaki", "tan", "forest green")


@dataclass(frozen=True)
class Outfit:
    """Garments from the innermost out, and the pose constraints they ask for."""

    name: str
    garments: tuple[Garment, ...]
    min_abduction: float
    stride: float

    def describe(self) -> dict:
        return {"outfit": self.name, "garments": [g.describe() for g in self.garments]}


def sample_top(rng: np.random.Generator) -> Garment:
    """A t-shirt, tank top, shirt, sweater or crop top."""
    u = rng.uniform
    kind = str(
        rng.choice(
            ["t-shirt", "tank top", "long-sleeve shirt", "sweater", "crop top"],
            p=[0.38, 0.12, 0.27, 0.16, 0.07],
        )
    )
    if kind == "t-shirt":
        return Garment(
            kind,
            "top",
            u(0.9, 1.5),
            sample_cloth(rng, SOFT),
            sleeve=u(0.12, 0.3),
            hem=u(-4.0, 6.0),
            neck=u(1.0, 4.0),
        )
    if kind == "tank top":
        return Garment(
            kind, "top", u(0.7, 1.1), sample_cloth(rng, SOFT), hem=u(-2.0, 6.0), neck=u(3.0, 9.0)
        )
    if kind == "long-sleeve shirt":
        return Garment(
            kind,
            "top",
            u(1.0, 1.7),
            sample_cloth(rng, SOFT),
            sleeve=u(0.9, 0.97),
            hem=u(-7.0, 4.0),
            neck=u(1.5, 8.0),
        )
    if kind == "sweater":
        return Garment(
            kind,
            "top",
            u(1.6, 2.3),
            sample_cloth(rng, ("solid", "mottled", "stripes")),
            sleeve=u(0.93, 0.98),
            hem=u(-5.0, 3.0),
            neck=u(0.5, 3.0),
        )
    return Garment(
        kind,
        "top",
        u(0.7, 1.0),
        sample_cloth(rng, SOFT),
        sleeve=float(rng.choice([-1.0, u(0.1, 0.2)])),
        hem=u(13.0, 19.0),
        neck=u(2.0, 7.0),
    )


def sample_bottom(rng: np.random.Generator, top: Garment, boots: bool) -> Garment:
    """Jeans, trousers, leggings or shorts, offset inside ``top``."""
    u = rng.uniform
    kind = str(rng.choice(["jeans", "trousers", "leggings", "shorts"], p=[0.38, 0.3, 0.08, 0.24]))
    limit = top.offset - 0.4 if top.hem < 10.0 else 3.0
    if kind == "jeans":
        cloth = sample_cloth(rng, ("denim",), DENIM)
        return Garment(
            kind,
            "bottom",
            min(u(0.6, 1.0), limit),
            cloth,
            hem=u(2.0, 9.0),
            length=u(0.93, 0.98),
            flare=0.0 if boots else u(0.0, 0.5),
        )
    if kind == "trousers":
        return Garment(
            kind,
            "bottom",
            min(u(0.7, 1.1), limit),
            sample_cloth(rng, PLAIN, DARK),
            hem=u(3.0, 10.0),
            length=u(0.93, 0.98),
            flare=0.0 if boots else u(0.0, 1.0),
        )
    if kind == "leggings":
        return Garment(
            kind,
            "bottom",
            0.3,
            sample_cloth(rng, ("solid", "mottled")),
            hem=u(6.0, 11.0),
            length=u(0.9, 0.97),
        )
    return Garment(
        kind,
        "bottom",
        min(u(0.8, 1.6), limit),
        sample_cloth(rng, (*SOFT, "denim")),
        hem=u(2.0, 9.0),
        length=u(0.12, 0.4),
        flare=u(0.5, 2.0),
    )


def sample_skirt(
    rng: np.random.Generator, inner: Garment, stature: float, name: str = "skirt", cloth=None
) -> Garment:
    """A skirt whose waistband eases over ``inner`` (the top tucked in, or a dress bodice)."""
    u = rng.uniform
    length = float(
        rng.choice([u(18, 30), u(42, 55), u(58, 72), u(78, 88)], p=[0.25, 0.35, 0.25, 0.15])
    )
    return Garment(
        name,
        "skirt",
        inner.offset + u(0.5, 1.2),
        cloth or sample_cloth(rng, SOFT),
        hem=u(6.0, 13.0),
        length=length * stature / 170.0,
        flare=u(0.03, 0.22),
        hides_skin=False,
    )


def sample_shoes(rng: np.random.Generator) -> Garment | None:
    """Sneakers, boots, or None (barefoot)."""
    u = rng.uniform
    kind = str(rng.choice(["sneakers", "boots", "none"], p=[0.6, 0.3, 0.1]))
    if kind == "none":
        return None
    colours = ("white", "black", "charcoal", "brown", "tan", "navy", "red", "light grey")
    cloth = sample_cloth(rng, ("solid", "mottled"), colours)
    if kind == "sneakers":
        return Garment(
            kind, "shoes", u(0.4, 0.7), cloth, length=u(0.95, 0.99), extra={"sole": u(1.2, 2.2)}
        )
    return Garment(
        kind, "shoes", u(1.2, 1.6), cloth, length=u(0.7, 0.8), extra={"sole": u(1.8, 2.8)}
    )


def sample_outfit(rng: np.random.Generator, female: float, weight: float, stature: float) -> Outfit:
    """A random outfit for a body of Anny ``gender`` ``female`` and ``weight`` (in [0, 1]) and
    ``stature`` cm."""
    u = rng.uniform
    p_skirt = 0.05 + 0.45 * female
    shape = str(
        rng.choice(["separates", "skirt", "dress"], p=[1 - p_skirt, 0.5 * p_skirt, 0.5 * p_skirt])
    )
    shoes = sample_shoes(rng)
    boots = shoes is not None and shoes.name == "boots"
    garments: list[Garment] = []
    stride = 1.0
    if shape == "dress":
        cloth = sample_cloth(rng, SOFT)
        sleeve = float(rng.choice([-1.0, u(0.12, 0.25), u(0.9, 0.97)], p=[0.5, 0.3, 0.2]))
        bodice = Garment(
            "dress bodice",
            "top",
            u(0.6, 1.0),
            cloth,
            sleeve=sleeve,
            hem=u(10.0, 16.0),
            neck=u(2.0, 10.0),
        )
        skirt = sample_skirt(rng, bodice, stature, "dress skirt", cloth)
        skirt = Garment(
            skirt.name,
            "skirt",
            skirt.offset,
            cloth,
            hem=bodice.hem + 3.0,
            length=skirt.length + 8.0,
            flare=skirt.flare,
            hides_skin=False,
        )
        garments += [bodice, skirt]
        outer = bodice
    else:
        top = sample_top(rng)
        if shape == "skirt":
            top = Garment(
                top.name, top.kind, top.offset, top.style, top.sleeve, min(top.hem, 4.0), top.neck
            )
            garments += [top, sample_skirt(rng, top, stature)]
        else:
            garments += [sample_bottom(rng, top, boots), top]
        outer = top
    jacket = rng.random() < 0.2
    if jacket:
        skirts = [g.hem for g in garments if g.kind == "skirt"]
        hem = skirts[0] + u(1.0, 4.0) if skirts else u(-12.0, 0.0)  # skirts flare below jackets
        garments.append(
            Garment(
                str(rng.choice(["jacket", "coat", "cardigan"])),
                "top",
                outer.offset + u(1.2, 2.2),
                sample_cloth(rng, PLAIN, DARK),
                sleeve=u(0.95, 1.0),
                hem=hem,
                neck=u(0.0, 3.0),
                open_front=float(rng.choice([0.0, u(3.0, 9.0)])),
            )
        )
    if shoes is not None:
        garments.append(shoes)
    skirt_len = max((g.length for g in garments if g.kind == "skirt"), default=0.0)
    if skirt_len > 0.35 * stature:
        stride = 0.55
    min_abduction = 6.0 + 10.0 * weight + (8.0 if skirt_len else 0.0) + (6.0 if jacket else 0.0)
    name = "+".join(g.name for g in garments)
    return Outfit(name, tuple(garments), min_abduction, stride)
