"""Lays down a 1C-Bitrix site (files, database, update server) and describes it in truth.json."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from . import VERSION, bitrix_facts, content, integrations, monitoring
from .db import DDL, DbLoader

SCHEMA = 1
# The disposable folders (domain brief section 3) come from the collection's one source of Bitrix facts:
# bitrix_facts.py is a link to plugins/module_utils/bitrix_facts.py (copied as a file into test hosts).
DISPOSABLE = list(bitrix_facts.disposable_folders())
# The cleanup role's documented retention (roles/cleanup/README.md, its defaults): the ages planted below sit
# well clear of these limits, and each planted item says by hand what that retention does with it.
CLEANUP_POLICY = {
    "backup_keep": 3,
    "backup_max_age_days": 30,
    "log_max_age_days": 14,
    "upload_tmp_max_age": 86400,
    "bxtemp_grace": 3600,
    "tmp_keep_idle": 604800,
    "orphans_min_age": 86400,
    "default_categories": [
        "cache",
        "managed_cache",
        "stack_cache",
        "managed_flags",
        "cache_image",
        "bitrix_tmp",
        "html_pages",
        "upload_tmp",
        "backups",
        "logs",
    ],
    # the folders the planted logs are in: a run whose log folders include them removes and keeps as truth says
    "planted_log_dirs": ["/var/log/php", "local/logs"],
}
# The permissions role's mode for secrets (its default; 0640 also passes), and the kinds of fix it reports
SECRET_MODE = 0o600
PERMISSION_KINDS = ("owner", "group", "mode", "world_writable", "secret")
DB_TABLE_RE = re.compile(r"CREATE TABLE (\w+)")
# Backup archives in bitrix/backup: (age in days, fate under the retention above). The 3 newest sets stay by
# count, the 15-day one by age; the 31-day set (two parts) and older ones go.
BACKUP_PLAN = ((1, "keep"), (3, "keep"), (8, "keep"), (15, "keep"), (31, "remove"), (62, "remove"), (95, "remove"))
# Logs in local/logs: (name, age in days, fate). Live *.log files are never removed, however old; rotated ones
# (x.log.N, x.log.gz, x.log-YYYYMMDD.gz) go when older than 14 days.
EXCHANGE_LOG_PLAN = (
    ("exchange.log", 1, "keep"),
    ("exchange.log.1", 8, "keep"),
    ("exchange.log.2", 20, "remove"),
    ("exchange.log.3", 40, "remove"),
    ("exchange.log.4", 75, "remove"),
)
EXTRA_LOG_PLAN = (
    ("import.log", 60, "keep"),  # live, however old
    ("import.log.gz", 30, "remove"),  # compressed without a number: still a rotated log
    ("import.log-{date}.gz", 3, "keep"),  # dateext, young
)
# /var/log/php (--no-system-files: none): (name, age in days, fate)
PHP_LOG_PLAN = (
    ("bitrix-fpm-error.log.1", 1, "keep"),
    ("bitrix-fpm-error.log.2.gz", 7, "keep"),
    ("bitrix-fpm-error.log.3.gz", 20, "remove"),
)
CORE_MODULES = [
    "iblock",
    "fileman",
    "search",
    "sale",
    "catalog",
    "currency",
    "vote",
    "form",
    "forum",
    "blog",
    "subscribe",
    "seo",
    "perfmon",
    "security",
    "clouds",
    "compression",
    "highloadblock",
    "rest",
    "ui",
    "socialservices",
    "translate",
    "sender",
    "bitrixcloud",
    "advertising",
    "landing",
]
NOT_INSTALLED = {"advertising", "oldvendor.slider"}
# --commented-versions: these modules' install/version.php (and main's version.php) carry commented-out lines
COMMENTED_VERSION_MODULES = ("iblock", "acme.delivery")
LOCAL_OVERRIDE = "subscribe"
UPDATE_PREFERENCE = [
    "vote",
    "iblock",
    "fileman",
    "main",
    "sale",
    "search",
    "catalog",
    "form",
    "seo",
    "security",
]
# The first core that ships the update console (bitrix/bitrix.php); older ones are updated through
# CUpdateClient's steps (domain brief section 2).
CONSOLE_SINCE = "25.100.200"
CORE_CHOICES = ["21.400.100", "22.100.300", "22.400.100", "22.600.200"]
VOTE_CVE = "CVE-2022-27228"
VOTE_FIXED = "21.0.100"
PHP8_RE = re.compile(r"(?<![\w>$:])(each|create_function)\s*\(")
UPLOAD_FOLDERS = [  # (module, subdir prefix, weight)
    ("iblock", "iblock", 70),
    ("main", "main", 8),
    ("fileman", "medialibrary", 7),
    ("sale", "sale/paysystem/logotip", 5),
    ("main", "uf", 6),
    ("forum", "forum", 4),
]
SHARED_NAMES = ["photo.jpg", "image.png", "1.jpg", "logo.png", "price.pdf", "banner.jpg"]
EXCHANGE_DIRS = ("upload/1c_catalog", "upload/1c_exchange")
# --upload-dir: a folder name (or a relative path of such names) under the docroot, as main.upload_dir holds it
UPLOAD_DIR_RE = re.compile(r"^(?!bitrix(/|$)|local(/|$))[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


def in_upload_dir(rel: str, upload_dir: str) -> str:
    """A path written for the default upload/ folder, moved into the site's upload folder."""
    return upload_dir + rel[len("upload") :] if rel == "upload" or rel.startswith("upload/") else rel


def vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


@dataclass
class Config:
    seed: int = 1
    size: str = "small"
    docroot: Path = Path("/home/bitrix/www")
    site_user: str = "bitrix"
    truth: Path = Path("/var/lib/bxops-sitegen/truth.json")
    db_mode: str = "mysql"
    db_name: str = "sitemanager"
    db_user: str = "bitrix0"
    db_host: str = "localhost"
    now: int = 0
    upload_files: int | None = None
    bfile_rows: int | None = None
    cache_files: int | None = None
    php8_clean: bool = False
    planted: bool = True
    cron_mode: bool = True
    updates: int = 3
    update_targets: dict[str, str] = field(default_factory=dict)
    update_system: bool = False
    fault_module: str | None = None
    packages_dir: Path = Path("/opt/bxops-update-server")
    core_version: str | None = None
    console: str = "auto"
    vote_version: str | None = None
    license: str = "active"
    system_files: bool | None = None
    force: bool = False
    file_mode: int = 0o644
    dir_mode: int = 0o755
    upload_dir: str = "upload"
    odd_names: bool = False
    commented_versions: bool = False
    monitoring_shapes: bool = False


class Tree:
    """Fast file writer under one root; remembers sizes and mtimes of what it wrote."""

    def __init__(self, root: Path, record: bool = False):
        self.root = str(root)
        self._dirs: set[str] = set()
        # record: every file written, relative path -> (sha256 of its content, size): the site as planted
        self.written: dict[str, tuple[str, int]] | None = {} if record else None

    def path(self, rel: str) -> str:
        return self.root + "/" + rel

    def mkdir(self, rel: str) -> None:
        p = self.path(rel)
        if p not in self._dirs:
            os.makedirs(p, exist_ok=True)
            self._dirs.add(p)

    def write(self, rel: str, data: str | bytes, mtime: float | None = None, mode: int | None = None) -> int:
        p = self.root + "/" + rel
        d = p.rpartition("/")[0]
        if d not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(d)
        b = data.encode("utf-8") if isinstance(data, str) else data
        if self.written is not None:
            self.written[rel] = (hashlib.sha256(b).hexdigest(), len(b))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(p, mode)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        return len(b)


def walk_stats(root: str) -> tuple[int, int]:
    files = size = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except FileNotFoundError:
            continue
        with it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    files += 1
                    size += e.stat(follow_symlinks=False).st_size
    return files, size


def _name(lookup: Callable[[int], object], ident: int) -> str:
    try:
        return str(lookup(ident)[0])  # type: ignore[index]
    except KeyError:
        return str(ident)


