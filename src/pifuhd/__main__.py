"""``python -m pifuhd``: the ``pifuhd`` command."""

from pifuhd.cli import main

raise SystemExit(main())
