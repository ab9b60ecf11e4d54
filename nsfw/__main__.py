"""``python -m nsfw``: the same command line as the ``nsfw`` console script."""

import sys

from nsfw.cli import main

sys.exit(main(prog="python -m nsfw"))
