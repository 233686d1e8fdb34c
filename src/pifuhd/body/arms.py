"""Forearm depths from the photo: a small CNN for the arms of a person seen from the side.

Seen from the side, the fit orders a forearm's wrist and elbow in depth wrongly more than
anywhere else, and most of those forearms are hands on the hips: the elbows point at and away
from the camera, while MediaPipe places such an elbow as if the arm hung and the landmark depth
net (``pifuhd.body.lift``) puts elbow and wrist at one depth (BENCHMARKS.md, "Body fit"). With
the true elbow and wrist depths of those arms the fit ordered 92 % of the held-out forearms
right instead of 81 %. The cue is in the photo, not in the landmarks, so this net reads the
photo: a square crop around the person mask (:func:`person_crop`: RGB and the mask, 128^2,
the background black), and gives, for the arm nearer the camera and the one farther from
it, the elbow's and the wrist's depth relative to that arm's shoulder (in the 2D torso
length, z toward the viewer, as ``pifuhd.body.lift``). Which arm is nearer comes from the
lifted shoulder depths.

Trained on renders of synthetic people near the side views (``tools/arm_data.py``,
``tools/train_arms.py``); the fitter uses it only in side views (``SIDE_FACING``), where
an arm it finds with a hand on the hip takes that pose's depths (``AKIMBO_DEPTHS``) in place
of the lifted elbow and wrist depths.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pifuhd.body.lift import FEATURES, features, lifted_depths, load_lift

WEIGHTS = Path(__file__).with_name("weights") / "arms.safetensors"
CROP = 128
"""Side of the net's input crop, pixels."""
CROP_FILL = 0.9
"""Share of the crop's side the person mask's longer side fills."""
OUTPUTS = ("near_elbow", "near_wrist", "far_elbow", "far_wrist")
HANDS_ON_HIPS_P = (0.5, 0.9)
"""Probability of a hand on the hip (near arm, far arm) above which an arm takes the depths
of a hand on the hip (``AKIMBO_DEPTHS``); below it the landmark net's stand. The far arm,
mostly hidden behind the body, is found less surely (on held-out views at 0.5: 53 % of hands
on the hips found and 17 % of other arms taken for one, against 81 % and 8 % for the near
arm), so it needs 0.9, or the near arm's threshold when the near arm has its hand on the hip
(a hand on one hip makes one on the other likelier). Fitted side views of tuning people
1020-1076 (session 31; 120 clear forearms, 29 % of them hands on the hips): 73.3 % ordered
right, body P2S 3.54 cm; the far arm at 0.5 always: 71.7 %, 3.45, but other forearms taken for
hands on the hips (85.5 % -> 80.3 % of theirs right); at 0.7 or 0.9 always: 70.0 %, 3.70."""
AKIMBO_DEPTHS = (0.387, 0.231, -0.387, -0.231)
"""``OUTPUTS`` of an arm with its hand on the hip: the means over the training views of
``tools/arm_data.py`` (517 near and 463 far such arms, std 0.07-0.09; ``tools/train_arms.py``
prints them). The net's own regression hedges between the two poses: the wrist came out
about level with the elbow, and the fit ordered 57 % of such forearms right (session 28);
the class's mean (the wrist 0.16 torso lengths behind the elbow) orders it as the class does."""
AKIMBO_MAX_WRIST = 0.7
"""Height of a wrist above the hip midpoint (2D torso lengths) over which an arm is not taken
for a hand on the hip: 97 % of the training set's hands on the hips lie below it, 81 % of
other arms too. A waving hand that MediaPipe puts at chest height was taken for one."""
ARM_LANDMARKS = {"L": (11, 13, 15), "R": (12, 14, 16)}
"""MediaPipe shoulder, elbow and wrist of the left and right arm."""
TORSO_SIDE = 2.2
"""Side of :func:`torso_crop`, in 2D torso lengths: elbows out to the side fit in it."""
SIDE_FACING = 0.5
"""|z| of the torso's unit facing (``pifuhd.body.facing.torso_facing``) up to which a view is
a side view (the rule of ``pifuhd.body.gait``)."""


