"""The default model shipped inside the package (``weights/default``: config.json +
model.safetensors + MODEL_CARD.md), used when no ``--checkpoint`` is given."""

from __future__ import annotations

from pathlib import Path

from pifuhd.errors import CheckpointError

DEFAULT_MODEL_DIR = Path(__file__).parent / "default"


def default_checkpoint() -> Path:
    """The bundled default checkpoint folder.

    Raises:
        CheckpointError: if this installation carries no default model.
    """
    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        raise CheckpointError(
            f"no default model in {DEFAULT_MODEL_DIR}; pass --checkpoint (pifuhd.pt or a "
            "checkpoint folder)"
        )
    return DEFAULT_MODEL_DIR


AVATAR_MODEL_DIR = Path(__file__).parent / "avatar"


def default_canonical_model_path() -> Path:
    """The bundled canonical model of the avatar (``pifuhd train avatar``'s output).

    Raises:
        CheckpointError: if this installation carries none.
    """
    path = AVATAR_MODEL_DIR / "canonical_sdf.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"no canonical avatar model in {AVATAR_MODEL_DIR}; pass one made by "
            "`pifuhd train avatar`, or use --canonical pullback"
        )
    return path
