"""The rule catalogue: every shipped rule loads, broken rule files and config entries fail with file, line
and key, and banned citations (the "ПП № 1236" myth, the wrong decree number) can never be shipped."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from watchdog.config import loads
from watchdog.documents.rulebook import RULES_DIR, ProviderFacts, RuleError, check_config, load_rulebook
from watchdog.errors import ConfigError
from watchdog.model import ProviderKind

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "ru.telematics.prorata",
    "ru.zozpp.28.5",
    "ru.svyaz.55.deadline",
    "ru.fin.442.deadline",
    "uk.ofcom.autocomp.repair",
    "de.tkg.58.3",
    "us.ny.psc.credit",
    "sla.tiered",
    "contract.restore_delay",
    "contract.service_credit",
    "contract.fee_waiver",
}


def test_the_catalogue_loads_with_sources_and_flags() -> None:
    book = load_rulebook()
    assert REQUIRED <= set(book.rules)
    for rule in book.rules.values():
        assert rule.version >= 1
        assert rule.source_url or rule.confidence == "contract", rule.id
        assert rule.verification, rule.id
    zozpp = book.get("ru.zozpp.28.5")
    assert (zozpp.flags.optional, zozpp.flags.contested, zozpp.confidence) == (True, True, "verified")
    assert book.get("ru.zozpp.28.5.hourly").unverified
    ofcom = book.get("uk.ofcom.autocomp.repair")
    assert [(str(r.from_), r.amount) for r in ofcom.rates][-2:] == [
        ("2025-04-01", Decimal("9.98")),
        ("2026-04-01", Decimal("10.34")),
    ]
    assert ofcom.rate_on(__import__("datetime").date(2021, 6, 1)) is None  # a gap in the table: no guessing


def _copy_catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("_jurisdictions.yaml", "_banned.yaml", "sla.tiered.yaml"):
        shutil.copy(RULES_DIR / name, folder / name)
    return folder


def test_a_broken_rule_file_names_file_line_and_key(tmp_path: Path) -> None:
    folder = _copy_catalogue(tmp_path)
    text = (RULES_DIR / "sla.tiered.yaml").read_text(encoding="utf-8")
    broken = text.replace("version: 2\n", "version: one\n").replace("confidence: contract\n", "confidence: sure\n")
    (folder / "sla.tiered.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rulebook(folder)
    lines = {
        n: i + 1 for i, line in enumerate(broken.splitlines()) for n in ("version", "confidence") if line.startswith(n)
    }
    assert caught.value.problems == [
        f"sla.tiered.yaml:{lines['version']}: version: input should be a valid integer, got str 'one'",
        f"sla.tiered.yaml:{lines['confidence']}: confidence: input should be 'verified', 'secondary', 'unverified' or "
        "'contract'",
    ]


def test_a_rule_must_match_its_file_name_and_known_jurisdictions(tmp_path: Path) -> None:
    folder = _copy_catalogue(tmp_path)
    text = (RULES_DIR / "sla.tiered.yaml").read_text(encoding="utf-8")
    (folder / "sla.tiered.yaml").unlink()
    (folder / "sla.other.yaml").write_text(text.replace('jurisdictions: ["*"]', "jurisdictions: [XX]"), "utf-8")
    with pytest.raises(RuleError) as caught:
        load_rulebook(folder)
    assert [p.split(": ", 2)[1:] for p in caught.value.problems] == [
        ["id", "the id 'sla.tiered' must match the file name 'sla.other'"],
        [
            "jurisdictions[0]",
            "unknown jurisdiction 'XX' (known: RU, UK, UK-ENG, UK-WLS, UK-SCT, UK-NIR, DE, US, US-NY)",
        ],
    ]


@pytest.mark.parametrize(
    "citation",
    [
        "ПП № 1236 п. 75: 3 % абонентской платы за каждый день",
        "постановление Правительства РФ от 16.11.2015 N 1236",
        "Правила оказания телематических услуг связи, утв. постановлением № 2606",
    ],
)
def test_banned_citations_are_refused_in_rule_files(tmp_path: Path, citation: str) -> None:
    folder = _copy_catalogue(tmp_path)
    text = (RULES_DIR / "sla.tiered.yaml").read_text(encoding="utf-8")
    poisoned = text.replace("  ru: Соглашение об уровне обслуживания (SLA), таблица компенсаций", f'  ru: "{citation}"')
    assert poisoned != text
    (folder / "sla.tiered.yaml").write_text(poisoned, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rulebook(folder)
    assert len(caught.value.problems) == 1
    id_line = text.splitlines().index("id: sla.tiered") + 1
    assert caught.value.problems[0].startswith(f"sla.tiered.yaml:{id_line}: id: banned citation")


def test_nothing_shipped_cites_the_myth() -> None:
    book = load_rulebook()
    shipped = [p for p in RULES_DIR.glob("*.yaml") if p.name != "_banned.yaml"]
    shipped += list((ROOT / "watchdog" / "documents" / "templates").glob("complaint_*"))
    shipped += list((ROOT / "watchdog" / "documents" / "locale").glob("letter.*.yaml"))
    for path in shipped:
        assert book.lint(path.read_text(encoding="utf-8")) == [], path.name
    assert book.lint("см. ПП № 1236 п. 75") != []


RU_ISP = """
providers:
  - id: isp
    kind: isp
    targets: [{name: gw, kind: tcp, address: "127.0.0.1:1"}]
    contract: {number: "1", fee: {amount: 600, currency: RUB}}
    sla: {restore_within: 72h}
    jurisdiction: RU
    compensation: %s
