"""The Bitrix metrics collector (module_utils/bitrix_metrics): sizes, composite, backups, 1C exchange, the
text format and the atomic write, against a generated site (truth.json), hand-built fixtures and hand
computation. The testhost test runs the collector inside a test host against a real MariaDB."""
from __future__ import annotations

import json
import os
import pwd
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_metrics as m

PROJECT = Path(__file__).resolve().parents[2]
SITEGEN = PROJECT / "tools" / "sitegen"
NOW = 1_780_000_000


def generate(base: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(SITEGEN), PYTHONDONTWRITEBYTECODE="1")
    user = pwd.getpwuid(os.getuid()).pw_name
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "sqlfile", "--no-system-files", "--packages-dir", str(base / "updates"), "--site-user", user,
         "--now", str(NOW), "--force", "--monitoring-shapes", *args],
        check=True, env=env, capture_output=True)
    return json.loads((base / "truth.json").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("site")
    return base, generate(base, "--seed", "5")


def values(result: m.Result) -> dict[str, float]:
    out = {}
    for s in result.samples:
        extra = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "site")
        out[f"{s.name}{{{extra}}}" if extra else s.name] = s.value
    return out


def hand_walk(root: Path, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """Files and bytes below root by os.walk (symlinks not followed), skipping top-level names in skip."""
    files = size = 0
    for folder, dirs, names in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d not in skip]
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if not os.path.islink(os.path.join(folder, name)) and st.st_mode & 0o170000 == 0o100000:
                files += 1
                size += st.st_size
    return files, size


# ----------------------------------------------------------------------------------------- the tree
def test_sizes_and_composite_equal_the_generators_truth(site: tuple[Path, dict]) -> None:
    base, truth = site
    result = m.Result()
    m.tree_sizes(str(base / "www"), truth["upload_dir"], result, "shop")
    got = values(result)
    assert result.errors == []
    assert truth["disposable"], "the generator lists its disposable folders"
    for folder, expected in truth["disposable"].items():
        assert got[f"bitrix_disposable_files{{folder={folder}}}"] == expected["files"], folder
        assert got[f"bitrix_disposable_bytes{{folder={folder}}}"] == expected["bytes"], folder
    files, size = hand_walk(base / "www" / truth["upload_dir"], skip=("tmp", "resize_cache"))
    assert files > 1000  # the small site's uploads, so the comparison means something
    assert (got["bitrix_upload_files"], got["bitrix_upload_bytes"]) == (files, size)
    assert got["bitrix_composite_enabled"] == (1 if truth["composite"]["enabled"] else 0)


def test_a_symlinked_folder_counts_nothing_and_a_symlinked_cache_root_is_reported(tmp_path: Path) -> None:
    www, outside = tmp_path / "www", tmp_path / "outside"
    (outside).mkdir()
    (outside / "big.bin").write_bytes(b"x" * 5000)
    (www / "upload/iblock/a").mkdir(parents=True)
    (www / "upload/iblock/a/p.jpg").write_bytes(b"x" * 300)
    (www / "upload/tmp").mkdir()
    (www / "upload/tmp/t.bin").write_bytes(b"x" * 70)  # disposable: not in the upload size
    (www / "upload/iblock/link").symlink_to(outside)
    (www / "upload/iblock/file-link.bin").symlink_to(outside / "big.bin")
    (www / "bitrix").mkdir()
    (www / "bitrix/cache").symlink_to(outside)
    (www / "bitrix/html_pages").mkdir()
    result = m.Result()
    m.tree_sizes(str(www), "upload", result, "shop")
    got = values(result)
    assert (got["bitrix_upload_files"], got["bitrix_upload_bytes"]) == (1, 300)
    assert (got["bitrix_disposable_files{folder=upload/tmp}"], got["bitrix_disposable_bytes{folder=upload/tmp}"]) \
        == (1, 70)
    assert got["bitrix_disposable_bytes{folder=bitrix/cache}"] == 0
    assert got["bitrix_composite_enabled"] == 0  # the folder without .enabled: off
    assert result.errors == [f"size of bitrix/cache: refusing disposable folder {www}/bitrix/cache: "
                             f"it is a symlink (-> {outside})"]


