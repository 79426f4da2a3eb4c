"""containerd's event stream, typed.

``client.events.subscribe(...)`` yields `Envelope` values whose ``event`` is
one of the classes below, named and shaped after containerd's event
messages (`TaskExit`, `ContainerCreate`, ...), or `Unknown` for any other
type. Events that only newer daemons publish say so: `ContentCreate` and the
``Sandbox*`` events come from containerd 2.x. `filters` builds filter expressions; `Resync` marks a reconnection
and `Overflow` a consumer that fell behind.

Example:
    ```python
    from pycontainerd import events
    from pycontainerd.events import filters

    async with client.events.subscribe(filters.topic_matches("^/tasks/")) as stream:
        async for envelope in stream:
            match envelope.event:
                case events.TaskExit(container_id=cid, exit_status=code):
                    print(f"{cid} exited with {code}")
                case _:
                    pass
    ```
"""

from .._api._events import (
    ContainerCreate,
    ContainerDelete,
    ContainerRuntime,
    ContainerUpdate,
    ContentCreate,
    ContentDelete,
    Event,
    ImageCreate,
    ImageDelete,
    ImageUpdate,
    NamespaceCreate,
    NamespaceDelete,
    NamespaceUpdate,
    SandboxCreate,
    SandboxExit,
    SandboxStart,
    SnapshotCommit,
    SnapshotPrepare,
    SnapshotRemove,
    TaskCheckpointed,
    TaskCreate,
    TaskDelete,
    TaskExecAdded,
    TaskExecStarted,
    TaskExit,
    TaskIO,
    TaskOOM,
    TaskPaused,
    TaskResumed,
    TaskStart,
)
from . import filters
from ._stream import DEFAULT_BUFFER, PROBE_PREFIX, Events, EventStream, Overflow, Resync
from ._types import Envelope, Unknown

__all__ = [
    "DEFAULT_BUFFER",
    "PROBE_PREFIX",
    "ContainerCreate",
    "ContainerDelete",
    "ContainerRuntime",
    "ContainerUpdate",
    "ContentCreate",
    "ContentDelete",
    "Envelope",
    "Event",
    "EventStream",
    "Events",
    "ImageCreate",
    "ImageDelete",
    "ImageUpdate",
    "NamespaceCreate",
    "NamespaceDelete",
    "NamespaceUpdate",
    "Overflow",
    "Resync",
    "SandboxCreate",
    "SandboxExit",
    "SandboxStart",
    "SnapshotCommit",
    "SnapshotPrepare",
    "SnapshotRemove",
    "TaskCheckpointed",
    "TaskCreate",
    "TaskDelete",
    "TaskExecAdded",
    "TaskExecStarted",
    "TaskExit",
    "TaskIO",
    "TaskOOM",
    "TaskPaused",
    "TaskResumed",
    "TaskStart",
    "Unknown",
    "filters",
]