"""


def test_defaults_follow_jurisdiction_and_kind_and_can_be_switched_off() -> None:
    book = load_rulebook()
    config = loads(RU_ISP % "[]", env={})
    facts = ProviderFacts.of(config.provider("isp"))
    assert [u.rule.id for u in book.uses([], facts)] == ["ru.svyaz.55.deadline", "ru.telematics.prorata"]
    off = [{"rule": "ru.telematics.prorata", "enabled": False}, {"rule": "ru.zozpp.28.5", "count": "full"}]
    uses = book.uses(off, facts)
    assert [(u.rule.id, u.listed) for u in uses] == [("ru.zozpp.28.5", True), ("ru.svyaz.55.deadline", False)]
    assert dict(uses[0].params) == {"count": "full", "clock": "report"}
    other = ProviderFacts(ProviderKind.BROKER, "RU", "RUB", None)
    assert [u.rule.id for u in book.uses([], other)] == ["ru.fin.442.deadline"]


def test_entries_are_checked_at_config_load_with_lines() -> None:
    entries = "\n      - {rule: sla.tiered, tiers: [[99.0, 25], [99.5, 10]]}\n      - rule: ru.zozpp.28.5\n"
    text = RU_ISP % (entries + "        count: half\n")
    with pytest.raises(ConfigError) as caught:
        loads(text, filename="w.yaml", env={}, checks=(check_config,))
    assert caught.value.problems == [
        "w.yaml:10: providers[0].compensation[0].tiers: tiers must go down in availability and up in credit: "
        "[[99.0, 25], [99.5, 10]]",
        "w.yaml:12: providers[0].compensation[1].count: must be one of started, full, got 'half'",
    ]
    assert (
        loads(RU_ISP % "[{rule: ru.zozpp.28.5, allow_unverified: true}]", env={}, checks=(check_config,))
        .provider("isp")
        .compensation
    )


def test_the_example_config_passes() -> None:
    from watchdog.config import load

    config = load(ROOT / "config" / "example.yaml", env={})
    assert config.provider("broker").compensation == [
        {"rule": "sla.tiered", "tiers": [[99.5, 10], [99.0, 25], [95.0, 100]]}
    ]


def test_a_right_rule_is_cited_never_computed_nor_listed() -> None:
    """uk.ofcom.speeds.exit (issue 16): a right a letter cites, with no calculator; it cannot be listed as
    compensation, and it is found only for UK ISPs when download tests fall below the guaranteed minimum."""
    book = load_rulebook()
    right = book.get("uk.ofcom.speeds.exit")
    assert (right.kind, right.calculator, right.cited_when) == ("right", None, "speed_below_minimum")
    assert [r.id for r in book.rights(ProviderKind.ISP, "UK-SCT", "speed_below_minimum")] == ["uk.ofcom.speeds.exit"]
    assert book.rights(ProviderKind.ISP, "RU", "speed_below_minimum") == []
    assert book.rights(ProviderKind.BANK, "UK", "speed_below_minimum") == []
    facts = ProviderFacts(ProviderKind.ISP, "UK", "GBP", None)
    assert book.check([{"rule": "uk.ofcom.speeds.exit"}], facts) == [
        (
            ("compensation", 0, "rule"),
            "rule uk.ofcom.speeds.exit is a right a letter cites when it applies, not compensation",
        )
    ]


def test_a_right_rule_needs_its_fact_and_no_calculator(tmp_path: Path) -> None:
    folder = _copy_catalogue(tmp_path)
    text = (RULES_DIR / "uk.ofcom.speeds.exit.yaml").read_text(encoding="utf-8")
    (folder / "uk.ofcom.speeds.exit.yaml").write_text(text.replace("cited_when: speed_below_minimum\n", ""), "utf-8")
    with pytest.raises(RuleError) as caught:
        load_rulebook(folder)
    id_line = text.splitlines().index("id: uk.ofcom.speeds.exit") + 1  # the mapping starts there
    assert caught.value.problems == [
        f"uk.ofcom.speeds.exit.yaml:{id_line}: (top level): a right rule needs 'cited_when' (the fact that makes"
        " it apply); other rules have none"
    ]


MIRRORS = (
    "docs.cntd.ru",
    "garant.ru",
    "buzer.de",
    "wired-gov.net",
    "dftcommunications.com",
    "aws.amazon",
    "amazon.com",
)


def test_every_rule_cites_primary_sources_and_the_generic_sla_rule_no_provider() -> None:
    """Russian rules cite the official portals, ConsultantPlus, the Bank of Russia (issue 14); a verified UK, US or
    German rule cites legislation, the regulator or the official law site; no rule cites a copy of the text, and the
    generic tiered-SLA rule cites no cloud provider's SLA page (its tiers are the customer's contract)."""
    from watchdog.documents.rulebook import PRIMARY, PRIMARY_RU

    book = load_rulebook()
    for rule in book.rules.values():
        for url in rule.source_url:
            host = url.split("/")[2].lower()
            assert not any(m in url for m in MIRRORS), (rule.id, url)
            if "RU" in rule.jurisdictions:
                assert host.endswith(PRIMARY_RU), (rule.id, url)
            for code in {j.split("-")[0] for j in rule.jurisdictions} & set(PRIMARY):
                assert rule.confidence != "verified" or host.endswith(PRIMARY[code]), (rule.id, url)
    tiered = (RULES_DIR / "sla.tiered.yaml").read_text(encoding="utf-8").lower()
    assert not book.get("sla.tiered").source_url
    assert "aws" not in tiered and "amazon" not in tiered


def test_a_verified_rule_citing_a_copy_is_refused(tmp_path: Path) -> None:
    folder = _copy_catalogue(tmp_path)
    text = (RULES_DIR / "de.tkg.58.3.yaml").read_text(encoding="utf-8")
    text = text.replace("https://www.gesetze-im-internet.de/tkg_2021/__58.html", "https://buzer.de/58_TKG.htm")
    (folder / "de.tkg.58.3.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rulebook(folder)
    assert "a verified DE rule cites primary sources only (gesetze-im-internet.de, bundesnetzagentur.de)" in str(
        caught.value
    )
    ru = (RULES_DIR / "ru.svyaz.55.deadline.yaml").read_text(encoding="utf-8")
    (folder / "de.tkg.58.3.yaml").unlink()
    ru = ru.replace("https://www.consultant.ru/document/cons_doc_LAW_43224/", "https://docs.cntd.ru/copy-of-the-law")
    (folder / "ru.svyaz.55.deadline.yaml").write_text(ru, encoding="utf-8")
    with pytest.raises(RuleError, match="a Russian rule cites primary sources only"):
        load_rulebook(folder)
