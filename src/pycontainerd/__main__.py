"""``python -m pycontainerd``: the ``pyctr`` command line."""

from pycontainerd.cli import main

raise SystemExit(main())
