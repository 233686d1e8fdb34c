"""Files of a synthetic person: textured OBJ + MTL + PNG, rest-pose OBJ, avatar arrays, JSON.

``mesh.obj`` / ``rest.obj``: ``mtllib mesh.mtl``, ``usemtl skin_and_clothes``, then one
``v x y z`` (cm, 5 decimals) and one ``vt u v`` (6 decimals) per vertex in the same order, and
``f a/a b/b c/c`` (1-based): vertex i uses uv i, so readers keep the vertex order
(``trimesh.load(path, process=False)`` does). ``mesh.mtl``: one material, ``map_Kd texture.png``.

``avatar.npz`` (numpy, uncompressed):
    skin_indices (V, 9) int16 and skin_weights (V, 9) float32: each vertex's bones and weights
        (unused slots: index 0, weight 0; rows sum to 1);
    bone_transforms (J, 4, 4) float64: rest.obj -> mesh.obj per bone, so that
        mesh = sum_k w_k (T[i_k] @ [rest; 1]) (linear blend skinning, cm);
    bone_labels (J,) str, bone_parents (J,) int16 (-1 for the root);
    joints, rest_joints (K, 3) float64 and joint_names (K,) str: named joints (cm);
    anny_pose_deltas (J, 4, 4): Anny's "local-ref" pose parameters; anny_to_subject (4, 4):
        mesh.obj = anny_to_subject @ [100 x_anny; 1] for Anny's posed vertices; the shape
        parameters are in person.json (body.anny_shape).
Every write goes to a temporary folder beside the target, renamed into place when complete.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pifuhd.body.skinned import MAX_INFLUENCES, largest_influences
from pifuhd.synth.person import SynthPerson

MATERIAL = "skin_and_clothes"


def obj_text(vertices: np.ndarray, uv: np.ndarray, faces: np.ndarray, mtl: str = "mesh.mtl") -> str:
    """An OBJ with per-vertex uv (same indices for v and vt) and one material."""
    v = "\n".join(f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in vertices.tolist())
    vt = "\n".join(f"vt {u:.6f} {w:.6f}" for u, w in uv.tolist())
    f = "\n".join(f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in (faces + 1).tolist())
    return f"# pifuhd synthetic person\nmtllib {mtl}\n{v}\n{vt}\nusemtl {MATERIAL}\n{f}\n"


def mtl_text(texture: str = "texture.png") -> str:
    """A diffuse-only material using ``texture``."""
    return (
        f"newmtl {MATERIAL}\nKa 1.0 1.0 1.0\nKd 1.0 1.0 1.0\nKs 0.0 0.0 0.0\nd 1.0\n"
        f"illum 1\nmap_Kd {texture}\n"
    )


def sparse_weights(weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(indices (V, k) int16, weights (V, k) float32) of dense (V, J) weights, largest first."""
    order, values = largest_influences(weights, k)
    return order.astype(np.int16), values.astype(np.float32)


def dense_weights(indices: np.ndarray, values: np.ndarray, n_bones: int) -> np.ndarray:
    """(V, J) float64 from the sparse form of :func:`sparse_weights`."""
    dense = np.zeros((len(indices), n_bones))
    np.add.at(dense, (np.arange(len(indices))[:, None], indices.astype(np.int64)), values)
    return dense


def png_bytes(texture: np.ndarray) -> bytes:
    """PNG encoding of an (H, W, 3) uint8 image (deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(texture, "RGB").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def avatar_arrays(person: SynthPerson) -> dict[str, np.ndarray]:
    """The arrays of ``avatar.npz`` (see the module docstring)."""
    indices, values = sparse_weights(person.weights)
    out = {
        "skin_indices": indices,
        "skin_weights": values,
        "bone_transforms": person.transforms,
        "bone_labels": np.array(person.bone_labels),
        "bone_parents": np.array(person.bone_parents, np.int16),
    }
    for key, value in person.arrays.items():
        out["anny_pose_deltas" if key == "pose_deltas" else key] = value
    return out


def write_person(person: SynthPerson, folder: str | os.PathLike[str]) -> Path:
    """Write ``person`` into ``folder`` (replaced if it exists) atomically.

    The files are written into a temporary folder beside ``folder`` and renamed into place,
    so readers never see a partial person.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (tmp / "mesh.obj").write_text(obj_text(person.vertices, person.uv, person.faces))
        (tmp / "rest.obj").write_text(obj_text(person.rest_vertices, person.uv, person.faces))
        (tmp / "mesh.mtl").write_text(mtl_text())
        (tmp / "texture.png").write_bytes(png_bytes(person.texture))
        with open(tmp / "avatar.npz", "wb") as fh:
            np.savez(fh, **avatar_arrays(person))
        (tmp / "person.json").write_text(json.dumps(person.params, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
