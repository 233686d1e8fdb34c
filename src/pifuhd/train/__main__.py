"""``python -m pifuhd.train STAGE --data DATA/ --out RUN/`` (also ``torchrun -m pifuhd.train``)."""

import sys

from pifuhd.train.cli_args import main

sys.exit(main())
