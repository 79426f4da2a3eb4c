"""containerd's gRPC API as generated betterproto code: the raw escape hatch, public.

`Client.services` hands out the generated stubs; this module names their
request and reply messages. One attribute per service, named as the
property of `Services` that makes its stub (``sandbox`` serves both
``sandbox_controller`` and ``sandbox_store``), is the generated module of
that service: its stub class, its messages and its enums. ``types`` holds
the messages the services share (``Descriptor``, ``Mount``, ``Platform``,
``Envelope``, ...).

These are betterproto classes generated from the protos in ``protos/``
(`nox -s protos`), not the SDK's typed values: their names follow the
protos (betterproto renames a few, ``TaskIO`` becomes ``TaskIo``), and the
stubs raise grpclib's ``GRPCError``, not `pycontainerd.errors`.

Example:
    ```python
    from betterproto.lib.google.protobuf import Empty
    from pycontainerd.services import containers, version

    reply: version.VersionResponse = await client.services.version.version(Empty())
    listed = await client.services.containers.list(containers.ListContainersRequest())
    print(reply.version, [c.id for c in listed.containers])
    ```
"""

from ._api.containerd import types
from ._api.containerd.services.containers import v1 as containers
from ._api.containerd.services.content import v1 as content
from ._api.containerd.services.diff import v1 as diff
from ._api.containerd.services.events import v1 as events
from ._api.containerd.services.images import v1 as images
from ._api.containerd.services.introspection import v1 as introspection
from ._api.containerd.services.leases import v1 as leases
from ._api.containerd.services.namespaces import v1 as namespaces
from ._api.containerd.services.sandbox import v1 as sandbox
from ._api.containerd.services.snapshots import v1 as snapshots
from ._api.containerd.services.streaming import v1 as streaming
from ._api.containerd.services.tasks import v1 as tasks
from ._api.containerd.services.transfer import v1 as transfer
from ._api.containerd.services.version import v1 as version
from ._api.grpc.health import v1 as health
from ._services import Services

__all__ = [
    "Services",
    "containers",
    "content",
    "diff",
    "events",
    "health",
    "images",
    "introspection",
    "leases",
    "namespaces",
    "sandbox",
    "snapshots",
    "streaming",
    "tasks",
    "transfer",
    "types",
    "version",
]
