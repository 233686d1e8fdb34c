"""Animatable avatars (issue 19; CAR, Liao et al., CVPR 2023): rigs, skinned glTF, motions."""
