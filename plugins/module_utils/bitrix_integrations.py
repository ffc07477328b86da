# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a 1C-Bitrix site is wired to and the site's own code, read on the host for the audit (schema 2).

``integrations``: the 1C exchange (catalog/sale ``1C_*`` options, the exchange page), payment systems
(``b_sale_pay_system_action``, keys in ``b_sale_bizval``), delivery services (``b_sale_delivery_srv``), REST
applications (``b_rest_app``), incoming webhooks (``b_rest_ap``) and outgoing event handlers (``b_rest_event``),
Marketplace modules, SMTP (kernel settings ``smtp`` and ``b_main_mail_sender``), cloud buckets
(``b_clouds_file_bucket``), the site's cron jobs and the agents of its own code. For every key: WHERE it lives
(``table.column (ID=n)``), never its value: secret columns are never printed, URLs lose their query and user
info, cron commands lose ``password=``-like arguments.

``components``: modules in ``local/modules`` and dotted (Marketplace) modules, custom components, site templates,
overridden vendor component templates, each with its file count, size and last change.

Files are read through the docroot's Anchor (never through a symlink); the kernel settings are parsed as data;
no PHP runs. A missing table (module not installed) is an empty list with a note in ``errors``.
"""
from __future__ import annotations

import os
import re
import stat
import time
from typing import Any, Callable

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor, UnsafePath
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import SiteConfigError, load_settings

REDACTED = "<redacted>"
EXCHANGE_PAGE = "bitrix/admin/1c_exchange.php"
EXCHANGE_MODULES = ("catalog", "sale")
#: a name of a setting whose value is a secret (never printed even when it looks like a 1C option)
SECRET_NAME = re.compile(r"pass|secret|token|key|auth|login", re.I)
#: the four columns of b_rest_app that hold an application's credentials
REST_APP_KEYS = ("APPLICATION_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "SHARED_KEY")

_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", re.I)
_URL_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s'\"?#]*)\?[^\s'\"#]*", re.I)
_ARG_SECRET = re.compile(r"(?i)((?:--)?(?:password|passwd|pass|token|secret|api_?key|key)[=:])[^\s'\"&;]+")

Rows = Callable[[str], "list[list[str | None]]"]


def redact(text: str) -> str:
    """A command or URL with its secrets cut out: user info, query strings, ``password=...``-like arguments."""
    text = _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)
    text = _URL_QUERY.sub(r"\1?" + REDACTED, text)
    return _ARG_SECRET.sub(r"\1" + REDACTED, text)


def php_unserialize_keys(data: str) -> dict[str, str]:
    """Flat ``key -> scalar`` pairs of a PHP serialize() string (nested arrays flattened, last key wins).

    Enough to learn which keys a stored setting has; never evaluates anything; stops at what it cannot read."""
    out: dict[str, str] = {}
    raw = data.encode("utf-8", "surrogateescape")
    stack: list[list[Any]] = []  # per open array: [slots left (keys and values), the pending key]

    def put(value: str | None) -> None:
        if not stack:
            return
        top = stack[-1]
        if top[0] % 2 == 0:
            top[1] = value
        elif value is not None and top[1] is not None:
            out[top[1]] = value
        top[0] -= 1

    pos = 0
    while pos < len(raw):
        kind = raw[pos:pos + 1]
        if kind == b"}":
            if not stack:
                break
            stack.pop()
            pos += 1
            continue
        if kind == b"a":
            match = re.match(rb"a:(\d+):\{", raw[pos:])
            if not match:
                break
            put(None)
            stack.append([2 * int(match.group(1)), None])
            pos += match.end()
            continue
        if kind == b"s":
            match = re.match(rb's:(\d+):"', raw[pos:])
            if not match:
                break
            start = pos + match.end()
            end = start + int(match.group(1))
            put(raw[start:end].decode("utf-8", "replace"))
            pos = end + 2  # the closing '";'
            continue
        match = re.match(rb"([idb]):([^;]*);|N;", raw[pos:])
        if not match:
            break
        put(match.group(2).decode("ascii", "replace") if match.group(1) else "")
        pos += match.end()
    return out


def _yes(value: str | None) -> bool:
    return str(value or "").upper() == "Y"


def _int(value: str | None) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


class _Section:
    """Runs one section's queries; a failure (table missing: module not installed) becomes one error line."""

    def __init__(self, rows: Rows | None, errors: list[str]) -> None:
        self.rows = rows
        self.errors = errors

    def query(self, what: str, sql: str) -> list[list[str | None]]:
        if self.rows is None:
            return []
        try:
            return self.rows(sql)
        except RuntimeError as exc:
            self.errors.append("%s: %s" % (what, str(exc).strip().splitlines()[-1] if str(exc).strip() else exc))
            return []


