"""Text of the files the generator lays down: version files in the styles real releases use, kernel settings,
module skeletons, site pages, templates and components (PHP 7.4 and 8.x compatible unless planted)."""

from __future__ import annotations

import json
import random
from pathlib import Path

PHP_DIR = Path(__file__).with_name("php")

# install/version.php styles seen in real releases: <? vs <?php, quotes, spacing, array( vs [, CRLF.
MODULE_VERSION_STYLES = 6
CORE_VERSION_STYLES = 3


def php_asset(name: str) -> str:
    return (PHP_DIR / name).read_text(encoding="utf-8")


def module_version_php(version: str, date: str, style: int) -> str:
    if style == 0:
        return (
            f'<?\n$arModuleVersion = array(\n\t"VERSION" => "{version}",\n'
            f'\t"VERSION_DATE" => "{date}"\n);\n?>'
        )
    if style == 1:
        return (
            f"<?php\n$arModuleVersion = array(\n    'VERSION' => '{version}',\n"
            f"    'VERSION_DATE' => '{date}',\n);\n"
        )
    if style == 2:
        return f'<?\n$arModuleVersion = [\n\t"VERSION" => "{version}",\n\t"VERSION_DATE" => "{date}"\n];\n'
    if style == 3:
        return f'<?php $arModuleVersion = array("VERSION"=>"{version}","VERSION_DATE"=>"{date}");?>'
    if style == 4:
        return (
            f'<?\r\n$arModuleVersion = array(\r\n\t"VERSION" => "{version}",\r\n'
            f'\t"VERSION_DATE" => "{date}",\r\n);\r\n?>\r\n'
        )
    return f"<?php\n\n$arModuleVersion = [\n\t'VERSION' => '{version}',\n\t'VERSION_DATE' => '{date}',\n];\n"


def core_version_php(version: str, date: str, style: int) -> str:
    if style == 0:
        return f'<?\ndefine("SM_VERSION","{version}");\ndefine("SM_VERSION_DATE","{date}");\n?>'
    if style == 1:
        return f"<?php\ndefine('SM_VERSION', '{version}');\ndefine('SM_VERSION_DATE', '{date}');\n"
    return f'<?php define( "SM_VERSION" , "{version}" ); define( "SM_VERSION_DATE" , "{date}" );\n'


def module_version_php_commented(version: str, date: str, newer: str, older: str) -> str:
    """install/version.php as found on hand-edited sites: earlier values left in comments (//, #, /* */) above
    and inside the assignment PHP really runs, which sets `version`."""
    return (
        "<?\n"
        "/*\n"
        f'$arModuleVersion = array(\n\t"VERSION" => "{newer}",\n\t"VERSION_DATE" => "{date}"\n);\n'
        "*/\n"
        f'# $arModuleVersion = array("VERSION" => "{older}", "VERSION_DATE" => "{date}");\n'
        f'// $arModuleVersion["VERSION"] = "{newer}";\n'
        "$arModuleVersion = array(\n"
        f'\t// "VERSION" => "{newer}",\n'
        f'\t"VERSION" => "{version}",\n'
        f'\t"VERSION_DATE" => "{date}"\n'
        ");\n?>"
    )


def core_version_php_commented(version: str, date: str, newer: str, older: str) -> str:
    """main's version.php with earlier SM_VERSION lines commented out above the real one."""
    return (
        "<?\n"
        f'// define("SM_VERSION","{newer}");\n'
        f"# define('SM_VERSION', '{older}');\n"
        f'/* define("SM_VERSION","{newer}");\n   define("SM_VERSION_DATE","{date}"); */\n'
        f'define("SM_VERSION","{version}");\n'
        f'define("SM_VERSION_DATE","{date}");\n'
        "?>"
    )


def update_client_php(version: str, server_dir: str = "/opt/bxops-update-server") -> str:
    """The update system's client (CUpdateClient stand-in) at one update-system version, reading the
    stand-in update server from server_dir unless BX_UPDATE_SERVER_DIR is set (several sites on one host
    each get their own server: --packages-dir)."""
    text = php_asset("update_client.php").replace("%UPDATE_SYSTEM_VERSION%", version)
    return text.replace("'/opt/bxops-update-server' : $server", repr(str(server_dir)) + " : $server")


