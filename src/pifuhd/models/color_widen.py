"""Copies of a colour net with an input or output added that compute the same colours at first
(``pifuhd.models.color``): fine-tuning then learns the new part. Weights added are zero."""

from __future__ import annotations

import dataclasses

import torch

from pifuhd.models.color import LIGHT_CODE_CHANNELS, ColorNet


def with_image_skip(net: ColorNet, residual: bool = False) -> ColorNet:
    """A copy of ``net`` with ``image_skip`` on that computes the same colours: the MLP's
    first layer gets zero weights for the 3 new image channels (training then learns them).
    With ``residual`` the MLP's last layer is zeroed as well: the copy returns the photo's
    colour at each point (``ColorConfig.residual``) and keeps the rest of ``net`` as its
    start. ``net`` must not have ``image_skip`` already."""
    if net.config.image_skip:
        raise ValueError("the colour net already has image_skip")
    wide = ColorNet(dataclasses.replace(net.config, image_skip=True, residual=residual))
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    first = "mlp.filters.0.weight"
    weight = state[first]  # (out, in, 1); the image channels go after the encoder's
    at = net.config.encoder_channels
    zeros = weight.new_zeros(weight.shape[0], 3, weight.shape[2])
    state[first] = torch.cat([weight[:, :at], zeros, weight[:, at:]], dim=1)
    if residual:
        last = len(wide.mlp.filters) - 1
        for kind in ("weight", "bias"):
            state[f"mlp.filters.{last}.{kind}"].zero_()
    wide.load_state_dict(state)
    return wide.to(next(net.parameters()).device).train(net.training)


def with_light_code(net: ColorNet) -> ColorNet:
    """A copy of ``net`` (with ``image_skip``) with ``light_code`` on that computes the same
    colours: zero weights for the 6 code inputs, the MLP input's last channels."""
    if net.config.light_code or not net.config.image_skip or net.config.light_input:
        raise ValueError(
            "a light code needs a colour net with image_skip and without a light code or input"
        )
    wide = ColorNet(dataclasses.replace(net.config, light_code=True))
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    first = "mlp.filters.0.weight"
    weight = state[first]
    zeros = weight.new_zeros(weight.shape[0], LIGHT_CODE_CHANNELS, weight.shape[2])
    state[first] = torch.cat([weight, zeros], dim=1)
    wide.load_state_dict(state)
    return wide.to(next(net.parameters()).device).train(net.training)


def with_light_input(net: ColorNet) -> ColorNet:
    """A copy of ``net`` with ``light_input`` on that computes the same colours: a zero weight
    for the harshness, the MLP input's last channel."""
    if net.config.light_input:
        raise ValueError("the colour net already takes the light")
    wide = ColorNet(dataclasses.replace(net.config, light_input=True))
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    first = "mlp.filters.0.weight"
    weight = state[first]
    state[first] = torch.cat([weight, weight.new_zeros(weight.shape[0], 1, weight.shape[2])], 1)
    wide.load_state_dict(state)
    return wide.to(next(net.parameters()).device).train(net.training)


def with_sharp_residual(net: ColorNet) -> ColorNet:
    """A copy of a ``residual`` ``net`` that corrects the sharp photo's colour at each point
    (``ColorConfig.sharp_residual``) with the same weights: its correction learnt for the 4 x 4
    block means, applied to the point's own pixel."""
    if not net.config.residual or net.config.sharp_residual:
        raise ValueError("a sharp residual needs a residual colour net without one")
    sharp = ColorNet(dataclasses.replace(net.config, sharp_residual=True))
    sharp.load_state_dict({k: v.detach().clone() for k, v in net.state_dict().items()})
    return sharp.to(next(net.parameters()).device).train(net.training)
