"""The generator's --db-mode sqlfile dump read back as tables, answering `SELECT cols FROM table` like the mysql
client (`rows`): lets host-side tests run DB readers against a generated site without a MariaDB server.

Written apart from the code under test: it reads the generator's own INSERT/UPDATE statements (sql_literal's
quoting), applies `UPDATE t SET c = 'v' WHERE ID = n`, and knows a table from its CREATE TABLE. WHERE clauses of
SELECTs are ignored: readers under test filter what they read themselves (they are checked on a real MariaDB
in molecule)."""
from __future__ import annotations

import re
from pathlib import Path

_LITERAL = re.compile(r"\s*(NULL|-?\d+(?:\.\d+)?|'(?:\\.|[^'\\])*')\s*(,|\))")
_UNESCAPE = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", "0": "\0"}


def _value(token: str) -> str | None:
    if token == "NULL":
        return None
    if token.startswith("'"):
        return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), token[1:-1])
    return token


class SqlFileDb:
    def __init__(self, sqlfile: Path) -> None:
        self.tables: dict[str, list[dict[str, str | None]]] = {}
        self.queries: list[str] = []
        text = sqlfile.read_text(encoding="utf-8")
        for name in re.findall(r"CREATE TABLE (\w+) \(", text):
            self.tables.setdefault(name, [])
        for match in re.finditer(r"INSERT INTO (\w+) \(([^)]*)\) VALUES\n(.*?);\n(?=INSERT|UPDATE|CREATE|ALTER|--|$)",
                                 text, re.S):
            table, columns = match.group(1), [c.strip() for c in match.group(2).split(",")]
            body = match.group(3)
            pos = 0
            while pos < len(body):
                start = body.index("(", pos) + 1
                values: list[str | None] = []
                pos = start
                while True:
                    lit = _LITERAL.match(body, pos)
                    assert lit is not None, body[pos:pos + 80]
                    values.append(_value(lit.group(1)))
                    pos = lit.end()
                    if lit.group(2) == ")":
                        break
                self.tables.setdefault(table, []).append(dict(zip(columns, values, strict=True)))
                nxt = body.find("(", pos)
                if nxt < 0:
                    break
                pos = nxt
        for table, column, literal, row_id in re.findall(
                r"^UPDATE (\w+) SET (\w+) = ('(?:\\.|[^'\\])*'|\d+) WHERE ID = (\d+);$", text, re.M):
            for row in self.tables.get(table, []):
                if row.get("ID") == row_id:
                    row[column] = _value(literal)

    def rows(self, query: str) -> list[list[str | None]]:
        self.queries.append(query)
        match = re.match(r"SELECT (.+?) FROM (\w+)", query)
        assert match is not None, query
        table = match.group(2)
        if table not in self.tables:
            raise RuntimeError(f"ERROR 1146 (42S02) at line 1: Table 'sitemanager.{table}' doesn't exist")
        columns = [c.strip() for c in match.group(1).split(",")]
        return [[row.get(c) for c in columns] for row in self.tables[table]]