def php_var_export(value: object, indent: int = 0) -> str:
    """PHP's var_export() layout for the kernel settings file."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = ["array ("]
        for key, item in value.items():
            lines.append(f"{pad}  {php_var_export(key)} => {php_var_export(item, indent + 1).lstrip()},")
        lines.append(f"{pad})")
        return "\n".join(lines)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "NULL"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def settings_php(db: dict[str, str], crypto_key: str) -> str:
    data = {
        "utf_mode": {"value": True, "readonly": True},
        "cache_flags": {"value": {"config_options": 3600, "site_domain": 3600}, "readonly": False},
        "cookies": {"value": {"secure": False, "http_only": True}, "readonly": False},
        "exception_handling": {
            "value": {
                "debug": False,
                "handled_errors_types": 4437,
                "exception_errors_types": 4437,
                "ignore_silence": False,
                "assertion_throws_exception": True,
                "assertion_error_type": 256,
                "log": {"settings": {"file": "/var/log/php/exceptions.log", "log_size": 1000000}},
            },
            "readonly": False,
        },
        "connections": {
            "value": {
                "default": {
                    "className": "\\Bitrix\\Main\\DB\\MysqliConnection",
                    "host": db["host"],
                    "database": db["name"],
                    "login": db["user"],
                    "password": db["password"],
                    "options": 2,
                },
            },
            "readonly": True,
        },
        "crypto": {"value": {"crypto_key": crypto_key}, "readonly": True},
        "composer": {"value": {"config_path": "local/composer.json"}, "readonly": False},
    }
    return "<?php\nreturn " + php_var_export(data) + ";\n"


def dbconn_php(db: dict[str, str], file_mode: int, dir_mode: int, cron: bool, temp_dir: str) -> str:
    cron_line = 'define("BX_CRONTAB_SUPPORT", true);\n' if cron else '//define("BX_CRONTAB_SUPPORT", true);\n'
    return (
        "<?\n"
        f'$DBType = "mysql";\n$DBHost = "{db["host"]}";\n$DBLogin = "{db["user"]}";\n'
        f'$DBPassword = "{db["password"]}";\n$DBName = "{db["name"]}";\n'
        "$DBDebug = false;\n$DBDebugToFile = false;\n"
        '\ndefine("DBPersistent", false);\ndefine("DELAY_DB_CONNECT", true);\ndefine("CACHED_menu", 3600);\n'
        f'define("CACHED_b_file", 3600);\ndefine("CACHED_b_file_bucket_size", 10);\n'
        f'define("BX_FILE_PERMISSIONS", 0{file_mode:o});\ndefine("BX_DIR_PERMISSIONS", 0{dir_mode:o});\n'
        "@umask(~(BX_FILE_PERMISSIONS|BX_DIR_PERMISSIONS)&0777);\n"
        'define("BX_UTF", true);\n'
        'define("BX_USE_MYSQLI", true);\n'
        f"{cron_line}"
        f'define("BX_TEMPORARY_FILES_DIRECTORY", "{temp_dir}");\n'
        'define("BX_DISABLE_INDEX_PAGE", true);\n'
        "?>"
    )


def license_key_php(key: str) -> str:
    return f'<? $LICENSE_KEY = "{key}"; ?>'


MODULE_TITLES = {
    "iblock": "Information blocks",
    "fileman": "Site Explorer",
    "search": "Search",
    "sale": "e-Store",
    "catalog": "Commercial Catalog",
    "currency": "Currencies",
    "vote": "Polls, Votes",
    "form": "Web forms",
    "forum": "Forum",
    "blog": "Blogs",
    "subscribe": "Subscription, Newsletters",
    "seo": "Search engine optimization",
    "perfmon": "Performance Monitor",
    "security": "Proactive Protection",
    "clouds": "Cloud Storages",
    "compression": "Compression",
    "highloadblock": "Highload infoblocks",
    "rest": "REST API",
    "ui": "UI Library",
    "socialservices": "Social Services",
    "translate": "Localization",
    "sender": "Email Marketing",
    "bitrixcloud": "Bitrix Cloud Services",
    "advertising": "Advertising, banners",
    "landing": "Sites24",
}


def module_class_name(module_id: str) -> str:
    return module_id.replace(".", "_")


def module_install_index(module_id: str, title: str) -> str:
    cls = module_class_name(module_id)
    return (
        "<?php\nuse Bitrix\\Main\\Localization\\Loc;\n\nLoc::loadMessages(__FILE__);\n\n"
        f"if (class_exists('{cls}'))\n{{\n\treturn;\n}}\n\n"
        f"class {cls} extends CModule\n{{\n"
        f"\tpublic $MODULE_ID = '{module_id}';\n\tpublic $MODULE_VERSION;\n\tpublic $MODULE_VERSION_DATE;\n"
        f"\tpublic $MODULE_NAME = '{title}';\n\tpublic $MODULE_DESCRIPTION = '{title}';\n\n"
        "\tpublic function __construct()\n\t{\n\t\t$arModuleVersion = array();\n"
        "\t\tinclude __DIR__ . '/version.php';\n"
        "\t\t$this->MODULE_VERSION = $arModuleVersion['VERSION'];\n"
        "\t\t$this->MODULE_VERSION_DATE = $arModuleVersion['VERSION_DATE'];\n\t}\n\n"
        "\tpublic function DoInstall()\n\t{\n\t\tRegisterModule($this->MODULE_ID);\n\t}\n\n"
        "\tpublic function DoUninstall()\n\t{\n\t\tUnRegisterModule($this->MODULE_ID);\n\t}\n}\n"
    )


def module_lib_class(module_id: str, name: str, rev: str) -> str:
    ns = "".join(p.capitalize() for p in module_id.replace(".", "_").split("_"))
    return (
        f"<?php\nnamespace Bitrix\\{ns};\n\n/** {name} ({module_id} {rev}) */\nclass {name}\n{{\n"
        f"\tconst REVISION = '{rev}';\n\n\tpublic static function getRevision()\n\t{{\n"
        "\t\treturn static::REVISION;\n\t}\n}\n"
    )


def module_general_class(module_id: str, name: str, rev: str) -> str:
    return (
        f"<?\n/** {module_id}: {name} ({rev}) */\nclass C{name}\n{{\n"
        f"\tpublic static function GetList($arOrder = array(), $arFilter = array())\n\t{{\n"
        "\t\tglobal $DB;\n\t\treturn false;\n\t}\n}\n"
    )


def lang_file(module_id: str, title: str) -> str:
    key = module_id.upper().replace(".", "_")
    return f'<?\n$MESS["{key}_MODULE_NAME"] = "{title}";\n$MESS["{key}_MODULE_DESC"] = "{title}";\n'


def updater_script(module_id: str, version: str, table: str, alter_iblock: bool) -> str:
    alter = ""
    if alter_iblock:
        col = "BXOPS_U" + version.replace(".", "_")
        alter = (
            f'\t$updater->Query(array("MySQL" => "ALTER TABLE b_iblock_element ADD COLUMN IF NOT EXISTS '
            f'{col} int(11) NULL"));\n'
        )
    return (
        f"<?\n// bxops stand-in update package: {module_id} {version} (DB step, run by bitrix/bitrix.php)\n"
        f"if (IsModuleInstalled('{module_id}') && $updater->CanUpdateDatabase())\n{{\n"
        f"\tif (!$updater->TableExists('{table}'))\n\t{{\n"
        f'\t\t$updater->Query(array(\n\t\t\t"MySQL" => "CREATE TABLE {table} ('
        "ID int(11) NOT NULL AUTO_INCREMENT, "
        "NAME varchar(255) NOT NULL, TIMESTAMP_X timestamp NOT NULL DEFAULT current_timestamp(), "
        'PRIMARY KEY (ID))",\n\t\t));\n\t}\n'
        f"{alter}"
        f"\t$updater->Query(\"INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('{module_id}', "
        f"'~bxops_db_version', '{version}') ON DUPLICATE KEY UPDATE VALUE = '{version}'\");\n}}\n"
    )


# --- site pages -------------------------------------------------------------------------------------


def page_php(key: str, title: str, body: str) -> str:
    return (
        '<?\nrequire($_SERVER["DOCUMENT_ROOT"]."/bitrix/modules/main/include/prolog_before.php");\n'
        f'$APPLICATION->SetTitle("{title}");\n'
        'require(bx_local_or_bitrix("templates/" . $APPLICATION->siteTemplate . "/header.php"));\n?>\n'
        f"{body}\n"
        f'<p class="bxops-marker">BXOPS-PAGE-OK {key} <?=SM_VERSION?></p>\n'
        '<?require(bx_local_or_bitrix("templates/" . $APPLICATION->siteTemplate . "/footer.php"));?>\n'
    )


def template_header(banner: str) -> str:
    return (
        '<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>\n<!DOCTYPE html>\n<html>\n'
        '<head>\n<meta charset="utf-8">\n<title><?=htmlspecialchars($APPLICATION->GetTitle())?></title>\n'
        '<link rel="stylesheet" href="/local/templates/main/template_styles.css">\n</head>\n<body>\n'
        f'<header style="background:url(\'{banner}\')"><a href="/">Acme Store</a>\n'
        '<nav><a href="/catalog/">Catalog</a> <a href="/news/">News</a> <a href="/about/">About</a>'
        ' <a href="/contacts/">Contacts</a></nav></header>\n<main>\n'
    )


TEMPLATE_FOOTER = (
    '<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>\n</main>\n'
    "<footer>&copy; <?=date('Y')?> Acme Store</footer>\n</body>\n</html>\n"
)

INIT_PHP = """<?
// Custom kernel hooks of this site (local/php_interface/init.php)
define("ACME_SUPPORT_EMAIL", "support@example.com");

