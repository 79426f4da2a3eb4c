"""`pycontainerd.services` names every raw stub's module, with its request and reply types."""

from __future__ import annotations

import inspect

import betterproto

import pycontainerd
from pycontainerd import services
from pycontainerd._api import _rpc
from pycontainerd._services import Services


def _public_modules() -> dict[str, str]:
    """Generated module -> its name in `pycontainerd.services`."""
    return {
        getattr(services, name).__name__: name for name in services.__all__ if name != "Services"
    }


def test_every_stub_of_client_services_comes_from_a_public_module() -> None:
    public = _public_modules()
    stubs = {
        name: inspect.get_annotations(prop.fget, eval_str=True)["return"]
        for name, prop in vars(Services).items()
        if isinstance(prop, property)
    }
    # one stub for every service of the RPC table
    served = {
        name
        for name, cls in vars(_rpc).items()
        if inspect.isclass(cls) and cls.__doc__.startswith("``")
    }
    assert {stub.__name__.removesuffix("Stub") for stub in stubs.values()} == served
    for name, stub in stubs.items():
        assert issubclass(stub, betterproto.ServiceStub), name
        module = public[stub.__module__]
        assert getattr(getattr(services, module), stub.__name__) is stub, name


def test_every_rpc_request_and_reply_is_importable_from_pycontainerd_services() -> None:
    public = _public_modules()
    shared = {"betterproto.lib.google.protobuf", "betterproto.lib.std.google.protobuf"}
    rpcs = [
        rpc
        for service in vars(_rpc).values()
        if inspect.isclass(service) and service.__module__ == _rpc.__name__
        for rpc in vars(service).values()
        if isinstance(rpc, _rpc.Rpc)
    ]
    assert len(rpcs) == 85  # every RPC of the vendored protos
    for rpc in rpcs:
        for cls in (rpc.request_type, rpc.reply_type):
            if cls.__module__ in shared:  # Empty, Any: betterproto's own
                continue
            module = getattr(services, public[cls.__module__])
            assert getattr(module, cls.__name__) is cls, rpc.path


def test_services_module_is_a_public_subpackage() -> None:
    assert pycontainerd.services is services
    assert services.Services is pycontainerd.Services
    assert services.health.HealthCheckResponseServingStatus.SERVING == 1
