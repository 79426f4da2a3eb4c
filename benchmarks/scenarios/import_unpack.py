"""IMPORTU: as IMPORT, but unpacking too (the SDK's unpack=True vs ctr's default import)."""

from __future__ import annotations

from . import Scenario
from .import_archive import FIGURES, NAMESPACE, ctr_runner, sdk_runner

SCENARIO = Scenario(
    name="IMPORTU",
    description="import and unpack an N MiB OCI archive: SDK vs ctr images import",
    namespace=NAMESPACE,
    default_n=200,
    sdk=sdk_runner(unpack=True),
    others={"ctr": ctr_runner(unpack=True)},
    figures=FIGURES,
)
