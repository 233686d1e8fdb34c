"""Reading BVH motion capture (Biovision hierarchy) and its forward kinematics.

A BVH file has a ``HIERARCHY`` (joints with an ``OFFSET`` from their parent and ``CHANNELS``;
``End Site`` leaves with an offset only) and a ``MOTION`` block (``Frames:``, ``Frame Time:``,
then one line of channel values per frame, in the order the channels were declared).
Rotations are in degrees and compose in the order listed: for channels ``Zrotation
Xrotation Yrotation`` a joint's local rotation is ``Rz @ Rx @ Ry``; its local transform is the
translation by offset (plus position channels) times that rotation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from pifuhd.errors import InputError

_AXES = {"Xrotation": "x", "Yrotation": "y", "Zrotation": "z"}
_POSITIONS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


@dataclass
class Motion:
    """A parsed BVH file.

    Attributes:
        names: J joint names (End Sites as ``<parent>_end``); parents: J parent indices (-1
            for the root), parents first. offsets: (J, 3) offsets from the parent.
        channels: per joint, its channel names. values: (K, C) channel values per frame.
        frame_time: seconds per frame.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    values: np.ndarray
    frame_time: float

    @property
    def frames(self) -> int:
        return len(self.values)

    def index(self, name: str) -> int:
        return self.names.index(name)


def _fail(path: object, what: str) -> InputError:
    return InputError(f"{path}: not a readable BVH file ({what}); use a Biovision .bvh export")


def parse_bvh(text: str, source: object = "<bvh>") -> Motion:
    """Parse BVH ``text``; ``source`` names the file in errors.

    Raises:
        InputError: malformed text (one line naming ``source`` and what is wrong).
    """
    tokens = text.split()
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise _fail(source, "it ends early")
        pos += 1
        return tokens[pos - 1]

    def number() -> float:
        word = take()
        try:
            return float(word)
        except ValueError:
            raise _fail(source, f"{word!r} is not a number") from None

    if take() != "HIERARCHY":
        raise _fail(source, "no HIERARCHY")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    word = take()
    while word != "MOTION":
        if word in ("ROOT", "JOINT"):
            name = take()
        elif word == "End":
            take()  # "Site"
            name = f"{names[stack[-1]]}_end" if stack else "end"
        elif word == "}":
            if not stack:
                raise _fail(source, "an unmatched '}'")
            stack.pop()
            word = take()
            continue
        else:
            raise _fail(source, f"unexpected {word!r} in the hierarchy")
        if take() != "{" or take() != "OFFSET":
            raise _fail(source, f"joint {name!r} has no OFFSET")
        names.append(name)
        parents.append(stack[-1] if stack else -1)
        offsets.append([number(), number(), number()])
        chans: list[str] = []
        if word != "End":
            if take() != "CHANNELS":
                raise _fail(source, f"joint {name!r} has no CHANNELS")
            count = int(number())
            chans = [take() for _ in range(count)]
            unknown = [c for c in chans if c not in _AXES and c not in _POSITIONS]
            if unknown:
                raise _fail(source, f"unknown channel {unknown[0]!r}")
        channels.append(chans)
        stack.append(len(names) - 1)
        word = take()
    if stack or not names:
        raise _fail(source, "unbalanced braces or no joints")
    if take() != "Frames:":
        raise _fail(source, "no 'Frames:' line")
    frames = int(number())
    if take() != "Frame" or take() != "Time:":
        raise _fail(source, "no 'Frame Time:' line")
    frame_time = number()
    width = sum(len(c) for c in channels)
    rest = tokens[pos:]
    if frames < 1 or frame_time <= 0 or len(rest) != frames * width:
        raise _fail(source, f"{len(rest)} values for {frames} frames of {width} channels")
    try:
        values = np.array(rest, dtype=np.float64).reshape(frames, width)
    except ValueError:
        raise _fail(source, "a motion value is not a number") from None
    return Motion(names, parents, np.array(offsets), channels, values, frame_time)


def read_bvh(path: str | os.PathLike[str]) -> Motion:
    """Parse a BVH file (see :func:`parse_bvh`)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, type(exc).__name__) from exc
    return parse_bvh(text, path)


def world_positions(motion: Motion) -> np.ndarray:
    """(K, J, 3) every joint's position in every frame (the file's units and axes)."""
    k, n = motion.frames, len(motion.names)
    world = np.zeros((k, n, 4, 4))
    column = 0
    for j, (parent, chans) in enumerate(zip(motion.parents, motion.channels, strict=True)):
        local = np.tile(np.eye(4), (k, 1, 1))
        local[:, :3, 3] = motion.offsets[j]
        values = motion.values[:, column : column + len(chans)]
        column += len(chans)
        axes = "".join(_AXES[c] for c in chans if c in _AXES)
        if axes:
            angles = np.stack([values[:, i] for i, c in enumerate(chans) if c in _AXES], 1)
            local[:, :3, :3] = Rotation.from_euler(axes.upper(), angles, degrees=True).as_matrix()
        for i, c in enumerate(chans):
            if c in _POSITIONS:
                local[:, _POSITIONS[c], 3] += values[:, i]
        world[:, j] = local if parent < 0 else world[:, parent] @ local
    return world[:, :, :3, 3]
