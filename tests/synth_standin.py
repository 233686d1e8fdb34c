"""A tiny procedural stand-in for the Anny body: capsule limbs, ellipsoid head, eyes and feet.

It fills every field of ``pifuhd.body.skinned.Body`` (uv seams, parts, limb fields, skinning
weights, a 17-bone skeleton posed with the same generic joint rotations as Anny), so the
garment, hair, texture and writing code runs in tests without the ``anny`` package.
Each part is its own closed surface; together they overlap like a real body's limbs do not,
which the tests account for by using winding numbers.
"""

from __future__ import annotations

import numpy as np

from pifuhd.body.poses import Pose, joint_rotations, swing
from pifuhd.body.skinned import Body, Part, limb_fields, skin
from pifuhd.synth.surface import closed_tube, ellipsoid

BONES = ["root", "spine", "neck", "head"] + [
    f"{b}.{s}"
    for s in "LR"
    for b in ("upperarm", "lowerarm", "hand", "upperleg", "lowerleg", "foot")
]
PARENTS = {
    "root": None,
    "spine": "root",
    "neck": "spine",
    "head": "neck",
    **{f"upperarm.{s}": "spine" for s in "LR"},
    **{f"lowerarm.{s}": f"upperarm.{s}" for s in "LR"},
    **{f"hand.{s}": f"lowerarm.{s}" for s in "LR"},
    **{f"upperleg.{s}": "root" for s in "LR"},
    **{f"lowerleg.{s}": f"upperleg.{s}" for s in "LR"},
    **{f"foot.{s}": f"lowerleg.{s}" for s in "LR"},
}


def rest_joints(scale: float = 1.0) -> dict[str, np.ndarray]:
    """Named joints (cm) of an A-posed 170 cm figure, scaled."""
    j = {
        "root": (0, 95, 0),
        "waist": (0, 105, 0),
        "chest": (0, 125, 0),
        "neck": (0, 145, 0),
        "head": (0, 152, 0),
    }
    for s, x in (("L", 1.0), ("R", -1.0)):
        j |= {
            f"hip.{s}": (9 * x, 92, 0),
            f"knee.{s}": (10 * x, 50, 1),
            f"ankle.{s}": (10 * x, 8, 0),
            f"shoulder.{s}": (18 * x, 142, 0),
            f"elbow.{s}": (30 * x, 118, 0),
            f"wrist.{s}": (40 * x, 96, 2),
        }
    return {k: scale * np.array(v, np.float64) for k, v in j.items()}


BONE_HEAD = {
    "root": "root",
    "spine": "waist",
    "neck": "neck",
    "head": "head",
    **{
        f"{b}.{s}": f"{j}.{s}"
        for s in "LR"
        for b, j in (
            ("upperarm", "shoulder"),
            ("lowerarm", "elbow"),
            ("hand", "wrist"),
            ("upperleg", "hip"),
            ("lowerleg", "knee"),
            ("foot", "ankle"),
        )
    },
}
GENERIC = {
    "torso": "spine",
    "neck": "neck",
    "head": "head",
    **{
        f"{b}.{s}": f"{b}.{s}"
        for s in "LR"
        for b in ("upperarm", "lowerarm", "upperleg", "lowerleg", "foot")
    },
}


