"""``python -m inpaintlab.cli``: the ``inpaintlab`` command."""

from inpaintlab.cli import main

raise SystemExit(main())
