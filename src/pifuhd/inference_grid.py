"""Grid evaluation of a :class:`pifuhd.inference.Reconstructor`: the photo's occupancy as a
point query (carved by the guards' bounds) and over the cube's grid, on the CPU with NumPy or
on the device as tensors (``docs/conventions.md``, "Grid and mesh")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pifuhd.geometry.carving import carved_query, carved_query_torch
from pifuhd.geometry.grid import evaluate_coarse_to_fine, evaluate_dense
from pifuhd.geometry.original_octree import evaluate_original_octree
from pifuhd.geometry.torch_grid import evaluate_coarse_to_fine_torch, evaluate_dense_torch
from pifuhd.geometry.torch_octree import evaluate_original_octree_torch
from pifuhd.models.pifuhd import PIFuHDFeatures
from pifuhd.reconstruction import StageCallback
from pifuhd.runtime import grid_ticker, occupancy_query, occupancy_query_torch


class GridEvaluation:
    """Methods of ``Reconstructor`` that evaluate its field; they read its ``model``,
    ``settings``, ``device``, ``resolution``, ``precision``, ``fast``, ``chunk``,
    ``coarse_to_fine``, ``dilation`` and ``original_octree``."""

    def point_query(
        self, features: PIFuHDFeatures, bounds: np.ndarray | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """The fine occupancy of one photo: points (N, 3) float32 in the cube -> (N,) float32,
        carved by ``bounds`` ((2, M, M) z range per cell of the crop square) when given."""
        precision = self.precision if self.fast else "fp32"
        query = occupancy_query(self.model, features, precision, fast=self.fast)
        if bounds is not None:
            query = carved_query(query, bounds, self.settings.border)
        return query

    def occupancy_volume(
        self,
        features: PIFuHDFeatures,
        progress: StageCallback | None = None,
        bounds: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        """(R, R, R) float32 fine occupancy over the cube grid, and the points evaluated;
        with ``bounds`` ((2, M, M) z range per cell of the crop square), carved
        (``pifuhd.geometry.carving``)."""
        total = self.resolution**3
        query = self.point_query(features, bounds)
        tick = grid_ticker(progress)
        if self.original_octree:
            return evaluate_original_octree(query, self.resolution, chunk=self.chunk, progress=tick)
        if self.coarse_to_fine:
            return evaluate_coarse_to_fine(
                query, self.resolution, dilation=self.dilation, chunk=self.chunk, progress=tick
            )
        return evaluate_dense(query, self.resolution, chunk=self.chunk, progress=tick), total

    def occupancy_padded(
        self,
        features: PIFuHDFeatures,
        progress: StageCallback | None = None,
        bounds: np.ndarray | None = None,
    ) -> tuple[torch.Tensor, int]:
        """``occupancy_volume`` on the device: the (R + 2)^3 float32 volume inside a zero
        border, as a tensor there, and the points evaluated."""
        total = self.resolution**3
        precision = self.precision if self.fast else "fp32"
        query = occupancy_query_torch(self.model, features, precision, fast=self.fast)
        if bounds is not None:
            query = carved_query_torch(query, bounds, self.settings.border)
        tick = grid_ticker(progress)
        device, chunk = self.device, self.chunk
        if self.original_octree:
            return evaluate_original_octree_torch(
                query, self.resolution, device, chunk=chunk, progress=tick
            )
        if self.coarse_to_fine:
            return evaluate_coarse_to_fine_torch(
                query, self.resolution, device, dilation=self.dilation, chunk=chunk, progress=tick
            )
        return evaluate_dense_torch(query, self.resolution, device, chunk, tick), total
