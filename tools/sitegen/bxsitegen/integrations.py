"""What the site is wired to and the site's own code, planted with known values (issue 16's living docs).

Integrations as Bitrix stores them:
- the 1C exchange: `catalog` and `sale` options `1C_*` in `b_option`, the page `/bitrix/admin/1c_exchange.php`;
- payment systems `b_sale_pay_system_action` with their keys in `b_sale_bizval` (business values:
  `CONSUMER_KEY` PAYSYSTEM_<id>, `CODE_KEY`, `PROVIDER_VALUE`), delivery services `b_sale_delivery_srv` (keys in
  the serialized `CONFIG`);
- REST applications `b_rest_app` (`CLIENT_SECRET`, `APPLICATION_TOKEN`), incoming webhooks `b_rest_ap`
  (`PASSWORD` is the webhook code, scopes in `b_rest_ap_permission`), outgoing event handlers `b_rest_event`
  (`APPLICATION_TOKEN`; a token in the handler URL's query);
- SMTP: `smtp` enabled in `bitrix/.settings_extra.php`, the server in `b_main_mail_sender.OPTIONS` (serialized);
- cloud storage buckets `b_clouds_file_bucket` (`SETTINGS`: the access keys);
- the site user's crontab (with system files), agents of the site's own code in `b_agent`.
Custom code: extra components, a legacy site template outside local/, an overridden vendor template, each
folder's files given one known modification time.

Secret values are drawn from their own random generator (the rest of the site is the same with or without them)
and listed in truth `docs.secrets`: no report or document may contain any of them.
Truth key `docs`: `integrations`, `components` (the exact lists the audit and the docs must show), `secrets`.
"""

from __future__ import annotations

import contextlib
import os
from random import Random
from typing import TYPE_CHECKING, Any

from . import content
from .db import DbLoader

if TYPE_CHECKING:  # pragma: no cover
    from .gen import Generator

EXCHANGE_URL = "/bitrix/admin/1c_exchange.php"
REDACTED = "<redacted>"
CORE_TEMPLATE = ".default"

