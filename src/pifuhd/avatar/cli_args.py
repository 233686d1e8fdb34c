"""The ``avatar`` and ``animate`` subcommands (parsing and printing; the work is in
``pifuhd.avatar.pipeline`` and ``pifuhd.avatar.motion``, imported on use)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pifuhd.cli_common import input_images, print_batch
from pifuhd.cli_parsers import add_texture_arguments
from pifuhd.errors import InputError

MOTIONS = "walk,wave"
"""Built-in clips (``pifuhd.avatar.motion.CLIPS``; a test keeps the two equal)."""


def add_avatar_parsers(sub: Any) -> None:
    """Add ``pifuhd avatar`` and ``pifuhd animate`` to an ``add_subparsers()`` object."""
    av = sub.add_parser(
        "avatar",
        help="photos -> rigged, animated avatars (<stem>_avatar.glb, _canonical.obj, ...)",
        description="Reconstruct each photo's person, rig the mesh with the body fitted to the "
        "photo (Anny's skeleton), and write it in rest pose with a skin and motion clips "
        "(glTF 2.0, plays in any glTF viewer). Without --checkpoint the bundled model is used.",
        epilog="example:\n  pifuhd avatar examples/person.png -o avatars -r 256\n"
        "  pifuhd avatar photos/ -o avatars --motions walk --frame pixel",
    )
    av.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    av.add_argument("-c", "--checkpoint", type=Path, help="default: the bundled model")
    av.add_argument("-o", "--out", type=Path, default=Path("results"), help="output folder")
    av.add_argument("-r", "--resolution", type=int, default=256, help="grid samples per axis")
    av.add_argument(
        "--motions", default=MOTIONS, help=f"built-in clips, comma-separated ({MOTIONS}; none)"
    )
    av.add_argument(
        "--frame",
        choices=["cube", "pixel"],
        default="cube",
        help="frame of <stem>_posed.obj, as reconstruct",
    )
    av.add_argument(
        "--canonical",
        choices=["learned", "pullback", "unpose"],
        default="learned",
        help="rest-pose mesh: CAR's learned canonical model (--canonical-model), posed and "
        "corrected onto the photo's surface; the photo's occupancy pulled back into the rest "
        "pose and meshed there; or the reconstruction unposed vertex by vertex (faster; large "
        "sheets where limbs were bent far from the rest pose, e.g. sitting or running)",
    )
    av.add_argument(
        "--canonical-model",
        type=Path,
        help="with --canonical learned: a model (or run folder) from `pifuhd train avatar`; "
        "default: the bundled one",
    )
    av.add_argument(
        "--sdf-refine",
        type=int,
        default=0,
        metavar="N",
        help="steps of CAR's posed refinement network before the vertex refinement (0: off; "
        "docs/avatar.md: on this CPU it does not improve the avatar yet)",
    )
    av.add_argument(
        "--hyper",
        type=Path,
        help="with --sdf-refine: a hypernetwork from `pifuhd train avatar-hyper` to start it "
        "(default: a sphere)",
    )
    add_texture_arguments(av)
    av.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    av.add_argument("--rect", help='crop "x y w h" in pixels (all inputs)')
    av.add_argument("--keypoints", type=Path, help="OpenPose BODY_25 JSON (one input)")
    av.add_argument("--mask", type=Path, help="person mask image (one input)")
    av.set_defaults(func=cmd_avatar)

    an = sub.add_parser(
        "animate",
        help="add motion clips (built-in or BVH) to an avatar GLB",
        description="Pose an avatar made by `pifuhd avatar` with built-in motions, posed on "
        "its own body shape; clips of the same name are replaced.",
        epilog="example:\n  pifuhd animate avatars/person_avatar.glb walk -o person_walk.glb\n"
        "  pifuhd animate avatars/person_avatar.glb 02_01.bvh,wave -o person_mocap.glb",
    )
    an.add_argument("avatar", type=Path, help="a GLB written by pifuhd avatar")
    an.add_argument(
        "motions",
        help=f"comma-separated: built-in clips ({MOTIONS}) and/or BVH motion-capture files "
        "(CMU, Mixamo and other skeletons with the usual joint names; retargeted by limb "
        "directions, the clip named after the file)",
    )
    an.add_argument("-o", "--out", type=Path, required=True, help="the GLB to write")
    an.add_argument("--frames", type=int, default=24, help="keyframes per loop")
    an.set_defaults(func=cmd_animate)


def cmd_avatar(args: argparse.Namespace) -> int:
    from pifuhd.avatar.pipeline import avatar_files, parse_motions
    from pifuhd.inference import Reconstructor

    motions = parse_motions(args.motions)
    if args.checkpoint is None:
        from pifuhd.weights import default_checkpoint

        args.checkpoint = default_checkpoint()
    images = input_images(args)
    model = None
    if args.canonical_model is not None:
        if args.canonical != "learned":
            raise InputError("--canonical-model needs --canonical learned")
        from pifuhd.avatar.train_canonical import load_canonical_model

        model = load_canonical_model(args.canonical_model)
    hyper = None
    if args.hyper is not None:
        from pifuhd.avatar.hyper import load_hyper

        hyper = load_hyper(args.hyper)
    if args.sdf_refine < 0:
        raise InputError(f"--sdf-refine {args.sdf_refine}: give 0 or more steps")
    reconstructor = Reconstructor(
        args.checkpoint,
        device=args.device,
        resolution=args.resolution,
        texture=args.texture is not None,
        texture_mode=args.texture or "blend",
        delight=args.delight,
    )
    reports = avatar_files(
        reconstructor,
        images,
        args.out,
        motions,
        frame=args.frame,
        on_start=lambda image: print(f"making an avatar of {image}", file=sys.stderr),
        canonical=args.canonical,
        model=model,
        sdf_refine=args.sdf_refine,
        hyper=hyper,
        rect=args.rect,
        keypoints=args.keypoints,
        mask=args.mask,
    )
    return print_batch(reports)


def cmd_animate(args: argparse.Namespace) -> int:
    from pifuhd.avatar.motion import add_motions
    from pifuhd.avatar.pipeline import parse_motions

    motions = parse_motions(args.motions, files=True)
    if not motions:
        raise InputError("name at least one motion (built in: walk, wave)")
    path = add_motions(args.avatar, motions, args.out, args.frames)
    print(f"ok {args.avatar} -> {path}")
    return 0