def _exchange(anchor: Anchor, q: _Section) -> dict[str, Any]:
    try:
        page = anchor.lstat(EXCHANGE_PAGE)
        url = "/" + EXCHANGE_PAGE if stat.S_ISREG(page.st_mode) else None
    except (OSError, UnsafePath):
        url = None
    options = []
    last: dict[str, int | None] = {"last_success": None, "last_attempt": None}
    for module, name, value in q.query(
            "1C exchange options (b_option)",
            "SELECT MODULE_ID, NAME, VALUE FROM b_option WHERE MODULE_ID IN ('catalog', 'sale') "
            "AND (NAME LIKE '1C\\_%' OR NAME LIKE 'last\\_export\\_time\\_%')"):
        if module not in EXCHANGE_MODULES or name is None:
            continue
        if name.startswith("last_export_time_committed_"):
            last["last_success"] = max(last["last_success"] or 0, _int(value) or 0) or None
        elif name.startswith("last_export_time_"):
            last["last_attempt"] = max(last["last_attempt"] or 0, _int(value) or 0) or None
        elif name.startswith("1C_"):
            shown = None if SECRET_NAME.search(name) else value
            options.append({"module": module, "name": name, "value": shown})
    options.sort(key=lambda o: (o["module"], o["name"]))
    return dict({"url": url, "options": options}, **last)


def _payment_systems(q: _Section) -> list[dict[str, Any]]:
    keys: dict[str, list[str]] = {}
    for consumer, code in q.query("payment system keys (b_sale_bizval)",
                                  "SELECT CONSUMER_KEY, CODE_KEY FROM b_sale_bizval"):
        if consumer and consumer.startswith("PAYSYSTEM_"):
            keys.setdefault(consumer, []).append(
                "b_sale_bizval.PROVIDER_VALUE (CONSUMER_KEY=%s, CODE_KEY=%s)" % (consumer, code))
    out = []
    for pid, name, action, active in q.query("payment systems (b_sale_pay_system_action)",
                                             "SELECT ID, NAME, ACTION_FILE, ACTIVE FROM b_sale_pay_system_action"):
        out.append({"id": _int(pid), "name": name, "handler": action, "active": _yes(active),
                    "keys": sorted(keys.get("PAYSYSTEM_%s" % pid, []))})
    return sorted(out, key=lambda p: p["id"] or 0)


def _secret_keys(serialized: str | None) -> bool:
    return any(SECRET_NAME.search(k) and v for k, v in php_unserialize_keys(serialized or "").items())


def _delivery(q: _Section) -> list[dict[str, Any]]:
    out = []
    for did, name, cls, active, config in q.query(
            "delivery services (b_sale_delivery_srv)",
            "SELECT ID, NAME, CLASS_NAME, ACTIVE, CONFIG FROM b_sale_delivery_srv"):
        out.append({"id": _int(did), "name": name, "class": cls, "active": _yes(active),
                    "keys": ["b_sale_delivery_srv.CONFIG (ID=%s)" % did] if _secret_keys(config) else []})
    return sorted(out, key=lambda d: d["id"] or 0)


def _rest(q: _Section) -> dict[str, list[dict[str, Any]]]:
    apps = [{"id": _int(aid), "code": code, "name": name, "version": version,
             "scope": sorted(s for s in (scope or "").split(",") if s), "active": _yes(active),
             "keys": ["b_rest_app.%s (ID=%s)" % (column, aid) for column in REST_APP_KEYS]}
            for aid, code, name, version, scope, active in q.query(
                "REST applications (b_rest_app)", "SELECT ID, CODE, APP_NAME, VERSION, SCOPE, ACTIVE FROM b_rest_app")]
    perms: dict[str, list[str]] = {}
    for hook_id, perm in q.query("webhook scopes (b_rest_ap_permission)",
                                 "SELECT PASSWORD_ID, PERM FROM b_rest_ap_permission"):
        if hook_id is not None and perm:
            perms.setdefault(hook_id, []).append(perm)
    hooks_in = [{"id": _int(hid), "title": title, "user_id": _int(uid), "scope": sorted(perms.get(hid or "", [])),
                 "active": _yes(active), "keys": ["b_rest_ap.PASSWORD (ID=%s)" % hid]}
                for hid, title, uid, active in q.query(
                    "incoming webhooks (b_rest_ap)", "SELECT ID, TITLE, USER_ID, ACTIVE FROM b_rest_ap")]
    hooks_out = [{"id": _int(eid), "event": event, "handler": redact(handler or ""), "app_id": _int(app),
                  "keys": ["b_rest_event.APPLICATION_TOKEN (ID=%s)" % eid] if token else []}
                 for eid, event, handler, app, token in q.query(
                     "outgoing event handlers (b_rest_event)",
                     "SELECT ID, EVENT_NAME, EVENT_HANDLER, APP_ID, APPLICATION_TOKEN FROM b_rest_event")]
    return {"rest_apps": sorted(apps, key=lambda a: a["id"] or 0),
            "webhooks_in": sorted(hooks_in, key=lambda h: h["id"] or 0),
            "webhooks_out": sorted(hooks_out, key=lambda h: h["id"] or 0)}


