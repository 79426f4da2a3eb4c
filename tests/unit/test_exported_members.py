"""Pin the public names of the package, so additions and removals are deliberate."""

import pycontainerd
from pycontainerd import errors, events, oci, registry, runtime, services, stdio, testing

PUBLIC = [
    "DEFAULT",
    "Client",
    "Container",
    "Containers",
    "Content",
    "ContentInfo",
    "ContentReader",
    "ContentWriter",
    "Deprecation",
    "Descriptor",
    "Diff",
    "ExitStatus",
    "Extension",
    "Image",
    "ImageCheck",
    "ImageConfig",
    "ImageMount",
    "ImageUsage",
    "Images",
    "IngestStatus",
    "Lease",
    "LeaseResource",
    "Leases",
    "Manifest",
    "Metrics",
    "Mount",
    "Namespace",
    "Namespaces",
    "Platform",
    "PluginInfo",
    "Process",
    "ProcessInfo",
    "RunResult",
    "RuntimeInfo",
    "Runtime",
    "Sandbox",
    "SandboxController",
    "SandboxInstance",
    "SandboxMetrics",
    "SandboxStatus",
    "Sandboxes",
    "ServerInfo",
    "Services",
    "SignalTarget",
    "SnapshotInfo",
    "SnapshotKind",
    "Snapshots",
    "TLS",
    "Task",
    "TaskState",
    "TaskStatus",
    "Tasks",
    "Usage",
    "Version",
    "errors",
    "events",
    "forward_signals",
    "oci",
    "parse_signal",
    "registry",
    "runtime",
    "services",
    "stdio",
    "transfer",
]


def test_all_is_pinned() -> None:
    assert sorted(pycontainerd.__all__) == sorted(PUBLIC)


def test_all_names_exist_and_are_public_api() -> None:
    for name in pycontainerd.__all__:
        obj = getattr(pycontainerd, name)
        module = getattr(obj, "__module__", None) or obj.__name__
        assert module.startswith("pycontainerd"), name


def test_submodule_all_resolve() -> None:
    for mod in (errors, events, events.filters, oci, registry, runtime, services, stdio, testing):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"
