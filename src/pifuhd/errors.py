"""Errors shown to users: one line that names the file and the fix."""


class PifuhdError(Exception):
    """Base class for expected failures (bad input, bad checkpoint); the CLI prints one line."""


class InputError(PifuhdError):
    """An input image, mask, crop or keypoint file cannot be used."""


class CheckpointError(PifuhdError):
    """A checkpoint file or folder cannot be loaded."""
