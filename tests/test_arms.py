"""The arm-depth net (``pifuhd.body.arms``): its crop, its targets, and its forearm order on
held-out side views.

``tests/assets/arms_heldout.npz``: views of synthetic people the shipped weights never saw
(``tools/arm_data.py``, seeds ``tools/train_arms.py --val-every`` divides; people with hands on
the hips first): the person crops, MediaPipe's observations, the true landmarks, the arm
families (near arm, far arm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pifuhd.body.arms import (
    AKIMBO_DEPTHS,
    CROP,
    CROP_FILL,
    arm_depths,
    arm_outputs,
    hands_found,
    hands_on_hips,
    load_arms,
    nearer_arm,
    person_crop,
    predict,
    targets,
)
from pifuhd.body.lift import lifted_depths

ASSET = Path(__file__).parent / "assets" / "arms_heldout.npz"


def test_person_crop_centres_the_mask_and_blacks_out_the_background() -> None:
    rgb = np.full((300, 400, 3), 0.5, np.float32)
    mask = np.zeros((300, 400), bool)
    mask[60:240, 100:160] = True  # 180 tall, 60 wide
    rgb[mask] = [1.0, 0.0, 0.0]
    crop = person_crop(rgb, mask)
    assert crop.shape == (CROP, CROP, 4) and crop.dtype == np.uint8
    rows = np.nonzero(crop[:, :, 3].max(1) > 127)[0]
    cols = np.nonzero(crop[:, :, 3].max(0) > 127)[0]
    assert abs((rows[-1] + 1 - rows[0]) - CROP_FILL * CROP) <= 2
    assert abs((cols[-1] + 1 - cols[0]) - CROP_FILL * CROP / 3.0) <= 2
    assert abs((rows[0] + rows[-1] + 1) / 2 - CROP / 2) <= 1
    assert abs((cols[0] + cols[-1] + 1) / 2 - CROP / 2) <= 1
    inside = crop[CROP // 2, CROP // 2]
    assert inside[0] > 250 and inside[1] < 5 and inside[3] > 250
    assert crop[5, 5].max() == 0  # background (grey in the photo) is black
    assert person_crop(rgb, np.zeros((300, 400), bool)).max() == 0


def test_targets_are_depths_from_the_near_and_far_shoulders() -> None:
    true = np.zeros((1, 33, 3))
    true[0, 11, 2], true[0, 12, 2] = 0.1, -0.1  # left shoulder nearer
    true[0, 13, 2], true[0, 15, 2] = 0.3, 0.2  # left elbow, wrist
    true[0, 14, 2], true[0, 16, 2] = -0.3, -0.2
    kp = np.zeros((1, 33, 2))
    kp[0, [11, 12], 1] = 0.5  # shoulders 0.5 above the hips: torso length 0.5
    out = targets(true, kp, ["L"])
    np.testing.assert_allclose(out[0], [0.4, 0.2, -0.4, -0.2], atol=1e-6)
    swapped = targets(true, kp, ["R"])  # told the right shoulder is the near one
    np.testing.assert_allclose(swapped[0], [-0.4, -0.2, 0.4, 0.2], atol=1e-6)
    assert nearer_arm(true[0, :, 2]) == "L" and nearer_arm(-true[0, :, 2]) == "R"


@pytest.fixture(scope="module")
def views() -> dict[str, np.ndarray]:
    with np.load(ASSET) as data:
        return {k: data[k] for k in data.files}


def test_arm_depths_replace_only_elbows_and_wrists(views: dict[str, np.ndarray]) -> None:
    assert load_arms() is not None, "the package ships the arm-depth weights"
    kp, world, vis = (views[k][0].astype(np.float64) for k in ("kp", "world", "vis"))
    crop = views["crop"][0]
    z = lifted_depths(kp, world, vis)
    out = arm_depths(kp, world, vis, crop)
    changed = np.nonzero(out != z)[0].tolist()
    assert set(changed) <= {13, 14, 15, 16} and len(changed) >= 3
    pred, z2, near = predict(crop, kp, world, vis)
    np.testing.assert_array_equal(z2, z)
    assert near == nearer_arm(z)
    np.testing.assert_allclose(arm_outputs(out, kp, near), pred, atol=1e-9)


def test_net_orders_side_view_forearms_better_than_the_landmark_net(
    views: dict[str, np.ndarray],
) -> None:
    net, lift, truth = [], [], []
    for i in range(len(views["crop"])):
        kp, world, vis = (views[k][i].astype(np.float64) for k in ("kp", "world", "vis"))
        pred, z, near = predict(views["crop"][i], kp, world, vis)
        net.append(pred)
        lift.append(arm_outputs(z, kp, near))
        truth.append(arm_outputs(views["true"][i, :, 2].astype(np.float64), kp, near))
    net, lift, truth = np.array(net), np.array(lift), np.array(truth)
    dt = truth[:, [1, 3]] - truth[:, [0, 2]]
    clear = np.abs(dt) > 0.1
    right_net = np.sign(net[:, [1, 3]] - net[:, [0, 2]]) == np.sign(dt)
    right_lift = np.sign(lift[:, [1, 3]] - lift[:, [0, 2]]) == np.sign(dt)
    akimbo = views["families"] == "akimbo"  # (near, far) as the lifted depths order them
    assert clear.sum() >= 50 and (clear & akimbo).sum() >= 30
    # measured (session 31's AKIMBO_DEPTHS, hands_found): 0.673 against 0.545 (55 forearms)
    assert right_net[clear].mean() >= right_lift[clear].mean() + 0.08
    # hands on the hips: 0.583 against 0.333; the near arm 0.938 against 0.562 (16)
    assert right_net[clear & akimbo].mean() >= right_lift[clear & akimbo].mean() + 0.1
    near = clear[:, 0] & akimbo[:, 0]
    assert right_net[near, 0].mean() >= 0.8 and right_lift[near, 0].mean() <= 0.7
    # the other arms nearly as the landmark net orders them: 0.842 against 0.947 (19
    # forearms; two far arms beside a near hand on the hip taken for hands on the hips)
    assert right_net[clear & ~akimbo].mean() >= right_lift[clear & ~akimbo].mean() - 0.11


def test_hands_on_hips_names_the_arms_whose_depths_the_net_takes(
    views: dict[str, np.ndarray],
) -> None:
    named, near_found = [], []
    for i in range(len(views["crop"])):
        kp, world, vis = (views[k][i].astype(np.float64) for k in ("kp", "world", "vis"))
        sides = hands_on_hips(views["crop"][i], kp, world, vis)
        pred, z, near = predict(views["crop"][i], kp, world, vis)
        base = arm_outputs(z, kp, near)
        far = "R" if near == "L" else "L"
        for k, side in enumerate((near, far)):
            taken = not np.allclose(pred[2 * k : 2 * k + 2], base[2 * k : 2 * k + 2])
            assert (side in sides) == taken
            if taken:  # the pose's own depths: the wrist 0.16 torso lengths nearer the body
                np.testing.assert_allclose(
                    pred[2 * k : 2 * k + 2], AKIMBO_DEPTHS[2 * k : 2 * k + 2]
                )
                assert abs(pred[2 * k + 1]) < abs(pred[2 * k]) - 0.15
        named += sides
        if views["families"][i, 0] == "akimbo":
            near_found.append(near in sides)
    assert set(named) <= {"L", "R"}
    assert len(near_found) >= 15 and np.mean(near_found) >= 0.7


def test_far_hand_on_the_hip_needs_more_unless_the_near_one_is_found() -> None:
    prob = np.array([[0.6, 0.6], [0.4, 0.6], [0.4, 0.95], [0.6, 0.4], [0.45, 0.85]])
    found = hands_found(prob)
    expected = [[True, True], [False, False], [False, True], [True, False], [False, False]]
    assert found.tolist() == expected
    # a wrist at chest height or above is no hand on the hip, and does not vouch for the far arm
    heights = np.array([[0.3, 0.2], [0.9, 0.2], [0.3, 1.5], [0.9, 0.2], [0.2, 0.2]])
    found = hands_found(prob, heights)
    expected = [[True, True], [False, False], [False, False], [False, False], [False, False]]
    assert found.tolist() == expected
