"""pyctr version, info, deprecations, plugins, oci, namespaces and events.

As in ``_runtime``, SDK modules that only some commands need are imported
inside them, so that ``pyctr version`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from . import _output as out
from ._app import CliError, Commands, format_option, label_pairs, quiet_option

if TYPE_CHECKING:
    from .. import events
    from .._client import Client


def register(commands: Commands) -> None:
    """Add the commands of this module."""
    p = commands.command("version", version, "show the client's and the daemon's versions")
    format_option(p)
    p = commands.command("info", info, "show the daemon: version, pid, deprecated features in use")
    format_option(p)
    dep = commands.group("deprecations", "deprecated features the daemon saw in use")
    p = dep.command("list", deprecations_list, "list them", aliases=["ls"])
    format_option(p)
    oci = commands.group("oci", "OCI tools")
    p = oci.command("spec", oci_spec, "print containerd's default OCI runtime spec (JSON)")
    p.add_argument("--platform", help="only linux is supported (as the daemon's host)")
    p.add_argument("--format", choices=("json",), default="json", help="output format")

    plugins = commands.group("plugins", "the daemon's plugins", aliases=["plugin"])
    p = plugins.command("ls", plugins_ls, "list plugins", aliases=["list"])
    p.add_argument(
        "filters", nargs="*", metavar="FILTER", help="e.g. type==io.containerd.snapshotter.v1"
    )
    p.add_argument("-d", "--detailed", action="store_true", help="show exports and capabilities")
    quiet_option(p)
    format_option(p)
    p = plugins.command(
        "inspect-runtime",
        plugins_inspect_runtime,
        "show a runtime's version and OCI features (containerd 2.0+)",
    )
    p.add_argument(
        "--runtime",
        default="io.containerd.runc.v2",
        help="runtime name or shim path (default: io.containerd.runc.v2)",
    )
    p.add_argument("--format", choices=("json",), default="json", help="output format")

    ns = commands.group("namespaces", "manage namespaces", aliases=["namespace", "ns"])
    p = ns.command("ls", namespaces_ls, "list namespaces", aliases=["list"])
    quiet_option(p)
    format_option(p)
    p = ns.command("create", namespaces_create, "create a namespace", aliases=["c"])
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p = ns.command("rm", namespaces_rm, "remove namespaces", aliases=["remove", "delete"])
    p.add_argument("names", nargs="+", metavar="NAME")
    p = ns.command("label", namespaces_label, "set labels (an empty value removes one)")
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")

    p = commands.command("events", events_cmd, "print events as they happen", aliases=["event"])
    p.add_argument(
        "filters",
        nargs="*",
        metavar="FILTER",
        help="containerd filters, ORed (e.g. 'topic~=\"^/tasks/\"')",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true", help="events of every namespace")
    p.add_argument("--reconnect", action="store_true", help="survive daemon restarts")
    p.add_argument("--count", type=int, default=None, help="exit after this many events")
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="publish no /pycontainerd/probe/ event on subscribing (others then see none, "
        "but events of the first moments may be missed)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one line per event; json: one JSON object per line",
    )


def _client_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pycontainerd")
    except metadata.PackageNotFoundError:
        return "unknown"


async def version(client: Client, args: argparse.Namespace) -> int:
    """Pyctr version."""
    server = await client.server()
    if args.format == "json":
        out.print_json(
            {
                "client": {"version": _client_version(), "python": sys.version.split()[0]},
                "server": {
                    "version": server.version,
                    "revision": server.revision,
                    "uuid": server.uuid,
                },
            }
        )
        return 0
    print("Client:")
    print(f"  Version:  {_client_version()}")
    print(f"  Python:   {sys.version.split()[0]}")
    print()
    print("Server:")
    print(f"  Version:  {server.version}")
    print(f"  Revision: {server.revision}")
    print(f"  UUID:     {server.uuid}")
    return 0


async def info(client: Client, args: argparse.Namespace) -> int:
    """Pyctr info (ctr info and ctr deprecations list in one)."""
    server = await client.server()
    if args.format == "json":
        out.print_json(server)
        return 0
    print(f"Version:   {server.version}")
    print(f"Revision:  {server.revision}")
    print(f"UUID:      {server.uuid}")
    print(f"PID:       {server.pid if server.pid is not None else '-'}")
    print(f"PID ns:    {server.pidns if server.pidns is not None else '-'}")
    print("Deprecations:" + ("" if server.deprecations else " none reported"))
    for d in server.deprecations:
        seen = d.last_occurrence.isoformat() if d.last_occurrence else "-"
        print(f"  {d.id} (last seen {seen})")
        print(f"    {d.message}")
    return 0


async def deprecations_list(client: Client, args: argparse.Namespace) -> int:
    """Pyctr deprecations list."""
    deprecations = (await client.server()).deprecations
    if args.format == "json":
        out.print_json(deprecations)
    else:
        out.table(
            ["ID", "LAST OCCURRENCE", "MESSAGE"],
            ([d.id, d.last_occurrence, d.message] for d in deprecations),
        )
    return 0


async def oci_spec(client: Client, args: argparse.Namespace) -> int:
    """Pyctr oci spec: ``Spec.default``, with ctr's cgroups path for no container (/NAMESPACE)."""
    from .. import oci

    if args.platform and not args.platform.startswith("linux"):
        raise CliError(f"--platform {args.platform!r}: only linux specs are built", code=2)
    spec = oci.Spec.default().with_cgroups_path(f"/{client.namespace}")
    sys.stdout.write(spec.to_json(indent=2).decode() + "\n")
    return 0


