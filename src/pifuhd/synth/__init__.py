"""Synthetic clothed people on the body model of ``pifuhd.body``: garments, hair, textures."""
