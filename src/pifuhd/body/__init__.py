"""The Anny body model: skinned bodies, posing, joints, pose families and fitting to a photo.

Used by synthetic people (``pifuhd.synth``), training data, the default model and the avatar;
imports nothing of theirs.
"""