def person_crop(rgb: np.ndarray, mask: np.ndarray, size: int = CROP) -> np.ndarray:
    """(size, size, 4) uint8: the square around an (H, W) person mask (the mask's longer side
    ``CROP_FILL`` of it, centred on its box) cut from an (H, W, 3) [0, 1] image, RGB and the
    mask; black off the mask (the net sees the person, not the background) and beyond the
    image. An empty mask gives zeros."""
    m = np.asarray(mask) > 0.5
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return np.zeros((size, size, 4), np.uint8)
    side = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) / CROP_FILL
    centre = ((xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0)
    return square_crop(rgb, m, centre, side, size)


def torso_crop(
    rgb: np.ndarray, mask: np.ndarray, image_xy: np.ndarray, size: int = CROP
) -> np.ndarray:
    """(size, size, 4) uint8: the square of side ``TORSO_SIDE`` torso lengths around the middle
    of the torso, from MediaPipe's (33, 2) pixel landmarks (shoulders and hips), cut as
    :func:`person_crop` cuts (the arms at about twice its resolution)."""
    shoulders = (image_xy[11] + image_xy[12]) / 2.0
    hips = (image_xy[23] + image_xy[24]) / 2.0
    side = max(TORSO_SIDE * float(np.linalg.norm(shoulders - hips)), 8.0)
    cx, cy = (shoulders + hips) / 2.0
    return square_crop(rgb, np.asarray(mask) > 0.5, (float(cx), float(cy)), side, size)


def square_crop(
    rgb: np.ndarray, mask: np.ndarray, centre: tuple[float, float], side: float, size: int
) -> np.ndarray:
    """(size, size, 4) uint8 RGB and mask of the (x, y) pixel square ``centre`` +- side / 2,
    black off the (H, W) bool ``mask`` and beyond the image."""
    cx, cy = centre
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    rgb8 = (np.clip(rgb, 0.0, 1.0) * mask[..., None] * 255.0 + 0.5).astype(np.uint8)
    both = np.concatenate([rgb8, (mask * 255).astype(np.uint8)[..., None]], axis=2)
    image = Image.fromarray(both, "RGBA")
    crop = image.transform((size, size), Image.Transform.EXTENT, box, Image.Resampling.BILINEAR)
    return np.asarray(crop, np.uint8)


class ArmNet(torch.nn.Module):
    """The CNN and a head: (N, 4, 128, 128) crops in [0, 1], (N, ``FEATURES``) normalised
    landmark features (``pifuhd.body.lift.features``) and the landmark net's own (N, 4)
    ``OUTPUTS`` -> (N, 4) ``OUTPUTS``, as a correction added to the landmark net's, and
    whether each arm (near, far) has its hand on the hip. Five stride-2 convolutions with
    batch norm and global average pooling read the crop."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = (4, 24, 32, 48, 64, 96)
        for a, b in itertools.pairwise(width):
            layers += [torch.nn.Conv2d(a, b, 3, 2, 1), torch.nn.BatchNorm2d(b), torch.nn.ReLU()]
        self.cnn = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Sequential(
            torch.nn.Linear(width[-1] + FEATURES + len(OUTPUTS), 128),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(128, len(OUTPUTS) + 2),
        )

    def forward(
        self, crops: torch.Tensor, feats: torch.Tensor, base: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 4) depths (``OUTPUTS``) and (N, 2) logits of a hand on the hip (near, far)."""
        out = self.head(torch.cat([self.cnn(crops), feats, base], 1))
        return base + out[:, : len(OUTPUTS)], out[:, len(OUTPUTS) :]


def make_net() -> ArmNet:
    """A fresh :class:`ArmNet`."""
    return ArmNet()


def to_input(crops: np.ndarray) -> torch.Tensor:
    """(N, 4, S, S) float32 in [0, 1] from (N, S, S, 4) uint8 crops."""
    return torch.tensor(np.asarray(crops)).permute(0, 3, 1, 2).float() / 255.0


def targets(true: np.ndarray, keypoints: np.ndarray, near: list[str]) -> np.ndarray:
    """(N, 4) float32 training targets (``OUTPUTS``) from (N, 33, 3) true landmarks in the
    cube, the (N, 33, 2) observed cube keypoints (their torso length is the unit, as at
    inference) and each view's nearer arm as the lifted depths give it."""
    return np.stack(
        [arm_outputs(t[:, 2], k, n) for t, k, n in zip(true, keypoints, near, strict=True)]
    ).astype(np.float32)


def arm_outputs(depths: np.ndarray, keypoints: np.ndarray, near: str) -> np.ndarray:
    """(4,) ``OUTPUTS`` of (33,) cube depths (relative to the hip midpoint) in the torso length
    of (33, 2) cube keypoints, ``near`` ("L" or "R") being the nearer arm."""
    hips = (keypoints[23] + keypoints[24]) / 2.0
    scale = max(float(np.linalg.norm((keypoints[11] + keypoints[12]) / 2.0 - hips)), 1e-6)
    out = np.zeros(len(OUTPUTS))
    for k, side in enumerate((near, "R" if near == "L" else "L")):
        s, e, w = ARM_LANDMARKS[side]
        out[2 * k], out[2 * k + 1] = (
            (depths[e] - depths[s]) / scale,
            (depths[w] - depths[s]) / scale,
        )
    return out


def nearer_arm(depths: np.ndarray) -> str:
    """ "L" or "R": the arm whose shoulder is nearer the camera in (33,) depths."""
    return "L" if depths[11] >= depths[12] else "R"


def net_inputs(
    crop: np.ndarray, keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, str]:
    """One view's :class:`ArmNet` inputs (batch of one) from its crop and MediaPipe's
    landmarks, with the lifted depths and the nearer arm they give."""
    loaded = load_lift()
    if loaded is None:
        raise FileNotFoundError("the arm-depth net needs the landmark depth net's weights")
    _, mean, scale = loaded
    z = lifted_depths(keypoints, world, visibility)
    near = nearer_arm(z)
    feats = (features(keypoints[None], world[None], visibility[None]) - mean) / scale
    base = arm_outputs(z, keypoints, near)[None]
    return (
        to_input(crop[None]),
        torch.from_numpy(feats.astype(np.float32)),
        torch.from_numpy(base.astype(np.float32)),
        z,
        near,
    )


@lru_cache(maxsize=1)
def load_arms(path: Path = WEIGHTS) -> ArmNet | None:
    """The trained net (eval mode), or None without a weights file."""
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    net = make_net()
    net.load_state_dict(load_file(str(path)))
    return net.eval()


def predict(
    crop: np.ndarray, keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """(4,) ``OUTPUTS`` for one view (its (S, S, 4) uint8 crop and (33, 2) cube keypoints,
    (33, 3) world landmarks in cube axes, (33,) visibility): ``AKIMBO_DEPTHS`` for an arm the
    net finds with a hand on the hip (``HANDS_ON_HIPS_P``), the landmark net's for the other;
    with the lifted (33,) depths and the nearer arm."""
    net = load_arms()
    if net is None:
        raise FileNotFoundError(f"{WEIGHTS}: no arm-depth weights; run tools/train_arms.py")
    x, feats, base, z, near = net_inputs(crop, keypoints, world, visibility)
    with torch.no_grad():
        _, logit = net(x, feats, base)
    hips = (keypoints[23] + keypoints[24]) / 2.0
    torso = max(float(np.linalg.norm((keypoints[11] + keypoints[12]) / 2.0 - hips)), 1e-6)
    wrists = [ARM_LANDMARKS[s][2] for s in (near, "R" if near == "L" else "L")]
    heights = (keypoints[wrists, 1] - hips[1]) / torso
    found = hands_found(torch.sigmoid(logit).numpy(), heights[None])[0]
    chosen = torch.from_numpy(found).repeat_interleave(2)
    akimbo = torch.tensor(AKIMBO_DEPTHS, dtype=torch.float64)
    return torch.where(chosen, akimbo, base[0].double()).numpy(), z, near


def hands_found(prob: np.ndarray, wrist_height: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) bool: which arms (near, far) have a hand on the hip, from the net's (N, 2)
    probabilities (``HANDS_ON_HIPS_P``; the far arm at the near arm's threshold where the
    near arm has its hand on the hip) and, when given, the (N, 2) wrists' heights above the
    hips in torso lengths (none over ``AKIMBO_MAX_WRIST``)."""
    found = prob > np.array(HANDS_ON_HIPS_P)
    if wrist_height is not None:
        found &= wrist_height <= AKIMBO_MAX_WRIST
    found[:, 1] |= found[:, 0] & (prob[:, 1] > HANDS_ON_HIPS_P[0])
    if wrist_height is not None:
        found &= wrist_height <= AKIMBO_MAX_WRIST
    return found


def hands_on_hips(
    crop: np.ndarray, keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray
) -> list[str]:
    """The arms ("L", "R") whose depths :func:`predict` takes from the net for this view."""
    pred, z, near = predict(crop, keypoints, world, visibility)
    base = arm_outputs(z, keypoints, near)
    far = "R" if near == "L" else "L"
    return [
        s
        for k, s in enumerate((near, far))
        if not np.allclose(pred[2 * k : 2 * k + 2], base[2 * k : 2 * k + 2])
    ]


def arm_depths(
    keypoints: np.ndarray, world: np.ndarray, visibility: np.ndarray, crop: np.ndarray
) -> np.ndarray:
    """The lifted (33,) cube depths (relative to the hip midpoint) with both arms' elbow and
    wrist replaced by the net's, relative to their lifted shoulders."""
    pred, z, near = predict(crop, keypoints, world, visibility)
    hips = (keypoints[23] + keypoints[24]) / 2.0
    scale = float(np.linalg.norm((keypoints[11] + keypoints[12]) / 2.0 - hips))
    out = z.copy()
    for k, side in enumerate((near, "R" if near == "L" else "L")):
        s, e, w = ARM_LANDMARKS[side]
        out[e] = z[s] + pred[2 * k] * scale
        out[w] = z[s] + pred[2 * k + 1] * scale
    return out