def _tube(start, end, r0, r1, rows=12, cols=16, squash=(1.0, 1.0)):
    """A capped tube from ``start`` to ``end`` (radius r0 -> r1), outward normals."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    rot = swing(np.array([0.0, -1.0, 0.0]), end - start)
    a = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    t = np.linspace(0, 1, rows)
    radius = r0 + (r1 - r0) * t
    ring = np.stack([squash[0] * np.sin(a), np.zeros(cols), squash[1] * np.cos(a)], 1)
    rings = start + t[:, None, None] * (end - start) + radius[:, None, None] * (ring @ rot.T)[None]
    return closed_tube(rings)


def _blob(centre, radii, rows=10, cols=16):
    v, f, uv = ellipsoid(rows, cols)
    return v * np.asarray(radii, float) + np.asarray(centre, float), f, uv


def _parts(j: dict[str, np.ndarray], scale: float):
    s = scale
    out = [
        (
            Part.TORSO,
            _tube(
                j["chest"] + [0, 22 * s, 0],
                j["root"] - [0, 13 * s, 0],
                15 * s,
                15 * s,
                squash=(1.0, 0.65),
            ),
        ),
        (Part.NECK, _tube(j["neck"] - [0, 5 * s, 0], j["head"] + [0, 4 * s, 0], 5.5 * s, 5 * s)),
        (Part.HEAD, _blob(j["head"] + [0, 11 * s, 0], np.array([8, 11, 9.5]) * s)),
    ]
    for side, x in (("L", 1.0), ("R", -1.0)):
        out += [
            (Part[f"ARM_{side}"], _tube(j[f"shoulder.{side}"], j[f"wrist.{side}"], 5 * s, 3.5 * s)),
            (
                Part[f"HAND_{side}"],
                _blob(
                    j[f"wrist.{side}"] + np.array([4 * x, -6, 0.5]) * s, np.array([2.5, 6, 3]) * s
                ),
            ),
            (
                Part[f"LEG_{side}"],
                _tube(j[f"hip.{side}"] + [0, 3 * s, 0], j[f"ankle.{side}"], 8 * s, 4.5 * s),
            ),
            (
                Part[f"FOOT_{side}"],
                _blob(j[f"ankle.{side}"] + np.array([0, -4, 5]) * s, np.array([4.5, 4.5, 11]) * s),
            ),
            (
                Part.EYE,
                _blob(j["head"] + np.array([3.2 * x, 13, 8.2]) * s, np.full(3, 1.2 * s), 6, 8),
            ),
        ]
    return out


def _bone_weights(rest, parts, arm_t, leg_t):
    w = np.zeros((len(rest), len(BONES)))
    col = {b: i for i, b in enumerate(BONES)}
    lerp = np.clip((arm_t - 0.45) / 0.1, 0, 1)
    knee = np.clip((leg_t - 0.45) / 0.1, 0, 1)
    spine = np.clip((rest[:, 1] - rest_joints()["waist"][1] + 5) / 20.0, 0, 1)
    for i, p in enumerate(parts):
        part = Part(p)
        if part == Part.TORSO:
            w[i, col["root"]], w[i, col["spine"]] = 1 - spine[i], spine[i]
        elif part in (Part.HEAD, Part.EYE):
            w[i, col["head"]] = 1
        elif part == Part.NECK:
            w[i, col["neck"]] = 1
        else:
            side = part.name[-1]
            kind = part.name.split("_")[0]
            if kind == "ARM":
                w[i, col[f"upperarm.{side}"]], w[i, col[f"lowerarm.{side}"]] = 1 - lerp[i], lerp[i]
            elif kind == "LEG":
                w[i, col[f"upperleg.{side}"]], w[i, col[f"lowerleg.{side}"]] = 1 - knee[i], knee[i]
            else:
                w[i, col[("hand." if kind == "HAND" else "foot.") + side]] = 1
    return w


def _transforms(pose: Pose, joints: dict[str, np.ndarray]) -> np.ndarray:
    rots = {GENERIC[g]: r for g, r in joint_rotations(pose, joints).items()}
    out: dict[str, np.ndarray] = {}
    for bone in BONES:  # parents come first
        h = joints[BONE_HEAD[bone]]
        local = np.eye(4)
        local[:3, :3] = rots.get(bone, np.eye(3))
        local[:3, 3] = h - local[:3, :3] @ h
        parent = PARENTS[bone]
        out[bone] = local if parent is None else out[parent] @ local
    return np.stack([out[b] for b in BONES])


def standin_body(shape: dict[str, float], pose: Pose) -> Body:
    """A posed stand-in body; ``shape["stature"]`` (cm, default 170) scales it."""
    scale = shape.get("stature", 170.0) / 170.0
    joints = rest_joints(scale)
    verts, faces, uvs, parts, welds = [], [], [], [], []
    pieces = _parts(joints, scale)
    n_weld = 0
    for k, (part, (v, f, uv)) in enumerate(pieces):
        row, col = divmod(k, 4)
        faces.append(f + sum(len(x) for x in verts))
        uvs.append(uv * 0.23 + np.array([0.01 + 0.25 * col, 0.76 - 0.25 * row]))
        _, weld = np.unique(np.round(v, 6), axis=0, return_inverse=True)
        welds.append(weld.reshape(-1) + n_weld)
        n_weld += int(weld.max()) + 1
        verts.append(v)
        parts.append(np.full(len(v), part, np.int8))
    rest = np.concatenate(verts)
    parts_ = np.concatenate(parts)
    arm_t, leg_t = limb_fields(rest, parts_, joints)
    weights = _bone_weights(rest / scale, parts_, arm_t, leg_t)
    transforms = _transforms(pose, joints)
    posed = skin(rest, weights, transforms)
    lift_rest, lift_posed = -rest[:, 1].min(), -posed[:, 1].min()
    rest[:, 1] += lift_rest
    posed[:, 1] += lift_posed
    transforms[:, 1, 3] += lift_posed - lift_rest * transforms[:, 1, 1]
    transforms[:, 0, 3] -= lift_rest * transforms[:, 0, 1]
    transforms[:, 2, 3] -= lift_rest * transforms[:, 2, 1]
    rest_j = {k: v + np.array([0.0, lift_rest, 0.0]) for k, v in joints.items()}
    posed_j = {}
    for name, p in rest_j.items():
        bone = next((b for b, h in BONE_HEAD.items() if h == name), "root")
        t = transforms[BONES.index(bone)]
        posed_j[name] = t[:3, :3] @ p + t[:3, 3]
    return Body(
        rest,
        posed,
        np.concatenate(faces).astype(np.int64),
        np.concatenate(uvs),
        np.concatenate(welds),
        weights,
        transforms,
        parts_,
        arm_t,
        leg_t,
        rest_j,
        posed_j,
        list(BONES),
        [-1 if PARENTS[b] is None else BONES.index(PARENTS[b]) for b in BONES],
        info={"shape": dict(shape)},
    )
