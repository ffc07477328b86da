"""--monitoring-shapes: what the monitoring collector reads from a site's DB, planted with known values.

- `b_event` (the real mail-event queue: `SUCCESS_EXEC` N = not sent yet, Y = sent, F = failed, 0 = sent
  without a template) with a known number of unsent events;
- overdue agents: active `b_agent` rows whose `NEXT_EXEC` is in the past by known amounts (plus one inactive
  overdue row that must not count). In cron mode the cron stand-in runs due agents every minute and in hits
  mode any page hit does, so on a live host they are overdue only until then: compare right after generating;
- the 1C order exchange as the `sale` module records it in `b_option`: `last_export_time_committed_<first 22
  characters of the exchange script's path>` (unix time of the last exchange 1C confirmed with mode=success) and
  `last_export_time_<same>` (the last export 1C asked for with mode=query); an attempt newer than the last
  confirmation is an exchange that failed on the 1C side.

Truth key `monitoring` (null without the flag): `mail_unsent`, `mail_events`, `agents_overdue`,
`agents_overdue_ids`, `agents_oldest_overdue_s` (seconds before `generator.now`), `exchange_1c`
`{page, last_success, last_attempt, errors}` (unix times).
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from .db import DbLoader

B_EVENT_DDL = """CREATE TABLE b_event (
  ID int(18) NOT NULL AUTO_INCREMENT,
  EVENT_NAME varchar(255) NOT NULL,
  MESSAGE_ID int(18) DEFAULT NULL,
  LID varchar(255) NOT NULL,
  C_FIELDS longtext DEFAULT NULL,
  DATE_INSERT datetime DEFAULT NULL,
  DATE_EXEC datetime DEFAULT NULL,
  SUCCESS_EXEC char(1) NOT NULL DEFAULT 'N',
  DUPLICATE char(1) NOT NULL DEFAULT 'Y',
  LANGUAGE_ID char(2) DEFAULT NULL,
  PRIMARY KEY (ID),
  KEY ix_success (SUCCESS_EXEC),
  KEY ix_b_event_date_exec (DATE_EXEC)
);
"""
#: the option names as real sites carry them: last_export_time_committed_/bitrix/admin/1c_excha
EXCHANGE_PAGE = "/bitrix/admin/1c_exchange.php"[:22]
EVENT_NAMES = ("SALE_NEW_ORDER", "USER_INFO", "NEW_USER", "SALE_ORDER_PAID", "FEEDBACK_FORM")
#: (agent ID, seconds overdue) for active agents of the generator's list, and one inactive (ID 9).
OVERDUE = ((1, 5400), (3, 900), (6, 120))
INACTIVE_OVERDUE = (9, 7200)


def plant(loader: DbLoader, rng: Random, now: float, fmt_time: Callable[[float], str]) -> dict[str, object]:
    loader.add(B_EVENT_DDL)
    rows = []
    for i in range(1, 41):
        status = "N" if i % 5 in (1, 3) else ("F" if i % 10 == 0 else "Y")
        inserted = now - rng.randint(60, 7 * 86400)
        rows.append((i, EVENT_NAMES[i % len(EVENT_NAMES)], "s1", f"ORDER_ID={1000 + i}", fmt_time(inserted),
                     None if status == "N" else fmt_time(inserted + 30), status, "Y"))
    loader.add_rows("b_event", ["ID", "EVENT_NAME", "LID", "C_FIELDS", "DATE_INSERT", "DATE_EXEC",
                                "SUCCESS_EXEC", "DUPLICATE"], rows)
    for agent_id, late in (*OVERDUE, INACTIVE_OVERDUE):
        loader.add(f"UPDATE b_agent SET NEXT_EXEC = '{fmt_time(now - late)}' WHERE ID = {agent_id};\n")
    success = int(now) - 2 * 86400 - 3600
    attempt = int(now) - 6 * 3600
    loader.add_rows("b_option", ["MODULE_ID", "NAME", "VALUE", "DESCRIPTION"], [
        ("sale", f"last_export_time_committed_{EXCHANGE_PAGE}", str(success), None),
        ("sale", f"last_export_time_{EXCHANGE_PAGE}", str(attempt), None),
    ])
    return {
        "mail_events": len(rows),
        "mail_unsent": sum(1 for row in rows if row[6] == "N"),
        "agents_overdue": len(OVERDUE),
        "agents_overdue_ids": sorted(agent_id for agent_id, _ in OVERDUE),
        "agents_oldest_overdue_s": max(late for _, late in OVERDUE),
        "exchange_1c": {"page": EXCHANGE_PAGE, "last_success": success, "last_attempt": attempt,
                        "errors": 1 if attempt > success else 0},
    }
