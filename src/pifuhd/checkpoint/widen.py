"""A trained model given the body features as new MLP inputs, starting as the same function.

The coarse MLP's layer 0 and its skip layers read the MLP's input; widening that input by the
body's 4 channels (``pifuhd.geometry.body_field``) adds 4 weight columns to each of them.
With those columns zero the widened model computes exactly what the trained one did, and
training (``mlp_only``) then learns how much to trust the body.
"""

from __future__ import annotations

import dataclasses

import torch

from pifuhd.geometry.body_field import BODY_CHANNELS
from pifuhd.models.pifuhd import PIFuHD


def with_body_inputs(model: PIFuHD, channels: int = BODY_CHANNELS) -> PIFuHD:
    """A copy of ``model`` (no body inputs) whose coarse MLP also reads ``channels`` body
    features after depth, their weights zero (the same occupancy as ``model`` for any body).

    Raises:
        ValueError: ``model`` already reads body features.
    """
    coarse = model.config.coarse
    if coarse.body_channels:
        raise ValueError("the model already reads body features")
    mlp = coarse.mlp
    dims = (mlp.dims[0] + channels, *mlp.dims[1:])
    config = dataclasses.replace(
        model.config,
        coarse=dataclasses.replace(
            coarse, mlp=dataclasses.replace(mlp, dims=dims), body_channels=channels
        ),
    )
    wide = PIFuHD(config)
    state = model.state_dict()
    for j, layer in enumerate(wide.netG.mlp.filters):
        key = f"netG.mlp.filters.{j}.weight"
        old = state[key]
        if old.shape == layer.weight.shape:
            continue
        # the input is re-read at the end of the layer's input: [hidden; input]
        new = torch.zeros(layer.weight.shape, dtype=old.dtype)
        new[:, : old.shape[1]] = old
        state[key] = new
    wide.load_state_dict(state)
    return wide.eval()


def with_body_normal_inputs(model: PIFuHD) -> PIFuHD:
    """A copy of ``model`` whose front and back normal nets also read their side's fitted-body
    normal map (``pifuhd.geometry.body_normals``; 3 more input channels each, after the
    photo's), their first convolution's new weights zero: the same normal maps as ``model``
    for any body until trained (``pifuhd train normals --set bodies=fit``).

    Raises:
        ValueError: the model has no normal nets, or they already read the body.
    """
    coarse = model.config.coarse
    nets = {"front_normal": coarse.front_normal, "back_normal": coarse.back_normal}
    if all(net is None for net in nets.values()):
        raise ValueError("the model has no normal nets")
    if any(net is not None and net.in_channels != 3 for net in nets.values()):
        raise ValueError("the model's normal nets already read more than the photo")
    wider = {k: dataclasses.replace(v, in_channels=6) for k, v in nets.items() if v is not None}
    wide = PIFuHD(dataclasses.replace(model.config, coarse=dataclasses.replace(coarse, **wider)))
    state = model.state_dict()
    for name in ("netF", "netB"):
        key = f"netG.{name}.model.1.weight"  # the first convolution, after the reflection pad
        if key not in state:
            continue
        old = state[key]
        new = torch.zeros((old.shape[0], 6, *old.shape[2:]), dtype=old.dtype)
        new[:, :3] = old
        state[key] = new
    wide.load_state_dict(state)
    return wide.eval()
