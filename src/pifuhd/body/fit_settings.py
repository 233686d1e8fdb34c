"""The body fitter's settings: weights and iteration counts of its three stages
(:mod:`pifuhd.body.fit`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FitSettings:
    """Weights and iteration counts of the three stages."""

    lift: bool = True
    """Use the learned landmark depths (``pifuhd.body.lift``, when installed) for the 3D terms."""
    gait: bool = True
    """Relabel a side view's legs where the arms' counter-swing contradicts MediaPipe's labels
    (``pifuhd.body.gait``; applied by ``pifuhd.body.photo.fit_person``)."""
    raised: bool = True
    """Raise an arm into the person mask above the head where MediaPipe has no hand there
    (``pifuhd.body.raised``; applied by ``pifuhd.body.photo.fit_person``, before ``feet``)."""
    arms: bool = True
    """A side view's hands on the hips: their depths from the photo (``pifuhd.body.arms``)."""
    feet: bool = True
    """Put a side view's collapsed feet back on the two feet the person mask shows
    (``pifuhd.body.feet``; applied by ``pifuhd.body.photo.fit_person``, before ``gait``)."""
    legs: bool = True
    """Legs in front/back views on their own side and leg of the mask (``pifuhd.body.stance``)."""
    iterations: tuple[int, int, int] = (20, 50, 120)
    """Adam steps: stage 1 (camera, torso), 2 (all bones), 3 (shape, silhouette; 60: IoU -0.003)."""
    learning_rate: float = 0.03
    sigma: float = 0.04
    """Geman-McClure scale of the 2D term, cube units (about 4 cm)."""
    w_direction: float = 1.5
    w_pose: float = 1.0
    w_shape: float = 0.2
    w_upright: float = 0.3
    """Keeps the body's up axis near the image's up: photos show people upright, and a
    MediaPipe torso that leans in depth or a half-visible person must not tip the body over."""
    threads: int = 1
    """Torch threads while fitting (0: the process's count). On a shared 2-core CPU one thread
    fitted a 512^2 photo in 3.1-3.4 s, two in 21-27 s."""
    w_legs: float = 0.0
    """Weight of the standing-legs prior (``fit_terms.leg_lean_term``); 0 turns it off."""
    w_torso: float = 0.0
    """Weight of the upright-torso prior (``fit_terms.torso_lean_term``); 0 turns it off."""
    twist_free: float = 1.4
    """Upper-limb twist (radians about the bone) the pose prior leaves free: about 80 degrees,
    as far as a shoulder turns in or out. Hands on the hips need about 60: with every twist
    penalised (0.0), fits of such people swung the forearms forward instead (wrists 20-30 cm
    in front of the true ones)."""
    w_twist: float = 1.0
    """Weight of the upper-limb twist beyond ``twist_free`` in the pose prior."""
    w_depth: float = 1.0
    """Weight of the lifted-depth term (``fit_terms.depth_term``, with ``lift``; 0: off). On
    people 1020-1031 it took MPJPE 5.82 -> 4.65 cm, body P2S 4.45 -> 3.12 (0.5 and 3: worse)."""
    sigma_depth: float = 0.06
    """Geman-McClure scale of the depth term, cube units (about 6 cm)."""
    w_inside: float = 0.25
    """Weight of the silhouette's inside term in front and back views (``arms.SIDE_FACING``).
    Tuning people 1020-1029 / 1030-1039, front and back views: IoU 0.867 / 0.873 at 0.5 (before
    session 35), 0.870 / 0.880 at 0.25, 0.865 / 0.880 at 0.1; MPJPE and P2S fell with it."""
    w_inside_side: float = 0.75
    """The same in side views, where clothes and hair flare least from the body: IoU 0.842 /
    0.848 / 0.850 / 0.844 at 0.25 / 0.5 / 0.75 / 1 (people 1020-1029; 1030-1039: 0.851 at 0.5,
    0.853 at 0.75)."""
    inside_edge: float = 0.004
    """How far inside the mask's edge (cube units; 0.004 is about 0.4 cm, half a pixel of the
    256-pixel mask) the inside term starts to count a body point as out, in front and back
    views: clothes lie over the body. Tuning people 1020-1039, front and back views: IoU
    0.8745 / 0.8753 / 0.8734 at 0 / 0.5 / 1 mask pixel (0.0078 cube units a pixel)."""
    inside_edge_side: float = 0.016
    """The same in side views (about 1.6 cm, 2 mask pixels), where the inside term also weighs
    more. Side views of tuning people 1020-1039 / 1040-1059: IoU 0.8523 / 0.8455 at half a
    pixel, 0.8551 / 0.8512 at 1.5, 0.8560 / 0.8533 at 2, 0.8568 / 0.8536 at 2.5; 1020-1039:
    0.8545 at 1, 0.8477 at 3.5, 0.8297 at 5 (thin limbs lose the mask altogether)."""
    w_coverage: float = 0.1
    coverage_saturate: tuple[int, float] = (30, 3.0)
    """From this stage-3 step on, coverage saturates at this scale (``coverage_term``; placed
    first, a body is not pulled by loose clothes). Tuning people: silhouette IoU 0.832 -> 0.844."""
    min_weight: float = 0.2
    """2D weight of a landmark MediaPipe calls invisible (its visibility, at least this)."""
    w_floor: float = 0.15
    """Weight in stage 3 of the soles reaching the mask's lowest row (``mask_terms.floor_term``)
    in side views (``arms.SIDE_FACING``). Side views of tuning people 1020-1029 had the soles
    1.6 cm too high (median), the feet band the most missed of the true silhouette; with it,
    IoU 0.8531 -> 0.8572 (side 0.839 -> 0.847). In front views it moved the whole body down
    instead (0.867 -> 0.857 at 0.1), so it is off there."""
    w_ceiling: float = 0.15
    """Weight in stage 3 of the body's highest point reaching the mask's top where the mask
    rises above the head (a raised hand; ``mask_terms.ceiling_term``), in every view. Raised
    hands fitted 6-18 cm short of the mask's top; on tuning people 1020-1029 / 1030-1039 /
    1040-1059 IoU 0.8598 / 0.8662 / 0.8626 -> 0.8608 / 0.8669 / 0.8630 (the views it fires on:
    top gap 24-46 px of 512 -> 0-4). Rising thresholds (1.1, 0.36) in place of
    ``raised``'s: 0.8609 / 0.8669 / 0.8621."""