class Generator:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        if not UPLOAD_DIR_RE.match(cfg.upload_dir) or ".." in cfg.upload_dir.split("/"):
            raise SystemExit(
                f"--upload-dir {cfg.upload_dir!r}: give a folder relative to the docroot (letters, digits, '.', '_',"
                " '-', nested with '/'), not bitrix/ or local/, e.g. --upload-dir files"
            )
        self.up = cfg.upload_dir
        self.disposable = bitrix_facts.disposable_folders(self.up)
        self.exchange_dirs = [in_upload_dir(d, self.up) for d in EXCHANGE_DIRS]
        self.rng = Random(cfg.seed)
        # the --odd-names shapes draw from their own generator, so the rest of the site is the same with or without
        self.odd_rng = Random(f"odd-names-{cfg.seed}")
        self.now = cfg.now or int(time.time())
        self.is_root = os.geteuid() == 0
        self.tree = Tree(cfg.docroot, record=True)
        self.truth: dict[str, object] = {}
        self.modules: dict[str, dict[str, Any]] = {}
        self.planted: dict[str, list[object]] = {
            "leftover_files": [],
            "world_writable": [],
            "wrong_owner": [],
        }
        self.logs: list[dict[str, object]] = []
        self.young_orphans: list[str] = []
        # what the cleanup's retention must remove or keep, by category, as planted (see BACKUP_PLAN ...)
        self.fates: dict[str, dict[str, list[str]]] = {
            "backups": {"remove": [], "keep": []},
            "logs": {"remove": [], "keep": []},
        }
        self.db_password = "".join(
            self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(20)
        )
        self.system_files = (
            cfg.system_files if cfg.system_files is not None else (self.is_root and cfg.db_mode == "mysql")
        )
        self.sizes = self._sizes()
        home = cfg.docroot.parent if cfg.docroot.name == "www" else cfg.docroot
        self.temp_dir = f"{home}/.bx_temp/{cfg.db_name}/"

    # --- sizing --------------------------------------------------------------------------------------
    def _sizes(self) -> dict[str, int]:
        cfg = self.cfg
        if cfg.size == "small":
            n, m = 1400, 1200
        elif cfg.size == "medium":
            n, m = 100_000, 90_000
        else:
            n, m = 1_000_000, 900_000
        if cfg.upload_files is not None and cfg.bfile_rows is None:
            n, m = cfg.upload_files, int(cfg.upload_files * 0.9)
        elif cfg.bfile_rows is not None and cfg.upload_files is None:
            m, n = cfg.bfile_rows, int(cfg.bfile_rows * 1.1) + 20
        elif cfg.upload_files is not None and cfg.bfile_rows is not None:
            n, m = cfg.upload_files, cfg.bfile_rows
        cloud = max(1, m // 1000)
        dups = max(3, m // 50)
        phys = m - cloud - dups
        content_ref = 8
        orphans = n - phys - content_ref
        if phys < 20 or orphans < 5:
            raise SystemExit(
                f"--upload-files {n} is too small for --bfile-rows {m}: need at least "
                f"{phys + content_ref + 5} files (rows minus duplicates and cloud rows, plus orphans)"
            )
        caches = cfg.cache_files if cfg.cache_files is not None else max(600, min(n // 20, 50_000))
        return {
            "files": n,
            "rows": m,
            "cloud": cloud,
            "dups": dups,
            "phys": phys,
            "content_ref": content_ref,
            "orphans": orphans,
            "caches": caches,
            "big": int(n > 20_000),
        }

    # --- entry point ---------------------------------------------------------------------------------
    def run(self) -> dict[str, object]:
        t0 = time.time()
        os.umask(0o022)
        self._prepare_docroot()
        self._plan_modules()
        self._plan_odd_names()
        self._write_kernel()
        self._write_modules()
        self._write_custom_code()
        loader = self._make_loader()
        self._write_uploads(loader)
        self._write_db_small(loader)
        self.monitoring_truth = (
            monitoring.plant(loader, Random(f"monitoring-{self.cfg.seed}"), self.now, fmt_time)
            if self.cfg.monitoring_shapes
            else None
        )
        self._write_disposable()
        self._write_backups_and_logs()
        self._write_planted()
        updates = self._write_update_server()
        self.docs_truth = integrations.plant(self, loader)  # issue 16's living docs: integrations, own code
        loader.run()
        self._system_files()
        self._ownership()
        self._finish_truth(updates, loader, time.time() - t0)
        return self.truth

    def _prepare_docroot(self) -> None:
        root = self.cfg.docroot
        root.mkdir(parents=True, exist_ok=True)
        entries = list(root.iterdir())
        if entries and not self.cfg.force:
            raise SystemExit(f"{root} is not empty; pass --force to wipe it and generate again")
        for e in entries:
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e)
            else:
                e.unlink()

    # --- modules -------------------------------------------------------------------------------------
    def _version_near(self, yy: int) -> str:
        r = self.rng
        steps = [0, 100, 200, 300, 400, 500]
        return f"{r.choice([yy - 1, yy, yy])}.{r.choice(steps)}.{r.choice(steps)}"

    def _date_for(self, version: str) -> str:
        yy = vtuple(version)[0]
        yy = yy if 10 <= yy <= 40 else 22
        month = self.rng.randint(1, 12)
        day, hour, minute = self.rng.randint(1, 28), self.rng.randint(8, 20), self.rng.randint(0, 59)
        return f"20{yy:02d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:00"

    def _plan_modules(self) -> None:
        cfg, r = self.cfg, self.rng
        core = cfg.core_version or r.choice(CORE_CHOICES)
        self.core: dict[str, Any] = {
            "version": core,
            "date": self._date_for(core),
            "style": r.randrange(content.CORE_VERSION_STYLES),
            "console": cfg.console == "yes" or (cfg.console == "auto" and vtuple(core) >= vtuple(CONSOLE_SINCE)),
        }
        yy = vtuple(core)[0]
        for mid in CORE_MODULES:
            version = self._version_near(yy)
            if vtuple(version) > vtuple(core):
                version = core
            self.modules[mid] = {
                "version": version,
                "location": "bitrix",
                "marketplace": False,
                "installed": mid not in NOT_INSTALLED,
            }
        vote = cfg.vote_version or r.choice(["20.0.400", "20.5.100", "21.0.0"])
        self.modules["vote"]["version"] = vote
        # a Marketplace module in bitrix/modules, an installed one only in local/modules, an abandoned one
        self.modules["acme.delivery"] = {
            "version": "1.4.2",
            "location": "bitrix",
            "marketplace": True,
            "installed": True,
        }
        self.modules["acme.tools"] = {
            "version": "2.0.7",
            "location": "local",
            "marketplace": True,
            "installed": True,
        }
        self.modules["oldvendor.slider"] = {
            "version": "1.0.3",
            "location": "bitrix",
            "marketplace": True,
            "installed": False,
        }
        # a core module overridden in local/modules (local wins)
        shadowed = self.modules[LOCAL_OVERRIDE]["version"]
        self.modules[LOCAL_OVERRIDE].update(
            {
                "location": "local",
                "version": "{}.{}.{}".format(*vtuple(str(shadowed))[:2], vtuple(str(shadowed))[2] + 7),
                "shadowed": {"path": f"bitrix/modules/{LOCAL_OVERRIDE}", "version": shadowed},
            }
        )
        for mid, m in self.modules.items():
            m["date"] = self._date_for(str(m["version"]))
            m["style"] = r.randrange(content.MODULE_VERSION_STYLES)
            m["path"] = f"{m['location']}/modules/{mid}"
            if "shadowed" in m:
                sh = m["shadowed"]
                assert isinstance(sh, dict)
                sh["date"] = self._date_for(str(sh["version"]))

    # --- --odd-names: names and references as editors and old sites really have them -------------------
    def _plan_odd_names(self) -> None:
        """Decide the --odd-names shapes (empty without the flag): upload names with spaces, quotes, Cyrillic
        and a newline (registered in b_file, and real orphans), and content references to files that are in
        no b_file row, written the ways editors and Bitrix write them (quoted attributes with spaces, srcset,
        percent-encoding, HTML entities, an absolute URL on the site's own domain, CSS url() with and without
        quotes). truth.json lists every referenced file (never an orphan) and every real orphan."""
        self.odd: dict[str, list[object]] = {
            "registered": [],
            "elements": [],
            "css_rules": [],
            "content": [],
            "orphans": [],
        }
        if not self.cfg.odd_names:
            return
        r, up = self.odd_rng, self.up

        def bucket() -> str:
            return f"{r.getrandbits(12):03x}"

        ml, css_dir = f"{up}/medialibrary/{bucket()}", f"{up}/medialibrary/{bucket()}"
        reg1, reg2 = f"iblock/{bucket()}", f"main/{bucket()}"
        self.odd["registered"] = [
            (reg1, "photo with space.jpg"),
            (reg1, "it's \"quoted\".jpg"),
            (reg1, "фото товара.jpg"),
            (reg2, "line\nbreak.pdf"),
        ]
        domain = "localhost"  # b_option main.server_name and b_option_site s1 server_name
        # (HTML in DETAIL_TEXT, [(file it references, the reference exactly as written)])
        elements: list[tuple[str, list[tuple[str, str]]]] = [
            (
                f'<p>New collection: <img src="/{ml}/pic name.jpg" alt="Pic"></p>',
                [(f"{ml}/pic name.jpg", f"/{ml}/pic name.jpg")],
            ),
            (
                f'<img src="/{ml}/hero-small.jpg" srcset="/{ml}/hero-medium.jpg 800w, /{ml}/hero%20large.jpg 1600w"'
                ' alt="">',
                [
                    (f"{ml}/hero-small.jpg", f"/{ml}/hero-small.jpg"),
                    (f"{ml}/hero-medium.jpg", f"/{ml}/hero-medium.jpg"),
                    (f"{ml}/hero large.jpg", f"/{ml}/hero%20large.jpg"),
                ],
            ),
            (
                f'<p><a href="/{ml}/price&amp;list.pdf">Price list</a></p>',
                [(f"{ml}/price&list.pdf", f"/{ml}/price&amp;list.pdf")],
            ),
            (
                f'<p><img src="https://{domain}/{ml}/own-domain.jpg" alt=""></p>',
                [(f"{ml}/own-domain.jpg", f"https://{domain}/{ml}/own-domain.jpg")],
            ),
            (
                f"<p><img src='/{ml}/кот.jpg' alt=''> "
                f'<img src="/{ml}/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0.png" alt=""></p>',
                [
                    (f"{ml}/кот.jpg", f"/{ml}/кот.jpg"),
                    (f"{ml}/скидка.png", f"/{ml}/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0.png"),
                ],
            ),
        ]
        self.odd["elements"] = [html for html, _refs in elements]
        css = [
            (f".hero {{ background: url('/{css_dir}/bg image.jpg') no-repeat; }}", f"{css_dir}/bg image.jpg",
             f"/{css_dir}/bg image.jpg"),
            (f".icon {{ background-image: url(/{css_dir}/x%20y.png); }}", f"{css_dir}/x y.png",
             f"/{css_dir}/x%20y.png"),
            (f'.promo {{ background: url("/{css_dir}/promo banner.png"); }}', f"{css_dir}/promo banner.png",
             f"/{css_dir}/promo banner.png"),
        ]
        self.odd["css_rules"] = [rule for rule, _path, _ref in css]
        self.odd_element_refs = elements  # ids are given when the elements are written
        self.odd["content"] = [
            {"path": path, "reference": ref, "where": {"file": "local/templates/main/template_styles.css"}}
            for _rule, path, ref in css
        ]
        orphan_dir = f"{up}/iblock/{bucket()}"
        self.odd["orphans"] = [
            f"{ml}/pic.jpg",  # next to "pic name.jpg": a reference cut at the space would point here
            f"{ml}/hero.jpg",
            f"{css_dir}/bg.jpg",
            f"{orphan_dir}/orphan with space.jpg",
            f"{orphan_dir}/orphan 'single' \"double\".png",
            f"{orphan_dir}/сирота.jpg",
            f"{orphan_dir}/new\nline orphan.jpg",
        ]

    def _write_kernel(self) -> None:
        t, cfg = self.tree, self.cfg
        core = self.core
        self.commented_versions: list[dict[str, object]] = []
        if cfg.commented_versions:
            newer, older = self._commented_values(str(core["version"]))
            text = content.core_version_php_commented(str(core["version"]), str(core["date"]), newer, older)
            self.commented_versions.append(
                {
                    "module": "main",
                    "path": "bitrix/modules/main/classes/general/version.php",
                    "version": core["version"],
                    "commented": sorted({newer, older}, key=vtuple),
                }
            )
        else:
            text = content.core_version_php(core["version"], core["date"], int(core["style"]))
        t.write("bitrix/modules/main/classes/general/version.php", text)
        t.write(
            "bitrix/modules/main/classes/general/update_client.php",
            content.update_client_php("21.200.0", str(self.cfg.packages_dir)),
        )
        t.write(
            "bitrix/modules/main/classes/general/update_client_partner.php",
            content.php_asset("update_client_partner.php"),
        )
        t.write("bitrix/modules/main/include/prolog_before.php", content.php_asset("prolog_before.php"))
        t.write("bitrix/modules/main/include/site_closed.php", content.SITE_CLOSED_PHP)
        t.write("bitrix/modules/main/include/prolog_after.php", "<?php\n// bxops stand-in\n")
        t.write("bitrix/modules/main/include/epilog_after.php", "<?php\n// bxops stand-in\n")
        t.write("bitrix/modules/main/tools/cron_events.php", content.CRON_EVENTS)
        t.write("bitrix/modules/main/include.php", "<?php\n// bxops stand-in for the kernel loader\n")
        for i in range(24):
            t.write(
                f"bitrix/modules/main/lib/part{i:02d}.php",
                content.module_lib_class("main", f"Part{i:02d}", core["version"]),
            )
        for name in ("module", "option", "agent", "file", "database", "user", "event", "site"):
            t.write(
                f"bitrix/modules/main/classes/general/{name}.php",
                content.module_general_class("main", name.capitalize(), core["version"]),
            )
        t.write("bitrix/modules/main/lang/en/install/index.php", content.lang_file("main", "Main module"))
        if core["console"]:
            t.write("bitrix/bitrix.php", content.php_asset("bitrix.php"))
        t.write("bitrix/admin/1c_exchange.php", content.php_asset("1c_exchange.php"))
        t.write(
            "bitrix/admin/index.php",
            '<?\ndefine("ADMIN_SECTION", true);\n'
            'require($_SERVER["DOCUMENT_ROOT"]."/bitrix/modules/main/include/prolog_before.php");\n'
            'echo "Admin section (bxops stand-in)";\n',
        )
        t.write("bitrix/urlrewrite.php", content.URLREWRITE_HANDLER)
        t.write("urlrewrite.php", content.ROOT_URLREWRITE)
        t.write(".htaccess", content.HTACCESS_ROOT)
        # kernel settings; secrets: the DB password, crypto key and licence key
        db = {"host": cfg.db_host, "name": cfg.db_name, "user": cfg.db_user, "password": self.db_password}
        crypto = f"{self.rng.getrandbits(128):032x}"
        settings_mode = 0o644 if cfg.planted else 0o640
        t.write("bitrix/.settings.php", content.settings_php(db, crypto), mode=settings_mode)
        t.write(
            "bitrix/php_interface/dbconn.php",
            content.dbconn_php(db, cfg.file_mode, cfg.dir_mode, cfg.cron_mode, self.temp_dir),
            mode=0o640,
        )
        self.secret_modes = {"bitrix/.settings.php": settings_mode, "bitrix/php_interface/dbconn.php": 0o640}
        self.license_key = "SMF-" + "-".join(
            "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5)) for _ in range(4)
        )
        if cfg.license != "absent":
            t.write("bitrix/license_key.php", content.license_key_php(self.license_key), mode=0o640)
            self.secret_modes["bitrix/license_key.php"] = 0o640
        # composer + symfony/console, which the real console needs (config_path in .settings.php)
        t.write("local/composer.json", content.composer_json())
        t.write("local/vendor/autoload.php", "<?php\n// composer autoloader (stub)\n")
        t.write(
            "local/vendor/symfony/console/Application.php",
            "<?php\nnamespace Symfony\\Component\\Console;\n\nclass Application\n{\n}\n",
        )

    @staticmethod
    def _commented_values(version: str) -> tuple[str, str]:
        """The values left in comments: one newer than the real version (a parser that reads it would think
        the module up to date) and one older."""
        a, b, c = [*vtuple(version), 0, 0, 0][:3]
        return f"{a + 3}.0.0", f"{max(a - 1, 0)}.{b}.{c}"

    def _write_modules(self) -> None:
        t = self.tree
        for mid, m in self.modules.items():
            locations = [(str(m["path"]), str(m["version"]), str(m["date"]))]
            sh = m.get("shadowed")
            if isinstance(sh, dict):
                locations.append((str(sh["path"]), str(sh["version"]), str(sh["date"])))
            title = content.MODULE_TITLES.get(mid, mid)
            for n, (path, version, date) in enumerate(locations):
                if self.cfg.commented_versions and n == 0 and mid in COMMENTED_VERSION_MODULES:
                    newer, older = self._commented_values(version)
                    text = content.module_version_php_commented(version, date, newer, older)
                    self.commented_versions.append(
                        {
                            "module": mid,
                            "path": f"{path}/install/version.php",
                            "version": version,
                            "commented": sorted({newer, older}, key=vtuple),
                        }
                    )
                else:
                    text = content.module_version_php(version, date, int(m["style"]))
                t.write(f"{path}/install/version.php", text)
                t.write(f"{path}/install/index.php", content.module_install_index(mid, title))
                t.write(f"{path}/include.php", f"<?php\n// {mid} module loader\n")
                t.write(f"{path}/lang/en/install/index.php", content.lang_file(mid, title))
                if mid == "acme.delivery":
                    t.write(
                        f"{path}/lib/calculator.php",
                        content.DOTTED_MODULE_LIB_CLEAN
                        if self.cfg.php8_clean
                        else content.DOTTED_MODULE_LIB_LEGACY,
                    )
                    continue
                for i in range(self.rng.randint(3, 8)):
                    t.write(
                        f"{path}/lib/service{i}.php", content.module_lib_class(mid, f"Service{i}", version)
                    )
                for i in range(self.rng.randint(1, 3)):
                    t.write(
                        f"{path}/classes/general/{mid.replace('.', '_')}{i}.php",
                        content.module_general_class(
                            mid, f"{mid.replace('.', '_').capitalize()}{i}", version
                        ),
                    )
                t.write(f"{path}/options.php", "<?\n// module settings page\n")

    def _write_custom_code(self) -> None:
        t, clean = self.tree, self.cfg.php8_clean
        t.write("local/php_interface/init.php", content.INIT_PHP)
        t.write("local/php_interface/include/handlers.php", content.HANDLERS_PHP)
        t.write("bitrix/php_interface/init.php", content.OLD_INIT_PHP)
        t.write(
            "bitrix/php_interface/include/legacy.php",
            content.LEGACY_HELPERS_CLEAN if clean else content.LEGACY_HELPERS_EACH,
        )
        t.write(
            "bitrix/php_interface/after_connect_d7.php",
            "<?php\n$this->queryExecute(\"SET sql_mode=''\");\n"
            '$this->queryExecute("SET innodb_strict_mode=0");\n',
        )
        banner = f"/{self.up}/medialibrary/b1a/banner-main.jpg"
        self.content_refs = {"template": banner}
        for tpl in ("local/templates/main", "bitrix/templates/.default"):
            t.write(f"{tpl}/header.php", content.template_header(banner))
            t.write(f"{tpl}/footer.php", content.TEMPLATE_FOOTER)
            css = "body { font-family: sans-serif; }\n"
            if tpl == "local/templates/main":
                css += "".join(f"{rule}\n" for rule in self.odd["css_rules"])
            t.write(f"{tpl}/template_styles.css", css)
            t.write(
                f"{tpl}/description.php", '<?\n$arTemplate = array("NAME" => "Main", "DESCRIPTION" => "");\n'
            )
        t.write(
            "bitrix/templates/.default/components/bitrix/news.list/.default/template.php",
            content.NEWS_LIST_TEMPLATE,
        )
        t.write(
            "local/templates/main/components/bitrix/catalog.section/.default/template.php",
            content.CATALOG_SECTION_TEMPLATE_CLEAN if clean else content.CATALOG_SECTION_TEMPLATE_EACH,
        )
        t.write("bitrix/components/bitrix/catalog.section/component.php", content.CATALOG_SECTION_COMPONENT)
        t.write(
            "bitrix/components/bitrix/catalog.section/templates/.default/template.php",
            content.CATALOG_SECTION_TEMPLATE_CLEAN,
        )
        t.write("bitrix/components/bitrix/news.list/component.php", content.NEWS_LIST_COMPONENT)
        t.write(
            "bitrix/components/bitrix/news.list/templates/.default/template.php", content.NEWS_LIST_TEMPLATE
        )
        t.write(
            "bitrix/components/acme/catalog.filter/component.php",
            content.ACME_FILTER_COMPONENT_CLEAN if clean else content.ACME_FILTER_COMPONENT_LEGACY,
        )
        t.write(
            "bitrix/components/acme/catalog.filter/templates/.default/template.php",
            content.ACME_FILTER_TEMPLATE,
        )
        t.write("local/components/acme/promo.banner/component.php", content.PROMO_BANNER_COMPONENT)
        t.write(
            "local/components/acme/promo.banner/templates/.default/template.php",
            content.PROMO_BANNER_TEMPLATE,
        )
        t.write("local/ajax/handler.php", content.AJAX_HANDLER)
        # pages really rendered through nginx + PHP-FPM
        contacts_imgs = [f"/{self.up}/medialibrary/c07/office-map.png", f"/{self.up}/iblock/f3e/team-photo.jpg"]
        self.content_refs["contacts"] = contacts_imgs  # type: ignore[assignment]
        pages = [
            (
                "index.php",
                "/",
                "home",
                "Acme Store",
                '<?$APPLICATION->IncludeComponent("acme:promo.banner", "", array("TITLE" => "Welcome"));?>\n'
                '<?$APPLICATION->IncludeComponent("bitrix:news.list", "", array());?>',
                True,
            ),
            ("about/index.php", "/about/", "about", "About us", "<p>We sell things since 2009.</p>", True),
            (
                "news/index.php",
                "/news/",
                "news",
                "News",
                '<?$APPLICATION->IncludeComponent("bitrix:news.list", "", array());?>',
                True,
            ),
            (
                "catalog/index.php",
                "/catalog/",
                "catalog",
                "Catalog",
                '<?$APPLICATION->IncludeComponent("acme:catalog.filter", "", array());?>\n'
                '<?$APPLICATION->IncludeComponent("bitrix:catalog.section", "", array());?>',
                clean,
            ),
            (
                "contacts/index.php",
                "/contacts/",
                "contacts",
                "Contacts",
                "".join(f'<img src="{u}" alt="">\n' for u in contacts_imgs) + "<p>Call us.</p>",
                True,
            ),
        ]
        self.pages = []
        for rel, url, key, title, body, php8 in pages:
            t.write(rel, content.page_php(key, title, body))
            self.pages.append({"url": url, "marker": f"BXOPS-PAGE-OK {key}", "php8_ok": php8})
        t.write("404.php", content.URLREWRITE_HANDLER)
        t.write("robots.txt", f"User-agent: *\nDisallow: /bitrix/\nDisallow: /{self.up}/tmp/\n")
        t.write("favicon.ico", b"\x00\x00\x01\x00" + bytes(60))

    # --- uploads and b_file --------------------------------------------------------------------------
    def _make_loader(self) -> DbLoader:
        cfg = self.cfg
        work = cfg.truth.parent / f"db-{cfg.db_name}"
        sqlfile = cfg.truth.parent / f"{cfg.db_name}.sql" if cfg.db_mode == "sqlfile" else None
        return DbLoader(cfg.db_mode, cfg.db_name, cfg.db_user, self.db_password, work, sqlfile)

    def _file_size(self) -> int:
        r = self.rng
        if self.sizes["big"]:
            return r.randint(200, 6000)
        x = r.random()
        if x < 0.7:
            return r.randint(1000, 20000)
        if x < 0.95:
            return r.randint(20000, 100000)
        return r.randint(100000, 400000)

    def _blob(self, name: str, size: int, rng: Random | None = None) -> bytes:
        ext = name.rsplit(".", 1)[-1]
        head = {
            "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
            "png": b"\x89PNG\r\n\x1a\n",
            "pdf": b"%PDF-1.4\n",
            "xml": b'<?xml version="1.0"?>\n',
        }.get(ext, b"")
        off = (rng or self.rng).randrange(0, len(self.noise) - 500_000)
        body = self.noise[off : off + max(0, size - len(head))]
        return (head + body)[:size]

    def _write_uploads(self, loader: DbLoader) -> None:
        r, t, s = self.rng, self.tree, self.sizes
        self.noise = r.randbytes(1 << 20)
        folders = [f for f in UPLOAD_FOLDERS]
        weights = [w for _, _, w in folders]
        now = self.now
        old_min, old_max = now - 3 * 365 * 86400, now - 2 * 86400
        files_by_key: dict[str, tuple[int, int]] = {}  # path -> (size, mtime)
        rows: list[tuple[object, ...]] = []
        originals: list[int] = []
        reg_bytes = 0
        for i in range(1, s["phys"] + 1):
            module, prefix, _ = r.choices(folders, weights)[0]
            bucket = f"{r.getrandbits(12):03x}"
            if r.random() < 0.03:
                subdir = f"{prefix}/{bucket}/{r.getrandbits(128):032x}"
                name = r.choice(SHARED_NAMES)
                original = name
            else:
                ext = r.choice(
                    ["jpg", "jpg", "jpg", "png", "pdf"] if prefix != "iblock" else ["jpg", "jpg", "png"]
                )
                subdir = f"{prefix}/{bucket}"
                name = f"{r.getrandbits(128):032x}.{ext}"
                original = f"IMG_{r.randint(1000, 9999)}.{ext}"
            rel = f"{self.up}/{subdir}/{name}"
            if rel in files_by_key:
                subdir = f"{prefix}/{bucket}/{r.getrandbits(64):016x}"
                rel = f"{self.up}/{subdir}/{name}"
            size = self._file_size()
            mtime = r.randint(old_min, old_max)
            t.write(rel, self._blob(name, size), mtime=mtime)
            files_by_key[rel] = (size, mtime)
            reg_bytes += size
            is_img = name.endswith((".jpg", ".png"))
            rows.append(
                (
                    i,
                    fmt_time(mtime),
                    module,
                    r.randint(200, 1200) if is_img else 0,
                    r.randint(200, 1600) if is_img else 0,
                    size,
                    ("image/jpeg" if name.endswith(".jpg") else "image/png" if is_img else "application/pdf"),
                    subdir,
                    name,
                    original,
                    "",
                    None,
                    f"{r.getrandbits(64):016x}",
                )
            )
            originals.append(i)
        next_id = s["phys"] + 1
        duplicates: list[dict[str, object]] = []
        dup_rows: list[tuple[object, ...]] = []
        for _ in range(s["dups"]):
            orig_id = r.choice(originals)
            o = rows[orig_id - 1]
            rows.append(
                (
                    next_id,
                    fmt_time(now - r.randint(3 * 86400, 400 * 86400)),
                    o[2],
                    o[3],
                    o[4],
                    o[5],
                    o[6],
                    o[7],
                    o[8],
                    f"copy-of-{o[9]}",
                    "",
                    None,
                    f"{r.getrandbits(64):016x}",
                )
            )
            dup_rows.append((next_id, orig_id, 1, "N"))
            duplicates.append({"id": next_id, "original_id": orig_id, "path": f"{self.up}/{o[7]}/{o[8]}"})
            next_id += 1
        cloud_rows = []
        for _ in range(s["cloud"]):
            subdir = f"iblock/{r.getrandbits(12):03x}"
            name = f"{r.getrandbits(128):032x}.jpg"
            rows.append(
                (
                    next_id,
                    fmt_time(now - 86400 * 30),
                    "iblock",
                    600,
                    800,
                    r.randint(20000, 90000),
                    "image/jpeg",
                    subdir,
                    name,
                    "cloud.jpg",
                    "",
                    "1",
                    f"{r.getrandbits(64):016x}",
                )
            )
            cloud_rows.append({"id": next_id, "path": f"{self.up}/{subdir}/{name}"})
            next_id += 1
        # files referenced only from content (HTML in b_iblock_element, a static page, the template)
        content_paths = [str(self.content_refs["template"]).lstrip("/")]
        content_paths += [u.lstrip("/") for u in self.content_refs["contacts"]]
        element_refs = [
            f"{self.up}/medialibrary/{r.getrandbits(12):03x}/{n}"
            for n in ("summer-sale.jpg", "delivery-map.png", "promo-1.jpg", "promo-2.jpg", "logo.png")
        ]
        content_paths += element_refs
        content_paths = content_paths[: s["content_ref"]]
        for rel in content_paths:
            size = self._file_size()
            mtime = r.randint(old_min, old_max)
            t.write(rel, self._blob(rel, size), mtime=mtime)
        # --odd-names (own random generator: the rest of the site stays as it is without the flag)
        base_rows = len(rows)
        orng = self.odd_rng
        odd_registered: list[str] = []
        for subdir, name in self.odd["registered"]:  # type: ignore[misc]
            rel = f"{self.up}/{subdir}/{name}"
            size, mtime = orng.randint(1000, 30000), orng.randint(old_min, old_max)
            t.write(rel, self._blob(name, size, orng), mtime=mtime)
            reg_bytes += size
            odd_registered.append(rel)
            is_img = name.endswith(".jpg")
            rows.append(
                (
                    next_id,
                    fmt_time(mtime),
                    "iblock" if subdir.startswith("iblock/") else "main",
                    600 if is_img else 0,
                    800 if is_img else 0,
                    size,
                    "image/jpeg" if is_img else "application/pdf",
                    subdir,
                    name,
                    name,
                    "",
                    None,
                    f"{orng.getrandbits(64):016x}",
                )
            )
            next_id += 1
        odd_content = [str(c["path"]) for c in self.odd["content"]]  # type: ignore[index]
        odd_content += [path for _html, refs in getattr(self, "odd_element_refs", []) for path, _ref in refs]
        for rel in odd_content:
            t.write(rel, self._blob(rel, orng.randint(1000, 30000), orng), mtime=orng.randint(old_min, old_max))
        content_paths += odd_content
        # orphans: no row, not referenced; some share a FILE_NAME with registered files in other SUBDIRs
        orphans = []
        for _ in range(s["orphans"]):
            _module, prefix, _ = r.choices(folders, weights)[0]
            bucket = f"{r.getrandbits(12):03x}"
            if r.random() < 0.1:
                rel = f"{self.up}/{prefix}/{bucket}/{r.getrandbits(128):032x}/{r.choice(SHARED_NAMES)}"
            else:
                rel = f"{self.up}/{prefix}/{bucket}/{r.getrandbits(128):032x}.{r.choice(['jpg', 'png', 'pdf'])}"
            if rel in files_by_key:
                continue
            size = self._file_size()
            young = r.random() < 0.15
            mtime = now - r.randint(60, 20 * 3600) if young else r.randint(old_min, old_max)
            t.write(rel, self._blob(rel, size), mtime=mtime)
            files_by_key[rel] = (size, mtime)
            orphans.append({"path": rel, "size": size, "mtime": mtime})
            if young:  # at most 20 hours old: uploads whose b_file row may still be coming, never quarantined
                self.young_orphans.append(rel)
        for rel in self.odd["orphans"]:  # type: ignore[assignment]
            size, mtime = self.odd_rng.randint(1000, 30000), self.odd_rng.randint(old_min, old_max)
            t.write(str(rel), self._blob(str(rel), size, self.odd_rng), mtime=mtime)
            orphans.append({"path": rel, "size": size, "mtime": mtime})
        orphans.sort(key=lambda o: str(o["path"]))
        # iblock elements: pictures through b_file, HTML text referencing medialibrary files
        iblock_ids = [row[0] for row in rows[: s["phys"]] if row[2] == "iblock"] or [1]
        n_el = max(30, min(s["rows"] // 10, 100_000))

        odd_elements = getattr(self, "odd_element_refs", [])
        for k, (_html, refs) in enumerate(odd_elements):
            for path, ref in refs:
                where = {"table": "b_iblock_element", "column": "DETAIL_TEXT", "id": len(element_refs) + 1 + k}
                self.odd["content"].append({"path": path, "reference": ref, "where": where})

        def elements() -> list[tuple[object, ...]]:
            out: list[tuple[object, ...]] = []
            for i in range(1, n_el + 1):
                if i <= len(element_refs):
                    detail = f'<p>See <img src="/{element_refs[i - 1]}" alt=""> for details.</p>'
                    dtype = "html"
                elif i - len(element_refs) <= len(odd_elements):
                    detail = odd_elements[i - len(element_refs) - 1][0]
                    dtype = "html"
                else:
                    detail = f"Product {i} description."
                    dtype = "text"
                out.append(
                    (
                        i,
                        fmt_time(now - r.randint(86400, 900 * 86400)),
                        r.choice([1, 2, 3]),
                        None,
                        "Y",
                        500,
                        f"Product {i}",
                        r.choice(iblock_ids),
                        f"Short text of product {i}",
                        "text",
                        r.choice(iblock_ids),
                        detail,
                        dtype,
                        str(i),
                        f"product-{i}",
                    )
                )
            return out

        loader.add_big("b_file", rows)
        loader.add_big("b_file_duplicate", dup_rows)
        loader.add_big("b_iblock_element", elements())
        loader.add_rows(
            "b_clouds_file_bucket",
            ["ID", "ACTIVE", "SERVICE_ID", "BUCKET", "FILE_COUNT"],
            [(1, "Y", "amazon_s3", "acme-store-media", s["cloud"])],
        )
        # 1C exchange work folders (not in b_file; out of the orphan scope)
        ex = []
        ex.append((f"{self.up}/1c_catalog/import.xml", 30000))
        ex.append((f"{self.up}/1c_catalog/offers.xml", 12000))
        for i in range(6):
            ex.append(
                (f"{self.up}/1c_catalog/import_files/{i:02x}/{r.getrandbits(128):032x}.jpg", self._file_size())
            )
        for rel, size in ex:
            t.write(rel, self._blob(rel, size), mtime=now - 86400 * 2)
        t.write(f"{self.up}/1c_exchange/.htaccess", content.DENY_HTACCESS)
        t.write(f"{self.up}/1c_exchange/orders-20240101.xml", self._blob("x.xml", 4000), mtime=now - 86400 * 40)
        t.write(f"{self.up}/.htaccess", '<FilesMatch "\\.(php|phtml|php5)$">\n  Deny from all\n</FilesMatch>\n')
        self.uploads_truth = {
            "upload_dir": self.up,
            "bfile_rows": len(rows),
            "registered_files": s["phys"] + len(odd_registered),
            "registered_bytes": reg_bytes,
            "duplicates": duplicates,
            "duplicate_rows": len(dup_rows),
            "cloud_rows": len(cloud_rows),
            "cloud": cloud_rows,
            "orphans": orphans,
            "orphan_count": len(orphans),
            "orphan_bytes": sum(int(o["size"]) for o in orphans),  # type: ignore[call-overload]
            "content_referenced": sorted(content_paths),
            "odd_names": {
                "registered": sorted(odd_registered),
                "content_referenced": sorted(self.odd["content"], key=lambda c: (str(c["path"]), str(c["reference"]))),  # type: ignore[index]
                "orphans": sorted(str(p) for p in self.odd["orphans"]),
            },
            "orphan_scope": {
                "root": self.up,
                "excluded": [f"{self.up}/tmp", f"{self.up}/resize_cache", *self.exchange_dirs],
                "excluded_names": [".htaccess"],
            },
            "iblock_elements": n_el,
        }
        self.resize_sources = [
            (str(row[7]), str(row[8])) for row in rows[: min(base_rows, 20000)] if row[2] == "iblock"
        ]

    def _write_db_small(self, loader: DbLoader) -> None:
        cfg, r, now = self.cfg, self.rng, self.now
        installed = ["main"] + [mid for mid, m in self.modules.items() if m["installed"]]
        loader.add_rows(
            "b_module",
            ["ID", "DATE_ACTIVE"],
            [(mid, fmt_time(now - r.randint(100, 2000) * 86400)) for mid in installed],
        )
        opts: list[tuple[object, ...]] = [
            ("main", "upload_dir", self.up, None),
            ("main", "server_name", "localhost", None),
            ("main", "site_name", "Acme Store", None),
            ("main", "email_from", "shop@example.com", None),
            ("main", "agents_use_crontab", "Y" if cfg.cron_mode else "N", None),
            ("main", "check_agents", "N" if cfg.cron_mode else "Y", None),
            ("main", "update_site", "www.1c-bitrix.ru", None),
            ("main", "stable_versions_only", "Y", None),
            ("main", "strong_update_check", "Y", None),
            ("main", "server_uniq_id", f"{r.getrandbits(128):032x}", None),
            ("main", "~bxops_site_template", "main", None),
            ("main", "~bxops_db_version", self.core["version"], None),
            ("fileman", "use_medialibrary", "Y", None),
            ("main", "save_original_file_name", "Y" if cfg.odd_names else "N", None),
            ("main", "composite_mode", "Y", None),
        ]
        for mid, m in self.modules.items():
            if m["installed"]:
                opts.append((mid, "~bxops_db_version", str(m["version"]), None))
        loader.add_rows("b_option", ["MODULE_ID", "NAME", "VALUE", "DESCRIPTION"], opts)
        loader.add_rows(
            "b_option_site",
            ["MODULE_ID", "NAME", "SITE_ID", "VALUE"],
            [
                ("main", "site_name", "s1", "Acme Store"),
                ("main", "server_name", "s1", "localhost"),
                ("sale", "order_email", "s1", "orders@example.com"),
            ],
        )
        agents = [
            ("main", "CEvent::CleanUpAgent();", 86400),
            ("main", "CUser::CleanUpHitAuthAgent();", 86400),
            ("main", "CCaptchaAgent::DeleteOldCaptcha(3600);", 3600),
            ("main", "\\Bitrix\\Main\\Analytics\\CounterDataTable::submitData();", 60),
            ("search", "CSearch::CleanFreqAgent();", 86400),
            ("sale", "CSaleRecurring::AgentCheckRecurring();", 7200),
            ("sale", "\\Bitrix\\Sale\\Basket::deleteOldAgent(30);", 86400),
            ("subscribe", "CPostingTemplate::Execute();", 86400),
            ("forum", "CForumStat::CleanUp();", 86400),
            ("seo", "\\Bitrix\\Seo\\Engine\\YandexDirect::updateAgent();", 3600),
            ("clouds", "CCloudStorage::CleanUp();", 86400),
            ("security", "CSecuritySession::CleanUpAgent();", 1800),
        ]
        rows = []
        for i, (mid, name, interval) in enumerate(agents, 1):
            last = now - r.randint(30, min(interval, 3000))
            rows.append(
                (
                    i,
                    mid,
                    100,
                    name,
                    "Y" if i != 9 else "N",
                    fmt_time(last),
                    fmt_time(last + interval),
                    interval,
                    "N" if i % 4 == 0 else "Y",
                )
            )
        loader.add_rows(
            "b_agent",
            [
                "ID",
                "MODULE_ID",
                "SORT",
                "NAME",
                "ACTIVE",
                "LAST_EXEC",
                "NEXT_EXEC",
                "AGENT_INTERVAL",
                "IS_PERIOD",
            ],
            rows,
        )
        self.agents_truth = {
            "cron_mode": cfg.cron_mode,
            "count": len(rows),
            "active": sum(1 for row in rows if row[4] == "Y"),
        }

    # --- disposable ----------------------------------------------------------------------------------
    def _write_disposable(self) -> None:
        r, t, now = self.rng, self.tree, self.now
        total = self.sizes["caches"]
        share = {
            "bitrix/cache": 0.4,
            "bitrix/managed_cache": 0.25,
            "bitrix/stack_cache": 0.05,
            "bitrix/cache_image": 0.05,
            "bitrix/managed_flags": 0.05,
            "bitrix/local_cache": 0.05,
        }
        for folder, frac in share.items():
            for _ in range(max(5, int(total * frac))):
                h = f"{r.getrandbits(128):032x}"
                if folder == "bitrix/cache":
                    comp = r.choice(["news.list", "menu", "catalog.section", "breadcrumb"])
                    rel = f"{folder}/s1/bitrix/{comp}/{h[:3]}/{h}.php"
                elif folder == "bitrix/managed_cache":
                    table = r.choice(["b_option", "b_lang", "b_module_to_module", "agents", "orm_b_file"])
                    rel = f"{folder}/MYSQL/{table}/{h[:2]}/{h}.php"
                elif folder == "bitrix/cache_image":
                    rel = f"{folder}/{h[:3]}/{h}.jpg"
                else:
                    rel = f"{folder}/{h[:2]}/{h}.php"
                mtime = now - r.randint(60, 30 * 86400)
                if rel.endswith(".jpg"):
                    t.write(rel, self._blob(rel, r.randint(500, 5000)), mtime=mtime)
                else:
                    t.write(rel, content.cache_file(r, now, r.randint(20, 200)), mtime=mtime)
        # composite cache
        pages = [
            "index@.html",
            "about/index@.html",
            "news/index@.html",
            "catalog/index@.html",
            "contacts/index@.html",
            "catalog/index@page=2.html",
        ]
        n_pages = max(len(pages), int(total * 0.1))
        for i in range(len(pages), n_pages):
            pages.append(f"catalog/product-{i}/index@.html")
        cached_bytes = 0
        for p in pages:
            html = (
                f"<!DOCTYPE html><html><body>cached {p}<!--{r.getrandbits(64):x}--></body></html>\n"
                * r.randint(3, 40)
            )
            cached_bytes += t.write(
                f"bitrix/html_pages/localhost/{p}", html, mtime=now - r.randint(60, 86400 * 5)
            )
        t.write("bitrix/html_pages/.enabled", "")
        t.write("bitrix/html_pages/.config.php", content.composite_config("localhost"))
        t.write("bitrix/html_pages/.size", f"<? $size = {cached_bytes}; ?>")
        self.composite_truth = {
            "enabled": True,
            "config_files": [
                "bitrix/html_pages/.enabled",
                "bitrix/html_pages/.config.php",
                "bitrix/html_pages/.size",
            ],
            "cached_pages": len(pages),
            "cached_bytes": cached_bytes,
        }
        # bitrix/tmp: regenerated runtime files
        t.write(
            "bitrix/tmp/cacert.pem",
            "-----BEGIN CERTIFICATE-----\n" + "MIIB" * 300 + "\n-----END CERTIFICATE-----\n",
        )
        t.write(
            "bitrix/tmp/openssl.cnf",
            "[ req ]\ndistinguished_name = req_distinguished_name\n[ req_distinguished_name ]\n",
        )
        # bitrix/updates: a leftover unpacked update from long ago
        old = now - 200 * 86400
        for i in range(10):
            t.write(
                f"bitrix/updates/update_m{old}/iblock/lib/part{i}.php", "<?php\n// old update\n", mtime=old
            )
        # upload/tmp: BXTEMP-YYYY-MM-DD/HH folders named by their expiry; other old and young entries
        expired, live, old_other, young_other = [], [], [], []
        for hours in sorted(r.sample(range(2, 240), 6)):
            expired.append(self._bxtemp(now - hours * 3600, r))
        for hours in sorted(r.sample(range(1, 24), 3)):
            live.append(self._bxtemp(now + hours * 3600, r))
        expired, live = sorted(set(expired) - set(live)), sorted(set(live))
        for _ in range(4):
            rel = f"{self.up}/tmp/{r.getrandbits(32):08x}.tmp"
            t.write(rel, self._blob(rel, r.randint(100, 50000)), mtime=now - r.randint(8, 90) * 86400)
            old_other.append(rel)
        t.write(f"{self.up}/tmp/import_old/part1.xml", "<xml/>", mtime=now - 30 * 86400)
        os.utime(t.path(f"{self.up}/tmp/import_old"), (now - 30 * 86400, now - 30 * 86400))
        old_other.append(f"{self.up}/tmp/import_old")
        for _ in range(2):
            rel = f"{self.up}/tmp/{r.getrandbits(32):08x}.tmp"
            t.write(rel, self._blob(rel, r.randint(100, 5000)), mtime=now - r.randint(60, 3000))
            young_other.append(rel)
        self.upload_tmp_truth = {
            "expired": expired,
            "live": live,
            "old_other": sorted(old_other),
            "young_other": sorted(young_other),
        }
        # resize_cache: regenerable thumbnails of iblock pictures
        n_resize = max(20, min(len(self.resize_sources), self.sizes["caches"] // 3))
        for subdir, name in self.resize_sources[:n_resize]:
            width, height = r.choice([(80, 80), (160, 120), (300, 300), (600, 400)])
            rel = f"{self.up}/resize_cache/{subdir}/{width}_{height}_1/{name}"
            t.write(rel, self._blob(name, r.randint(500, 8000)), mtime=now - r.randint(3600, 200 * 86400))
        # mtimes of the BXTEMP folders themselves are not what matters: their names are

    def _bxtemp(self, expiry: int, r: Random) -> str:
        day = time.strftime("%Y-%m-%d", time.localtime(expiry))
        hour = time.strftime("%H", time.localtime(expiry))
        rel = f"{self.up}/tmp/BXTEMP-{day}/{hour}"
        for i in range(r.randint(1, 3)):
            sub = r.choice(["bxu/main", "1c_catalog", "bxu/iblock"])
            self.tree.write(
                f"{rel}/{sub}/{r.getrandbits(64):016x}{i}.tmp",
                self._blob("x.tmp", r.randint(100, 20000)),
                mtime=min(self.now, expiry - 3600 * 24),
            )
        return rel

    def _write_backups_and_logs(self) -> None:
        r, t, now = self.rng, self.tree, self.now
        t.write("bitrix/backup/index.php", "<?\n// protects the folder listing\n")
        t.write("bitrix/backup/.htaccess", content.DENY_HTACCESS)
        backups = []
        fates = self.fates["backups"]
        fates["keep"] += ["bitrix/backup/.htaccess", "bitrix/backup/index.php"]
        for days, fate in BACKUP_PLAN:
            ts = now - days * 86400 - r.randint(0, 3600)
            stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(ts))
            name = f"bitrix/backup/localhost_{stamp}_full_{r.getrandbits(32):08x}.tar.gz"
            size = t.write(name, self._blob("x.gz", r.randint(50_000, 400_000)), mtime=ts)
            backups.append({"path": name, "size": size, "mtime": ts})
            fates[fate].append(name)
            if days == 31:  # a multi-part archive: its parts share the set's fate
                part = name + ".1"
                size = t.write(part, self._blob("x.gz", r.randint(20_000, 100_000)), mtime=ts)
                backups.append({"path": part, "size": size, "mtime": ts})
                fates[fate].append(part)
        self.backups = sorted(backups, key=lambda b: str(b["path"]))
        # logs: updater history (kept, the console appends), custom exchange logs with rotation
        lines = []
        for days in (400, 300, 200, 120, 60):
            ts = now - days * 86400
            lines.append(f"{fmt_time(ts)} -  - exec CUpdateClient::GetUpdatesList")
            lines.append(f"{fmt_time(ts + 40)} - UPD_SUCCESS - Updated: iblock")
        size = t.write("bitrix/modules/updater.log", "\n".join(lines) + "\n", mtime=now - 60 * 86400)
        self.logs.append({"path": "bitrix/modules/updater.log", "size": size, "mtime": now - 60 * 86400})
        size = t.write(
            "bitrix/modules/updater_partner.log",
            f"{fmt_time(now - 90 * 86400)} -  - exec CUpdateClientPartner::GetUpdatesList\n",
            mtime=now - 90 * 86400,
        )
        self.logs.append(
            {"path": "bitrix/modules/updater_partner.log", "size": size, "mtime": now - 90 * 86400}
        )
        fates = self.fates["logs"]
        for base, days, fate in EXCHANGE_LOG_PLAN:
            ts = now - days * 86400
            name = f"local/logs/{base}"
            size = t.write(name, f"{fmt_time(ts)} import finished\n" * r.randint(50, 400), mtime=ts)
            self.logs.append({"path": name, "size": size, "mtime": ts})
            fates[fate].append(name)
        for base, days, fate in EXTRA_LOG_PLAN:  # no random draws: the rest of the site stays as it was
            ts = now - days * 86400
            name = "local/logs/" + base.format(date=time.strftime("%Y%m%d", time.localtime(ts)))
            data = f"{fmt_time(ts)} import started\n".encode() * 20
            if name.endswith(".gz"):
                data = gzip.compress(data, mtime=0)
            size = t.write(name, data, mtime=ts)
            self.logs.append({"path": name, "size": size, "mtime": ts})
            fates[fate].append(name)

    # --- planted problems ----------------------------------------------------------------------------
    def _write_planted(self) -> None:
        t, cfg = self.tree, self.cfg
        if not cfg.planted:
            return
        t.write(
            "restore.php", "<?\n// Bitrix restore script (left over after a site move)\ndie('restore');\n"
        )
        t.write(
            "bitrix_server_test.php", "<?\n// Bitrix server test (left over after installation)\nphpinfo();\n"
        )
        self.planted["leftover_files"] = ["bitrix_server_test.php", "restore.php"]
        os.chmod(t.path("local/ajax/handler.php"), 0o666)
        self.planted["world_writable"] = ["local/ajax/handler.php"]
        t.write(".git/HEAD", "ref: refs/heads/master\n")
        t.write(".git/config", "[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
        t.write(".git/description", "Unnamed repository\n")

    # --- update server -------------------------------------------------------------------------------
    def _next_version(self, current: str, step: int = 1) -> str:
        a, b, _ = vtuple(current)
        core_yy = vtuple(str(self.core["version"]))[0]
        return f"{max(a, core_yy)}.{(b // 100 + step) * 100}.{self.rng.choice([0, 100, 200])}"

    def _write_update_server(self) -> dict[str, object]:
        cfg = self.cfg
        server = Tree(cfg.packages_dir)
        if cfg.packages_dir.exists():
            shutil.rmtree(cfg.packages_dir)
        candidates = [
            m
            for m in UPDATE_PREFERENCE
            if m == "main" or (m in self.modules and self.modules[m]["location"] == "bitrix")
        ]
        chosen: dict[str, list[str]] = {}
        for mid in candidates[: max(0, cfg.updates)]:
            current = str(self.core["version"] if mid == "main" else self.modules[mid]["version"])
            first = self._next_version(current)
            if mid == "vote" and vtuple(first) < vtuple(VOTE_FIXED):
                first = "22.0.0"
            chosen[mid] = [first]
            if mid == "iblock":
                chosen[mid].append(self._next_version(first))
        for mid, target in cfg.update_targets.items():
            chosen[mid] = [target]
        index: dict[str, object] = {
            "schema": 1,
            "note": "bxops stand-in for the 1C-Bitrix update server; read by bitrix/bitrix.php",
            "client": {"name": "Acme Store LLC", "license": "1C-Bitrix: Small Business"},
            "update_system": None,
            "modules": {},
            "inactive_keys": [],
        }
        if cfg.license == "inactive":
            index["inactive_keys"] = [hashlib.md5(self.license_key.encode()).hexdigest()]
        db_tables: dict[str, list[str]] = {}
        mods: dict[str, list[dict[str, object]]] = {}
        for mid, versions in chosen.items():
            style = int(self.core["style"]) if mid == "main" else int(self.modules[mid]["style"])
            pkgs = []
            for v in versions:
                d = f"modules/{mid}/{v}"
                date = self._date_for(v)
                if mid == "main":
                    server.write(
                        f"{d}/files/classes/general/version.php", content.core_version_php(v, date, style)
                    )
                else:
                    server.write(f"{d}/files/install/version.php", content.module_version_php(v, date, style))
                for i in range(3):
                    server.write(
                        f"{d}/files/lib/service{i}.php", content.module_lib_class(mid, f"Service{i}", v)
                    )
                server.write(
                    f"{d}/files/lib/feature{v.replace('.', '_')}.php",
                    content.module_lib_class(mid, "Feature" + v.replace(".", "_"), v),
                )
                server.write(
                    f"{d}/files/lang/en/install/index.php",
                    content.lang_file(mid, content.MODULE_TITLES.get(mid, mid)),
                )
                table = f"b_{mid.replace('.', '_')}_bxops_u{v.replace('.', '_')}"
                server.write(f"{d}/updater{v}.php", content.updater_script(mid, v, table, mid == "iblock"))
                server.write(
                    f"{d}/description.en", f"<ul><li>{mid} {v}: bxops stand-in release notes.</li></ul>\n"
                )
                if cfg.fault_module == mid:
                    server.write(f"{d}/FAIL_HALFWAY", "")
                db_tables.setdefault(mid, []).append(table)
                pkg: dict[str, object] = {"version": v, "date": date, "dir": d}
                if mid not in ("main",) and "main" in chosen:
                    pkg["requires"] = {"main": chosen["main"][-1]}
                pkgs.append(pkg)
            mods[mid] = pkgs
        index["modules"] = mods
        # Marketplace (partner) releases, listed through CUpdateClientPartner; the core updater leaves them alone
        partner: dict[str, list[dict[str, object]]] = {}
        for mid, m in sorted(self.modules.items()):
            if not m["marketplace"] or not m["installed"] or cfg.updates <= 0:
                continue
            a, b, _ = vtuple(str(m["version"]))
            v = f"{a}.{b + 1}.0"
            d = f"partner/{mid}/{v}"
            server.write(f"{d}/files/install/version.php", content.module_version_php(v, self._date_for(v), 1))
            server.write(f"{d}/description.en", f"<ul><li>{mid} {v}: bxops stand-in partner release.</li></ul>\n")
            partner[mid] = [{"version": v, "date": self._date_for(v), "dir": d}]
        index["partner_modules"] = partner
        if cfg.update_system:
            v = "21.300.0"
            d = f"updater/{v}"
            server.write(
                f"{d}/files/bitrix/modules/main/classes/general/update_client.php",
                content.update_client_php(v, str(cfg.packages_dir)),
            )
            server.write(
                f"{d}/files/bitrix/modules/main/classes/general/update_client_partner.php",
                content.php_asset("update_client_partner.php"),
            )
            index["update_system"] = {"version": v, "date": self._date_for(v), "dir": d}
        server.write("index.json", json.dumps(index, indent=2, sort_keys=True) + "\n")
        server.write(
            "README.txt",
            "bxops stand-in for the 1C-Bitrix update server. Written by tools/sitegen;\n"
            "read by <docroot>/bitrix/bitrix.php (env BX_UPDATE_SERVER_DIR overrides this path).\n"
            "Fault markers: <package>/FAIL_HALFWAY, <package>/CORRUPT, PAUSE_BEFORE_DB, LICENSE_INACTIVE.\n",
        )
        return {
            "available": {mid: vs[-1] for mid, vs in sorted(chosen.items())},
            "partner_available": {mid: str(ps[-1]["version"]) for mid, ps in sorted(partner.items())},
            "versions": {mid: vs for mid, vs in sorted(chosen.items())},
            "update_system": {
                "current": "21.200.0",
                "available": index["update_system"]["version"]  # type: ignore[index]
                if index["update_system"]
                else None,
            },
            "packages_dir": str(cfg.packages_dir),
            "fault_module": cfg.fault_module,
            "db_tables": db_tables,
            "license": cfg.license,
        }

    # --- host-level files ----------------------------------------------------------------------------
    def _system_files(self) -> None:
        if not self.system_files:
            return
        cfg = self.cfg
        cron = Path(f"/etc/cron.d/bx_{cfg.db_name}")
        if cfg.cron_mode:
            script = cfg.docroot / "bitrix/modules/main/tools/cron_events.php"
            cron.write_text(
                f"* * * * * {cfg.site_user} test -f {script} && {{ /usr/bin/php -f {script}; }} "
                ">/dev/null 2>&1\n"
            )
            cron.chmod(0o644)
        elif cron.exists():
            cron.unlink()
        logdir = Path("/var/log/php")
        logdir.mkdir(parents=True, exist_ok=True)
        for name, days, fate in PHP_LOG_PLAN:
            p = logdir / name
            data = (
                f"[{fmt_time(self.now - days * 86400)}] PHP Deprecated: each() is deprecated\n".encode() * 40
            )
            p.write_bytes(data)
            os.utime(p, (self.now - days * 86400, self.now - days * 86400))
            self.logs.append({"path": str(p), "size": len(data), "mtime": self.now - days * 86400})
            self.fates["logs"][fate].append(str(p))

    def _ownership(self) -> None:
        cfg = self.cfg
        self.wrong_owner: list[dict[str, object]] = []
        self.site_ids: tuple[int, int] | None = None
        self.site_group = self.cfg.site_user
        if not self.is_root:
            return
        import grp
        import pwd

        pw = pwd.getpwnam(cfg.site_user)
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(cfg.docroot)], check=True)
        temp = Path(self.temp_dir)
        if temp.parent.is_dir():
            temp.mkdir(mode=0o755, exist_ok=True)
            os.chown(temp, pw.pw_uid, pw.pw_gid)
        if not cfg.planted:
            return
        try:
            www_uid, www_gid = pwd.getpwnam("www-data")[2:4]
        except KeyError:
            www_uid = www_gid = 33
        plan = [
            (f"{self.up}/1c_catalog", 0, 0),
            (f"{self.up}/1c_catalog/import.xml", 0, 0),
            (f"{self.up}/1c_catalog/offers.xml", www_uid, www_gid),
        ]
        self.site_ids = (pw.pw_uid, pw.pw_gid)
        self.site_group = _name(grp.getgrgid, pw.pw_gid)
        for rel, uid, gid in plan:
            os.chown(self.tree.path(rel), uid, gid)
            st = os.lstat(self.tree.path(rel))
            self.wrong_owner.append(
                {
                    "path": rel,
                    "uid": st.st_uid,
                    "gid": st.st_gid,
                    "owner": _name(pwd.getpwuid, st.st_uid),
                    "group": _name(grp.getgrgid, st.st_gid),
                }
            )

    # --- truth ---------------------------------------------------------------------------------------
    def _permission_fixes(self) -> dict[str, object]:
        """Each planted permission deviation and the fix the permissions role owes it, from what was planted:
        everything else was written by the site user with the core's modes (umask 022: 0644 / 0755)."""
        cfg = self.cfg
        site_user, site_group = cfg.site_user, self.site_group
        planted: dict[str, dict[str, Any]] = {}

        def entry(rel: str, uid: int, gid: int, mode: int, is_dir: bool) -> dict[str, Any]:
            return planted.setdefault(
                rel,
                {
                    "path": rel,
                    "type": "dir" if is_dir else "file",
                    "kinds": [],
                    "before": {"uid": uid, "gid": gid, "mode": f"{mode:04o}"},
                    "after": {"owner": site_user, "group": site_group, "mode": f"{mode:04o}"},
                },
            )

        if self.site_ids is not None:
            site_uid, site_gid = self.site_ids
            for wrong in self.wrong_owner:
                rel, uid, gid = str(wrong["path"]), int(str(wrong["uid"])), int(str(wrong["gid"]))
                is_dir = rel == f"{self.up}/1c_catalog"
                e = entry(rel, uid, gid, cfg.dir_mode if is_dir else cfg.file_mode, is_dir)
                if uid != site_uid:
                    e["kinds"].append("owner")
                if gid != site_gid:
                    e["kinds"].append("group")
        uid, gid = self.site_ids if self.site_ids is not None else (os.geteuid(), os.getegid())
        for ww in self.planted["world_writable"]:
            e = entry(str(ww), uid, gid, 0o666, False)
            e["kinds"].append("world_writable")
            e["after"]["mode"] = f"{cfg.file_mode:04o}"
        # secrets: .settings.php written 0644 when problems are planted (readable by others), else 0640 like
        # dbconn.php and license_key.php; the role's secret mode is 0600, so each of them is closed to 0600
        for rel, mode in sorted(self.secret_modes.items()):
            if mode != SECRET_MODE:
                e = entry(rel, uid, gid, mode, False)
                e["kinds"].append("secret")
                e["after"]["mode"] = f"{SECRET_MODE:04o}"
        deviations = sorted((d for d in planted.values() if d["kinds"]), key=lambda d: str(d["path"]))
        counts = {kind: sum(kind in d["kinds"] for d in deviations) for kind in PERMISSION_KINDS}
        counts["paths"] = len(deviations)
        return {
            "file_mode": f"0{cfg.file_mode:o}",
            "dir_mode": f"0{cfg.dir_mode:o}",
            "secret_mode": f"{SECRET_MODE:04o}",
            "deviations": deviations,
            "counts": counts,
        }

    def _cleanup_truth(self) -> dict[str, object]:
        """What each cleanup category must remove and keep, from the files as written (paths relative to the
        docroot, absolute for host logs; a folder stands for itself and everything below it)."""
        written = self.tree.written or {}

        def under(folder: str) -> list[str]:
            return sorted(p for p in written if p.startswith(folder + "/"))

        categories: dict[str, dict[str, object]] = {}
        for name, folder in bitrix_facts.CACHE_FOLDERS.items():
            categories[name] = {"root": folder, "remove": under(folder), "keep": []}
        pages = under(bitrix_facts.COMPOSITE_CACHE)
        categories["html_pages"] = {
            "root": bitrix_facts.COMPOSITE_CACHE,
            "remove": [p for p in pages if p.endswith(".html")],
            "keep": [p for p in pages if not p.endswith(".html")],
        }
        # cacert.pem and openssl.cnf were written just now: in use (read or written within a week), kept
        tmp_files = under(bitrix_facts.BITRIX_TMP)
        categories["bitrix_tmp"] = {"root": bitrix_facts.BITRIX_TMP, "remove": [], "keep": tmp_files}
        tmp = self.upload_tmp_truth
        categories["upload_tmp"] = {
            "root": f"{self.up}/{bitrix_facts.UPLOAD_TMP}",
            "remove": sorted(tmp["expired"] + tmp["old_other"]),
            "keep": sorted(tmp["live"] + tmp["young_other"]),
        }
        # opt-in: not among the default categories, so a default run keeps every thumbnail
        resize = f"{self.up}/{bitrix_facts.UPLOAD_RESIZE_CACHE}"
        categories["resize_cache"] = {"root": resize, "remove": under(resize), "keep": []}
        for name in ("backups", "logs"):
            categories[name] = {
                "root": bitrix_facts.CORE_BACKUPS if name == "backups" else None,
                "remove": sorted(self.fates[name]["remove"]),
                "keep": sorted(self.fates[name]["keep"]),
            }
        # never a category: the updater's leftovers and BitrixVM's local cache stay
        untouched = under(bitrix_facts.UPDATES) + under(bitrix_facts.LOCAL_CACHE)
        # orphaned uploads: the quarantine moves the old ones (planted days to years old), never the young ones
        young = set(self.young_orphans)
        planted: list[dict[str, object]] = self.uploads_truth["orphans"]  # type: ignore[assignment]
        orphans = [str(o["path"]) for o in planted]
        quarantine = {"quarantine": sorted(p for p in orphans if p not in young), "young": sorted(young)}
        return {"policy": CLEANUP_POLICY, "categories": categories, "untouched": untouched, "orphans": quarantine}

    def _backup_truth(self) -> dict[str, object]:
        """What a files backup without the disposable folders must hold, and the DB tables a dump must hold."""
        written = self.tree.written or {}
        excluded = tuple(f"{d}/" for d in self.disposable)
        kept = sorted((p, h, n) for p, (h, n) in written.items() if not p.startswith(excluded))
        digest = hashlib.sha256()
        for path, sha, _size in kept:
            digest.update(f"{path}\0{sha}\n".encode("utf-8", "surrogateescape"))
        return {
            "exclude": list(self.disposable),
            "files": len(kept),
            "bytes": sum(n for _p, _h, n in kept),
            "content_sha256": digest.hexdigest(),
            "content_digest": "sha256 over sorted lines '<path>\\0<sha256 of content>\\n', regular files only",
            "db_tables": sorted(DB_TABLE_RE.findall(DDL)),
        }

    def _custom_code(self) -> dict[str, object]:
        root = self.tree.root
        areas = ["local", "bitrix/php_interface", "bitrix/templates"]
        areas += [
            f"bitrix/components/{v}" for v in sorted(os.listdir(root + "/bitrix/components")) if v != "bitrix"
        ]
        areas += [f"bitrix/modules/{m}" for m in sorted(os.listdir(root + "/bitrix/modules")) if "." in m]
        files, bad = [], []
        for area in areas:
            for dirpath, dirnames, filenames in os.walk(root + "/" + area):
                dirnames.sort()
                if "/vendor" in dirpath[len(root) :]:
                    continue
                for fn in sorted(filenames):
                    if not fn.endswith(".php"):
                        continue
                    full = os.path.join(dirpath, fn)
                    rel = full[len(root) + 1 :]
                    files.append(rel)
                    with open(full, encoding="utf-8", errors="replace") as fh:
                        for lineno, line in enumerate(fh, 1):
                            for m in PHP8_RE.finditer(line):
                                bad.append({"path": rel, "line": lineno, "construct": m.group(1) + "()"})
        return {"areas": areas, "files": sorted(files), "php8_incompatible": bad}

    def _security(self) -> dict[str, object]:
        root = self.tree.root
        leftovers = [p for p in self.planted["leftover_files"] if os.path.exists(root + "/" + str(p))]
        ww = [
            p for p in self.planted["world_writable"] if os.stat(root + "/" + str(p)).st_mode & stat.S_IWOTH
        ]
        readable = []
        for rel in (
            "bitrix/.settings.php",
            "bitrix/.settings_extra.php",
            "bitrix/php_interface/dbconn.php",
            "local/php_interface/dbconn.php",
            "local/.settings.php",
            "bitrix/license_key.php",
        ):
            p = root + "/" + rel
            if os.path.exists(p) and os.stat(p).st_mode & stat.S_IROTH:
                readable.append(rel)
        return {
            "leftover_files": leftovers,
            "world_writable": ww,
            "readable_configs": readable,
            "wrong_owner": self.wrong_owner,
            "exposed_git": ".git" if os.path.isdir(root + "/.git") else None,
            "planted": self.cfg.planted,
        }

    def _finish_truth(self, updates: dict[str, object], loader: DbLoader, seconds: float) -> None:
        cfg, root = self.cfg, self.tree.root
        modules = {}
        for mid in sorted(self.modules):
            m = self.modules[mid]
            entry = {k: m[k] for k in ("version", "date", "path", "location", "marketplace", "installed")}
            if "shadowed" in m:
                entry["shadowed"] = m["shadowed"]
            modules[mid] = entry
        modules["main"] = {
            "version": self.core["version"],
            "date": self.core["date"],
            "path": "bitrix/modules/main",
            "location": "bitrix",
            "marketplace": False,
            "installed": True,
        }
        modules = dict(sorted(modules.items()))
        vulnerable = []
        vote = modules.get("vote")
        if vote and vtuple(str(vote["version"])) < vtuple(VOTE_FIXED):
            vulnerable.append({"module": "vote", "version": vote["version"], "cve": VOTE_CVE})
        disposable = {}
        for rel in self.disposable:
            files, size = walk_stats(root + "/" + rel)
            disposable[rel] = {"files": files, "bytes": size}
        truth: dict[str, object] = {
            "schema": SCHEMA,
            "generator": {
                "seed": cfg.seed,
                "size": cfg.size,
                "version": VERSION,
                "now": self.now,
                "upload_files": self.sizes["files"],
                "bfile_rows": self.sizes["rows"],
                "php8_clean": cfg.php8_clean,
                "planted_problems": cfg.planted,
                "db_mode": cfg.db_mode,
                "upload_dir": cfg.upload_dir,
                "odd_names": cfg.odd_names,
                "commented_versions": cfg.commented_versions,
            },
            "docroot": str(cfg.docroot),
            "site_user": cfg.site_user,
            "upload_dir": self.up,
            "db": {"name": cfg.db_name, "user": cfg.db_user, "host": cfg.db_host},
            "core": {"version": self.core["version"], "date": self.core["date"], "console": self.core["console"]},
            "modules": modules,
            "commented_versions": sorted(self.commented_versions, key=lambda c: str(c["path"])),
            "vulnerable_modules": vulnerable,
            "disposable": disposable,
            "composite": self.composite_truth,
            "upload_tmp": self.upload_tmp_truth,
            "uploads": self.uploads_truth,
            "backups": self.backups,
            "logs": sorted(self.logs, key=lambda x: str(x["path"])),
            "custom_code": self._custom_code(),
            "security": self._security(),
            "permissions": self._permission_fixes(),
            "cleanup": self._cleanup_truth(),
            "backup": self._backup_truth(),
            "pages": self.pages,
            "maintenance": {
                "option": {"module": "main", "name": "site_stopped", "closed": "Y"},
                "status": content.SITE_CLOSED_STATUS,
                "marker": content.SITE_CLOSED_MARKER,
                "page": "bitrix/modules/main/include/site_closed.php",
            },
            "agents": self.agents_truth,
            "monitoring": self.monitoring_truth,
            "updates": updates,
            "docs": self.docs_truth,
            "db_rows": dict(sorted(loader.row_counts.items())),
        }
        self.truth = truth
        cfg.truth.parent.mkdir(parents=True, exist_ok=True)
        tmp = cfg.truth.with_suffix(".tmp")
        tmp.write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(cfg.truth)
        self.elapsed = seconds
