"""pyctr's commands beyond test_cli.py: ctr's info, snapshot, content and task commands, run's
flags, and what a terminal sees (rich tables and progress bars)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_cli import IMAGE, PYCTR, Pyctr, ok, one_line_error, pyctr, pyctr_env, run_in_pty

import pycontainerd
from pycontainerd import oci, stdio
from pycontainerd.testing import ContainerdDaemon, inventory

__all__ = ["pyctr"]  # the fixture, shared with test_cli.py

pytestmark = pytest.mark.anyio


async def test_info_deprecations_oci_spec_and_runtime(
    pyctr: Pyctr, containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    server = await containerd_client.server()
    listed = json.loads(ok(await pyctr("deprecations", "list", "--format", "json")))
    assert [d["id"] for d in listed] == [d.id for d in server.deprecations]
    table = ok(await pyctr("deprecations", "ls")).splitlines()
    assert table[0].split() == ["ID", "LAST", "OCCURRENCE", "MESSAGE"]
    assert len(table) == 1 + len(server.deprecations)
    # ctr's default spec: containerd's defaults, the cgroups path of no container
    spec = json.loads(ok(await pyctr("oci", "spec")))
    assert spec["linux"]["cgroupsPath"] == f"/{containerd_client.namespace}"
    spec["linux"].pop("cgroupsPath")
    assert spec == json.loads(oci.Spec.default().to_json())
    assert "only linux" in one_line_error(await pyctr("oci", "spec", "--platform", "windows"))
    r = await pyctr("plugins", "inspect-runtime")
    if containerd_daemon.version_info < (2, 0, 0):
        assert "needs containerd 2.0 or newer" in one_line_error(r)
    else:
        info = json.loads(ok(r))
        assert info["name"] == "io.containerd.runc.v2"
        assert info["features"]["ociVersionMax"]
    assert ok(await pyctr("ns", "c", "made-by-alias")) == ""
    assert "made-by-alias" in ok(await pyctr("ns", "ls", "-q")).split()
    await containerd_client.namespaces.delete("made-by-alias")


async def pyctr_bytes(daemon: ContainerdDaemon, client: pycontainerd.Client, *args: str) -> bytes:
    """Run pyctr and return its stdout as bytes (a layer, a blob)."""
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [*PYCTR, *args], env=pyctr_env(daemon, client.namespace), check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    return done.stdout


async def test_snapshots_commands(
    pyctr: Pyctr, containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    snapshots = containerd_client.snapshots()
    # a committed base with one file, an active child with another
    ok(await pyctr("snapshots", "prepare", "base-a", "--target", "/mnt"))
    assert "containerd.io/gc.root" in (await snapshots.stat("base-a")).labels
    [mount] = await snapshots.mounts("base-a")
    (Path(mount.source) / "base.txt").write_text("base\n")  # a bind mount of the snapshot's dir
    ok(await pyctr("snapshots", "commit", "--label", "tier=base", "base", "base-a"))
    info = json.loads(ok(await pyctr("snapshots", "info", "base")))
    assert (info["name"], info["kind"], info["labels"]["tier"]) == ("base", "COMMITTED", "base")
    # as ctr's, prepare and commit keep what they make from garbage collection
    assert "containerd.io/gc.root" in info["labels"]
    # a view is not kept from garbage collection (as ctr's): any collection may take it, so
    # it is checked and removed at once
    view = ok(await pyctr("snapshots", "view", "-t", "/mnt/v", "base-v", "base"))
    assert view.startswith("mount -t ")
    assert " /mnt/v" in view
    [viewed] = json.loads(ok(await pyctr("snapshots", "view", "--mounts", "base-v2", "base")))
    assert viewed["type"] in ("bind", "overlay")
    for key in ("base-v", "base-v2"):
        with contextlib.suppress(pycontainerd.errors.NotFound):
            await snapshots.remove(key)
    ok(await pyctr("snapshots", "prepare", "child", "base"))
    ok(await pyctr("snapshots", "prepare", "child2", "base"))
    [m] = await snapshots.mounts("child")
    upper = next(o.partition("=")[2] for o in m.options if o.startswith("upperdir="))
    (Path(upper) / "child.txt").write_text("child\n")
    root = (await snapshots.stat("base")).labels["containerd.io/gc.root"]
    labels = ok(await pyctr("snapshots", "label", "base", "tier=", "new=1")).strip()
    assert labels == f"containerd.io/gc.root={root},new=1"
    assert dict((await snapshots.stat("base")).labels) == {
        "containerd.io/gc.root": root,
        "new": "1",
    }
    tree = ok(await pyctr("snapshots", "tree")).splitlines()
    assert tree == ["base", "  \\_ child", "  \\_ child2"]
    parents = json.loads(ok(await pyctr("snapshots", "tree", "--format", "json")))
    assert {p["name"]: p["parent"] for p in parents} == {
        "base": "",
        "child": "base",
        "child2": "base",
    }
    # diff: child against its parent, the layer on stdout (its blob goes with the lease)
    layer = await pyctr_bytes(containerd_daemon, containerd_client, "snapshots", "diff", "child")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        assert [n.lstrip("./") for n in tar.getnames()] == ["child.txt"]
    # base against nothing (no parent): its whole tree; --keep leaves the blob, labelled
    layer = await pyctr_bytes(
        containerd_daemon,
        containerd_client,
        "snapshots",
        "diff",
        "--keep",
        "--label",
        "k=v",
        "base",
    )
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        assert [n.lstrip("./") for n in tar.getnames()] == ["base.txt"]
    [kept] = [i for i in await containerd_client.content.list() if "k" in i.labels]
    assert kept.labels["k"] == "v"
    assert "containerd.io/gc.root" in kept.labels
    await containerd_client.content.delete(kept.digest)
    # no view was left behind by the diffs
    assert {s.name for s in await snapshots.list()} == {"base", "child", "child2"}
    ok(await pyctr("snapshots", "rm", "child", "child2", "base"))
    assert await snapshots.list() == []
    assert "not found" in one_line_error(await pyctr("snapshots", "info", "base"))


async def test_content_label_active_and_edit(
    pyctr: Pyctr, containerd_client: pycontainerd.Client
) -> None:
    content = containerd_client.content
    digest = ok(await pyctr("content", "ingest", "--label", "a=1", "cfg", input='{"n": 1}')).strip()
    assert ok(await pyctr("content", "label", digest, "a=", "b=2")).strip() == "b=2"
    assert dict((await content.info(digest)).labels) == {"b": "2"}
    # an ingest under way is listed until committed or aborted
    async with content.writer("half-done", total=10) as writer:
        await writer.write(b"12345")
        [active] = json.loads(ok(await pyctr("content", "active", "--format", "json")))
        assert (active["ref"], active["offset"], active["total"]) == ("half-done", 5, 10)
        row = ok(await pyctr("content", "active")).splitlines()[1].split()
        assert row[0] == "half-done"
    await content.abort("half-done")
    assert ok(await pyctr("content", "active")).splitlines()[1:] == []
    # edit: the editor changes a copy; the new blob keeps the labels, the old one stays
    edited = ok(await pyctr("content", "edit", "--editor", "sed -i s/1/2/", digest)).strip()
    assert edited != digest
    assert await content.read(edited) == b'{"n": 2}'
    assert dict((await content.info(edited)).labels) == {"b": "2"}
    assert await content.read(digest) == b'{"n": 1}'
    # an unchanged blob is not written again; a bad result or a failed editor changes nothing
    assert ok(await pyctr("content", "edit", "--editor", "true", digest)).strip() == digest
    r = await pyctr("content", "edit", "--validate", "json", "--editor", "sed -i s/}//", digest)
    assert "not JSON" in one_line_error(r)
    r = await pyctr("content", "edit", "--editor", "false", digest)
    assert "exited with 1" in one_line_error(r)
    assert {i.digest for i in await content.list()} == {digest, edited}


async def test_tasks_attach(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    # a task with FIFOs, made by another client (this one), that waits for a line
    container = await containerd_client.containers.create(
        "att1", image=busybox_image, args=["sh", "-c", "read line; echo got:$line; exit 3"]
    )
    async with await container.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        r = await pyctr("tasks", "attach", "att1", input="hello\n")
        assert (r.returncode, r.stdout) == (3, "got:hello\n"), r.stderr
        assert (await task.wait()).code == 3
    await container.delete()
    assert "not found" in one_line_error(await pyctr("tasks", "attach", "att1"))


async def test_run_and_create_flags(
    pyctr: Pyctr,
    busybox_image: pycontainerd.Image,
    containerd_client: pycontainerd.Client,
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n\nBOTH=file\n")
    r = await pyctr(
        "run",
        "--rm",
        "--hostname",
        "box1",
        "--read-only",
        "--env-file",
        str(env_file),
        "--env",
        "BOTH=flag",
        IMAGE,
        "flags1",
        "sh",
        "-c",
        "hostname; echo $FROM_FILE $BOTH; touch /x 2>/dev/null || echo read-only",
    )
    assert (r.returncode, r.stdout) == (0, "box1\nyes flag\nread-only\n"), r.stderr
    ok(
        await pyctr(
            "c",
            "create",
            "--annotation",
            "note=1",
            "--memory-limit",
            str(64 << 20),
            "--cpus",
            "0.5",
            "--cgroup",
            "/pyctr-test/flags2",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--cap-drop",
            "CAP_CHOWN",
            "--allow-new-privs",
            "--runtime",
            "io.containerd.runc.v2",
            IMAGE,
            "flags2",
        )
    )
    spec = json.loads(ok(await pyctr("c", "info", "--spec", "flags2")))
    assert spec["annotations"] == {"note": "1"}
    assert spec["linux"]["resources"]["memory"]["limit"] == 64 << 20
    assert spec["linux"]["resources"]["cpu"] == {"quota": 50_000, "period": 100_000}
    assert spec["linux"]["cgroupsPath"] == "/pyctr-test/flags2"
    bounding = spec["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in bounding
    assert "CAP_CHOWN" not in bounding
    assert not spec["process"].get("noNewPrivileges", False)
    ok(await pyctr("c", "rm", "flags2"))
    ok(await pyctr("c", "create", "--privileged", IMAGE, "flags3"))
    spec = json.loads(ok(await pyctr("c", "info", "--spec", "flags3")))
    assert "CAP_SYS_ADMIN" in spec["process"]["capabilities"]["bounding"]
    assert "maskedPaths" not in spec["linux"]
    ok(await pyctr("c", "rm", "flags3"))
    missing = one_line_error(await pyctr("run", "--env-file", "/nonexistent", IMAGE, "flags4"))
    assert "--env-file '/nonexistent'" in missing
    stock = await inventory(containerd_client)
    assert (stock.containers, stock.tasks) == ((), ())


async def test_a_terminal_gets_rich_tables_and_progress_bars(
    pyctr: Pyctr,
    busybox_image: pycontainerd.Image,
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    tmp_path: Path,
) -> None:
    env = pyctr_env(containerd_daemon, containerd_client.namespace)
    output, code = await anyio.to_thread.run_sync(
        run_in_pty, [*PYCTR, "images", "ls"], env, (30, 200)
    )
    assert code == 0, output
    lines = output.decode().splitlines()
    # rich's table: a bold header, a rule of box characters under it, no ASCII padding runs
    assert "\x1b[1m" in lines[0]
    assert "REF" in lines[0]
    assert set(lines[1].strip()) <= {"─", " ", "\x1b", "[", "m", "0", "1", ";"}
    assert IMAGE in lines[2]
    # not a terminal: plain columns, the same with or without rich
    plain = ok(await pyctr("images", "ls")).splitlines()
    assert plain[0].split()[:2] == ["REF", "TYPE"]
    assert "\x1b" not in plain[0]
    # export and import draw a bar on the terminal; their result lines stay plain
    archive = tmp_path / "busybox.tar"
    output, code = await anyio.to_thread.run_sync(
        run_in_pty, [*PYCTR, "images", "export", str(archive), IMAGE], env, (30, 120)
    )
    assert code == 0, output
    assert "exporting" in output.decode()
    assert "━" in output.decode()
    assert archive.stat().st_size > 0
    ok(await pyctr("images", "rm", "--sync", IMAGE))
    output, code = await anyio.to_thread.run_sync(
        run_in_pty, [*PYCTR, "images", "import", "--local", str(archive)], env, (30, 120)
    )
    assert code == 0, output
    text = output.decode()
    assert "importing" in text
    assert "━" in text
    assert f"{IMAGE} {busybox_image.target.digest}" in text


async def test_content_prune_references(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    content = containerd_client.content
    held = {
        (info.digest, key): value
        for info in await content.list()
        for key, value in info.labels.items()
        if key.startswith("containerd.io/gc.ref.content.l.")
    }
    assert held  # the manifest keeps its layers by these labels
    dry = ok(await pyctr("content", "prune", "references", "--dry")).splitlines()
    assert sorted(tuple(line.split()) for line in dry) == sorted(held)
    assert await content.list() != []
    ok(await pyctr("content", "prune", "references"))
    left = {info.digest: info.labels for info in await content.list()}
    for digest, key in held:
        assert key not in left[digest]  # the manifest stays, without the labels
        assert held[digest, key] not in left  # the layer it held is collected
    assert busybox_image.target.digest in left  # what the image names is not collected


async def test_images_tag_label_inspect_and_prune(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    images = containerd_client.images
    tagged = ok(await pyctr("images", "tag", IMAGE, "example.com/t:1", "example.com/t:2"))
    assert tagged.split() == ["example.com/t:1", "example.com/t:2"]
    assert (await images.get("example.com/t:2")).target == busybox_image.target
    assert "already exists" in one_line_error(
        await pyctr("images", "tag", IMAGE, "example.com/t:1")
    )
    ok(await pyctr("images", "tag", "--force", IMAGE, "example.com/t:1"))
    bad = one_line_error(await pyctr("images", "tag", IMAGE, "example.com/ok:1", "Bad Name"))
    assert "Bad Name" in bad
    assert "example.com/ok:1" not in {i.name for i in await images.list()}
    assert ok(await pyctr("images", "label", "example.com/t:1", "a=1", "b=2")).strip() == "a=1,b=2"
    assert ok(await pyctr("images", "label", "-r", "example.com/t:1", "c=3")).strip() == "c=3"
    assert dict((await images.get("example.com/t:1")).labels) == {"c": "3"}
    # inspect: the target and everything under it, each found in the content store
    tree = json.loads(ok(await pyctr("images", "inspect", "--format", "json", IMAGE)))["target"]
    assert tree["digest"] == busybox_image.target.digest
    manifest = await busybox_image.manifest()

    def digests(node: Any) -> list[str]:
        return [node["digest"]] + [d for c in node.get("children", []) for d in digests(c)]

    found = digests(tree)
    assert manifest.config.digest in found
    assert all(layer.digest in found for layer in manifest.layers)
    text = ok(await pyctr("images", "inspect", IMAGE)).splitlines()
    assert text[0] == IMAGE
    assert len(text) == 1 + len(found)
    assert "(missing)" not in "".join(text)
    # prune: nothing without --all; with it, every image no container names
    ok(await pyctr("c", "create", "example.com/t:2", "uses-t2"))
    r = await pyctr("images", "prune")
    assert (r.returncode, r.stdout) == (0, "")
    assert "needs --all" in r.stderr
    assert sorted(ok(await pyctr("images", "prune", "--all")).split()) == [
        IMAGE,
        "example.com/t:1",
    ]
    assert [i.name for i in await images.list()] == ["example.com/t:2"]
    ok(await pyctr("c", "rm", "uses-t2"))
