"""Runs on the test host as root: plants what a compromised Bitrix site (or its admin) can plant, and the
trees outside the docroot that the roles must never touch. Every change inside the docroot is made AS THE
SITE USER (runuser), so each one is something the site user really can do; b_option is changed by root
through mysql (it stands for an admin-panel edit).

    plant.py base          sentinels + their fingerprint, then the site user's symlinks, hostile PHP config
    plant.py upload-dir    b_option main.upload_dir = ../../../srv/sentinel-etc (escapes the docroot)
    plant.py upload-link   upload_dir back to "upload", and upload/ itself a symlink to the sentinel
    plant.py injection     upload/ back; .settings.php without a DB connection, so dbconn.php's injected
                           $DBPassword is what a tool reads (the pre-20.900 core's case)
    plant.py swap          after a quarantine: the parent folder of a quarantined file becomes a symlink

State and records: /var/lib/bxops-hostile (root, 0700).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

DOCROOT = "/home/bitrix/www"
SITE_USER = "bitrix"
STATE = "/var/lib/bxops-hostile"
SENTINEL = "/srv/sentinel-etc"  # stands for /etc
SECRET = "/root/secret"  # a root-only folder
OTHER = "/home/bitrix/ext_www/other"  # a second site's docroot, another user's files
OTHER_USER, OTHER_UID = "bxother", 610
QUARANTINE = "/var/lib/bxops/quarantine"
UPLOAD_DIR_ESCAPE = "../../../srv/sentinel-etc"  # /home/bitrix/www/../../../srv/sentinel-etc
INJECTED_PASSWORD = "x\nplugin-dir=/home/bitrix/www/upload/plug\ndefault-auth=evil\n#"
CANARY = "/root/bxops-canary"
SENTINEL_ETC_FILES = ["passwd", "group", "shadow", "hosts", "hostname", "crontab", "default", "cron.d"]

# Symlinks the site user plants: docroot-relative name -> target outside the docroot.
LINKS = {
    "bitrix/cache": SENTINEL,
    "bitrix/managed_cache": OTHER,
    "bitrix/html_pages": SECRET,
    "upload/tmp": SENTINEL,
    ".well-known": SENTINEL,
    "upload/iblock/leak-secret.txt": SECRET + "/secret.txt",
}


def run(argv: list[str], data: bytes | None = None) -> str:
    proc = subprocess.run(argv, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def as_site(*argv: str, data: bytes | None = None) -> str:
    """Run a command as the site user: what the site's PHP (or its admin's PHP console) can do."""
    return run(["runuser", "-u", SITE_USER, "--", *argv], data)


def site_write(rel: str, data: bytes) -> None:
    as_site("sh", "-c", 'cat > "$1"', "sh", os.path.join(DOCROOT, rel), data=data)


def site_link(rel: str, target: str) -> None:
    path = os.path.join(DOCROOT, rel)
    as_site("mkdir", "-p", os.path.dirname(path))
    as_site("rm", "-rf", path)
    as_site("ln", "-s", target, path)


def mysql_root(sql: str) -> None:
    with open("/var/lib/bxops-sitegen/truth.json", encoding="utf-8") as handle:
        database = json.load(handle)["db"]["name"]
    run(["mysql", database, "-e", sql])


def write_root(path: str, data: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)
    os.chmod(path, mode)


def php_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def plant_environment() -> dict[str, str]:
    """The rest of the server (root's doing, not the site's): /etc's stand-in, a root-only folder, another
    site. Markers let the verifier look for their content in backups."""
    markers = {"sentinel": "BXOPS-SENTINEL-" + uuid.uuid4().hex, "secret": "BXOPS-ROOT-SECRET-" + uuid.uuid4().hex}
    shutil.rmtree(SENTINEL, ignore_errors=True)
    os.makedirs(SENTINEL, mode=0o755)
    run(["cp", "-a", *["/etc/" + name for name in SENTINEL_ETC_FILES], SENTINEL + "/"])
    os.makedirs(SENTINEL + "/tmp", mode=0o1777)
    os.chmod(SENTINEL + "/tmp", 0o1777)
    write_root(SENTINEL + "/tmp/sess_0123456789abcdef", "root session\n", 0o600)
    run(["touch", "-d", "30 days ago", SENTINEL + "/tmp/sess_0123456789abcdef", SENTINEL + "/hosts"])
    write_root(SENTINEL + "/bxops-marker.conf", f"key = {markers['sentinel']}\n", 0o600)
    os.chmod(SENTINEL, 0o755)

    shutil.rmtree(SECRET, ignore_errors=True)
    os.makedirs(SECRET, mode=0o700)
    write_root(SECRET + "/secret.txt", f"root only: {markers['secret']}\n", 0o600)

    if subprocess.run(["id", OTHER_USER], capture_output=True, check=False).returncode != 0:
        run(["useradd", "--uid", str(OTHER_UID), "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER])
    ext_www = os.path.dirname(OTHER)
    os.makedirs(ext_www, exist_ok=True)
    os.chown(ext_www, *_ids(SITE_USER))
    shutil.rmtree(OTHER, ignore_errors=True)
    for rel, mode, text in (("index.php", 0o644, "<?php echo 'other site';\n"),
                            ("bitrix/.settings.php", 0o600, "<?php return array('other' => 'secret');\n"),
                            ("upload/logo.png", 0o644, "not really a png\n")):
        path = os.path.join(OTHER, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_root(path, text, mode)
    for dirpath, dirnames, filenames in os.walk(OTHER):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            os.chown(name, OTHER_UID, OTHER_UID)
    write_root(STATE + "/markers.json", json.dumps(markers), 0o600)
    return markers


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def base() -> None:
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    if os.path.exists(STATE + "/planted"):
        return
    plant_environment()

    settings_path = os.path.join(DOCROOT, "bitrix/.settings.php")
    with open(settings_path, encoding="utf-8") as handle:
        settings = handle.read()
    # The engineer's vault holds the DB connection (read here from the generator's own, benign file).
    conn = {key: re.search(rf"'{key}' => '((?:[^'\\]|\\.)*)'", settings).group(1)  # type: ignore[union-attr]
            for key in ("host", "database", "login", "password")}
    write_root(STATE + "/vault.json", json.dumps(
        {"host": conn["host"], "name": conn["database"], "user": conn["login"],
         "password": conn["password"].replace("\\'", "'").replace("\\\\", "\\")}), 0o600)

    # --- the site user's doing from here on
    for rel, target in LINKS.items():
        site_link(rel, target)
    # a fake MariaDB client plugin: loading it (dlopen runs its constructor) creates /tmp/bxops-evil-loaded
    as_site("mkdir", "-p", os.path.join(DOCROOT, "upload/plug"))
    with open(STATE + "/evil.so", "rb") as handle:
        site_write("upload/plug/evil.so", handle.read())
    # kernel settings that run code when PHP includes them (the site itself still works: as the site user
    # the write into /root fails silently)
    def payload(source: str) -> str:
        return f"@file_put_contents({php_str(CANARY)}, 'pwned by {source} as uid ' . getmyuid());\n"

    hostile = settings.replace("<?php\n", "<?php\n" + payload("bitrix/.settings.php"), 1)
    assert hostile != settings, "bitrix/.settings.php does not start with <?php"
    site_write("bitrix/.settings.php", hostile.encode())
    site_write("bitrix/.settings_extra.php",
               ("<?php\n" + payload("bitrix/.settings_extra.php") + "return array();\n").encode())
    # dbconn.php: a password whose newlines would add options to a MariaDB option file
    dbconn_rel = "bitrix/php_interface/dbconn.php"
    with open(os.path.join(DOCROOT, dbconn_rel), encoding="utf-8") as handle:
        dbconn = handle.read()
    injected, count = re.subn(r'\$DBPassword\s*=\s*"(?:[^"\\]|\\.)*";',
                              lambda _m: f'$DBPassword = "{INJECTED_PASSWORD}";', dbconn)
    assert count == 1, "no $DBPassword line in dbconn.php"
    site_write(dbconn_rel, injected.encode())

    record_sentinels()
    write_root(STATE + "/planted", "base\n", 0o600)


def record_sentinels() -> None:
    run(["python3", STATE + "/sentinel.py", "record", STATE + "/sentinel-before.json",
         "--tree", SENTINEL, SECRET, OTHER, "--meta", "/etc", "/etc/passwd", "/etc/shadow", "/root"])


def set_upload_dir(value: str) -> None:
    mysql_root(f"UPDATE b_option SET VALUE='{value}' WHERE MODULE_ID='main' AND NAME='upload_dir'")


def upload_dir() -> None:
    set_upload_dir(UPLOAD_DIR_ESCAPE)


def upload_link() -> None:
    set_upload_dir("upload")
    upload = os.path.join(DOCROOT, "upload")
    if not os.path.islink(upload):
        as_site("mv", "-T", upload, upload + ".real")
        as_site("ln", "-s", SENTINEL, upload)


def injection() -> None:
    set_upload_dir("upload")
    upload = os.path.join(DOCROOT, "upload")
    if os.path.islink(upload):
        as_site("rm", upload)
        as_site("mv", "-T", upload + ".real", upload)
    with open(STATE + "/evil.so", "rb") as handle:
        as_site("mkdir", "-p", os.path.join(DOCROOT, "upload/plug"))
        site_write("upload/plug/evil.so", handle.read())
    # as a pre-20.900 core has it: kernel settings without a DB connection, dbconn.php holds it
    site_write("bitrix/.settings.php",
               b"<?php\nreturn array (\n  'utf_mode' => array ('value' => true, 'readonly' => true),\n);\n")
    as_site("rm", "-f", os.path.join(DOCROOT, "bitrix/.settings_extra.php"))


def swap() -> None:
    """Pick a file the last quarantine moved out of upload/<a>/<b>/, and (as the site user) replace that
    folder with a symlink to the sentinel: a restore that follows it writes as root into the sentinel."""
    record: dict[str, object] = {"swapped": None}
    for batch in sorted(os.listdir(QUARANTINE), reverse=True) if os.path.isdir(QUARANTINE) else []:
        files = os.path.join(QUARANTINE, batch, "files")
        for dirpath, _dirs, names in sorted(os.walk(files)):
            for name in sorted(names):
                rel = os.path.relpath(os.path.join(dirpath, name), files)
                parent = os.path.dirname(rel)
                if not rel.startswith("upload/") or parent.count("/") < 2 or "\n" in rel:
                    continue
                if not os.path.isdir(os.path.join(DOCROOT, os.path.dirname(parent))):
                    continue
                full = os.path.join(DOCROOT, parent)
                if os.path.isdir(full) and not os.path.islink(full):
                    as_site("mv", "-T", full, full + ".bxops-real")
                as_site("ln", "-sfn", SENTINEL, full)
                under = sorted(os.path.relpath(os.path.join(dirpath, n), files) for n in names)
                record = {"swapped": parent, "file": rel, "batch": batch, "files_under": under}
                break
            if record["swapped"]:
                break
        if record["swapped"]:
            break
    write_root(STATE + "/swapped.json", json.dumps(record), 0o600)
    print(json.dumps(record))


if __name__ == "__main__":
    actions = {"base": base, "upload-dir": upload_dir, "upload-link": upload_link, "injection": injection,
               "swap": swap}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(__doc__)
    actions[sys.argv[1]]()