DDL = """CREATE TABLE b_sale_pay_system_action (
  ID int(11) NOT NULL AUTO_INCREMENT,
  PAY_SYSTEM_ID int(11) DEFAULT NULL,
  NAME varchar(255) NOT NULL,
  PSA_NAME varchar(255) DEFAULT NULL,
  CODE varchar(50) DEFAULT NULL,
  SORT int(11) NOT NULL DEFAULT 100,
  DESCRIPTION text DEFAULT NULL,
  ACTION_FILE varchar(255) DEFAULT NULL,
  PS_MODE varchar(20) DEFAULT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  IS_CASH char(1) NOT NULL DEFAULT 'N',
  ENTITY_REGISTRY_TYPE varchar(255) DEFAULT NULL,
  XML_ID varchar(255) DEFAULT NULL,
  PRIMARY KEY (ID)
);
CREATE TABLE b_sale_bizval (
  CODE_KEY varchar(50) NOT NULL,
  CONSUMER_KEY varchar(50) NOT NULL,
  PERSON_TYPE_ID int(11) NOT NULL DEFAULT 0,
  PROVIDER_KEY varchar(50) NOT NULL,
  PROVIDER_VALUE varchar(255) DEFAULT NULL,
  PRIMARY KEY (CODE_KEY, CONSUMER_KEY, PERSON_TYPE_ID)
);
CREATE TABLE b_sale_delivery_srv (
  ID int(11) NOT NULL AUTO_INCREMENT,
  CODE varchar(50) DEFAULT NULL,
  PARENT_ID int(11) DEFAULT NULL,
  NAME varchar(255) NOT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  DESCRIPTION text DEFAULT NULL,
  SORT int(11) NOT NULL DEFAULT 100,
  CONFIG longtext DEFAULT NULL,
  CLASS_NAME varchar(255) NOT NULL,
  CURRENCY char(3) DEFAULT NULL,
  XML_ID varchar(255) DEFAULT NULL,
  PRIMARY KEY (ID)
);
CREATE TABLE b_rest_app (
  ID int(11) NOT NULL AUTO_INCREMENT,
  CLIENT_ID varchar(128) NOT NULL,
  CODE varchar(128) NOT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  INSTALLED char(1) NOT NULL DEFAULT 'N',
  URL varchar(1000) NOT NULL,
  VERSION varchar(4) DEFAULT '1',
  SCOPE varchar(2000) NOT NULL,
  STATUS char(1) NOT NULL DEFAULT 'F',
  SHARED_KEY varchar(32) DEFAULT NULL,
  CLIENT_SECRET varchar(100) DEFAULT NULL,
  APP_NAME varchar(1000) DEFAULT NULL,
  APPLICATION_TOKEN varchar(50) DEFAULT '',
  PRIMARY KEY (ID)
);
CREATE TABLE b_rest_ap (
  ID int(11) NOT NULL AUTO_INCREMENT,
  USER_ID int(11) NOT NULL,
  PASSWORD varchar(50) NOT NULL,
  ACTIVE char(1) NOT NULL DEFAULT 'Y',
  TITLE varchar(255) DEFAULT '',
  COMMENT varchar(255) DEFAULT '',
  DATE_CREATE datetime DEFAULT NULL,
  DATE_LOGIN datetime DEFAULT NULL,
  LAST_IP varchar(255) DEFAULT NULL,
  PRIMARY KEY (ID)
);
CREATE TABLE b_rest_ap_permission (
  ID int(11) NOT NULL AUTO_INCREMENT,
  PASSWORD_ID int(11) NOT NULL,
  PERM varchar(100) NOT NULL,
  PRIMARY KEY (ID)
);
CREATE TABLE b_rest_event (
  ID int(11) NOT NULL AUTO_INCREMENT,
  APP_ID int(11) DEFAULT NULL,
  EVENT_NAME varchar(255) NOT NULL,
  EVENT_HANDLER varchar(255) NOT NULL,
  USER_ID int(11) DEFAULT 0,
  TITLE varchar(255) DEFAULT '',
  COMMENT varchar(255) DEFAULT '',
  DATE_CREATE datetime DEFAULT NULL,
  APPLICATION_TOKEN varchar(50) DEFAULT '',
  CONNECTOR_ID varchar(255) DEFAULT '',
  INTEGRATION_ID int(11) DEFAULT NULL,
  PRIMARY KEY (ID)
);
CREATE TABLE b_main_mail_sender (
  ID int(11) NOT NULL AUTO_INCREMENT,
  NAME varchar(255) DEFAULT NULL,
  EMAIL varchar(255) NOT NULL,
  USER_ID int(11) NOT NULL DEFAULT 0,
  IS_CONFIRMED tinyint(4) NOT NULL DEFAULT 0,
  IS_PUBLIC tinyint(4) NOT NULL DEFAULT 0,
  OPTIONS text DEFAULT NULL,
  PRIMARY KEY (ID)
);
ALTER TABLE b_clouds_file_bucket ADD COLUMN SETTINGS text DEFAULT NULL;
"""

#: catalog's and sale's 1C exchange settings (real option names), module -> [(name, value)]
EXCHANGE_OPTIONS = {
    "catalog": [("1C_IBLOCK_TYPE", "catalog"), ("1C_SITE_LIST", "s1"), ("1C_INTERVAL", "30"),
                ("1C_FILE_SIZE_LIMIT", "204800"), ("1C_USE_ZIP", "Y"), ("1C_GROUP_PERMISSIONS", "1,6")],
    "sale": [("1C_SALE_SITE_LIST", "s1"), ("1C_EXPORT_PAYED_ORDERS", "N"), ("1C_SALE_USE_ZIP", "Y"),
             ("1C_SALE_GROUP_PERMISSIONS", "1,6"), ("1C_REPLACE_CURRENCY", "руб.")],  # noqa: RUF001
}


def php_serialize(value: object) -> str:
    """PHP's serialize() for str/int/bool/dict (how Bitrix stores CONFIG, OPTIONS, SETTINGS)."""
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, dict):
        inner = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
        return f"a:{len(value)}:{{{inner}}}"
    text = str(value)
    return f's:{len(text.encode("utf-8"))}:"{text}";'


