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
from pifuhd.models.ray_terms import bilinear_rows, ray_columns, ray_segments

__all__ = ["FastQuery", "bilinear_rows", "ray_columns", "ray_segments", "supports_fast_query"]

Precision = Literal["fp32", "bf16"]
LEAK = 0.01  # F.leaky_relu's default slope, as in PixelAlignedMLP


def _pad_rows(rows: torch.Tensor, n: int) -> torch.Tensor:
    """(R, C) -> (n, C) with zero rows after the R given (n >= R)."""
    if rows.shape[0] == n:
        return rows
    return torch.cat([rows, rows.new_zeros(n - rows.shape[0], rows.shape[1])])


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
    body: torch.Tensor | None = None
    """(body_channels, out) float32 weight of the body features (a body-guided model), or None."""
    width: int = 0
    """Output channels."""


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
            layers.append(_Layer(hidden, b.to(dtype), None, width=w.shape[0]))
            continue
        parts.append(w[:, n_hidden : n_hidden + n_input])
        biases.append(b)
        layers.append(_Layer(hidden, None, slice(width, width + w.shape[0]), width=w.shape[0]))
        width += w.shape[0]
    return layers, torch.cat(parts), torch.cat(biases)


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
    active_step: int = 64
    """The active channels are padded (with linear ones, computed per point: still exact) to a
    multiple of this, and the folded rays to a multiple of ``ray_step``: oneDNN caches a
    primitive of a few MB for every matrix shape it sees, so shapes must come from a small set
    (800 distinct shapes grew the process by 3 GB)."""
    ray_step: int = 32

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
        self.body_channels = coarse.config.body_channels
        self.body = features.body if self.body_channels else None
        self._prepare_coarse(coarse.mlp, features.coarse[0].float())
        self._prepare_fine(model.mlp, features.fine[0:1].float())

    def _prepare_coarse(self, mlp: PixelAlignedMLP, fmap: torch.Tensor) -> None:
        """Coarse layers 0..merge. Their feature parts times the (C, H, W) feature map give a
        (H*W, K) per-pixel table (a 1x1 convolution), sampled per ray instead of the features.
        """
        channels, height, width = fmap.shape
        n = mlp.config.merge_layer + 1
        self.coarse_layers, stacked, self.coarse_bias = _split_layers(
            mlp, n, channels + 1 + self.body_channels, self.dtype
        )
        for layer, j in zip(self.coarse_layers, range(n), strict=True):
            if layer.input_cols is not None:
                w, _ = _weight(mlp, j)
                at = (0 if j == 0 else mlp.config.dims[j]) + channels
                layer.depth = w[:, at].contiguous()
                if self.body_channels:
                    layer.body = w[:, at + 1 : at + 1 + self.body_channels].T.contiguous()
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
        stacked = torch.cat([stacked[:, channels:], stacked[:, :channels], bias[:, None]], dim=1)
        # (C_merge + C_fine + 1, K): the last row is the bias, read by a column of ones
        self.fine_inputs = stacked.T.contiguous().to(self.dtype)
        self.fine_channels = channels
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
        body = None if self.body is None else self.body(points).float().T.contiguous()
        fine_inputs = self._coarse(ray_uv, ray, depth, body)
        logits = self._fine(fine_inputs, ray_uv, ray)
        inside = ((uv >= -1.0) & (uv <= 1.0)).all(dim=1)
        return torch.sigmoid(logits) * inside

    def _coarse(
        self,
        ray_uv: torch.Tensor,
        ray: torch.Tensor,
        depth: torch.Tensor,
        body: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Coarse layers 0..merge: a (N, C_merge + C_fine + 1) buffer in ``self.dtype`` whose
        first C_merge columns are Omega; ``_fine`` fills the rest.

        ray_uv: (R, 2) per ray; ray: (N,) each point's ray; depth: (N, 1) float32 feature;
        body: (N, body_channels) float32 body features or None. Body features are not linear
        along a ray, so with them rewrite 3 is skipped and their term is added per point.
        After the split (rewrite 3) with few rays, the per-ray terms of the next layers are
        columns of their products too (``columns``: layer 1's output carries them).
        """
        sampled = bilinear_rows(self.coarse_table, self.coarse_size, ray_uv) + self.coarse_bias
        n_points = ray.shape[0]
        h, start, columns = None, 0, False
        active = None if body is not None else self._active_channels(sampled, ray, depth)
        if active is not None:
            h, columns = self._first_layers_split(sampled, ray, depth, *active)
            start = 2
        layers = self.coarse_layers
        extra = self.fine_channels + 1
        for j in range(start, len(layers)):
            layer = layers[j]
            width = layer.width + (extra if j == len(layers) - 1 else 0)
            out = torch.empty(n_points, width, dtype=self.dtype, device=sampled.device)
            target = out[:, : layer.width]
            if layer.input_cols is None:
                torch.addmm(layer.bias, h[:, : layer.hidden.shape[0]], layer.hidden, out=target)
            elif columns:  # h: [output, ray columns]; the per-ray rows join the product
                slots = (h.shape[1] - layer.hidden.shape[0]) // 3
                value = _pad_rows(sampled[:, layer.input_cols].to(self.dtype), slots)
                tilt = layer.depth.to(self.dtype).expand(slots, -1)
                torch.mm(h, torch.cat([layer.hidden, value, tilt, tilt]), out=target)
            else:  # input, body and depth terms summed in float32, rounded once
                pre = sampled[:, layer.input_cols].index_select(0, ray)
                if body is not None:
                    pre.addmm_(body, layer.body)
                self._rounded_sum(pre, depth, layer.depth, h, layer.hidden, out=target)
            F.leaky_relu(target, LEAK, inplace=True)
            h, columns = target, False
        if start < len(layers):
            return out
        room = torch.empty(n_points, extra, dtype=self.dtype, device=h.device)
        return torch.cat([h[:, : layers[-1].width], room], dim=1)

    def _rounded_sum(
        self,
        pre: torch.Tensor,
        depth: torch.Tensor,
        weight: torch.Tensor,
        h: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``pre + depth * weight [+ h @ hidden]`` summed in float32 (``pre`` (N, C) float32 is
        overwritten), rounded once to ``self.dtype`` by the last operation's output (``out``,
        (N, C), or a new tensor)."""
        if out is None:
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
        changing = changes.any(dim=0)
        active = torch.nonzero(changing)[:, 0]
        if active.numel() > self.max_active_fraction * a0.shape[1]:
            return None
        padded = min(a0.shape[1], -(-active.numel() // self.active_step) * self.active_step)
        if padded > active.numel():  # linear channels taken per point: the same values
            extra = torch.nonzero(~changing)[: padded - active.numel(), 0]
            active = torch.cat([active, extra])
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
    ) -> tuple[torch.Tensor, bool]:
        """Coarse layers 0 and 1 by rewrite 3: layer 1's output (N, C1) in ``self.dtype``,
        followed by the ray columns (N, 3R) when they were used (then True).

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
        slots = -(-n_rays // self.ray_step) * self.ray_step  # ray columns, zero rows past R
        width = n_active + 3 * slots if fold else n_active
        inputs = torch.empty(n_points, width, dtype=self.dtype, device=a0.device)
        inputs[:, n_active:] = 0.0  # the ray columns' zeros
        h0 = inputs[:, :n_active]
        pre0 = a0[:, active].index_select(0, ray)
        torch.addcmul(pre0, depth, layer0.depth[active], out=h0)
        F.leaky_relu(h0, LEAK, inplace=True)
        weight = layer1.hidden[active]
        if not fold:
            pre1 = value.index_select(0, ray)
            h1 = self._rounded_sum(pre1, depth, tilt.index_select(0, ray), h0, weight)
            return F.leaky_relu(h1, LEAK, inplace=True), False
        ray_columns(inputs[:, n_active:], ray, depth[:, 0])
        ray_rows = [_pad_rows(value.to(self.dtype), slots), _pad_rows(tilt.to(self.dtype), slots)]
        width = value.shape[1] + 3 * slots
        out = torch.empty(n_points, width, dtype=self.dtype, device=a0.device)
        h1 = out[:, : value.shape[1]]
        torch.mm(inputs, torch.cat([weight, ray_rows[0], ray_rows[1], ray_rows[1]]), out=h1)
        F.leaky_relu(h1, LEAK, inplace=True)
        out[:, value.shape[1] :] = inputs[:, n_active:]
        return out, True

    def _fine(self, inputs: torch.Tensor, ray_uv: torch.Tensor, ray: torch.Tensor) -> torch.Tensor:
        """Fine MLP: pre-sigmoid output (N,) float32.

        inputs: (N, C_merge + C_fine + 1) from ``_coarse``, Omega first; the fine feature
        (sampled per ray) and a column of ones (the bias row) are written here.
        """
        grid = ray_uv.reshape(1, -1, 1, 2)
        phi = F.grid_sample(self.fine_map, grid, mode="bilinear", align_corners=True)
        phi = phi[0, :, :, 0].T.to(self.dtype)  # (R, C_fine)
        merge = inputs.shape[1] - self.fine_channels - 1
        torch.index_select(phi, 0, ray, out=inputs[:, merge:-1])
        inputs[:, -1] = 1.0
        terms = inputs @ self.fine_inputs
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
