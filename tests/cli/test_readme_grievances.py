"""The README's complaint section lists every grievance kind ``watchdog complaint --about`` accepts, each with an
example command that the real argument parser takes as written (issue 14, "Must show")."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from watchdog.cli import build_parser
from watchdog.documents.letter.request import ABOUT

README = Path(__file__).resolve().parents[2] / "README.md"


def grievance_rows() -> dict[str, str]:
    """``--about`` kind → its row of the README's "Grievance kinds" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Grievance kinds", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = re.match(r"^\| `([a-z]+)` \|", line)
        if found:
            rows[found.group(1)] = line
    return rows


def test_every_grievance_kind_has_a_row_with_an_example_the_parser_takes() -> None:
    rows = grievance_rows()
    assert sorted(rows) == sorted(ABOUT)
    parser = build_parser()
    for kind, row in rows.items():
        examples = re.findall(r"`(watchdog complaint [^`]+)`", row)
        assert examples, f"the README's {kind!r} row has no `watchdog complaint …` example"
        for example in examples:
            argv = shlex.split(example.replace("…", "x"))[1:]
            args = parser.parse_args(argv)
            assert args.handler.__module__ == "watchdog.cli.complaint", example
            assert (args.about or "outage") == kind, example
