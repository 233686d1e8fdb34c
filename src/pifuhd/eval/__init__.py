"""Evaluation: geometry metrics (Chamfer, P2S, F-score, IoU, normal consistency) in cm."""
