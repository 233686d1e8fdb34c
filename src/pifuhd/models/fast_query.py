"""PIFuHD's fine occupancy at many points: the same function as ``PIFuHD.query``, less work.

Four exact rewrites (equal up to float rounding) and one optional precision change:

1. **Linearity of the first layer in the sampled feature.** A layer that reads the coarse
   feature Phi(x) computes ``W [h; Phi; Z] + b = W_h h + W_phi Phi + w_z Z + b``. Bilinear
   sampling is linear and zero outside the map, so ``W_phi Phi(x) = sample(W_phi F, x)``: the
   product ``W_phi F`` is computed once per feature-map pixel (a 1x1 convolution) for layer 0
   and for every layer that re-reads the input (the skips up to the merge layer), and sampled
   instead of the features.
2. **Once per camera ray.** Points with the same projected (u, v) share every sampled term;
   consecutive points of a query with equal (u, v) (a grid's column along z) form one ray, and
   only the depth term ``w_z Z`` is per point. The fine level's feature terms likewise.
3. **Piecewise linearity along a ray.** On a ray, layer 0's pre-activation ``a + z w`` is
   linear in depth, so each channel changes sign at most once there. A channel whose sign is
   the same at the nearest and the farthest point of every ray in a call is linear on each
   ray: its part of layer 1, ``W1 s (a + z w)`` with its fixed slope s (1 or the leak), is
   two float32 rows per ray (a value and a depth slope). Only the channels that change sign
   on some ray enter the per-point matrix product (measured on the official layout's random
   field at R = 256: about a third of the 1024, a fifth of the MLP's per-point work saved).
   Used when rays are long (``min_ray_points``) and enough channels are linear
   (``max_active_fraction``).
4. **Only what the fine level needs.** The fine MLP reads Omega, the coarse MLP's output at
   its merge layer; the coarse layers after it and the coarse occupancy are not computed. The
   fine MLP's linear maps of Omega for layer 0 and its skips are one stacked matrix product.
5. ``precision="bf16"``: the big matrix products run in bfloat16 (fp32 accumulation); the
   depth terms, the sampled terms and the last layer stay in float32 (depth in bf16 would be
   quantised to 1/256 of its value, a voxel at R = 256). The error bound is measured in
   ``tests/test_fast_query.py`` and BENCHMARKS.md.

Frames: points (N, 3) float32 in the normalised cube; calib (1, 3|4, 4) as in
``pifuhd.geometry.projection``. One image per ``FastQuery`` (features of batch index 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from pifuhd.models.mlp import PixelAlignedMLP
from pifuhd.models.pifuhd import PIFuHD, PIFuHDFeatures

Precision = Literal["fp32", "bf16"]
LEAK = 0.01  # F.leaky_relu's default slope, as in PixelAlignedMLP


def supports_fast_query(model: PIFuHD) -> bool:
    """True when both MLPs have no normalisation layers (the released model has none)."""
    return model.netG.mlp.config.norm == "none" and model.mlp.config.norm == "none"


@dataclass
class _Layer:
    """One MLP layer split by input: ``pre = h @ hidden + (per-ray or stacked term | bias)``."""

    hidden: torch.Tensor | None
    """(in_hidden, out) weight on the previous layer's output (transposed), or None (layer 0)."""
    bias: torch.Tensor | None
    """(out,) bias of a layer without an input term, or None."""
    input_cols: slice | None
    """Where this layer's input term sits in its stacked term matrix, or None."""
    depth: torch.Tensor | None = None
    """(out,) float32 weight of the coarse depth feature, or None."""


