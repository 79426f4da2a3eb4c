import json
from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd import ImageConfig

DOCKER_CONFIG = {
    "architecture": "amd64",
    "author": "someone",
    "config": {
        "ArgsEscaped": True,
        "Cmd": ["sh"],
        "Entrypoint": None,
        "Env": ["PATH=/bin"],
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
        "Labels": {"a": "b"},
        "OnBuild": None,
        "StopSignal": "SIGTERM",
        "User": "1000:1000",
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
    },
    "created": "2023-05-01T12:34:56.123456789Z",
    "history": [{"created_by": "x"}],
    "os": "linux",
    "rootfs": {"diff_ids": ["sha256:" + "a" * 64], "type": "layers"},
}


def test_from_json_fields() -> None:
    cfg = ImageConfig.from_json(json.dumps(DOCKER_CONFIG).encode())
    assert cfg.architecture == "amd64"
    assert cfg.os == "linux"
    assert cfg.cmd == ("sh",)
    assert cfg.entrypoint == ()
    assert cfg.env == ("PATH=/bin",)
    assert cfg.exposed_ports == ("443/tcp", "80/tcp")
    assert cfg.volumes == ("/data",)
    assert cfg.user == "1000:1000"
    assert cfg.working_dir == "/srv"
    assert cfg.labels == {"a": "b"}
    assert cfg.stop_signal == "SIGTERM"
    assert cfg.diff_ids == ("sha256:" + "a" * 64,)
    assert cfg.created == datetime(2023, 5, 1, 12, 34, 56, 123456, tzinfo=UTC)


def test_round_trip_keeps_unknown_fields() -> None:
    data = json.dumps(DOCKER_CONFIG).encode()
    out = ImageConfig.from_json(data).to_json()
    assert json.loads(out) == DOCKER_CONFIG
    assert out == ImageConfig.from_json(out).to_json()


def test_evolve_keeps_unknown_fields_and_changes_known() -> None:
    cfg = ImageConfig.from_json(json.dumps(DOCKER_CONFIG).encode())
    changed = attrs.evolve(cfg, cmd=("echo", "hi"), volumes=())
    doc = json.loads(changed.to_json())
    assert doc["history"] == DOCKER_CONFIG["history"]
    assert doc["config"]["ArgsEscaped"] is True
    assert doc["config"]["Cmd"] == ["echo", "hi"]
    assert "Volumes" not in doc["config"]


def test_to_json_is_deterministic_and_minimal() -> None:
    cfg = ImageConfig(architecture="arm64", cmd=("sh",), labels={"z": "1", "a": "2"})
    data = cfg.to_json()
    assert (
        data == ImageConfig(architecture="arm64", cmd=["sh"], labels={"a": "2", "z": "1"}).to_json()
    )
    doc = json.loads(data)
    assert doc == {
        "architecture": "arm64",
        "os": "linux",
        "config": {"Cmd": ["sh"], "Labels": {"a": "2", "z": "1"}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    assert list(json.loads(data, object_pairs_hook=lambda kv: kv)) == sorted(
        json.loads(data, object_pairs_hook=lambda kv: kv)
    )


@pytest.mark.parametrize(
    "doc",
    [b"[]", b"nope", b'{"config": {"Cmd": "sh"}}', b'{"config": 3}', b'{"created": "yesterday"}'],
)
def test_from_json_rejects_bad_documents(doc: bytes) -> None:
    with pytest.raises(ValueError, match="image config"):
        ImageConfig.from_json(doc)


def test_from_json_rejects_huge_documents() -> None:
    with pytest.raises(ValueError, match="too large"):
        ImageConfig.from_json(b" " * (20 * 1024 * 1024 + 1))


text = st.text(max_size=8)


@given(
    arch=text,
    env=st.lists(text, max_size=3),
    cmd=st.lists(text, max_size=3),
    labels=st.dictionaries(text, text, max_size=3),
    ports=st.sets(text, max_size=3),
    created=st.none() | st.datetimes(timezones=st.just(UTC), min_value=datetime(1971, 1, 1)),
)
def test_round_trip_property(
    arch: str,
    env: list[str],
    cmd: list[str],
    labels: dict[str, str],
    ports: set[str],
    created: datetime | None,
) -> None:
    cfg = ImageConfig(
        architecture=arch,
        env=env,
        cmd=cmd,
        labels=labels,
        exposed_ports=sorted(ports),
        created=created,
    )
    assert ImageConfig.from_json(cfg.to_json()) == cfg
