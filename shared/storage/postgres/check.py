"""``relay check`` on a PostgreSQL store: every channel's counter agrees with its messages.

The database keeps each row whole (no torn lines, no bad JSON), so what is left to check is what a
hand edit or a restore could break: a counter behind the largest id (the next append would fail on the
primary key) and ids missing below it. ``--repair`` moves a counter that is behind up to the largest
id; missing messages are reported, never invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.models import normalize_target
from shared.storage.report import CheckReport, Problem

_COUNTS = """
SELECT c.name, c.last_id, count(m.id), coalesce(max(m.id), 0)
FROM relay_channels c LEFT JOIN relay_messages m ON m.channel = c.name
WHERE cardinality(%(names)s::text[]) = 0 OR c.name = ANY(%(names)s::text[])
GROUP BY c.name, c.last_id ORDER BY c.name
"""


def check_database(store: Any, targets: Sequence[str] = (), *, repair: bool = False) -> CheckReport:
    """Check (and with ``repair`` fix the counters of) the channels of a PostgreSQL store."""
    names = [normalize_target(t) for t in targets]
    rows = store._call(lambda conn: conn.execute(_COUNTS, {"names": names}).fetchall(), "nothing was checked")
    report = CheckReport()
    for name, last_id, count, largest in rows:
        report.files += 1
        report.lines += int(count)
        where = Path(f"{store.description}#{name}")
        if largest > last_id:
            report.problems.append(
                Problem(
                    where,
                    None,
                    "counter behind",
                    f"the counter says #{last_id}, the largest id is #{largest}: the next post would collide",
                )
            )
            if repair:
                store._call(
                    lambda conn, n=name, m=largest: conn.execute(
                        "UPDATE relay_channels SET last_id = %s WHERE name = %s AND last_id < %s", (m, n, m)
                    ),
                    "nothing was repaired",
                )
                report.repaired += 1
                report.actions.append(f"moved the counter of {name} to #{largest}")
        if count != largest:
            report.problems.append(
                Problem(
                    where,
                    None,
                    "missing ids",
                    f"{largest - count} id(s) below #{largest} hold no "
                    "message (removed by hand or lost in a partial restore)",
                    repairable=False,
                )
            )
    return report
