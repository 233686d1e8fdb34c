"""``python -m pifuhd``: the ``pifuhd`` command."""

from pifuhd.cli import run

run()
