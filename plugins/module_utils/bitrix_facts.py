# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about 1C-Bitrix sites, written once: what is disposable, what is data, where the core keeps what.

The one Python source the modules import (audit, cleanup, orphans, backup) and the controller reads through
the `bxops.bitrix.disposable_folders` filter (the backup role's defaults). Source: the domain brief
(bitrix-maintenance, section 3 "What is disposable and what is data"): the folders the core's own backup
leaves out, plus the two BitrixVM leaves out too. Paths are relative to the docroot; upload-side folders are
relative to the upload folder (option main.upload_dir, default "upload").
Stdlib only: this runs on the managed host.
"""
from __future__ import annotations

#: Bitrix's default upload folder (option main.upload_dir when empty).
DEFAULT_UPLOAD_DIR = "upload"

#: Caches the core rebuilds on demand, by the cleanup category that empties them.
CACHE_FOLDERS = {
    "cache": "bitrix/cache",
    "managed_cache": "bitrix/managed_cache",
    "stack_cache": "bitrix/stack_cache",
    "managed_flags": "bitrix/managed_flags",
    "cache_image": "bitrix/cache_image",
}
#: The composite cache: on while `.enabled` exists; only cached pages are disposable, these names stay.
COMPOSITE_CACHE = "bitrix/html_pages"
COMPOSITE_KEEP = (".enabled", ".config.php", ".size")
#: Runtime files the core regenerates (cacert.pem, openssl.cnf): low risk, not zero.
BITRIX_TMP = "bitrix/tmp"
#: The updater's downloads.
UPDATES = "bitrix/updates"
#: The core's (and BitrixVM's) own backups: pruned by retention only.
CORE_BACKUPS = "bitrix/backup"
#: BitrixVM's local cache.
LOCAL_CACHE = "bitrix/local_cache"
#: The core modules (code, not content).
MODULES = "bitrix/modules"

#: Disposable folders on the core's side, in the domain brief's order (the core's list, then BitrixVM's).
DISPOSABLE_BITRIX = (
    "bitrix/cache",
    "bitrix/cache_image",
    "bitrix/managed_cache",
    "bitrix/managed_flags",
    "bitrix/stack_cache",
    COMPOSITE_CACHE,
    BITRIX_TMP,
    UPDATES,
    LOCAL_CACHE,
    CORE_BACKUPS,
)
#: Disposable folders inside the upload folder: temporary uploads (BXTEMP-* expiry folders) and thumbnails.
UPLOAD_TMP = "tmp"
UPLOAD_RESIZE_CACHE = "resize_cache"
DISPOSABLE_UPLOAD = (UPLOAD_TMP, UPLOAD_RESIZE_CACHE)
#: Folders of the upload folder that hold no b_file uploads (temporary files, thumbnails, 1C exchange work
#: files): never orphans.
UPLOAD_SERVICE_FOLDERS = (UPLOAD_TMP, UPLOAD_RESIZE_CACHE, "1c_catalog", "1c_exchange")


def disposable_folders(upload_dir: str = DEFAULT_UPLOAD_DIR) -> list[str]:
    """Every disposable folder relative to the docroot, the upload-side ones under `upload_dir`."""
    upload = upload_dir.strip("/") or DEFAULT_UPLOAD_DIR
    return [*DISPOSABLE_BITRIX, *(f"{upload}/{name}" for name in DISPOSABLE_UPLOAD)]


#: The disposable folders of a site with the default upload folder.
DISPOSABLE_FOLDERS = tuple(disposable_folders())
