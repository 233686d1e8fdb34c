"""The local web app (``pifuhd serve``): ``app`` starts it, ``server`` answers requests,
``jobs`` queues the photos, ``work`` turns one into files, ``upload`` checks an upload."""
