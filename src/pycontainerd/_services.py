"""Raw generated stubs, bound to a client's connection: ``client.services``."""

from __future__ import annotations

from typing import TypeVar

import betterproto

from ._api.containerd.services.containers.v1 import ContainersStub
from ._api.containerd.services.content.v1 import ContentStub
from ._api.containerd.services.diff.v1 import DiffStub
from ._api.containerd.services.events.v1 import EventsStub
from ._api.containerd.services.images.v1 import ImagesStub
from ._api.containerd.services.introspection.v1 import IntrospectionStub
from ._api.containerd.services.leases.v1 import LeasesStub
from ._api.containerd.services.namespaces.v1 import NamespacesStub
from ._api.containerd.services.sandbox.v1 import ControllerStub, StoreStub
from ._api.containerd.services.snapshots.v1 import SnapshotsStub
from ._api.containerd.services.streaming.v1 import StreamingStub
from ._api.containerd.services.tasks.v1 import TasksStub
from ._api.containerd.services.transfer.v1 import TransferStub
from ._api.containerd.services.version.v1 import VersionStub
from ._api.grpc.health.v1 import HealthStub
from ._facade import Facade

__all__ = ["Services"]

_Stub = TypeVar("_Stub", bound=betterproto.ServiceStub)


class Services(Facade):
    """containerd's gRPC services as betterproto stubs (no error mapping, no wrapping).

    For calls the SDK does not cover yet. Each property makes a stub that
    sends this view's namespace and lease with every call, with the client's
    timeout. The request and reply classes are in `pycontainerd.services`,
    one module per stub. Errors are grpclib's ``GRPCError``, unmapped.

    Example:
        ```python
        from betterproto.lib.google.protobuf import Empty
        from pycontainerd.services import version

        reply: version.VersionResponse = await client.services.version.version(Empty())
        ```
    """

    def _stub(self, cls: type[_Stub]) -> _Stub:
        metadata = dict(self._caller.metadata)
        return cls(
            self._caller.transport.channel(),
            timeout=self._caller.transport.timeout,
            metadata=metadata,
        )

    @property
    def containers(self) -> ContainersStub:
        return self._stub(ContainersStub)

    @property
    def content(self) -> ContentStub:
        return self._stub(ContentStub)

    @property
    def diff(self) -> DiffStub:
        return self._stub(DiffStub)

    @property
    def events(self) -> EventsStub:
        return self._stub(EventsStub)

    @property
    def health(self) -> HealthStub:
        return self._stub(HealthStub)

    @property
    def images(self) -> ImagesStub:
        return self._stub(ImagesStub)

    @property
    def introspection(self) -> IntrospectionStub:
        return self._stub(IntrospectionStub)

    @property
    def leases(self) -> LeasesStub:
        return self._stub(LeasesStub)

    @property
    def namespaces(self) -> NamespacesStub:
        return self._stub(NamespacesStub)

    @property
    def sandbox_controller(self) -> ControllerStub:
        return self._stub(ControllerStub)

    @property
    def sandbox_store(self) -> StoreStub:
        return self._stub(StoreStub)

    @property
    def snapshots(self) -> SnapshotsStub:
        return self._stub(SnapshotsStub)

    @property
    def streaming(self) -> StreamingStub:
        return self._stub(StreamingStub)

    @property
    def tasks(self) -> TasksStub:
        return self._stub(TasksStub)

    @property
    def transfer(self) -> TransferStub:
        return self._stub(TransferStub)

    @property
    def version(self) -> VersionStub:
        return self._stub(VersionStub)
