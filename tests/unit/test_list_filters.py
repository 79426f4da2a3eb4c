"""The client-side filter matcher follows containerd's filter rules (ORed filters, ANDed selectors)."""

from __future__ import annotations

import pytest

from pycontainerd.events import filters


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((), True),
        (("",), True),  # the empty filter matches everything, as in containerd
        (("name==web",), True),
        (("name==db",), False),
        (("name==db", "name==web"), True),
        (("name==web,labels.env==prod",), True),
        (("name==web,labels.env==dev",), False),
        (("labels.env",), True),
        (("labels.missing",), False),
        (("labels.missing!=x",), True),  # absent is "" for != and ~=
        (('labels.missing!=""',), False),
        (('labels.missing~="^$"',), True),
        (("name~=e",), True),  # a search, not anchored
        (('labels."a.b"==c',), True),  # dotted label keys, quoted or not
        (("labels.a.b==c",), True),
    ],
)
def test_matcher_follows_containerds_rules(given: tuple[str, ...], expected: bool) -> None:
    fields = {("name",): "web", ("labels", "env"): "prod", ("labels", "a.b"): "c"}

    def lookup(path: tuple[str, ...]) -> str | None:
        if len(path) > 2 and path[0] == "labels":
            path = ("labels", ".".join(path[1:]))
        return fields.get(path)

    assert filters._matcher(given)(lookup) is expected