def _smtp(docroot: str, q: _Section) -> dict[str, Any]:
    enabled: bool | None = None
    settings_file = None
    try:
        settings = load_settings(docroot)
        smtp = settings.values.get("smtp")
        if isinstance(smtp, dict):
            value = smtp.get("value")
            enabled = bool(value.get("enabled")) if isinstance(value, dict) else None
            for rel in reversed(settings.files):  # the file that sets it last
                with Anchor(docroot) as anchor:
                    if b"'smtp'" in anchor.read_bytes(rel, limit=1 << 20) or b'"smtp"' in anchor.read_bytes(
                            rel, limit=1 << 20):
                        settings_file = rel
                        break
    except (SiteConfigError, OSError, UnsafePath) as exc:
        q.errors.append("SMTP (kernel settings): %s" % exc)
    senders = []
    for sid, email, options in q.query("SMTP senders (b_main_mail_sender)",
                                       "SELECT ID, EMAIL, OPTIONS FROM b_main_mail_sender"):
        flat = php_unserialize_keys(options or "")
        if not flat.get("server"):
            continue
        senders.append({"id": _int(sid), "email": email, "server": flat.get("server"),
                        "port": _int(flat.get("port")), "protocol": flat.get("protocol"), "login": flat.get("login"),
                        "keys": ["b_main_mail_sender.OPTIONS (ID=%s)" % sid] if flat.get("password") else []})
    return {"enabled": enabled, "settings_file": settings_file, "senders": sorted(senders, key=lambda s: s["id"] or 0)}


def _buckets(q: _Section) -> list[dict[str, Any]]:
    out = []
    for bid, service, bucket, active, settings in q.query(
            "cloud buckets (b_clouds_file_bucket)",
            "SELECT ID, SERVICE_ID, BUCKET, ACTIVE, SETTINGS FROM b_clouds_file_bucket"):
        out.append({"id": _int(bid), "service": service, "bucket": bucket, "active": _yes(active),
                    "keys": ["b_clouds_file_bucket.SETTINGS (ID=%s)" % bid] if _secret_keys(settings) else []})
    return sorted(out, key=lambda b: b["id"] or 0)


def _agents(q: _Section) -> list[dict[str, Any]]:
    """Agents of the site's own code: no module (init.php) or a dotted (vendor) module."""
    out = []
    for aid, module, name, interval, active in q.query(
            "agents (b_agent)", "SELECT ID, MODULE_ID, NAME, AGENT_INTERVAL, ACTIVE FROM b_agent"):
        if module and "." not in module:
            continue
        out.append({"id": _int(aid), "module": module or None, "name": redact(name or ""),
                    "interval": _int(interval), "active": _yes(active)})
    return sorted(out, key=lambda a: a["id"] or 0)


CRON_SPECIAL = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def _cron_line(line: str, with_user: bool) -> tuple[str, str | None, str] | None:
    line = line.strip()
    if not line or line.startswith("#") or _CRON_ENV.match(line):
        return None
    parts = line.split()
    fields = 1 if parts[0] in CRON_SPECIAL else 5
    need = fields + (1 if with_user else 0) + 1
    if len(parts) < need:
        return None
    schedule = " ".join(parts[:fields])
    user = parts[fields] if with_user else None
    command = line.split(None, fields + (1 if with_user else 0))[-1]
    return schedule, user, command