require_once __DIR__ . "/include/handlers.php";

function acme_format_price($value, $currency = "RUB")
{
\treturn number_format((float)$value, 2, ".", " ") . " " . $currency;
}
"""

HANDLERS_PHP = """<?
// Event handlers registered by the site's developers.
function acme_on_before_iblock_element_update(&$arFields)
{
\tif (isset($arFields["NAME"]))
\t{
\t\t$arFields["NAME"] = trim($arFields["NAME"]);
\t}
\treturn true;
}
"""

LEGACY_HELPERS_EACH = """<?
// Old helpers kept from the first developer (bitrix/php_interface/include/legacy.php).
function acme_legacy_join($arr)
{
\t$out = array();
\treset($arr);
\twhile (list($key, $value) = each($arr))
\t{
\t\t$out[] = $key . "=" . $value;
\t}
\treturn implode("&", $out);
}

function acme_legacy_sorter()
{
\treturn create_function('$a,$b', 'return strcmp($a["NAME"], $b["NAME"]);');
}
"""

LEGACY_HELPERS_CLEAN = """<?
// Old helpers kept from the first developer (bitrix/php_interface/include/legacy.php).
function acme_legacy_join($arr)
{
\t$out = array();
\tforeach ($arr as $key => $value)
\t{
\t\t$out[] = $key . "=" . $value;
\t}
\treturn implode("&", $out);
}

