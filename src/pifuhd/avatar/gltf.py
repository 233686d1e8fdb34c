"""Rigged avatars as binary glTF 2.0 (``.glb``): a rest-pose mesh, a skin and animation clips.

Layout of a written file (read back by :func:`read_avatar_glb`):

- node 0: the skinned mesh (no transform, a scene root, as the glTF spec asks of skinned
  meshes); nodes 1..J: the joints, named after the rig's bones, nested as the rig's parents,
  each with a translation and rotation: the pose the avatar shows when no clip plays (the
  photo's pose);
- one skin: the joints in rig order, inverse bind matrices
  (:func:`pifuhd.avatar.rig.inverse_bind_matrices`);
- one mesh primitive: POSITION (rest pose, metres), NORMAL, JOINTS_0 / WEIGHTS_0 (four
  influences, weights summing to 1), COLOR_0 when the avatar has vertex colours;
- one animation per clip: linear translation and rotation channels for every joint;
- ``asset.extras["pifuhd"]``: the body-model facts a later ``pifuhd animate`` needs.

Frame: :mod:`pifuhd.avatar.rig` (metres, y up, facing +z).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pifuhd.avatar.rig import Rig, inverse_bind_matrices, world_matrices
from pifuhd.errors import PifuhdError
from pifuhd.io.atomic import atomic_write

GLTF_MISSING = "rigged avatars need `pygltflib`: pip install pygltflib"

_FLOAT, _USHORT, _UINT = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass
class Clip:
    """An animation: K keyframes of every joint's local pose (linear interpolation).

    Attributes:
        name: shown by viewers; times: (K,) seconds, increasing.
        translations: (K, J, 3) local joint translations; rotations: (K, J, 4) xyzw unit
            quaternions (as :func:`pifuhd.avatar.rig.local_poses` gives them).
    """

    name: str
    times: np.ndarray
    translations: np.ndarray
    rotations: np.ndarray


@dataclass
class SkinnedAvatar:
    """A rest-pose mesh bound to a rig, a pose to show and clips to play (avatar frame).

    Attributes:
        rig: the skeleton. vertices: (V, 3) rest-pose positions, metres. faces: (F, 3) int,
            counter-clockwise from outside. joints, weights: (V, 4) bone indices and weights
            (:func:`pifuhd.avatar.rig.top_influences`). colors: (V, 3) in [0, 1] or None.
        pose: ((J, 3) translations, (J, 4) rotations): the joints' local pose in the file.
        clips: animations. extras: JSON-ready facts stored under ``asset.extras["pifuhd"]``.
    """

    rig: Rig
    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    pose: tuple[np.ndarray, np.ndarray]
    colors: np.ndarray | None = None
    clips: list[Clip] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


def _gltf():
    try:
        import pygltflib
    except ImportError as exc:
        raise PifuhdError(GLTF_MISSING) from exc
    return pygltflib


def skinned_vertices(avatar: SkinnedAvatar, translations: np.ndarray, rotations: np.ndarray):
    """(V, 3) vertices as a glTF viewer skins them for the joints' local pose
    ((J, 3) translations, (J, 4) xyzw rotations)."""
    joint_mats = world_matrices(avatar.rig, translations, rotations) @ inverse_bind_matrices(
        avatar.rig
    )
    blend = np.einsum("vk,vkab->vab", avatar.weights, joint_mats[avatar.joints.astype(np.int64)])
    return np.einsum("vab,vb->va", blend[:, :3, :3], avatar.vertices) + blend[:, :3, 3]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals (``+z`` for unused vertices)."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.maximum(length, 1e-30), [0.0, 0.0, 1.0])


class _Blob:
    """The binary chunk under construction: one buffer view per array, 4-byte aligned."""

    def __init__(self, gltf_mod, doc) -> None:
        self.g, self.doc, self.data = gltf_mod, doc, bytearray()

    def add(
        self,
        array: np.ndarray,
        component: int,
        kind: str,
        target: int | None = None,
        bounds: bool = False,
        normalized: bool = False,
    ) -> int:
        raw = np.ascontiguousarray(array).tobytes()
        self.data.extend(b"\0" * (-len(self.data) % 4))
        self.doc.bufferViews.append(
            self.g.BufferView(
                buffer=0, byteOffset=len(self.data), byteLength=len(raw), target=target
            )
        )
        self.data.extend(raw)
        flat = np.asarray(array).reshape(len(array), -1)
        accessor = self.g.Accessor(
            bufferView=len(self.doc.bufferViews) - 1,
            componentType=component,
            count=len(array),
            type=kind,
            normalized=normalized or None,
        )
        if bounds:
            accessor.min = [float(v) for v in flat.min(axis=0)]
            accessor.max = [float(v) for v in flat.max(axis=0)]
        self.doc.accessors.append(accessor)
        return len(self.doc.accessors) - 1


def _check(avatar: SkinnedAvatar) -> None:
    n_bones, n_vertices = len(avatar.rig.labels), len(avatar.vertices)
    if avatar.joints.shape != (n_vertices, 4) or avatar.weights.shape != (n_vertices, 4):
        raise ValueError("joints and weights must be (V, 4)")
    if int(avatar.joints.max()) >= n_bones:
        raise ValueError("a joint index is beyond the rig's bones")
    if not np.allclose(avatar.weights.sum(axis=1), 1.0, atol=1e-5):
        raise ValueError("each vertex's weights must sum to 1")
    for clip in avatar.clips:
        k = len(clip.times)
        if clip.translations.shape != (k, n_bones, 3) or clip.rotations.shape != (k, n_bones, 4):
            raise ValueError(f"clip {clip.name!r}: keyframes must be (K, J, 3) and (K, J, 4)")
        if k < 1 or np.any(np.diff(clip.times) <= 0):
            raise ValueError(f"clip {clip.name!r}: times must increase")


def glb_bytes(avatar: SkinnedAvatar) -> bytes:
    """The avatar as a binary glTF 2.0 file (see the module docstring)."""
    _check(avatar)
    g = _gltf()
    rig, n_bones = avatar.rig, len(avatar.rig.labels)
    doc = g.GLTF2(
        asset=g.Asset(generator="pifuhd", version="2.0", extras={"pifuhd": avatar.extras}),
        scene=0,
    )
    blob = _Blob(g, doc)
    f32 = np.float32
    attributes = g.Attributes(
        POSITION=blob.add(avatar.vertices.astype(f32), _FLOAT, "VEC3", _ARRAY_BUFFER, True),
        NORMAL=blob.add(
            vertex_normals(avatar.vertices, avatar.faces).astype(f32),
            _FLOAT,
            "VEC3",
            _ARRAY_BUFFER,
        ),
        JOINTS_0=blob.add(avatar.joints.astype(np.uint16), _USHORT, "VEC4", _ARRAY_BUFFER),
        WEIGHTS_0=blob.add(avatar.weights.astype(f32), _FLOAT, "VEC4", _ARRAY_BUFFER),
    )
    if avatar.colors is not None:
        attributes.COLOR_0 = blob.add(
            np.clip(avatar.colors, 0, 1).astype(f32), _FLOAT, "VEC3", _ARRAY_BUFFER
        )
    indices = blob.add(
        avatar.faces.astype(np.uint32).reshape(-1, 1),
        _UINT,
        "SCALAR",
        _ELEMENT_ARRAY_BUFFER,
        True,
    )
    doc.materials.append(
        g.Material(
            name="avatar",
            pbrMetallicRoughness=g.PbrMetallicRoughness(metallicFactor=0.0, roughnessFactor=1.0),
        )
    )
    doc.meshes.append(
        g.Mesh(
            name="avatar",
            primitives=[g.Primitive(attributes=attributes, indices=indices, material=0)],
        )
    )
    ibm = inverse_bind_matrices(rig).transpose(0, 2, 1).astype(f32)  # column-major
    doc.skins.append(
        g.Skin(
            name="body",
            joints=list(range(1, n_bones + 1)),
            inverseBindMatrices=blob.add(ibm, _FLOAT, "MAT4"),
        )
    )
    doc.nodes.append(g.Node(name="avatar", mesh=0, skin=0))
    t, r = avatar.pose
    children = rig.children
    for j, label in enumerate(rig.labels):
        doc.nodes.append(
            g.Node(
                name=label,
                translation=[float(v) for v in t[j]],
                rotation=[float(v) for v in r[j]],
                children=[c + 1 for c in children[j]] or None,
            )
        )
    roots = [j + 1 for j, p in enumerate(rig.parents) if p < 0]
    doc.skins[0].skeleton = roots[0]
    doc.scenes.append(g.Scene(name="avatar", nodes=[0, *roots]))
    for clip in avatar.clips:
        doc.animations.append(_animation(g, blob, clip, n_bones))
    doc.buffers.append(g.Buffer(byteLength=len(blob.data)))
    doc.set_binary_blob(bytes(blob.data))
    return b"".join(doc.save_to_bytes())


def _animation(g, blob: _Blob, clip: Clip, n_bones: int):
    times = blob.add(clip.times.astype(np.float32).reshape(-1, 1), _FLOAT, "SCALAR", None, True)
    samplers, channels = [], []
    for j in range(n_bones):
        for path, values, kind in (
            ("translation", clip.translations[:, j], "VEC3"),
            ("rotation", clip.rotations[:, j], "VEC4"),
        ):
            out = blob.add(values.astype(np.float32), _FLOAT, kind)
            samplers.append(g.AnimationSampler(input=times, output=out, interpolation="LINEAR"))
            channels.append(
                g.AnimationChannel(
                    sampler=len(samplers) - 1,
                    target=g.AnimationChannelTarget(node=j + 1, path=path),
                )
            )
    return g.Animation(name=clip.name, samplers=samplers, channels=channels)


def write_avatar_glb(avatar: SkinnedAvatar, path: str | os.PathLike[str]) -> Path:
    """Write ``avatar`` to ``path`` (a temporary file renamed into place)."""
    data = glb_bytes(avatar)
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _accessor_array(doc, blob: bytes, index: int) -> np.ndarray:
    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    dtype = {_FLOAT: np.float32, _USHORT: np.uint16, _UINT: np.uint32, 5121: np.uint8}[
        acc.componentType
    ]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    if view.byteStride not in (None, 0, width * np.dtype(dtype).itemsize):
        raise ValueError("interleaved buffer views are not supported")
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    flat = np.frombuffer(blob, dtype, acc.count * width, start)
    return flat.reshape(acc.count, width) if width > 1 else flat.copy()


def read_avatar_glb(path: str | os.PathLike[str]) -> SkinnedAvatar:
    """An avatar written by :func:`write_avatar_glb` (other skinned files with one skinned
    mesh primitive and joints nested like a rig also read).

    Raises:
        PifuhdError: the file is not a glTF binary with a skinned mesh, naming the file.
    """
    g = _gltf()
    problem = f"{path}: not a rigged glTF binary avatar (make one with `pifuhd avatar`)"
    with open(path, "rb") as fh:
        if fh.read(4) != b"glTF":
            raise PifuhdError(problem)
    try:
        doc = g.GLTF2().load_binary(str(path))
        blob = doc.binary_blob()
        node = next(n for n in doc.nodes if n.mesh is not None and n.skin is not None)
    except (struct.error, ValueError, StopIteration, KeyError, TypeError, AttributeError) as exc:
        raise PifuhdError(problem) from exc
    skin = doc.skins[node.skin]
    prim = doc.meshes[node.mesh].primitives[0]
    joint_nodes = list(skin.joints)
    parent_of = {c: i for i, n in enumerate(doc.nodes) for c in (n.children or [])}
    parents = tuple(
        joint_nodes.index(parent_of[n]) if parent_of.get(n) in joint_nodes else -1
        for n in joint_nodes
    )
    ibm = _accessor_array(doc, blob, skin.inverseBindMatrices).reshape(-1, 4, 4)
    heads = -ibm[:, 3, :3].astype(np.float64)  # column-major: the translation is row 3
    rig = Rig(tuple(doc.nodes[n].name for n in joint_nodes), parents, heads)
    attrs = prim.attributes
    pose = (
        np.array([doc.nodes[n].translation or [0.0, 0.0, 0.0] for n in joint_nodes], float),
        np.array([doc.nodes[n].rotation or [0.0, 0.0, 0.0, 1.0] for n in joint_nodes], float),
    )
    clips = [_read_clip(doc, blob, a, joint_nodes, pose) for a in doc.animations]
    colors = None
    if attrs.COLOR_0 is not None:
        colors = _accessor_array(doc, blob, attrs.COLOR_0)[:, :3].astype(np.float64)
    return SkinnedAvatar(
        rig=rig,
        vertices=_accessor_array(doc, blob, attrs.POSITION).astype(np.float64),
        faces=_accessor_array(doc, blob, prim.indices).reshape(-1, 3).astype(np.int64),
        joints=_accessor_array(doc, blob, attrs.JOINTS_0).astype(np.uint16),
        weights=_accessor_array(doc, blob, attrs.WEIGHTS_0).astype(np.float32),
        pose=pose,
        colors=colors,
        clips=clips,
        extras=dict((doc.asset.extras or {}).get("pifuhd", {})),
    )


def _read_clip(doc, blob: bytes, animation, joint_nodes: list[int], pose) -> Clip:
    times = None
    trans = {j: pose[0][j] for j in range(len(joint_nodes))}
    rots = {j: pose[1][j] for j in range(len(joint_nodes))}
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        if times is None:
            times = _accessor_array(doc, blob, sampler.input).astype(np.float64)
        j = joint_nodes.index(channel.target.node)
        values = _accessor_array(doc, blob, sampler.output).astype(np.float64)
        (trans if channel.target.path == "translation" else rots)[j] = values
    times = np.zeros(1) if times is None else times
    return Clip(
        animation.name or "clip", times, _keyframes(trans, len(times)), _keyframes(rots, len(times))
    )


def _keyframes(per_joint: dict[int, np.ndarray], k: int) -> np.ndarray:
    """(K, J, W) from joint -> (K, W) keyframes or a (W,) constant."""
    return np.stack(
        [np.broadcast_to(per_joint[j], (k, per_joint[j].shape[-1])) for j in sorted(per_joint)],
        axis=1,
    )
