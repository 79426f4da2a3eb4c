"""A registry whose upload PUTs are redirected (307, 308): the blob is sent again.

httpx does not replay a streamed body on a redirect, so the push makes it
anew for the next hop (``registry/_http.py``). Here a small proxy in front of
the loopback docker-registry answers each blob's closing PUT with the
redirect, to a path of its own that it forwards to the registry.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import uuid
from collections.abc import Iterator

import pytest
from registry_harness import RegistryServer, _free_port, running

import pycontainerd

pytestmark = pytest.mark.anyio

_AGAIN = "/redirected"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RedirectingProxy:
    """Forward to `registry`; answer each upload's first closing PUT with `status`."""

    def __init__(self, port: int, status: int) -> None:
        self.port = port
        self.status = status
        self.registry: RegistryServer | None = None
        self.redirected: list[str] = []  # the upload PUTs answered with the redirect
        self.resent: list[int] = []  # the sizes of the bodies the redirected PUTs brought again
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                if self.command == "PUT" and "digest=" in path and not path.startswith(_AGAIN):
                    proxy.redirected.append(path)
                    self.send_response(proxy.status)
                    self.send_header("Location", _AGAIN + path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path.startswith(_AGAIN):
                    path = path.removeprefix(_AGAIN)
                    proxy.resent.append(len(body))
                assert proxy.registry is not None
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.registry.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"127.0.0.1:{proxy.port}"
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                # A HEAD's answer has no body, and the length of the GET's.
                length = reply.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(params=[307, 308])
def redirecting(request: pytest.FixtureRequest) -> Iterator[RedirectingProxy]:
    port = _free_port()
    proxy = RedirectingProxy(port, request.param)
    try:
        # The registry's absolute Locations name the proxy, so every hop goes through it.
        with running(external_url=f"http://127.0.0.1:{port}") as registry:
            proxy.registry = registry
            yield proxy
    finally:
        proxy.close()


async def test_a_redirected_upload_put_sends_the_blob_again(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    redirecting: RedirectingProxy,
) -> None:
    client = containerd_client
    name = f"127.0.0.1:{redirecting.port}/redirect/busybox-{uuid.uuid4().hex[:8]}:1"
    await client.images.create(name, busybox_image.target)
    await client.push(name, local=True)
    # Every blob (layer, config) was redirected once and sent again whole.
    layers = (await busybox_image.manifest()).layers
    config = (await busybox_image.manifest()).config
    assert len(redirecting.redirected) == len(layers) + 1
    assert sorted(redirecting.resent) == sorted([d.size for d in layers] + [config.size])
    await client.images.delete(name, sync=True)
    pulled = await client.pull(name, unpack=False, local=True)
    assert pulled.target.digest == busybox_image.target.digest
    await client.images.delete(name, sync=True)