def _secret(rng: Random, n: int = 32, alphabet: str = "abcdef0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _iso(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def plant(gen: Generator, loader: DbLoader) -> dict[str, object]:
    """Plant the integrations (DB rows, settings, crontab) and the extra custom code; the truth `docs`."""
    rng = Random(f"integrations-{gen.cfg.seed}")
    secrets: list[str] = []

    def secret(n: int = 32, alphabet: str = "abcdef0123456789") -> str:
        value = _secret(rng, n, alphabet)
        secrets.append(value)
        return value

    loader.add(DDL)
    integrations: dict[str, Any] = {}

    # --- 1C exchange
    rows = [(module, name, value, None) for module, opts in EXCHANGE_OPTIONS.items() for name, value in opts]
    loader.add_rows("b_option", ["MODULE_ID", "NAME", "VALUE", "DESCRIPTION"], rows)
    integrations["exchange_1c"] = {
        "url": EXCHANGE_URL,
        "options": sorted(({"module": m, "name": n, "value": v} for m, n, v, _ in rows),
                          key=lambda o: (o["module"], o["name"])),
    }

    # --- payment systems and their keys (business values)
    pay = [
        (1, "Наличными курьеру", "cash", "N", "Y", {}),
        (2, "Банковская карта (ЮKassa)", "yandexcheckout", "bank_card", "Y",
         {"YANDEX_CHECKOUT_SHOP_ID": str(rng.randint(100000, 999999)), "YANDEX_CHECKOUT_SECRET_KEY": None}),
        (3, "Сбербанк онлайн", "sberbankonline", None, "N",
         {"SBERBANK_LOGIN": "acme-api", "SBERBANK_PASSWORD": None}),
    ]
    bizval = []
    payment_truth = []
    for pid, name, action, _mode, active, keys in pay:
        keys_truth = []
        for code, value in keys.items():
            is_secret = value is None
            bizval.append((code, f"PAYSYSTEM_{pid}", 0, "VALUE", secret(32) if is_secret else value))
            keys_truth.append(f"b_sale_bizval.PROVIDER_VALUE (CONSUMER_KEY=PAYSYSTEM_{pid}, CODE_KEY={code})")
        payment_truth.append({"id": pid, "name": name, "handler": action, "active": active == "Y",
                              "keys": sorted(keys_truth)})
    loader.add_rows("b_sale_pay_system_action",
                    ["ID", "PAY_SYSTEM_ID", "NAME", "PSA_NAME", "CODE", "SORT", "ACTION_FILE", "PS_MODE", "ACTIVE",
                     "IS_CASH", "ENTITY_REGISTRY_TYPE"],
                    [(pid, pid, name, name, None, 100 * pid, action, mode, active, "Y" if action == "cash" else "N",
                      "ORDER") for pid, name, action, mode, active, _ in pay])
    loader.add_rows("b_sale_bizval", ["CODE_KEY", "CONSUMER_KEY", "PERSON_TYPE_ID", "PROVIDER_KEY",
                                      "PROVIDER_VALUE"], bizval)
    integrations["payment_systems"] = payment_truth

    # --- delivery services: keys inside the serialized CONFIG
    sdek_key = secret(24)
    delivery = [
        (1, "Без доставки", "\\Bitrix\\Sale\\Delivery\\Services\\EmptyDeliveryService", "Y",
         {"MAIN": {"CURRENCY": "RUB"}}, False),
        (2, "Самовывоз", "\\Bitrix\\Sale\\Delivery\\Services\\Configurable", "Y",
         {"MAIN": {"PRICE": "0", "PERIOD": {"FROM": "0", "TO": "1"}}}, False),
        (3, "СДЭК", "\\Sale\\Handlers\\Delivery\\AdditionalHandler", "Y",
         {"MAIN": {"SERVICE_TYPE": "CDEK", "API_LOGIN": "acme-shop", "API_KEY": sdek_key}}, True),
        (4, "Acme Courier", "\\Acme\\Delivery\\Handler", "N",
         {"MAIN": {"ZONE": "msk", "TOKEN": secret(40)}}, True),
    ]
    loader.add_rows("b_sale_delivery_srv", ["ID", "CODE", "PARENT_ID", "NAME", "ACTIVE", "SORT", "CONFIG",
                                            "CLASS_NAME", "CURRENCY"],
                    [(did, None, 0, name, active, 100 * did, php_serialize(config), cls, "RUB")
                     for did, name, cls, active, config, _ in delivery])
    integrations["delivery_services"] = [
        {"id": did, "name": name, "class": cls, "active": active == "Y",
         "keys": [f"b_sale_delivery_srv.CONFIG (ID={did})"] if has_key else []}
        for did, name, cls, active, _config, has_key in delivery]

    # --- REST applications, incoming webhooks, outgoing event handlers
    apps = [(1, "acme.crmsync", "CRM sync", "3", "crm,sale,user", "Y"),
            (2, "vendor.analytics", "Analytics", "1", "sale", "N")]
    loader.add_rows("b_rest_app", ["ID", "CLIENT_ID", "CODE", "ACTIVE", "INSTALLED", "URL", "VERSION", "SCOPE",
                                   "STATUS", "SHARED_KEY", "CLIENT_SECRET", "APP_NAME", "APPLICATION_TOKEN"],
                    [(aid, f"app.{secret(14, '0123456789abcdef.')}", code, active, "Y",
                      f"https://{code.split('.')[0]}.example.com/app/", version, scope, "P", secret(32),
                      secret(50, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), name, secret(32))
                     for aid, code, name, version, scope, active in apps])
    rest_keys = ["b_rest_app.APPLICATION_TOKEN", "b_rest_app.CLIENT_ID", "b_rest_app.CLIENT_SECRET",
                 "b_rest_app.SHARED_KEY"]
    integrations["rest_apps"] = [
        {"id": aid, "code": code, "name": name, "version": version, "scope": sorted(scope.split(",")),
         "active": active == "Y", "keys": [f"{k} (ID={aid})" for k in rest_keys]}
        for aid, code, name, version, scope, active in apps]
    hooks = [(1, 1, "1C sync (order status)", "Y", ["sale", "catalog"]),
             (2, 1, "Old landing form", "N", ["crm"])]
    loader.add_rows("b_rest_ap", ["ID", "USER_ID", "PASSWORD", "ACTIVE", "TITLE", "COMMENT", "DATE_CREATE"],
                    [(hid, uid, secret(16, "abcdefghijklmnopqrstuvwxyz0123456789"), active, title, "",
                      f"2024-03-0{hid} 10:00:00") for hid, uid, title, active, _ in hooks])
    loader.add_rows("b_rest_ap_permission", ["PASSWORD_ID", "PERM"],
                    [(hid, perm) for hid, _u, _t, _a, perms in hooks for perm in perms])
    integrations["webhooks_in"] = [
        {"id": hid, "title": title, "user_id": uid, "scope": sorted(perms), "active": active == "Y",
         "keys": [f"b_rest_ap.PASSWORD (ID={hid})"]} for hid, uid, title, active, perms in hooks]
    events = [(1, 1, "ONSALEORDERSAVED", "https://crm.example.com/bitrix/hook/order", secret(24)),
              (2, 0, "ONUSERADD", "https://hooks.example.net/new-user", "")]
    loader.add_rows("b_rest_event", ["ID", "APP_ID", "EVENT_NAME", "EVENT_HANDLER", "USER_ID", "DATE_CREATE",
                                     "APPLICATION_TOKEN"],
                    [(eid, app or None, name, f"{url}?token={token}" if token else url, 1,
                      "2024-05-01 12:00:00", token) for eid, app, name, url, token in events])
    integrations["webhooks_out"] = [
        {"id": eid, "event": name, "handler": f"{url}?{REDACTED}" if token else url, "app_id": app or None,
         "keys": [f"b_rest_event.APPLICATION_TOKEN (ID={eid})"] if token else []}
        for eid, app, name, url, token in events]

    # --- Marketplace modules (dotted vendor.module): planted by the generator's module plan
    integrations["marketplace_modules"] = sorted(mid for mid, m in gen.modules.items() if m["marketplace"])

    # --- SMTP: enabled in .settings_extra.php, the server in b_main_mail_sender
    gen.tree.write("bitrix/.settings_extra.php", "<?php\nreturn " + content.php_var_export(
        {"smtp": {"value": {"enabled": True, "debug": False, "log_file": "/var/log/php/smtp.log"}}}) + ";\n",
        mode=0o600)  # a kernel settings file: the secret mode the permissions role keeps
    smtp_server = "smtp.yandex.ru"
    loader.add_rows("b_main_mail_sender", ["ID", "NAME", "EMAIL", "USER_ID", "IS_CONFIRMED", "IS_PUBLIC", "OPTIONS"],
                    [(1, "Acme Store", "shop@example.com", 1, 1, 1, php_serialize(
                        {"smtp": {"server": smtp_server, "port": 465, "protocol": "smtps",
                                  "login": "shop@example.com", "password": secret(16), "limit": 500}}))])
    integrations["smtp"] = {
        "enabled": True, "settings_file": "bitrix/.settings_extra.php",
        "senders": [{"id": 1, "email": "shop@example.com", "server": smtp_server, "port": 465,
                     "protocol": "smtps", "login": "shop@example.com",
                     "keys": ["b_main_mail_sender.OPTIONS (ID=1)"]}],
    }

    # --- cloud buckets: the generator's bucket 1 gets its keys, a second (inactive) bucket
    loader.add(f"UPDATE b_clouds_file_bucket SET SETTINGS = '{php_serialize({'ACCESS_KEY': secret(20, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), 'SECRET_KEY': secret(40)})}' WHERE ID = 1;\n")  # noqa: E501
    loader.add_rows("b_clouds_file_bucket", ["ID", "ACTIVE", "SERVICE_ID", "BUCKET", "FILE_COUNT", "SETTINGS"],
                    [(2, "N", "google_storage", "acme-store-archive", 0,
                      php_serialize({"PROJECT_ID": "acme-123", "ACCESS_KEY": secret(20), "SECRET_KEY": secret(40)}))])
    integrations["cloud_buckets"] = [
        {"id": 1, "service": "amazon_s3", "bucket": "acme-store-media", "active": True,
         "keys": ["b_clouds_file_bucket.SETTINGS (ID=1)"]},
        {"id": 2, "service": "google_storage", "bucket": "acme-store-archive", "active": False,
         "keys": ["b_clouds_file_bucket.SETTINGS (ID=2)"]},
    ]

    # --- agents of the site's own code (module-less from init.php, dotted modules)
    agents = [(101, "acme.tools", "\\Acme\\Tools\\PriceSync::agent();", 3600, "Y"),
              (102, "acme.delivery", "\\Acme\\Delivery\\Tracking::refreshAgent();", 1800, "Y"),
              (103, None, "AcmeCleanOldCarts();", 86400, "N")]
    from .gen import fmt_time as fmt

    now = gen.now
    loader.add_rows("b_agent", ["ID", "MODULE_ID", "SORT", "NAME", "ACTIVE", "LAST_EXEC", "NEXT_EXEC",
                                "AGENT_INTERVAL", "IS_PERIOD"],
                    [(aid, mod, 100, name, active, fmt(now - 60), fmt(now - 60 + interval), interval, "N")
                     for aid, mod, name, interval, active in agents])
    # truth `agents` counts every b_agent row: these too
    gen.agents_truth["count"] = int(gen.agents_truth["count"]) + len(agents)
    gen.agents_truth["active"] = int(gen.agents_truth["active"]) + sum(1 for a in agents if a[4] == "Y")
    integrations["agents"] = [{"id": aid, "module": mod, "name": name, "interval": interval,
                               "active": active == "Y"} for aid, mod, name, interval, active in agents]

    # --- cron jobs: the generator's agents job in /etc/cron.d and the site user's crontab (system files only)
    cfg = gen.cfg
    cron: list[dict[str, object]] = []
    if gen.system_files:
        script = cfg.docroot / "bitrix/modules/main/tools/cron_events.php"
        if cfg.cron_mode:
            cron.append({"file": f"/etc/cron.d/bx_{cfg.db_name}", "schedule": "* * * * *", "user": cfg.site_user,
                         "command": f"test -f {script} && {{ /usr/bin/php -f {script}; }} >/dev/null 2>&1"})
        token = secret(24)
        jobs = [("30 3 * * *", f"/usr/bin/php -f {cfg.docroot}/local/cron/sitemap.php >/dev/null 2>&1",
                 f"/usr/bin/php -f {cfg.docroot}/local/cron/sitemap.php >/dev/null 2>&1"),
                ("*/30 * * * *", f"curl -fsS 'https://crm.example.com/api/sync?token={token}' >/dev/null 2>&1",
                 f"curl -fsS 'https://crm.example.com/api/sync?{REDACTED}' >/dev/null 2>&1")]
        crontab = f"/var/spool/cron/crontabs/{cfg.site_user}"
        os.makedirs(os.path.dirname(crontab), exist_ok=True)
        with open(crontab, "w", encoding="utf-8") as handle:
            handle.write("# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# m h dom mon dow command\n"
                         "MAILTO=\"\"\n" + "".join(f"{when} {cmd}\n" for when, cmd, _ in jobs))
        os.chmod(crontab, 0o600)
        if gen.is_root:
            import pwd

            with contextlib.suppress(KeyError):
                os.chown(crontab, pwd.getpwnam(cfg.site_user).pw_uid, -1)
        cron += [{"file": crontab, "schedule": when, "user": cfg.site_user, "command": shown}
                 for when, _cmd, shown in jobs]
    gen.tree.write("local/cron/sitemap.php", "<?php\n// builds sitemap.xml at night\n")
    integrations["cron_jobs"] = sorted(cron, key=lambda c: (str(c["file"]), str(c["schedule"])))

    components = _plant_code(gen, rng)
    return {"integrations": integrations, "components": components, "secrets": sorted(set(secrets))}


def _plant_code(gen: Generator, rng: Random) -> dict[str, object]:
    """More of the site's own code, then each custom folder's files get one known modification time."""
    t = gen.tree
    t.write("local/components/acme/order.form/.description.php",
            '<?\n$arComponentDescription = array("NAME" => "Order form");\n')
    t.write("local/components/acme/order.form/component.php",
            '<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();\n'
            '$arResult["FIELDS"] = array("NAME", "PHONE");\n$this->IncludeComponentTemplate();\n')
    t.write("local/components/acme/order.form/templates/.default/template.php",
            '<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>\n<form method="post"></form>\n')
    t.write("bitrix/templates/shop_2016/header.php", "<!DOCTYPE html><html><head><title>Acme 2016</title></head>"
            "<body>\n")
    t.write("bitrix/templates/shop_2016/footer.php", "</body></html>\n")
    t.write("bitrix/templates/shop_2016/description.php",
            '<?\n$arTemplate = array("NAME" => "Shop 2016", "DESCRIPTION" => "");\n')
    t.write("local/templates/main/components/bitrix/menu/top/template.php",
            '<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>\n<ul class="top-menu"></ul>\n')

    modules = sorted(mid for mid, m in gen.modules.items() if m["location"] == "local" or "." in mid)
    items: dict[str, list[tuple[str, str, dict[str, object]]]] = {
        "modules": [(str(gen.modules[mid]["path"]), mid, {"id": mid}) for mid in modules],
        "components": [("bitrix/components/acme/catalog.filter", "acme:catalog.filter", {}),
                       ("local/components/acme/order.form", "acme:order.form", {}),
                       ("local/components/acme/promo.banner", "acme:promo.banner", {})],
        "templates": [("bitrix/templates/shop_2016", "shop_2016", {}), ("local/templates/main", "main", {})],
        "overrides": [
            ("bitrix/templates/.default/components/bitrix/news.list/.default", "bitrix:news.list",
             {"site_template": ".default", "template": ".default"}),
            ("local/templates/main/components/bitrix/catalog.section/.default", "bitrix:catalog.section",
             {"site_template": "main", "template": ".default"}),
            ("local/templates/main/components/bitrix/menu/top", "bitrix:menu",
             {"site_template": "main", "template": "top"}),
        ],
    }
    written = t.written or {}
    out: dict[str, object] = {}
    # deepest folders first: an override's files keep its own time inside its site template's folder
    stamped: dict[str, float] = {}
    for kind in ("modules", "components", "templates", "overrides"):
        for path, _name, _extra in items[kind]:
            stamped[path] = gen.now - rng.randint(2, 900) * 86400 - rng.randint(0, 86399)
    for path in sorted(stamped, key=len):
        for rel in written:
            if rel.startswith(path + "/"):
                os.utime(t.path(rel), (stamped[path], stamped[path]))
    for kind in ("modules", "components", "templates", "overrides"):
        entries = []
        for path, name, extra in items[kind]:
            files = [rel for rel in written if rel.startswith(path + "/")]
            newest = max(_owner_time(rel, stamped) for rel in files)
            entry: dict[str, object] = {"name": name, "path": path, "files": len(files),
                                        "bytes": sum(written[rel][1] for rel in files), "last_change": _iso(newest)}
            entry.update(extra)
            entries.append(entry)
        out[kind] = sorted(entries, key=lambda e: str(e["path"]))
    return out


def _owner_time(rel: str, stamped: dict[str, float]) -> float:
    """The time the deepest stamped folder holding ``rel`` gave it."""
    owner = max((p for p in stamped if rel.startswith(p + "/")), key=len)
    return stamped[owner]
