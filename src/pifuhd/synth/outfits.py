"""Random outfits: a top with trousers, shorts or a skirt, or a dress; maybe a jacket or a
long coat, a hood, a bag; shoes.

Layering rules keep the shells nested: an untucked top is offset further than the trousers
under it, a skirt's waistband eases over the top tucked into it, a jacket sits over the top.
A long coat is a jacket-like shell down to the hips and a layered skirt below it that
encloses everything under it (see ``layers``); a hood lies on the outermost back; bag straps
run over the outermost layer, and the bag rests on whatever it touches. Garments are listed
innermost first. Outfits also constrain the pose: hanging arms keep clear of skirts, coats,
jackets and shoulder bags, long skirts and coats shorten walking strides.

Rough frequencies: long coats 10 % of outfits (jackets 20 %), wide-leg trousers 14 % of full
length trousers, hoods 18 % of the outfits whose outer top can have one (about 10 % of all),
bags 15 % of people (half backpacks, half shoulder bags; never a backpack under a hood).
Everything added with ``people.FORMAT_VERSION`` 2 (wide legs, long coats, hoods, bags) is
drawn from a second generator, ``extras``, so the draws from the person's own generator, and
with them every choice made before version 2, stay as they were.
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
COATS = (*DARK, "light grey", "cream")
P_JACKET = 0.2
P_LONG_COAT = 0.125
"""Chance of a long coat when there is no jacket (10 % of all outfits)."""
P_WIDE = 0.35
"""Chance that trousers (not jeans, leggings or shorts) are wide-legged."""
HOODED = ("long-sleeve shirt", "sweater", "jacket", "coat", "cardigan", "long coat")
"""Outer tops that may have a hood."""
P_HOOD = 0.18
"""Chance of a hood on a ``HOODED`` outer top."""
P_BAG = 0.15
HIP_TO_KNEE = 0.26
"""Rest height from the hip joints to the knees as a fraction of the stature (Anny: about
0.235; a little more, so coats end below the knees)."""


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


def sample_bottom(
    rng: np.random.Generator, top: Garment, boots: bool, extras: np.random.Generator | None = None
) -> Garment:
    """Jeans, trousers (wide-legged ``P_WIDE`` of the time, drawn from ``extras``), leggings
    or shorts, offset inside ``top``."""
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
        trousers = Garment(
            kind,
            "bottom",
            min(u(0.7, 1.1), limit),
            sample_cloth(rng, PLAIN, DARK),
            hem=u(3.0, 10.0),
            length=u(0.93, 0.98),
            flare=0.0 if boots else u(0.0, 1.0),
        )
        extras = rng if extras is None else extras
        return sample_wide_leg(extras, limit) if extras.random() < P_WIDE else trousers
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


def sample_wide_leg(rng: np.random.Generator, limit: float) -> Garment:
    """Wide-leg trousers: their flare (>= ``clothing.WIDE_FLARE``) is capped between the legs
    and their hems fold in onto the skin (see ``clothing.shell_garment``)."""
    u = rng.uniform
    return Garment(
        "wide-leg trousers",
        "bottom",
        min(u(0.8, 1.2), limit),
        sample_cloth(rng, PLAIN, (*DARK, "cream", "light grey", "denim")),
        hem=u(3.0, 10.0),
        length=u(0.95, 0.99),
        flare=u(4.5, 7.5),
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


def sample_jacket(rng: np.random.Generator, garments: list[Garment], outer: Garment) -> Garment:
    """A jacket, short coat or cardigan over ``outer``, ending above any skirt's waistband."""
    u = rng.uniform
    skirts = [g.hem for g in garments if g.kind == "skirt"]
    hem = skirts[0] + u(1.0, 4.0) if skirts else u(-12.0, 0.0)  # skirts flare below jackets
    return Garment(
        str(rng.choice(["jacket", "coat", "cardigan"])),
        "top",
        outer.offset + u(1.2, 2.2),
        sample_cloth(rng, PLAIN, DARK),
        sleeve=u(0.95, 1.0),
        hem=hem,
        neck=u(0.0, 3.0),
        open_front=float(rng.choice([0.0, u(3.0, 9.0)])),
    )


