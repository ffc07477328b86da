"""Command line of the generator: python3 -m bxsitegen --help."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import VERSION
from .gen import Config, Generator


def _target(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected MODULE=VERSION, e.g. iblock=23.100.0")
    mod, ver = text.split("=", 1)
    return mod.strip(), ver.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m bxsitegen",
        description="Generate a 1C-Bitrix stand-in site (files, MariaDB DB, update server, truth.json).",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="random seed; same seed (and --now) gives the same site"
    )
    p.add_argument(
        "--size",
        choices=["small", "medium", "large"],
        default="small",
        help="small: ~1.4k uploads (tests); medium: 100k; large: 1M (benchmarks)",
    )
    p.add_argument("--upload-files", type=int, help="files under upload/ data folders (overrides --size)")
    p.add_argument("--bfile-rows", type=int, help="rows in b_file (overrides --size)")
    p.add_argument("--cache-files", type=int, help="files spread over the cache folders")
    p.add_argument("--docroot", type=Path, default=Path("/home/bitrix/www"))
    p.add_argument("--site-user", default="bitrix", help="owner of the files (when run as root)")
    p.add_argument(
        "--truth",
        type=Path,
        default=Path("/var/lib/bxops-sitegen/truth.json"),
        help="where truth.json goes (outside the docroot)",
    )
    p.add_argument(
        "--db-mode",
        choices=["mysql", "sqlfile", "none"],
        default="mysql",
        help="mysql: create DB+user via the mysql client as root; sqlfile: write <truth dir>/<db>.sql",
    )
    p.add_argument("--db-name", default="sitemanager")
    p.add_argument("--db-user", default="bitrix0")
    p.add_argument("--now", type=int, default=0, help="epoch seconds taken as 'now' (default: the real now)")
    p.add_argument("--php8-clean", action="store_true", help="no each()/create_function() in custom code")
    p.add_argument(
        "--no-planted-problems",
        dest="planted",
        action="store_false",
        help="skip leftovers, world-writable/wrong-owner files, readable .settings.php, .git",
    )
    p.add_argument(
        "--agents",
        choices=["cron", "hits"],
        default="cron",
        help="cron: main.agents_use_crontab=Y, BX_CRONTAB_SUPPORT, /etc/cron.d/bx_<db>; hits: on hits",
    )
    p.add_argument("--updates", type=int, default=3, help="modules with pending updates (0 = none)")
    p.add_argument(
        "--update-target",
        type=_target,
        action="append",
        default=[],
        metavar="MODULE=VERSION",
        help="add/override a pending update (repeatable)",
    )
    p.add_argument("--update-system", action="store_true", help="a pending package for the update system")
    p.add_argument("--fault-module", help="plant FAIL_HALFWAY in this module's update package ([CL04])")
    p.add_argument("--packages-dir", type=Path, default=Path("/opt/bxops-update-server"))
    p.add_argument("--core-version", help="main module version (default: chosen by seed, PHP 7.4 era)")
    p.add_argument(
        "--console",
        choices=["auto", "yes", "no"],
        default="auto",
        help="write the update console bitrix/bitrix.php (auto: only for main 25.100.200 and later, like the "
        "real product; older cores are updated through CUpdateClient's steps)",
    )
    p.add_argument("--vote-version", help="vote module version (default below 21.0.100: CVE-2022-27228)")
    p.add_argument("--license", choices=["active", "absent", "inactive"], default="active")
    p.add_argument(
        "--no-system-files",
        dest="system_files",
        action="store_false",
        default=None,
        help="do not write /etc/cron.d/bx_<db> and rotated logs in /var/log/php",
    )
    p.add_argument(
        "--upload-dir",
        default="upload",
        metavar="NAME",
        help="the site's upload folder (b_option main.upload_dir, the folder on disk, every reference in the DB "
        "and the templates); default upload",
    )
    p.add_argument(
        "--odd-names",
        action="store_true",
        help="add upload names with spaces, quotes, Cyrillic and a newline, and content references with spaces, "
        "srcset, %%-encoding, HTML entities, an absolute own-domain URL and CSS url() (truth: uploads.odd_names)",
    )
    p.add_argument(
        "--commented-versions",
        action="store_true",
        help="commented-out version lines above the real one in main's and some modules' version.php "
        "(truth: commented_versions)",
    )
    p.add_argument(
        "--monitoring-shapes",
        action="store_true",
        help="plant b_event with unsent mail, overdue agents and sale's 1C exchange records (truth: monitoring)",
    )
    p.add_argument("--force", action="store_true", help="wipe a non-empty docroot first")
    p.add_argument("--version", action="version", version=f"bxsitegen {VERSION}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = Config(
        seed=args.seed,
        size=args.size,
        docroot=args.docroot,
        site_user=args.site_user,
        truth=args.truth,
        db_mode=args.db_mode,
        db_name=args.db_name,
        db_user=args.db_user,
        now=args.now,
        upload_files=args.upload_files,
        bfile_rows=args.bfile_rows,
        cache_files=args.cache_files,
        php8_clean=args.php8_clean,
        planted=args.planted,
        cron_mode=args.agents == "cron",
        updates=args.updates,
        update_targets=dict(args.update_target),
        update_system=args.update_system,
        fault_module=args.fault_module,
        packages_dir=args.packages_dir,
        core_version=args.core_version,
        console=args.console,
        vote_version=args.vote_version,
        license=args.license,
        system_files=args.system_files,
        force=args.force,
        upload_dir=args.upload_dir,
        odd_names=args.odd_names,
        commented_versions=args.commented_versions,
        monitoring_shapes=args.monitoring_shapes,
    )
    t0 = time.time()
    truth = Generator(cfg).run()
    up = truth["uploads"]
    assert isinstance(up, dict)
    print(
        f"bxsitegen: site in {cfg.docroot} (core {truth['core']['version']}, "  # type: ignore[index]
        f"{up['registered_files']} registered + {up['orphan_count']} orphaned uploads, "
        f"{up['bfile_rows']} b_file rows) in {time.time() - t0:.1f}s; truth: {cfg.truth}",
        file=sys.stderr,
    )
    return 0