function acme_legacy_sorter()
{
\treturn function ($a, $b) {
\t\treturn strcmp($a["NAME"], $b["NAME"]);
\t};
}
"""

OLD_INIT_PHP = """<?
// bitrix/php_interface/init.php: superseded by local/php_interface/init.php (local wins)
require_once __DIR__ . "/include/legacy.php";
"""

CATALOG_SECTION_TEMPLATE_EACH = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// local/templates/main/components/bitrix/catalog.section/.default/template.php
$items = $arResult["ITEMS"];
reset($items);
?>
<ul class="catalog">
<?while (list($i, $item) = each($items)):?>
\t<li><?=htmlspecialchars($item["NAME"])?> &mdash; <?=acme_format_price($item["PRICE"])?></li>
<?endwhile;?>
</ul>
"""

CATALOG_SECTION_TEMPLATE_CLEAN = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// local/templates/main/components/bitrix/catalog.section/.default/template.php
$items = $arResult["ITEMS"];
?>
<ul class="catalog">
<?foreach ($items as $i => $item):?>
\t<li><?=htmlspecialchars($item["NAME"])?> &mdash; <?=acme_format_price($item["PRICE"])?></li>
<?endforeach;?>
</ul>
"""

CATALOG_SECTION_COMPONENT = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// bitrix/components/bitrix/catalog.section/component.php (vendor component, simplified)
global $BX_MYSQLI;
$arResult = array("ITEMS" => array());
$res = $BX_MYSQLI->query("SELECT ID, NAME FROM b_iblock_element WHERE ACTIVE = 'Y' ORDER BY ID LIMIT 10");
if ($res)
{
\twhile ($row = $res->fetch_assoc())
\t{
\t\t$row["PRICE"] = 100 + (int)$row["ID"] * 7;
\t\t$arResult["ITEMS"][] = $row;
\t}
}
"""