def _weight(mlp: PixelAlignedMLP, j: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer j's (out, in) weight and (out,) bias as float32."""
    conv = mlp.filters[j]
    return conv.weight.detach()[:, :, 0].float(), conv.bias.detach().float()


def _split_layers(
    mlp: PixelAlignedMLP, n_layers: int, n_input: int, dtype: torch.dtype
) -> tuple[list[_Layer], torch.Tensor, torch.Tensor]:
    """Split the first ``n_layers`` layers by input: previous output vs the MLP input.

    Returns the layers, the input parts of layer 0 and of the skip layers stacked as
    (K, n_input) float32, and their biases (K,) float32. A layer's ``input_cols`` names its
    rows there; its ``hidden`` weight is cast to ``dtype``.
    """
    cfg = mlp.config
    layers: list[_Layer] = []
    parts, biases, width = [], [], 0
    for j in range(n_layers):
        w, b = _weight(mlp, j)
        n_hidden = 0 if j == 0 else cfg.dims[j]
        hidden = w[:, :n_hidden].T.contiguous().to(dtype) if j > 0 else None
        if j > 0 and j not in cfg.skip_layers:
            layers.append(_Layer(hidden, b.to(dtype), None))
            continue
        parts.append(w[:, n_hidden : n_hidden + n_input])
        biases.append(b)
        layers.append(_Layer(hidden, None, slice(width, width + w.shape[0])))
        width += w.shape[0]
    return layers, torch.cat(parts), torch.cat(biases)


def ray_segments(uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Group consecutive points with equal (u, v) into rays.

    Args:
        uv: (N, 2) projected image coordinates, N >= 1.

    Returns:
        ray: (N,) int64, the ray of each point (0, 1, ... in order of appearance).
        first: (R,) int64, the index of each ray's first point.
    """
    new = torch.ones(uv.shape[0], dtype=torch.bool, device=uv.device)
    new[1:] = (uv[1:] != uv[:-1]).any(dim=1)
    first = torch.nonzero(new)[:, 0]
    ray = torch.cumsum(new, 0) - 1
    return ray, first


class FastQuery:
    """Callable: points (N, 3) float32 in the cube -> fine occupancy (N,) float32 in [0, 1].

    Equal to ``model.query(features, points.T[None], calib)[0, 0]`` up to float rounding
    (fp32) or the bf16 error (``precision="bf16"``); see the module docstring.
    """

    min_ray_points: float = 8.0
    """Mean points per ray in a call from which layer 1 splits off its linear channels."""
    max_active_fraction: float = 0.75
    """The split is skipped when more than this fraction of layer 0's channels change sign."""
    max_folded_rays: int = 64
    """Up to this many rays in a call, the per-ray terms of the split join its matrix product
    (3 columns a ray) instead of 4 per-point passes over layer 1's width."""

    def __init__(
        self,
        model: PIFuHD,
        features: PIFuHDFeatures,
        calib: torch.Tensor,
        precision: Precision = "fp32",
    ) -> None:
        if not supports_fast_query(model):
            raise ValueError("FastQuery needs MLPs without normalisation layers")
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        calib = calib[0].float()
        self.rot, self.trans = calib[:3, :3].T.contiguous(), calib[:3, 3].contiguous()
        coarse = model.netG
        self.depth_scale = (coarse.config.image_size // 2) / coarse.config.z_size
        self._prepare_coarse(coarse.mlp, features.coarse[0].float())
        self._prepare_fine(model.mlp, features.fine[0:1].float())

    def _prepare_coarse(self, mlp: PixelAlignedMLP, fmap: torch.Tensor) -> None:
        """Coarse layers 0..merge. Their feature parts times the (C, H, W) feature map give a
        (H*W, K) per-pixel table (a 1x1 convolution), sampled per ray instead of the features.
        """
        channels, height, width = fmap.shape
        n = mlp.config.merge_layer + 1
        self.coarse_layers, stacked, self.coarse_bias = _split_layers(
            mlp, n, channels + 1, self.dtype
        )
        for layer, j in zip(self.coarse_layers, range(n), strict=True):
            if layer.input_cols is not None:
                w, _ = _weight(mlp, j)
                layer.depth = w[:, (0 if j == 0 else mlp.config.dims[j]) + channels].contiguous()
        flat = fmap.reshape(channels, height * width)
        self.coarse_table = (stacked[:, :channels] @ flat).T.contiguous()  # (HW, K)
        self.coarse_size = (height, width)
        if n >= 2:  # layer 1 in float32 for the per-ray rows of rewrite 3
            weight1, self.bias1 = _weight(mlp, 1)
            self.hidden1 = weight1[:, : mlp.config.dims[1]].T.contiguous()  # (C0, C1)

    def _prepare_fine(self, mlp: PixelAlignedMLP, fmap: torch.Tensor) -> None:
        """All fine layers. The input parts of layer 0 and the skips form one (C_in, K)
        matrix applied to [Omega, fine feature] per point (the feature is sampled per ray)."""
        channels = fmap.shape[1]
        self.fine_map = fmap.contiguous(memory_format=torch.channels_last)
        n = len(mlp.filters)
        self.fine_layers, stacked, bias = _split_layers(mlp, n, mlp.config.dims[0], self.dtype)
        # the MLP reads [feature, Omega]; the points carry [Omega, feature]
        stacked = torch.cat([stacked[:, channels:], stacked[:, :channels]], dim=1)
        self.fine_inputs = stacked.T.contiguous().to(self.dtype)  # (C_merge + C_fine, K)
        self.fine_bias = bias.to(self.dtype)
        last = self.fine_layers[-1]
        if last.hidden is not None:  # the output layer stays float32
            last.hidden = last.hidden.float()
            last.bias = None if last.bias is None else last.bias.float()

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """points: (N, 3) float32 in the cube -> (N,) float32 fine occupancy in [0, 1]."""
        xyz = torch.addmm(self.trans, points.float(), self.rot)  # (N, 3): u, v, depth
        uv = xyz[:, :2]
        ray, first = ray_segments(uv)
        ray_uv = uv[first].contiguous()
        depth = xyz[:, 2:3] * self.depth_scale
        omega = self._coarse(ray_uv, ray, depth)
        logits = self._fine(omega, ray_uv, ray)
        inside = ((uv >= -1.0) & (uv <= 1.0)).all(dim=1)
        return torch.sigmoid(logits) * inside

    def _coarse(self, ray_uv: torch.Tensor, ray: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Coarse layers 0..merge: Omega (N, C_merge) in ``self.dtype``.

        ray_uv: (R, 2) per ray; ray: (N,) each point's ray; depth: (N, 1) float32 feature.
        """
        sampled = bilinear_rows(self.coarse_table, self.coarse_size, ray_uv) + self.coarse_bias
        h, start = None, 0
        active = self._active_channels(sampled, ray, depth)
        if active is not None:
            h, start = self._first_layers_split(sampled, ray, depth, *active), 2
        for layer in self.coarse_layers[start:]:
            if layer.input_cols is None:
                h = torch.addmm(layer.bias, h, layer.hidden)
            else:  # input and depth terms summed in float32, rounded once
                pre = sampled[:, layer.input_cols].index_select(0, ray)
                h = self._rounded_sum(pre, depth, layer.depth, h, layer.hidden)
            F.leaky_relu(h, LEAK, inplace=True)
        return h

    def _rounded_sum(
        self,
        pre: torch.Tensor,
        depth: torch.Tensor,
        weight: torch.Tensor,
        h: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``pre + depth * weight [+ h @ hidden]`` summed in float32 (``pre`` (N, C) float32 is
        overwritten), rounded once to ``self.dtype`` by the last operation's output."""
        out = torch.empty(pre.shape, dtype=self.dtype, device=pre.device)
        if h is None:
            return torch.addcmul(pre, depth, weight, out=out)
        pre.addcmul_(depth, weight)
        return torch.add(pre, torch.mm(h, hidden), out=out)

    def _active_channels(
        self, sampled: torch.Tensor, ray: torch.Tensor, depth: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Layer 0's channels that change sign on some ray of this call (rewrite 3).

        Returns (active, slope): active (A,) int64 channel indices; slope (R, C0) float32, each
        ray's fixed leaky-ReLU slope (1 or the leak) of every other channel and 0 on the
        active ones. None where the split does not pay (short rays, few linear channels).
        """
        n_rays, n_points = sampled.shape[0], ray.shape[0]
        if len(self.coarse_layers) < 2 or n_points < self.min_ray_points * n_rays:
            return None
        layer0 = self.coarse_layers[0]
        a0 = sampled[:, layer0.input_cols]
        d = depth[:, 0]
        near = d.new_full((n_rays,), float("inf")).scatter_reduce_(0, ray, d, "amin")
        far = d.new_full((n_rays,), float("-inf")).scatter_reduce_(0, ray, d, "amax")
        positive = torch.addcmul(a0, near[:, None], layer0.depth) > 0
        changes = positive != (torch.addcmul(a0, far[:, None], layer0.depth) > 0)
        active = torch.nonzero(changes.any(dim=0))[:, 0]
        if active.numel() > self.max_active_fraction * a0.shape[1]:
            return None
        slope = torch.where(positive, 1.0, LEAK)
        slope[:, active] = 0.0
        return active, slope

    def _first_layers_split(
        self,
        sampled: torch.Tensor,
        ray: torch.Tensor,
        depth: torch.Tensor,
        active: torch.Tensor,
        slope: torch.Tensor,
    ) -> torch.Tensor:
        """Coarse layers 0 and 1 by rewrite 3: layer 1's output (N, C1) in ``self.dtype``.

        The linear channels give per ray ``value + depth * tilt`` (float32); the active ones go
        through the leaky ReLU per point and one (N, A) x (A, C1) product. With few rays
        (``max_folded_rays``) the per-ray terms join that product as extra columns (see
        :func:`ray_columns`) instead of being gathered per point.
        """
        layer0, layer1 = self.coarse_layers[0], self.coarse_layers[1]
        a0 = sampled[:, layer0.input_cols]
        n_rays, n_points, n_active = a0.shape[0], ray.shape[0], active.numel()
        rows = torch.cat([slope * a0, slope * layer0.depth]) @ self.hidden1  # (2R, C1)
        value, tilt = rows[:n_rays], rows[n_rays:]
        if layer1.input_cols is None:
            value += self.bias1
        else:  # a skip layer: its input term is sampled with the bias, plus a depth term
            value += sampled[:, layer1.input_cols]
            tilt += layer1.depth
        fold = n_rays <= self.max_folded_rays
        width = n_active + 3 * n_rays if fold else n_active
        inputs = torch.zeros(n_points, width, dtype=self.dtype, device=a0.device)
        h0 = inputs[:, :n_active]
        pre0 = a0[:, active].index_select(0, ray)
        torch.addcmul(pre0, depth, layer0.depth[active], out=h0)
        F.leaky_relu(h0, LEAK, inplace=True)
        weight = layer1.hidden[active]
        if fold:
            ray_columns(inputs[:, n_active:], ray, depth[:, 0])
            ray_rows = [value.to(self.dtype), tilt.to(self.dtype)]
            h1 = inputs @ torch.cat([weight, ray_rows[0], ray_rows[1], ray_rows[1]])
        else:
            pre1 = value.index_select(0, ray)
            h1 = self._rounded_sum(pre1, depth, tilt.index_select(0, ray), h0, weight)
        F.leaky_relu(h1, LEAK, inplace=True)
        return h1

    def _fine(self, omega: torch.Tensor, ray_uv: torch.Tensor, ray: torch.Tensor) -> torch.Tensor:
        """Fine MLP from Omega (N, C_merge): pre-sigmoid output (N,) float32."""
        grid = ray_uv.reshape(1, -1, 1, 2)
        phi = F.grid_sample(self.fine_map, grid, mode="bilinear", align_corners=True)
        phi = phi[0, :, :, 0].T.to(self.dtype).index_select(0, ray)  # (N, C_fine)
        terms = torch.addmm(self.fine_bias, torch.cat([omega, phi], dim=1), self.fine_inputs)
        g = None
        last = len(self.fine_layers) - 1
        for j, layer in enumerate(self.fine_layers):
            if j == last:
                g = g.float()
            if layer.input_cols is None:
                g = torch.addmm(layer.bias, g, layer.hidden)
            else:
                part = terms[:, layer.input_cols].to(g.dtype if g is not None else self.dtype)
                if g is None:  # layer 0: the activation makes the copy
                    g = F.leaky_relu(part, LEAK)
                    continue
                g = torch.addmm(part, g, layer.hidden)
            if j != last:
                F.leaky_relu(g, LEAK, inplace=True)
        return g[:, 0]


def ray_columns(out: torch.Tensor, ray: torch.Tensor, depth: torch.Tensor) -> None:
    """Write the columns that add per-ray rows ``value + depth * tilt`` to a product.

    Row n of ``out`` (N, 3R), zero on entry, gets 1 in column ``ray[n]``, and the depth split in
    two parts of ``out``'s dtype (hi = the depth rounded, lo = the rest) in columns
    ``R + ray[n]`` and ``2R + ray[n]``: times the stacked rows ``[value; tilt; tilt]`` (3R, C)
    this is ``value[ray] + depth * tilt[ray]`` with the depth kept to about 16 bits in bfloat16.

    Args:
        out: (N, 3R) zeros, any float dtype; written in place.
        ray: (N,) int64 ray of each point, in [0, R).
        depth: (N,) float32.
    """
    n_rays = out.shape[1] // 3
    hi = depth.to(out.dtype)
    lo = (depth - hi.float()).to(out.dtype)
    rows = torch.arange(ray.shape[0], device=ray.device)
    out[rows, ray] = 1.0
    out[rows, ray + n_rays] = hi
    out[rows, ray + 2 * n_rays] = lo


def bilinear_rows(table: torch.Tensor, size: tuple[int, int], uv: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling of a per-pixel table, as ``grid_sample`` (align_corners=True, zeros).

    Args:
        table: (H*W, K) values of a (K, H, W) map, row y * W + x.
        size: (H, W).
        uv: (R, 2) coordinates, -1 / +1 at the centres of the first / last pixel.

    Returns:
        (R, K) float32; taps outside the map contribute zero.
    """
    h, w = size
    x = (uv[:, 0].double() + 1.0) * 0.5 * (w - 1)
    y = (uv[:, 1].double() + 1.0) * 0.5 * (h - 1)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0).float(), (y - y0).float()
    x0, y0 = x0.long(), y0.long()
    out = torch.zeros(uv.shape[0], table.shape[1], dtype=table.dtype, device=table.device)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            valid = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
            weight = (wx * wy * valid).unsqueeze(1)
            out.addcmul_(table.index_select(0, index), weight)
    return out
