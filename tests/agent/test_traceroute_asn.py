"""Which AS a traceroute hop belongs to (issue 17 item 4): only from the user's ``traceroute.asn`` table.

There is no lookup on the network (a home agent may have no route out exactly when it traces): a hop
outside every prefix of the table has no AS, and the journal, report and letter then name only its address.
"""

from __future__ import annotations

from watchdog.agent.traceroute import AsnTable


def test_longest_prefix_wins_and_unknown_is_none() -> None:
    table = AsnTable({"10.0.0.0/8": "AS64500 Big", "10.20.0.0/16": "AS64501 Small", "2001:db8::/32": "AS64502"})
    assert table.lookup("10.20.3.4") == "AS64501 Small"
    assert table.lookup("10.9.9.9") == "AS64500 Big"
    assert table.lookup("2001:db8::1") == "AS64502"
    assert table.lookup("192.0.2.1") is None
    assert table.lookup(None) is None
    assert table.lookup("not an address") is None


def test_hops_get_their_as() -> None:
    table = AsnTable({"10.20.0.0/16": "AS64501 Small"})
    data = {
        "hops": [
            [1, "192.168.1.1", 0.5, "time_exceeded"],
            [2, "10.20.0.1", 3.0, "time_exceeded"],
            [3, None, None, "silent"],
        ],
        "ended_at": "10.20.0.1",
    }
    assert table.annotate(data) == {**data, "asns": {"10.20.0.1": "AS64501 Small"}, "ended_asn": "AS64501 Small"}
    assert AsnTable({}).annotate(data) == data  # no table: the event is as before, byte for byte
    assert table.annotate({**data, "ended_at": "192.168.1.1"}) == {
        **data,
        "ended_at": "192.168.1.1",
        "asns": {"10.20.0.1": "AS64501 Small"},
    }