NEWS_LIST_COMPONENT = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// bitrix/components/bitrix/news.list/component.php (vendor component, simplified)
global $BX_MYSQLI;
$arResult = array("ITEMS" => array());
$res = $BX_MYSQLI->query("SELECT ID, NAME, PREVIEW_TEXT FROM b_iblock_element ORDER BY ID DESC LIMIT 5");
if ($res)
{
\twhile ($row = $res->fetch_assoc())
\t{
\t\t$arResult["ITEMS"][] = $row;
\t}
}
"""

NEWS_LIST_TEMPLATE = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>
<div class="news-list">
<?foreach ($arResult["ITEMS"] as $item):?>
\t<article><h3><?=htmlspecialchars($item["NAME"])?></h3><?=$item["PREVIEW_TEXT"]?></article>
<?endforeach;?>
</div>
"""

ACME_FILTER_COMPONENT_LEGACY = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// bitrix/components/acme/catalog.filter/component.php (written by a contractor in 2016)
$arResult = array("FILTERS" => array("price" => "Price", "brand" => "Brand"));
$sorter = create_function('$a,$b', 'return strcmp($a, $b);');
uasort($arResult["FILTERS"], $sorter);
"""

ACME_FILTER_COMPONENT_CLEAN = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// bitrix/components/acme/catalog.filter/component.php (written by a contractor in 2016)
$arResult = array("FILTERS" => array("price" => "Price", "brand" => "Brand"));
uasort($arResult["FILTERS"], function ($a, $b) {
\treturn strcmp($a, $b);
});
"""

ACME_FILTER_TEMPLATE = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>
<form class="filter"><?foreach ($arResult["FILTERS"] as $code => $name):?>
\t<label><input type="checkbox" name="<?=$code?>"> <?=htmlspecialchars($name)?></label>
<?endforeach;?></form>
"""

PROMO_BANNER_COMPONENT = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
// local/components/acme/promo.banner/component.php
$arResult = array(
\t"TITLE" => isset($arParams["TITLE"]) ? $arParams["TITLE"] : "Welcome",
\t"IMAGE" => isset($arParams["IMAGE"]) ? $arParams["IMAGE"] : "",
);
"""

PROMO_BANNER_TEMPLATE = """<?if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();?>
<section class="promo"><h2><?=htmlspecialchars($arResult["TITLE"])?></h2>
<?if ($arResult["IMAGE"] !== ""):?><img src="<?=$arResult["IMAGE"]?>" alt=""><?endif;?></section>
"""

DOTTED_MODULE_LIB_LEGACY = """<?php
namespace Acme\\Delivery;

/** acme.delivery: tariff calculator (Marketplace module, abandoned by its vendor) */
class Calculator
{
\tpublic static function sortTariffs(array $tariffs)
\t{
\t\tusort($tariffs, create_function('$a,$b', 'return $a["PRICE"] - $b["PRICE"];'));
\t\treturn $tariffs;
\t}
}
"""

DOTTED_MODULE_LIB_CLEAN = """<?php
namespace Acme\\Delivery;

/** acme.delivery: tariff calculator (Marketplace module, abandoned by its vendor) */
class Calculator
{
\tpublic static function sortTariffs(array $tariffs)
\t{
\t\tusort($tariffs, function ($a, $b) {
\t\t\treturn $a["PRICE"] - $b["PRICE"];
\t\t});
\t\treturn $tariffs;
\t}
}
"""

AJAX_HANDLER = """<?
require($_SERVER["DOCUMENT_ROOT"]."/bitrix/modules/main/include/prolog_before.php");
header("Content-Type: application/json");
echo json_encode(array("status" => "ok"));
"""

CRON_EVENTS = """<?php
/**
 * bxops STAND-IN for bitrix/modules/main/tools/cron_events.php (NOT vendor code): marks due agents as run,
 * as the real cron script does when main.agents_use_crontab=Y / BX_CRONTAB_SUPPORT.
 */
$_SERVER["DOCUMENT_ROOT"] = realpath(__DIR__ . "/../../../..");
define("NO_KEEP_STATISTIC", true);
define("NOT_CHECK_PERMISSIONS", true);
define("BX_CRONTAB", true);
require($_SERVER["DOCUMENT_ROOT"] . "/bitrix/modules/main/include/prolog_before.php");
$BX_MYSQLI->query(
\t"UPDATE b_agent SET LAST_EXEC = NOW(), NEXT_EXEC = DATE_ADD(NOW(), INTERVAL AGENT_INTERVAL SECOND) "
\t. "WHERE ACTIVE = 'Y' AND NEXT_EXEC <= NOW()"
);
"""

