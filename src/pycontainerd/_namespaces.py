"""Namespaces: list, get, create, update labels, delete."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs
from betterproto.lib.google.protobuf import FieldMask

from . import _identifiers, errors
from ._api import _rpc
from ._api.containerd.services.namespaces.v1 import (
    CreateNamespaceRequest,
    DeleteNamespaceRequest,
    ListNamespacesRequest,
    UpdateNamespaceRequest,
)
from ._api.containerd.services.namespaces.v1 import (
    Namespace as _Namespace,
)
from ._facade import Facade
from .events import filters as _filters

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Namespace", "Namespaces"]

DEFAULT_RUNTIME_LABEL: Final = "containerd.io/defaults/runtime"
"""A namespace label: the runtime of its containers when a create names none."""

DEFAULT_SNAPSHOTTER_LABEL: Final = "containerd.io/defaults/snapshotter"
"""A namespace label: the snapshotter used when a create, unpack, pull or import names none."""


@attrs.frozen(kw_only=True)
class Namespace:
    """A containerd namespace and its labels."""

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def _from_proto(cls, msg: _Namespace) -> Namespace:
        return cls(name=msg.name, labels=dict(msg.labels))


def _namespace_field(namespace: Namespace, path: tuple[str, ...]) -> str | None:
    if path == ("name",):
        return namespace.name
    if len(path) > 1 and path[0] == "labels":
        return namespace.labels.get(".".join(path[1:]))  # as containerd's adaptors join keys
    return None


class Namespaces(Facade):
    """The namespaces of a daemon (``client.namespaces``).

    Namespace calls are not scoped to the client's namespace; each names its own.

    Example:
        ```python
        ns = await client.namespaces.create("build", labels={"team": "ci"})
        print([n.name for n in await client.namespaces.list()])
        await client.namespaces.delete("build")
        ```
    """

    async def list(self, *filters: str) -> list[Namespace]:
        """All namespaces, optionally narrowed by `filters`.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`). The fields are ``name`` and
        ``labels.<key>``. The daemon ignores filters on this call, so they
        are matched here, with containerd's rules.

        Raises:
            pycontainerd.errors.InvalidArgument: a filter does not parse.

        Example:
            ```python
            ci = await client.namespaces.list('labels.team==ci', 'name~="^build-"')
            ```
        """
        matches = _filters._matcher(filters)
        caller = self._caller.transport.bind("default")
        reply = await caller.unary(_rpc.Namespaces.List, ListNamespacesRequest())
        found = [Namespace._from_proto(n) for n in reply.namespaces]
        return [n for n in found if matches(functools.partial(_namespace_field, n))]

    async def get(self, name: str) -> Namespace:
        """The namespace `name`.

        Raises:
            pycontainerd.errors.NotFound: there is no such namespace.
        """
        _identifiers.validate(name, "namespace")
        # containerd 1.6 answers Get for a namespace that does not exist with
        # empty labels, so look the name up in the listing instead.
        for namespace in await self.list():
            if namespace.name == name:
                return namespace
        raise errors.NotFound(f"namespace {name!r}", method=_rpc.Namespaces.Get.path)

    async def create(self, name: str, *, labels: Mapping[str, str] | None = None) -> Namespace:
        """Create the namespace `name` with `labels`.

        Raises:
            pycontainerd.errors.AlreadyExists: the namespace exists.
            pycontainerd.errors.InvalidArgument: `name` is not a valid identifier.
        """
        _identifiers.validate(name, "namespace")
        labels = _identifiers.labels(labels, "namespace labels")
        # containerd 1.6 answers UNKNOWN after creating unless the call carries
        # the namespace header too.
        reply = await self._caller.transport.bind(name).unary(
            _rpc.Namespaces.Create,
            CreateNamespaceRequest(namespace=_Namespace(name=name, labels=labels)),
        )
        return Namespace._from_proto(reply.namespace)

    async def update(
        self,
        name: str,
        *,
        labels: Mapping[str, str | None],
    ) -> Namespace:
        """Set or remove labels key by key; a value of ``None`` removes that label.

        Labels not named keep their values.

        Example:
            ```python
            await client.namespaces.update("build", labels={"team": "infra", "old": None})
            ```
        """
        _identifiers.validate(name, "namespace")
        labels = _identifiers.label_changes(labels, "namespace labels")
        new = {k: v for k, v in labels.items() if v is not None}
        await self._caller.transport.bind(name).unary(
            _rpc.Namespaces.Update,
            UpdateNamespaceRequest(
                namespace=_Namespace(name=name, labels=new),
                update_mask=FieldMask(paths=_identifiers.label_paths(labels)),
            ),
        )
        # containerd 1.6 answers Update with an empty namespace: read it back.
        return await self.get(name)

    async def delete(self, name: str) -> None:
        """Delete the namespace `name`.

        Raises:
            pycontainerd.errors.FailedPrecondition: the namespace still holds
                containers, images, content, snapshots or leases.
            pycontainerd.errors.NotFound: there is no such namespace.
        """
        _identifiers.validate(name, "namespace")
        await self._caller.transport.bind(name).unary(
            _rpc.Namespaces.Delete, DeleteNamespaceRequest(name=name)
        )


async def namespace_labels(client: Client) -> Mapping[str, str]:
    """The labels of `client`'s namespace (none while it does not exist yet): one RPC."""
    try:
        namespace = await client.namespaces.get(client.namespace)
    except errors.NotFound:
        return {}
    return namespace.labels
