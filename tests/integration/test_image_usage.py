"""Image.usage (Go's Image.Usage) and Image.check (containerd's images.Check) against the daemon."""

from __future__ import annotations

import re
from typing import Any

import pytest
from _image_helpers import index_with_absent_platform, layered_image

import pycontainerd
from pycontainerd import LeaseResource, _transport, errors
from pycontainerd._oci import chain_id

pytestmark = pytest.mark.anyio


async def stored_size(client: pycontainerd.Client, *digests: str) -> int:
    return sum([(await client.content.info(d)).size for d in digests])


async def test_usage_counts_the_blobs_in_the_store(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    manifest = await busybox_image.manifest()
    digests = [busybox_image.target.digest, manifest.config.digest]
    digests += [layer.digest for layer in manifest.layers]
    usage = await busybox_image.usage()
    assert usage.content == await stored_size(containerd_client, *digests)
    assert usage.content == await busybox_image.size()  # the descriptors tell the truth here
    assert usage.snapshotter is None
    assert usage.snapshots == {}
    assert usage.total == usage.content
    assert (await busybox_image.usage(declared=True)).content == usage.content


async def test_usage_adds_each_unpacked_layer_top_first(
    containerd_client: pycontainerd.Client,
) -> None:
    files = [{f"layer{i}": bytes([i]) * (5000 * (i + 1))} for i in range(3)]
    image = await layered_image(containerd_client, "example.com/layers:3", files)
    config = await image.config()
    chain = [chain_id(config.diff_ids[: i + 1]) for i in range(3)]
    assert (await image.usage(snapshots=True)).snapshots == {}  # not unpacked yet

    await image.unpack()
    usage = await image.usage(snapshots=True)
    assert usage.snapshotter == "overlayfs"
    assert list(usage.snapshots) == chain[::-1]
    snapshots = containerd_client.snapshots()
    for key, used in usage.snapshots.items():
        assert used == await snapshots.usage(key)
    # each layer's own file: the top one is the biggest
    sizes = [usage.snapshots[key].size for key in chain]
    assert sizes[0] >= 5000
    assert sizes[1] >= 10000
    assert sizes[2] >= 15000
    assert usage.total == usage.content + sum(sizes)

    # A snapshot that is gone is left out: with the top one removed and the
    # collector run, the middle one stays, held by a lease, and its parent
    # with it; then, the lease deleted, none.
    held = await containerd_client.leases.create()
    await containerd_client.leases.add_resource(
        held.id, LeaseResource(id=chain[1], type="snapshots/overlayfs")
    )
    await snapshots.remove(chain[-1])
    async with containerd_client.leases.lease(sync_delete=True):
        pass  # a collection, waited for
    left = await image.usage(snapshots=True, snapshotter="overlayfs")
    assert list(left.snapshots) == [chain[1], chain[0]]
    assert left.total == left.content + sizes[0] + sizes[1]
    await containerd_client.leases.delete(held.id, sync=True)
    assert (await image.usage(snapshots=True)).snapshots == {}


async def test_usage_of_every_platform_skips_what_is_not_in_the_store(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    index, absent = await index_with_absent_platform(
        containerd_client, busybox_image, "example.com/multi:1"
    )
    one = await busybox_image.usage()
    # the index itself, then what the host's manifest holds; the riscv64 one counts nothing
    assert (await index.usage()).content == one.content + index.target.size
    every = await index.usage(all_platforms=True)
    assert every.content == one.content + index.target.size
    declared = await index.usage(all_platforms=True, declared=True)
    assert declared.content == every.content + absent.size
    with pytest.raises(errors.NotFound):
        await index.usage("linux/riscv64")
    # the snapshots of the platform that is here are found through the index too
    with_snapshots = await index.usage(all_platforms=True, snapshots=True)
    assert list(with_snapshots.snapshots) == [await busybox_image.chain_id()]


async def test_usage_refuses_contradictory_options(busybox_image: pycontainerd.Image) -> None:
    with pytest.raises(errors.InvalidArgument, match="'native'"):
        await busybox_image.usage(snapshotter="native")
    with pytest.raises(errors.InvalidArgument, match="all_platforms"):
        await busybox_image.usage("linux/amd64", all_platforms=True)


@pytest.mark.parametrize("platform", ["linux/arm/v7/x", "linux//v7", 5, ["linux/amd64"]])
async def test_a_bad_platform_is_refused_before_any_call(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    platform: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """By usage, check, manifest, config, import and fetch, and among convert's (which refuses one with all_platforms)."""
    image = await containerd_client.images.get(busybox_image.name)  # a handle with nothing cached
    calls: list[str] = []
    original = _transport.Caller.unary_raw

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        calls.append(rpc.path)
        return await original(self, rpc, request, **kw)

    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    named = re.escape(f"invalid platform {platform!r}")
    with pytest.raises(errors.InvalidArgument, match=named):
        await image.usage(platform)
    with pytest.raises(errors.InvalidArgument, match=named):
        await image.usage(platform, snapshots=True)
    with pytest.raises(errors.InvalidArgument, match=named):
        await image.check(platform)
    with pytest.raises(errors.InvalidArgument, match=named):
        await image.manifest(platform)
    with pytest.raises(errors.InvalidArgument, match=named):
        await image.config(platform)
    with pytest.raises(errors.InvalidArgument, match=named):
        await containerd_client.images.convert(
            image, "example.com/converted:1", platform=["linux/amd64", platform]
        )
    with pytest.raises(errors.InvalidArgument, match="given with all_platforms=True"):
        await containerd_client.images.convert(
            image, "example.com/converted:1", platform="linux/amd64", all_platforms=True
        )
    with pytest.raises(errors.InvalidArgument, match=named):
        await containerd_client.images.import_archive(b"", platform=platform)
    with pytest.raises(errors.InvalidArgument, match=named):
        await containerd_client.fetch("localhost:1/nowhere:1", platforms=[platform])
    assert calls == []


async def test_check_of_a_complete_image(busybox_image: pycontainerd.Image) -> None:
    manifest = await busybox_image.manifest()
    check = await busybox_image.check()
    assert check.available
    assert check.complete
    assert check.required == (manifest.config, *manifest.layers)
    assert check.present == check.required
    assert check.missing == ()


async def test_check_finds_a_missing_layer(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    image = await layered_image(
        containerd_client, "example.com/layers:2", [{"a": b"a"}, {"b": b"b"}]
    )
    manifest = await image.manifest()
    await containerd_client.content.delete(manifest.layers[1].digest)
    check = await image.check()
    assert check.available
    assert not check.complete
    assert check.present == (manifest.config, manifest.layers[0])
    assert check.missing == (manifest.layers[1],)
    # what is gone counts nothing, unless the declared sizes are asked for
    usage = await image.usage()
    declared = await image.usage(declared=True)
    assert declared.content - usage.content == manifest.layers[1].size


async def test_check_of_an_image_whose_root_is_missing(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    index, _absent = await index_with_absent_platform(
        containerd_client, busybox_image, "example.com/multi:2"
    )
    check = await index.check("linux/riscv64")
    assert not check.available
    assert not check.complete
    assert check.required == check.missing == (index.target,)
    assert check.present == ()
    assert (await index.check()).complete  # the host's platform is all there