SITE_CLOSED_MARKER = "BXOPS-SITE-CLOSED"
SITE_CLOSED_STATUS = 503

# bitrix/modules/main/include/site_closed.php: the kernel's maintenance page (the prolog has set 503)
SITE_CLOSED_PHP = """<?
// bxops stand-in for bitrix/modules/main/include/site_closed.php (the public part is closed: main.site_stopped=Y)
if(!defined("B_PROLOG_INCLUDED") || B_PROLOG_INCLUDED!==true) die();
header("Content-Type: text/html; charset=UTF-8");
?><!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Site is temporarily closed</title></head>
<body>
<h1>Site is temporarily closed</h1>
<p>The site is closed for maintenance. Please come back later.</p>
<p class="bxops-marker">BXOPS-SITE-CLOSED</p>
</body>
</html>
"""
assert SITE_CLOSED_MARKER in SITE_CLOSED_PHP

URLREWRITE_HANDLER = """<?
// bitrix/urlrewrite.php: 404 handler (bxops stand-in: every unknown URL is a 404 page)
require($_SERVER["DOCUMENT_ROOT"]."/bitrix/modules/main/include/prolog_before.php");
http_response_code(404);
echo "<h1>404 Not Found</h1>";
"""

ROOT_URLREWRITE = """<?php
$arUrlRewrite=array (
  0 =>
  array (
    'CONDITION' => '#^/catalog/#',
    'RULE' => '',
    'ID' => 'bitrix:catalog',
    'PATH' => '/catalog/index.php',
    'SORT' => 100,
  ),
  1 =>
  array (
    'CONDITION' => '#^/news/#',
    'RULE' => '',
    'ID' => 'bitrix:news',
    'PATH' => '/news/index.php',
    'SORT' => 100,
  ),
);
"""

HTACCESS_ROOT = """Options -Indexes
ErrorDocument 404 /404.php

<IfModule mod_rewrite.c>
  Options +FollowSymLinks
  RewriteEngine On
  RewriteCond %{REQUEST_FILENAME} !-f
  RewriteCond %{REQUEST_FILENAME} !-l
  RewriteCond %{REQUEST_FILENAME} !-d
  RewriteCond %{REQUEST_FILENAME} !/bitrix/urlrewrite.php$
  RewriteRule ^(.*)$ /bitrix/urlrewrite.php [L]
  RewriteRule .* - [E=REMOTE_USER:%{HTTP:Authorization}]
</IfModule>
"""

DENY_HTACCESS = "Deny from All\n"


def composite_config(domain: str) -> str:
    return (
        "<?\n$arHTMLPagesOptions = array(\n"
        '\t"INCLUDE_MASK" => "*.php;*/",\n\t"EXCLUDE_MASK" => "/bitrix/*;/404.php;/upload/*",\n'
        '\t"FILE_QUOTA" => "100",\n\t"COMPOSITE" => "Y",\n\t"STORAGE" => "files",\n'
        f'\t"DOMAINS" => array("{domain}" => "{domain}"),\n\t"~FILES_COUNT" => 0,\n);\n?>'
    )


def cache_file(rng: random.Random, now: int, payload_len: int) -> str:
    created = now - rng.randint(60, 86400 * 3)
    expire = created + 3600
    payload = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(payload_len))
    return (
        "<?\nif($INCLUDE_FROM_CACHE!='Y')return false;\n"
        f"$datecreate = '{created:012d}';\n$dateexpire = '{expire:012d}';\n$ser_content = "
        f'\'a:2:{{s:7:"CONTENT";s:{len(payload)}:"{payload}";s:4:"VARS";a:0:{{}}}}\';\n'
        "return true;\n?>"
    )


def composer_json() -> str:
    return (
        json.dumps({"require": {"symfony/console": "^5.4"}, "config": {"vendor-dir": "vendor"}}, indent=4)
        + "\n"
    )
