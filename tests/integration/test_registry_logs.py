"""Credentials never reach a log record, at any level, whoever logs.

With the loggers of the SDK and of the libraries under it (grpclib, httpx,
httpcore, h2) at DEBUG, a pull and a push with basic auth, with a password
exchanged for bearer tokens and with an identity (refresh) token, in this
process and through the daemon's transfer service where it has one, write
records: none holds the password, the ``Basic`` header's value, a refresh
token or any bearer token the token server handed out.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator

import pytest
from registry_harness import PASSWORD, REFRESH_TOKEN, USER, RegistryServer

import pycontainerd
from pycontainerd.registry import Credentials
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio

_LOGGERS = ("pycontainerd", "grpclib", "httpx", "httpcore", "h2", "hpack")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the loggers above, at DEBUG, while the test runs."""
    handler = _Keep()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def _texts(records: list[logging.LogRecord]) -> list[str]:
    """What a handler could write of each record: its message, its arguments, its traceback."""
    formatter = logging.Formatter()
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        texts.append(repr(vars(record)))
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
    return texts


def _secrets(server: RegistryServer) -> list[str]:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    found = [PASSWORD, basic, REFRESH_TOKEN]
    if server.token is not None:
        found += server.token.tokens
        # A token's signature alone is as good as a whole one to anyone reading the log.
        found += [token.rpartition(".")[2] for token in server.token.tokens]
    return found


@pytest.mark.parametrize("local", [True, False], ids=["in-process", "daemon"])
@pytest.mark.parametrize("scheme", ["basic", "bearer", "identity-token"])
async def test_no_credentials_in_log_records(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    busybox_image: pycontainerd.Image,
    auth_registry: RegistryServer,
    token_registry: RegistryServer,
    records: list[logging.LogRecord],
    scheme: str,
    local: bool,
) -> None:
    client = containerd_client
    server = auth_registry if scheme == "basic" else token_registry
    auth = (
        Credentials(identity_token=REFRESH_TOKEN)
        if scheme == "identity-token"
        else Credentials(username=USER, password=PASSWORD)
    )
    name = f"{server.host}/logs/{scheme}-{uuid.uuid4().hex[:8]}:v1"
    await client.images.create(name, busybox_image.target)
    issued = 0 if server.token is None else server.token.issued
    await client.push(name, auth=auth, local=local)
    await client.images.delete(name, sync=True)
    pulled = await client.pull(name, auth=auth, unpack=False, local=local)
    assert pulled.target.digest == busybox_image.target.digest
    await client.images.delete(name, sync=True)

    # On 2.x the daemon pulls and pushes (the SDK hands it the credentials
    # over gRPC); elsewhere this process talks to the registry.
    daemon = not local and containerd_daemon.version_info >= (2, 0)
    if server.token is not None:
        assert server.token.issued > issued  # the tokens checked for were in use
    texts = _texts(records)
    # The capture works: the libraries logged the exchanges (hpack the
    # headers of the gRPC calls, httpx and httpcore the registry's requests).
    seen = "containerd.services.transfer.v1.Transfer" if daemon else server.host
    assert any(seen in text for text in texts)
    for secret in _secrets(server):
        leaks = [text for text in texts if secret in text]
        assert not leaks, f"a log record holds a credential: {leaks[0][:300]}"
