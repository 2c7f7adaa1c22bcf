"""``watchdog evidence --share``: the same verifiable chain, without the customer's personal and contract fields."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from collective_helpers import ORIGIN, Household

from watchdog.cli import main
from watchdog.documents.pack.verify import verify_pack
from watchdog.documents.sharing import hashed_id, installation_salt, shared_identity
from watchdog.journal.contacts import add_contact
from watchdog.journal.store import Journal
from watchdog.model import NS

SALT = "campaign-2026-rt-salt"
PERIOD = "2026-09-21..2026-09-22"
NOW = "2026-09-22T03:00Z"
PERSONAL = [
    "Петров Пётр",  # contract.customer
    "ул. Ленина, 1",  # contract.customer_address
    "Д-777",  # contract.number
    "всё работает",  # the contact log's note
    "INC-4242",  # the contact's reference
    SALT,  # the campaign salt (a secret)
    "bank/web",  # a provider the customer did not share
    "street",  # a tag the customer did not share
]


def household() -> Household:
    share = f'{{agent_id: hashed, salt: "{SALT}", providers: {{isp: rostelecom}}, tags: [region, asn]}}'
    return Household(
        "ivanov-flat-7",
        [(0, 7200)],
        [("isp/dns", 1000, 4000), ("bank/web", 2000, 2100)],
        {"region": "msk", "asn": "as12389", "street": "lenina"},
        share,
    )


def contents(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The household's normal pack and its shared pack, made by the CLI; plus its config file."""
    base = tmp_path_factory.mktemp("share")
    config, text = household().write(base)
    with Journal.open(config.journal_path) as journal:
        add_contact(
            journal,
            provider="isp",
            channel="phone",
            ref="INC-4242",
            note="Звонок в поддержку: «у нас всё работает»",
            at_ns=ORIGIN + 1500 * NS,
            now_ns=ORIGIN + 1600 * NS,
        )
    cfg = base / "watchdog.yaml"
    cfg.write_text(text, encoding="utf-8")
    cfg.chmod(0o600)
    normal, shared = base / "normal.zip", base / "shared.zip"
    common = ["evidence", "-c", str(cfg), "--provider", "isp", "--period", PERIOD, "--now", NOW]
    assert main([*common, "-o", str(normal)]) == 0
    assert main([*common, "--share", "-o", str(shared)]) == 0
    return cfg, normal, shared


def test_the_shared_pack_verifies_like_the_normal_one(packs: tuple[Path, Path, Path]) -> None:
    _, normal, shared = packs
    full, cut = verify_pack(normal), verify_pack(shared)
    assert full.ok and cut.ok, (full.problems, cut.problems)
    # the same chain segment, the same head: nothing left the chain, some rows only by their hash
    assert (cut.blocks, cut.results, cut.events, cut.head) == (full.blocks, full.results, full.events, full.head)
    assert (full.redacted, cut.redacted) == (0, 4)  # the contact; the bank's target, outage open and close


def test_personal_and_contract_fields_stay_home(packs: tuple[Path, Path, Path]) -> None:
    _, normal, shared = packs
    everything = b"".join(contents(normal).values()).decode("utf-8", "replace")
    assert [p for p in PERSONAL if p in everything] == [p for p in PERSONAL if p != SALT]  # the test has teeth
    files = contents(shared)
    assert "contacts.csv" not in files and "contacts.csv" not in json.loads(files["manifest.json"])["files"]
    for name, data in files.items():
        text = data.decode("utf-8", "replace")
        assert [p for p in PERSONAL if p in text] == [], name

    agent = hashed_id("ivanov-flat-7", SALT.encode())
    manifest = json.loads(files["manifest.json"])
    assert manifest["agent"] == agent and agent.startswith("anon-") and len(agent) == 21
    assert manifest["share"] == {
        "agent": agent,
        "agent_id": "hashed",
        "tags": {"asn": "AS12389", "region": "msk"},
        "providers": {"isp": "rostelecom"},
        "details": False,
        "provider": "rostelecom",
    }
    config = files["config.yaml"].decode("utf-8")
    assert f"id: {agent}" in config and "contract" not in config and "share" not in config
    assert "data_dir" not in config and "bank" not in config and "asn: AS12389" in config
    environment = json.loads(files["environment.json"])
    assert environment["agent"] == agent and all("host" not in r for r in environment["runs"])

    events = list(csv.DictReader(io.StringIO(files["events.csv"].decode("utf-8-sig"), newline="")))
    redacted = [e for e in events if e["data"].startswith("<redacted row-hash=")]
    assert [(e["type"], e["target"]) for e in redacted] == [
        ("target", ""),
        ("outage_open", ""),
        ("outage_close", ""),
        ("contact", ""),
    ]
    # what remains, as the README says: the agent's start rows as journaled (its own id, its providers' kinds)
    starts = [json.loads(e["data"]) for e in events if e["type"] == "agent_start"]
    assert starts and starts[0]["agent"] == "ivanov-flat-7"


def test_installation_salt_is_made_once_and_kept(tmp_path: Path) -> None:
    first = installation_salt(tmp_path / "data")
    assert len(first) == 32 and installation_salt(tmp_path / "data") == first
    assert (tmp_path / "data" / "share-salt").stat().st_mode & 0o777 == 0o600
    assert installation_salt(tmp_path / "other") != first


def test_shared_identity_without_a_salt_uses_the_installation_one(tmp_path: Path) -> None:
    hh = household()
    hh.share = "{agent_id: hashed, tags: [region]}"
    config, _ = hh.write(tmp_path)
    identity = shared_identity(config)
    salt = (config.data_dir / "share-salt").read_text(encoding="ascii").strip()
    assert identity.agent == hashed_id("ivanov-flat-7", bytes.fromhex(salt))
    assert (dict(identity.tags), dict(identity.providers)) == ({"region": "msk"}, {"isp": "isp", "bank": "bank"})


def test_a_provider_not_shared_gets_no_shared_pack(packs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cfg, _, _ = packs
    args = ["evidence", "-c", str(cfg), "--provider", "bank", "--period", PERIOD, "--now", NOW, "--share"]
    assert main([*args, "-o", str(tmp_path / "bank.zip")]) == 2
    assert not (tmp_path / "bank.zip").exists()