# ----------------------------------------------------------------------------------------- the DB part
class FakeDb:
    """Answers the collector's queries from rows written apart (what MariaDB prints for the fixture)."""

    def __init__(self, answers: dict[str, list[list[str | None]]]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def rows(self, query: str) -> list[list[str | None]]:
        self.queries.append(query)
        for key, rows in self.answers.items():
            if key in query:
                return rows
        table = re.search(r"FROM (\w+)", query)
        raise RuntimeError(f"ERROR 1146 (42S02): Table 'sitemanager.{table.group(1) if table else '?'}' doesn't exist")


def exchange_rows_from_sql(sqlfile: Path) -> list[list[str | None]]:
    text = sqlfile.read_text()
    return [[name, value] for name, value in
            re.findall(r"\('sale', '(last_export_time_[^']*)', '(\d+)', NULL\)", text)]


def test_exchange_age_and_errors_from_the_generated_options(site: tuple[Path, dict]) -> None:
    base, truth = site
    rows = exchange_rows_from_sql(base / f"{truth['db']['name']}.sql")
    assert len(rows) == 2
    now = NOW + 600.0
    result = m.Result()
    m.db_checks(FakeDb({"last\\_export": rows, "b_agent": [["0", "0"]], "b_event": [["0"]],
                        "information_schema": [["0"]], "upload_dir": [["upload"]]}), result, "shop", now)
    got = values(result)
    expected = truth["monitoring"]["exchange_1c"]
    assert got["bitrix_exchange_1c_configured"] == 1
    assert got["bitrix_exchange_1c_last_success_timestamp_seconds"] == expected["last_success"]
    assert got["bitrix_exchange_1c_last_success_age_seconds"] == now - expected["last_success"]
    assert got["bitrix_exchange_1c_errors"] == expected["errors"] == 1


def test_db_values_and_a_failed_check_does_not_hide_the_others() -> None:
    db = FakeDb({"b_agent": [["3", "5400"]], "information_schema": [["12345678"]],
                 "upload_dir": [["/files/"]], "last\\_export": []})
    result = m.Result()
    upload = m.db_checks(db, result, "shop", float(NOW))
    got = values(result)
    assert got["bitrix_agents_overdue"] == 3 and got["bitrix_agents_overdue_oldest_age_seconds"] == 5400
    assert got["bitrix_db_size_bytes"] == 12345678
    assert got["bitrix_exchange_1c_configured"] == 0 and got["bitrix_exchange_1c_errors"] == 0
    assert "bitrix_exchange_1c_last_success_age_seconds" not in got  # never exchanged: no age
    assert "bitrix_mail_events_unsent" not in got
    assert result.errors == ["mail events (b_event): ERROR 1146 (42S02): Table 'sitemanager.b_event' doesn't exist"]
    assert upload == "files"
    # the agents query counts active rows due before the DB's own NOW()
    agents_sql = next(q for q in db.queries if "b_agent" in q)
    assert "ACTIVE='Y'" in agents_sql and "NEXT_EXEC < NOW()" in agents_sql


def test_an_escaping_upload_dir_option_is_refused_and_nothing_is_walked_through_it() -> None:
    result = m.Result()
    upload = m.db_checks(FakeDb({"upload_dir": [["../../etc"]], "b_agent": [["0", "0"]], "b_event": [["0"]],
                                 "information_schema": [["1"]], "last\\_export": []}), result, "shop", 0.0)
    assert upload is None
    assert len(result.errors) == 1 and result.errors[0].startswith("upload folder (main.upload_dir): main.upload_dir=")


# ----------------------------------------------------------------------------------------- backups
def write_backup(root: Path, backup_id: str, **meta: object) -> None:
    (root / backup_id).mkdir(parents=True)
    (root / backup_id / "backup.json").write_text(json.dumps({"id": backup_id, **meta}))


def test_the_newest_complete_backup_of_this_docroot_counts(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    write_backup(backups, "20260501T030000Z", status="complete", docroot="/home/bitrix/www",
                 created_ts=NOW - 86400 * 3, size_bytes=1000)
    write_backup(backups, "20260502T030000Z", status="complete", docroot="/home/bitrix/www",
                 created_ts=NOW - 7200, size_bytes=2500)
    write_backup(backups, "20260503T030000Z", status="running", docroot="/home/bitrix/www",
                 created_ts=NOW - 60, size_bytes=9)  # not complete
    write_backup(backups, "20260504T030000Z", status="complete", docroot="/home/bitrix/ext_www/b",
                 created_ts=NOW - 30, size_bytes=7)  # another site
    write_backup(backups, "20260505T030000Z.partial", status="complete", docroot="/home/bitrix/www",
                 created_ts=NOW - 10, size_bytes=8)
    (backups / "elsewhere").symlink_to(backups / "20260502T030000Z")
    result = m.collect_backups(m.SiteConfig(name="shop", docroot="/home/bitrix/www"), str(backups), float(NOW))
    got = values(result)
    assert got == {"bitrix_backups": 2, "bitrix_backup_last_success_timestamp_seconds": NOW - 7200,
                   "bitrix_backup_last_age_seconds": 7200, "bitrix_backup_last_size_bytes": 2500}


def test_no_backup_yet_gives_a_count_of_zero_and_no_age(tmp_path: Path) -> None:
    result = m.collect_backups(m.SiteConfig(name="shop", docroot="/srv/www"), str(tmp_path / "none"), float(NOW))
    assert values(result) == {"bitrix_backups": 0} and result.errors == []


# ----------------------------------------------------------------------------------------- certificates
@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[tuple[int, float]]:
    """A real TLS listener on loopback serving a self-signed certificate valid for 10 days."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "10", "-subj", "/CN=shop.example"], check=True, capture_output=True)
    end = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-enddate"], check=True,
                         capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    not_after = time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")) - time.timezone
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], not_after
    stop.set()
    thread.join()
    listener.close()


def test_days_to_certificate_expiry_per_domain(tls_server: tuple[int, float]) -> None:
    port, not_after = tls_server
    now = time.time()
    result = m.Result()
    m.certificates(["shop.example"], "127.0.0.1", port, 5.0, result, "shop", now)
    got = values(result)
    assert result.errors == []
    assert got["bitrix_certificate_served{domain=shop.example}"] == 1
    days = got["bitrix_certificate_expiry_days{domain=shop.example}"]
    assert days == pytest.approx((not_after - now) / 86400, abs=0.01)
    assert 9.9 < got["bitrix_certificate_expiry_days{domain=shop.example}"] <= 10


def test_no_tls_listener_is_reported_as_not_served(tmp_path: Path) -> None:
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = m.Result()
    m.certificates(["shop.example"], "127.0.0.1", port, 2.0, result, "shop", time.time())
    assert values(result) == {"bitrix_certificate_served{domain=shop.example}": 0}
    assert len(result.errors) == 1 and result.errors[0].startswith("certificate of shop.example: ")


# ----------------------------------------------------------------------------------------- updates listing
def test_updates_from_the_cached_listing(tmp_path: Path) -> None:
    listing = tmp_path / "updates.json"
    listing.write_text(json.dumps({"listed_ts": NOW - 3600, "update_system_pending": False,
                                   "available": {"iblock": {"from": "1", "to": "2"}, "vote": {"to": "3"}}}))
    result = m.Result()
    m.updates(str(listing), result, "shop", float(NOW))
    assert values(result) == {"bitrix_updates_pending": 2, "bitrix_updates_system_pending": 0,
                              "bitrix_updates_listing_age_seconds": 3600}


# ----------------------------------------------------------------------------------------- the file
def test_rendered_text_has_help_type_and_escaped_labels() -> None:
    result = m.Result()
    result.add("bitrix_certificate_expiry_days", 12.3456, site="shop", domain='we"ird\\x')
    result.add("bitrix_agents_overdue", 2, site="shop")
    text = m.render(result.samples)
    assert text == (
        "# HELP bitrix_agents_overdue Active agents (b_agent ACTIVE=Y) whose NEXT_EXEC is in the past\n"
        "# TYPE bitrix_agents_overdue gauge\n"
        'bitrix_agents_overdue{site="shop"} 2\n'
        "# HELP bitrix_certificate_expiry_days Days until the certificate served for the domain expires\n"
        "# TYPE bitrix_certificate_expiry_days gauge\n"
        'bitrix_certificate_expiry_days{domain="we\\"ird\\\\x",site="shop"} 12.346\n'
    )


def test_run_part_writes_one_whole_file_per_site_and_leaves_no_temporary(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    backups = tmp_path / "backups"
    write_backup(backups, "20260502T030000Z", status="complete", docroot="/srv/www", created_ts=NOW, size_bytes=5)
    (textfiles / "bitrix-backups-shop.prom").write_text("old\n")
    config = {"textfile_dir": str(textfiles), "backup_dir": str(backups),
              "sites": [m.SiteConfig(name="shop", docroot="/srv/www")]}
    done = m.run_part(config, "backups")
    assert sorted(os.listdir(textfiles)) == ["bitrix-backups-shop.prom"]
    text = (textfiles / "bitrix-backups-shop.prom").read_text()
    assert text == done["shop"]["text"]
    assert 'bitrix_backup_last_size_bytes{site="shop"} 5\n' in text
    assert 'bitrix_collector_success{part="backups",site="shop"} 1\n' in text
    assert oct((textfiles / "bitrix-backups-shop.prom").stat().st_mode & 0o777) == "0o644"


def test_a_bad_site_label_or_relative_docroot_is_refused_naming_the_key() -> None:
    with pytest.raises(m.ConfigError, match=r"^sites\[0\]\.name='a b': "):
        m.site_config({"name": "a b", "docroot": "/srv"}, "sites[0]")
    with pytest.raises(m.ConfigError, match=r"^sites\[1\]\.docroot='www': an absolute path is required$"):
        m.site_config({"name": "ok", "docroot": "www"}, "sites[1]")


# ----------------------------------------------------------------------------------------- a real host
def _podman(*args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["podman", *args], check=check, capture_output=True, input=stdin)


@pytest.mark.testhost
def test_in_a_test_host_the_collector_reads_mariadb_as_truth_says(bitrix_test_host: str) -> None:
    """The real MariaDB queries: overdue agents, unsent mail, exchange, DB size; run as an unprivileged user
    in the session's test host (tests/conftest.py), its site generated anew here (--force)."""
    name = bitrix_test_host
    try:
        gen = subprocess.run([str(PROJECT / "scripts/sitegen-into.sh"), name, "--force", "--agents", "hits",
                              "--monitoring-shapes", "--no-planted-problems"], capture_output=True, text=True,
                             check=False)
        assert gen.returncode == 0, gen.stderr
        truth = json.loads(_podman("exec", name, "cat", "/var/lib/bxops-sitegen/truth.json").stdout)
        lib = "/tmp/bxm/ansible_collections/bxops/bitrix/plugins/module_utils"
        _podman("exec", name, "mkdir", "-p", lib)
        utils = ("bitrix_backup_records", "bitrix_db", "bitrix_docroot", "bitrix_facts", "bitrix_site",
                 "bitrix_metrics")
        for util in utils:
            src = (PROJECT / "plugins/module_utils" / f"{util}.py").read_bytes()
            _podman("exec", "-i", name, "sh", "-c", f"cat > {lib}/{util}.py", stdin=src)
        _podman("exec", name, "chmod", "-R", "a+rX", "/tmp/bxm")
        _podman("exec", name, "mkdir", "-p", "/tmp/tf")
        _podman("exec", name, "chown", "bitrix", "/tmp/tf")
        config = {"textfile_dir": "/tmp/tf", "sites": [{"name": "shop", "docroot": "/home/bitrix/www"}]}
        _podman("exec", "-i", name, "sh", "-c", "cat > /tmp/tf.json; chmod 644 /tmp/tf.json",
                stdin=json.dumps(config).encode())
        started = time.time()
        run = _podman("exec", "--user", "bitrix", "-e", "PYTHONPATH=/tmp/bxm", name, "python3", "-m",
                      "ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_metrics",
                      "--config", "/tmp/tf.json", check=False)
        assert run.returncode == 0, run.stderr.decode()
        text = _podman("exec", name, "cat", "/tmp/tf/bitrix-site-shop.prom").stdout.decode()
    finally:  # the host is the session's: leave it as found
        _podman("exec", name, "rm", "-rf", "/tmp/bxm", "/tmp/tf", "/tmp/tf.json", check=False)
    got = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
           if line and not line.startswith("#")}
    mon = truth["monitoring"]
    late = started - truth["generator"]["now"]
    assert got['bitrix_agents_overdue{site="shop"}'] == mon["agents_overdue"]
    assert mon["agents_oldest_overdue_s"] <= got['bitrix_agents_overdue_oldest_age_seconds{site="shop"}'] \
        <= mon["agents_oldest_overdue_s"] + late + 5
    assert got['bitrix_mail_events_unsent{site="shop"}'] == mon["mail_unsent"]
    assert got['bitrix_exchange_1c_errors{site="shop"}'] == mon["exchange_1c"]["errors"]
    assert got['bitrix_exchange_1c_last_success_timestamp_seconds{site="shop"}'] == mon["exchange_1c"]["last_success"]
    assert got['bitrix_db_size_bytes{site="shop"}'] > 0
    for folder, expected in truth["disposable"].items():
        assert got[f'bitrix_disposable_bytes{{folder="{folder}",site="shop"}}'] == expected["bytes"], folder
    assert got['bitrix_collector_success{part="site",site="shop"}'] == 1


def test_an_exchange_1c_confirmed_after_its_last_attempt_is_no_error() -> None:
    # two exchange scripts (orders and a second site's): the first confirmed after it was asked, the second not
    rows = [["last_export_time_committed_/bitrix/admin/1c_excha", "1000"],
            ["last_export_time_/bitrix/admin/1c_excha", "900"],
            ["last_export_time_committed_/shop2/1c_exchange.p", "500"],
            ["last_export_time_/shop2/1c_exchange.p", "800"],
            ["last_export_time_junk", "not a number"]]
    result = m.Result()
    m.db_checks(FakeDb({"last\\_export": rows, "b_agent": [["0", "0"]], "b_event": [["0"]],
                        "information_schema": [["0"]], "upload_dir": [["upload"]]}), result, "shop", 1600.0)
    got = values(result)
    assert got["bitrix_exchange_1c_errors"] == 1  # only /shop2's attempt at 800 is newer than its confirmation
    assert got["bitrix_exchange_1c_last_success_timestamp_seconds"] == 1000
    assert got["bitrix_exchange_1c_last_success_age_seconds"] == 600
