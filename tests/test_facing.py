"""Front or back: the left/right swap, the torso's facing from world landmarks, the decision."""

from __future__ import annotations

import numpy as np
import pytest

from pifuhd.body import facing
from pifuhd.body.detect import PersonLandmarks


def _person(facing_camera: bool) -> PersonLandmarks:
    """Landmarks of an upright person, facing the camera or not (MediaPipe's world frame: x
    right, y down, z away), each landmark's index written into its image x for tracking."""
    world = np.zeros((33, 3))
    side = 1.0 if facing_camera else -1.0  # the person's left is on the image's right
    for index, (x, y) in {
        11: (0.2 * side, -0.5),
        12: (-0.2 * side, -0.5),
        23: (0.1 * side, 0.0),
        24: (-0.1 * side, 0.0),
    }.items():
        world[index] = [x, y, 0.0]
    return PersonLandmarks(
        image_xy=np.stack([np.arange(33.0), np.zeros(33)], 1),
        visibility=np.linspace(0.0, 1.0, 33),
        presence=np.ones(33),
        world=world,
        mask=np.zeros((4, 4), np.float32),
        score=1.0,
        image_z=np.arange(33.0) * 10,
    )


def test_mirror_index_swaps_pairs_and_is_its_own_inverse() -> None:
    m = facing.mirror_index()
    assert m[11] == 12 and m[12] == 11 and m[0] == 0 and m[31] == 32
    np.testing.assert_array_equal(m[m], np.arange(33))


def test_mirrored_relabels_every_field() -> None:
    p = facing.mirrored(_person(True))
    assert p.image_xy[11, 0] == 12 and p.image_xy[12, 0] == 11
    assert p.visibility[15] == pytest.approx(16 / 32)
    assert p.image_z[13] == 140
    np.testing.assert_array_equal(p.world[11], _person(True).world[12])


def test_torso_facing_sign() -> None:
    assert facing.torso_facing(_person(True).world) == pytest.approx(1.0)
    assert facing.torso_facing(_person(False).world) == pytest.approx(-1.0)
    # mirroring a frontal reading makes it a backward one
    assert facing.torso_facing(facing.mirrored(_person(True)).world) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("facing_camera", "score", "swapped"),
    [(True, 0.9, False), (True, 0.1, True), (False, 0.1, False), (False, 0.9, True)],
)
def test_facing_corrected_swaps_only_on_disagreement(
    monkeypatch, facing_camera: bool, score: float, swapped: bool
) -> None:
    monkeypatch.setattr(facing, "face_score", lambda rgb, person: score)
    person = _person(facing_camera)
    out, did = facing.facing_corrected(np.zeros((8, 8, 3), np.float32), person)
    assert did is swapped
    assert bool(out.image_xy[11, 0] == 12) is swapped


def test_side_views_are_left_alone(monkeypatch) -> None:
    def fail(*_):
        raise AssertionError("the face test must not run for a side view")

    monkeypatch.setattr(facing, "face_score", fail)
    person = _person(True)
    person.world[[11, 12, 23, 24], 0] *= 0.1  # shoulders and hips almost in line: seen sideways
    person.world[11, 2], person.world[12, 2] = 0.2, -0.2
    out, did = facing.facing_corrected(np.zeros((8, 8, 3), np.float32), person)
    assert not did and out is person


def test_face_score_finds_no_face_in_a_blank_head_box() -> None:
    person = _person(True)
    person.image_xy[:] = [[64.0, 64.0]] * 33
    person.image_xy[11], person.image_xy[12] = [30.0, 100.0], [98.0, 100.0]
    assert facing.face_score(np.full((128, 128, 3), 0.5, np.float32), person) == 0.0