def cron_jobs(cron_dirs: list[str], site_user: str, docroot: str) -> list[dict[str, Any]]:
    """The site's cron jobs: the site user's crontab, and system cron files' lines run as the site user or
    naming the docroot. System files, not the docroot: read as root reads them (symlinks skipped)."""
    out = []
    for folder in cron_dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        user_crontabs = os.path.basename(folder.rstrip("/")) == "crontabs"
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path) or (user_crontabs and name != site_user):
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    lines = handle.read(1 << 20).splitlines()
            except OSError:
                continue
            for line in lines:
                parsed = _cron_line(line, with_user=not user_crontabs)
                if parsed is None:
                    continue
                schedule, user, command = parsed
                user = user or site_user
                if user_crontabs or user == site_user or docroot in command:
                    out.append({"file": path, "schedule": schedule, "user": user, "command": redact(command)})
    return sorted(out, key=lambda c: (c["file"], c["schedule"]))


def collect_integrations(docroot: str, rows: Rows | None, modules: dict[str, dict[str, Any]],
                         cron_dirs: list[str], site_user: str) -> dict[str, Any]:
    """The ``integrations`` section; ``rows`` runs a query (None: DB unreachable, DB parts empty)."""
    errors: list[str] = []
    q = _Section(rows, errors)
    if rows is None:
        errors.append("database unreachable: the 1C options, sale, REST, SMTP senders, buckets and agents are unknown")
    with Anchor(docroot) as anchor:
        exchange = _exchange(anchor, q)
    result: dict[str, Any] = {"exchange_1c": exchange, "payment_systems": _payment_systems(q),
                              "delivery_services": _delivery(q)}
    result.update(_rest(q))
    result["marketplace_modules"] = sorted(mid for mid, info in modules.items() if info.get("marketplace"))
    result["smtp"] = _smtp(docroot, q)
    result["cloud_buckets"] = _buckets(q)
    result["agents"] = _agents(q)
    result["cron_jobs"] = cron_jobs(cron_dirs, site_user, docroot)
    result["errors"] = errors
    return result


# --- the site's own code -------------------------------------------------------------------------------
def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _subdirs(anchor: Anchor, rel: str) -> list[str]:
    try:
        return [e.name for e in anchor.scandir(rel) if e.is_dir]
    except (OSError, UnsafePath):
        return []


def _measure(anchor: Anchor, rel: str) -> dict[str, Any]:
    files = size = 0
    newest = 0.0
    for entry in anchor.walk(rel, on_error=lambda _rel, _exc: None):
        if entry.is_file:
            files += 1
            size += entry.st.st_size
            newest = max(newest, entry.st.st_mtime)
    return {"files": files, "bytes": size, "last_change": _iso(newest) if files else None}


def collect_components(docroot: str) -> dict[str, Any]:
    """The ``components`` section: modules, components, site templates, overridden vendor templates."""
    found: dict[str, list[dict[str, Any]]] = {"modules": [], "components": [], "templates": [], "overrides": []}
    with Anchor(docroot) as anchor:
        def add(kind: str, rel: str, name: str, **extra: Any) -> None:
            entry = {"name": name, "path": rel}
            entry.update(_measure(anchor, rel))
            entry.update(extra)
            found[kind].append(entry)

        for name in _subdirs(anchor, "local/modules"):
            add("modules", "local/modules/" + name, name)
        for name in _subdirs(anchor, "bitrix/modules"):
            if "." in name:
                add("modules", "bitrix/modules/" + name, name)
        for base in ("local/components", "bitrix/components"):
            for namespace in _subdirs(anchor, base):
                if base == "bitrix/components" and namespace == "bitrix":
                    continue  # the vendor's own components
                for name in _subdirs(anchor, "%s/%s" % (base, namespace)):
                    add("components", "%s/%s/%s" % (base, namespace, name), "%s:%s" % (namespace, name))
        for base in ("local/templates", "bitrix/templates"):
            for template in _subdirs(anchor, base):
                rel = "%s/%s" % (base, template)
                if not (base == "bitrix/templates" and template == ".default"):
                    add("templates", rel, template)
                for component in _subdirs(anchor, rel + "/components/bitrix"):
                    for tpl in _subdirs(anchor, "%s/components/bitrix/%s" % (rel, component)):
                        add("overrides", "%s/components/bitrix/%s/%s" % (rel, component, tpl),
                            "bitrix:" + component, site_template=template, template=tpl)
    for entries in found.values():
        entries.sort(key=lambda e: e["path"])
    return found