async def plugins_inspect_runtime(client: Client, args: argparse.Namespace) -> int:
    """Pyctr plugins inspect-runtime: JSON, as ctr's."""
    out.print_json(await client.runtime_info(args.runtime))
    return 0


async def plugins_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr plugins ls."""
    plugins = await client.plugins(*args.filters)
    if args.format == "json":
        out.print_json(plugins)
    elif args.quiet:
        for p in plugins:
            print(f"{p.type}.{p.id}")
    elif args.detailed:
        for p in plugins:
            print(f"Type:         {p.type}")
            print(f"ID:           {p.id}")
            print(f"Requires:     {out.cell_text(p.requires)}")
            print(f"Platforms:    {out.cell_text([str(x) for x in p.platforms])}")
            print(f"Exports:      {out.cell_text(p.exports)}")
            print(f"Capabilities: {out.cell_text(p.capabilities)}")
            if p.init_error is not None:
                print(f"Error:        {p.init_error}")
            print()
    else:
        out.table(
            ["TYPE", "ID", "PLATFORMS", "STATUS"],
            (
                [p.type, p.id, [str(x) for x in p.platforms], "ok" if p.ok else "error"]
                for p in plugins
            ),
        )
    return 0


async def namespaces_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr namespaces ls."""
    namespaces = await client.namespaces.list()
    return out.listing(
        args,
        namespaces,
        key=lambda n: n.name,
        headers=["NAME", "LABELS"],
        row=lambda n: [n.name, n.labels],
    )


async def namespaces_create(client: Client, args: argparse.Namespace) -> int:
    """Pyctr namespaces create."""
    await client.namespaces.create(args.name, labels=label_pairs(args.labels))
    return 0


async def namespaces_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr namespaces rm."""
    for name in args.names:
        await client.namespaces.delete(name)
        print(name)
    return 0


async def namespaces_label(client: Client, args: argparse.Namespace) -> int:
    """Pyctr namespaces label: set labels, remove those given an empty value."""
    changes = {k: (v or None) for k, v in label_pairs(args.labels).items()}
    ns = await client.namespaces.update(args.name, labels=changes) if changes else None
    if ns is None:
        ns = await client.namespaces.get(args.name)
    print(out.cell_text(ns.labels))
    return 0


def event_record(item: events.Envelope) -> dict[str, object]:
    """An envelope as a JSON object: timestamp, namespace, topic, type, event."""
    from .. import events

    event = item.event
    kind = event.type_url if isinstance(event, events.Unknown) else type(event).__name__
    return {
        "timestamp": item.timestamp,
        "namespace": item.namespace,
        "topic": item.topic,
        "type": kind,
        "event": event,
    }


async def events_cmd(client: Client, args: argparse.Namespace) -> int:
    """Pyctr events: one line per event until interrupted (or --count events)."""
    from .. import events

    if args.count is not None and args.count < 1:
        raise CliError(f"--count must be at least 1, not {args.count}", code=2)
    seen = 0
    async with client.events.subscribe(
        *args.filters,
        all_namespaces=args.all_namespaces,
        reconnect=args.reconnect,
        probe=not args.no_probe,
    ) as stream:
        async for item in stream:
            if isinstance(item, events.Resync):
                if args.format == "json":
                    out.print_json({"resync": item.reason}, indent=None)
                else:
                    print(f"--- resynchronised after: {item.reason}", flush=True)
                continue
            record = event_record(item)
            if args.format == "json":
                out.print_json(record, indent=None)
            else:
                body = json.dumps(out.jsonable(item.event), separators=(",", ":"))
                ts = item.timestamp.isoformat() if item.timestamp else "-"
                print(f"{ts} {item.namespace} {item.topic} {record['type']} {body}", flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    return 0