def sample_long_coat(
    rng: np.random.Generator, garments: list[Garment], outer: Garment, stature: float
) -> list[Garment]:
    """A long coat over ``outer``: a closed jacket-like shell down to the hips (above any
    skirt's waistband) and a layered skirt from 3 cm above its hem to 4-28 cm below the
    knees (for a ``stature`` cm body), enclosing every garment under it."""
    u = rng.uniform
    skirts = [g.hem for g in garments if g.kind == "skirt"]
    hem = max(skirts) + u(1.0, 4.0) if skirts else u(-4.0, 2.0)
    cloth = sample_cloth(rng, PLAIN, COATS)
    coat = Garment(
        "long coat",
        "top",
        outer.offset + u(1.5, 2.5),
        cloth,
        sleeve=u(0.96, 1.0),
        hem=hem,
        neck=u(0.0, 4.0),
    )
    below_knee = u(4.0, 28.0) * stature / 170.0
    skirt = Garment(
        "long coat skirt",
        "skirt",
        u(0.4, 0.9),
        cloth,
        hem=hem + 3.0,
        length=hem + 3.0 + HIP_TO_KNEE * stature + below_knee,
        flare=u(0.05, 0.14),
        hides_skin=False,
        layered=True,
    )
    return [coat, skirt]


def sample_hood(rng: np.random.Generator, outer: Garment) -> Garment:
    """A lowered hood of ``outer``'s fabric lying on the upper back (see ``layers.hood_piece``)."""
    u = rng.uniform
    sizes = {"width": u(28.0, 34.0), "height": u(20.0, 27.0), "thickness": u(3.0, 6.0)}
    return Garment("hood", "hood", u(0.2, 0.5), outer.style, extra=sizes)


def sample_bag(rng: np.random.Generator, hood: bool) -> list[Garment]:
    """A backpack (never under a hood) or a shoulder bag, and its straps (see
    ``layers.bag_piece`` and ``layers.strap_field``)."""
    u = rng.uniform
    kind = "shoulder bag" if hood else str(rng.choice(["backpack", "shoulder bag"]))
    cloth = sample_cloth(rng, ("solid", "solid", "mottled"), (*DARK, "red", "royal blue", "teal"))
    if kind == "backpack":
        sizes = {"width": u(26.0, 32.0), "height": u(34.0, 44.0), "depth": u(11.0, 17.0)}
        sizes |= {"side": 0.0}
        strap = {"side": 0.0, "width": u(4.0, 6.0)}
        names = ("backpack straps", "backpack")
    else:
        sizes = {"width": u(20.0, 28.0), "height": u(15.0, 24.0), "depth": u(5.0, 10.0)}
        sizes |= {"side": float(rng.choice([-1.0, 1.0])), "angle": u(100.0, 145.0)}
        sizes |= {"drop": u(2.0, 10.0)}
        strap = {"side": sizes["side"], "width": u(2.5, 4.0)}
        names = ("shoulder bag strap", "shoulder bag")
    return [
        Garment(names[0], "strap", u(0.5, 0.8), cloth, hides_skin=False, extra=strap),
        Garment(names[1], "bag", 0.0, cloth, hides_skin=False, extra=sizes),
    ]


def sample_outfit(
    rng: np.random.Generator,
    female: float,
    weight: float,
    stature: float,
    extras: np.random.Generator | None = None,
) -> Outfit:
    """A random outfit for a body of Anny ``gender`` ``female`` and ``weight`` (in [0, 1]) and
    ``stature`` cm; ``extras`` (default ``rng``) draws the garments of format 2 (see the
    module docstring)."""
    extras = rng if extras is None else extras
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
            garments += [sample_bottom(rng, top, boots, extras), top]
        outer = top
    jacket = rng.random() < P_JACKET
    coat = not jacket and extras.random() < P_LONG_COAT
    if jacket:
        garments.append(sample_jacket(rng, garments, outer))
    elif coat:
        garments += sample_long_coat(extras, garments, outer, stature)
    outer = [g for g in garments if g.kind == "top"][-1]
    hood = outer.name in HOODED and extras.random() < P_HOOD
    if hood:
        garments.append(sample_hood(extras, outer))
    if extras.random() < P_BAG:
        garments += sample_bag(extras, hood)
    if shoes is not None:
        garments.append(shoes)
    skirt_len = max((g.length for g in garments if g.kind == "skirt"), default=0.0)
    if skirt_len > 0.35 * stature:
        stride = 0.55
    side_bag = any(g.name == "shoulder bag" for g in garments)
    min_abduction = (
        6.0
        + 10.0 * weight
        + (8.0 if skirt_len else 0.0)
        + (6.0 if jacket or coat else 0.0)
        + (6.0 if side_bag else 0.0)
    )
    name = "+".join(g.name for g in garments)
    return Outfit(name, tuple(garments), min_abduction, stride)
