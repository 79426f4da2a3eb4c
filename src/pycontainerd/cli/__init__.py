"""``pyctr``: containerd's ``ctr``, rebuilt on the public pycontainerd SDK.

Run ``pyctr --help`` (or ``python -m pycontainerd --help``). Global options
(``-a/--address``, ``-n/--namespace``, ``--timeout``, ``--debug``, and for a
``tcp://`` address ``--tls-ca``/``--tls-cert``/``--tls-key``/``--tls-server-name``
or ``--plaintext``) go before or after the command; ``CONTAINERD_ADDRESS`` and
``CONTAINERD_NAMESPACE`` are honoured. Errors are one line on stderr and a non-zero exit code.

Example:
    ```console
    $ pyctr -n demo namespaces create demo
    $ pyctr -n demo events --count 1 'topic~="^/tasks/"'
    ```
"""

from __future__ import annotations

import sys

from ._app import main as _main

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run pyctr (the console script's entry point) and return its exit code.

    Example:
        ```python
        from pycontainerd.cli import main

        raise SystemExit(main(["namespaces", "ls"]))
        ```
    """
    return _main(sys.argv[1:] if argv is None else argv)
