"""Task metrics decoding, from a payload containerd's own Go packages made."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pycontainerd import Metrics
from pycontainerd._api.containerd.services.tasks.v1 import MetricsResponse

DATA = Path(__file__).parent.parent / "data"


def test_cgroup_v2_metrics_as_the_daemon_returns_them() -> None:
    # The test host is cgroup v1: this reply was made by tests/data/stdio_reference_gen
    # (typeurl.MarshalAny of cgroups v2 stats, as a runc shim on a v2 host returns it).
    reply = MetricsResponse().parse((DATA / "metrics_cgroups_v2.bin").read_bytes())
    [metric] = reply.metrics
    got = Metrics._from_proto(metric, container_id="ignored")
    assert got == Metrics(
        container_id="web",
        timestamp=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        type_url="io.containerd.cgroups.v2.Metrics",
        pids=7,
        memory_usage=5_000_000_000,
        memory_limit=2**64 - 1,  # "max": no limit
        cpu_usage_ns=1_234_567_000,
    )
    # The rest of the message is there, decoded.
    data = got.data
    assert data is not None
    assert (data.pids.limit, data.cpu.nr_throttled, data.cpu.throttled_usec) == (4096, 2, 3000)
    assert (data.memory.anon, data.memory.file, data.memory.swap_limit) == (
        4096000,
        8192000,
        1 << 40,
    )
    [entry] = data.io.usage
    assert (entry.major, entry.rbytes, entry.wbytes, entry.rios, entry.wios) == (
        8,
        1 << 20,
        2 << 20,
        3,
        4,
    )
    [huge] = data.hugetlb
    assert (huge.pagesize, huge.max) == ("2MB", 1 << 21)
    assert (data.memory_events.max, data.memory_events.oom_kill) == (5, 1)
