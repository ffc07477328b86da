<?php
/**
 * bxops STAND-IN for 1C-Bitrix's bitrix/modules/main/include/prolog_before.php.
 * Written by the bxops site generator (tools/sitegen); this is NOT vendor code. It does the few things the
 * real kernel does that the maintenance roles can observe: reads bitrix/.settings.php, includes dbconn.php
 * (local/ wins), connects to MariaDB with mysqli, reads b_option, runs due agents on hits unless cron mode,
 * answers with the maintenance page (HTTP 503) while main.site_stopped = 'Y', includes
 * local/php_interface/init.php (else bitrix/php_interface/init.php), and offers a tiny
 * $APPLICATION->IncludeComponent() that resolves local/ before bitrix/ like the real one.
 */
if (defined('B_PROLOG_INCLUDED') && B_PROLOG_INCLUDED === true) {
    return;
}
define('B_PROLOG_INCLUDED', true);
define('BX_ROOT', '/bitrix');

if (empty($_SERVER['DOCUMENT_ROOT'])) {
    $_SERVER['DOCUMENT_ROOT'] = realpath(__DIR__ . '/../../../..');
}
$_SERVER['DOCUMENT_ROOT'] = rtrim($_SERVER['DOCUMENT_ROOT'], '/');
$bxDocRoot = $_SERVER['DOCUMENT_ROOT'];

require_once $bxDocRoot . '/bitrix/modules/main/classes/general/version.php';

$bxDbconn = file_exists($bxDocRoot . '/local/php_interface/dbconn.php')
    ? $bxDocRoot . '/local/php_interface/dbconn.php'
    : $bxDocRoot . '/bitrix/php_interface/dbconn.php';
require_once $bxDbconn;
if (!defined('BX_FILE_PERMISSIONS')) {
    define('BX_FILE_PERMISSIONS', 0644);
}
if (!defined('BX_DIR_PERMISSIONS')) {
    define('BX_DIR_PERMISSIONS', 0755);
}

$bxSettings = include $bxDocRoot . '/bitrix/.settings.php';
if (!is_array($bxSettings) || !isset($bxSettings['connections']['value']['default'])) {
    http_response_code(500);
    echo "Bitrix kernel settings (/bitrix/.settings.php) are not readable.\n";
    exit;
}
$bxConn = $bxSettings['connections']['value']['default'];

mysqli_report(MYSQLI_REPORT_OFF);
$bxHost = $bxConn['host'];
$bxSocket = null;
if ($bxHost === 'localhost' && ini_get('mysqli.default_socket') === '' && file_exists('/run/mysqld/mysqld.sock')) {
    $bxSocket = '/run/mysqld/mysqld.sock';
}
$BX_MYSQLI = @new mysqli($bxHost, $bxConn['login'], $bxConn['password'], $bxConn['database'], 3306, $bxSocket);
if ($BX_MYSQLI->connect_errno) {
    http_response_code(500);
    echo "<b>Error!</b> mysqli_connect(): " . htmlspecialchars($BX_MYSQLI->connect_error) . "<br>\n";
    echo "DB query error.\n";
    exit;
}
$BX_MYSQLI->set_charset('utf8mb4');

class COption
{
    private static $cache = null;

    public static function GetOptionString($module, $name, $default = '')
    {
        global $BX_MYSQLI;
        if (self::$cache === null) {
            self::$cache = array();
            $res = $BX_MYSQLI->query("SELECT MODULE_ID, NAME, VALUE FROM b_option");
            if ($res) {
                while ($row = $res->fetch_assoc()) {
                    self::$cache[$row['MODULE_ID'] . ':' . $row['NAME']] = $row['VALUE'];
                }
            }
        }
        $key = $module . ':' . $name;
        return array_key_exists($key, self::$cache) ? self::$cache[$key] : $default;
    }
}

function IsModuleInstalled($module)
{
    global $BX_MYSQLI;
    $res = $BX_MYSQLI->query("SELECT ID FROM b_module WHERE ID = '" . $BX_MYSQLI->real_escape_string($module) . "'");
    return $res && $res->num_rows > 0;
}

function bx_local_or_bitrix($rel)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    if (file_exists($root . '/local/' . $rel)) {
        return $root . '/local/' . $rel;
    }
    if (file_exists($root . '/bitrix/' . $rel)) {
        return $root . '/bitrix/' . $rel;
    }
    return null;
}

class CMain
{
    public $title = '';
    public $siteTemplate = '';

    public function SetTitle($title)
    {
        $this->title = $title;
    }

    public function GetTitle()
    {
        return $this->title;
    }

    public function GetCurPage()
    {
        $uri = isset($_SERVER['REQUEST_URI']) ? $_SERVER['REQUEST_URI'] : '/';
        $pos = strpos($uri, '?');
        return $pos === false ? $uri : substr($uri, 0, $pos);
    }

    /** Resolves components/<vendor>/<name>/ and its template like the real kernel: local/ before bitrix/. */
    public function IncludeComponent($name, $template = '', $arParams = array())
    {
        list($vendor, $component) = explode(':', $name, 2);
        $dir = bx_local_or_bitrix('components/' . $vendor . '/' . $component);
        if ($dir === null) {
            echo "<!-- component $name not found -->";
            return null;
        }
        $templateName = ($template === '' ? '.default' : $template);
        $arResult = array();
        if (file_exists($dir . '/component.php')) {
            include $dir . '/component.php';
        }
        $tplFile = null;
        $candidates = array(
            'templates/' . $this->siteTemplate . '/components/' . $vendor . '/' . $component . '/' . $templateName . '/template.php',
            'templates/.default/components/' . $vendor . '/' . $component . '/' . $templateName . '/template.php',
        );
        foreach ($candidates as $candidate) {
            $found = bx_local_or_bitrix($candidate);
            if ($found !== null) {
                $tplFile = $found;
                break;
            }
        }
        if ($tplFile === null && file_exists($dir . '/templates/' . $templateName . '/template.php')) {
            $tplFile = $dir . '/templates/' . $templateName . '/template.php';
        }
        if ($tplFile !== null) {
            include $tplFile;
        }
        return $arResult;
    }
}

$APPLICATION = new CMain();
$APPLICATION->siteTemplate = COption::GetOptionString('main', '~bxops_site_template', 'main');

if (!defined('SITE_ID')) {
    define('SITE_ID', 's1');
}
if (!defined('LANG')) {
    define('LANG', SITE_ID);
}

// The public part closed (b_option main.site_stopped = 'Y', the admin page's "close the public part", which the
// update role sets around an update): like the real kernel, every visitor but an administrator gets the
// maintenance page, php_interface/<LANG>/site_closed.php, else php_interface/include/site_closed.php (local/
// before bitrix/), else the kernel's modules/main/include/site_closed.php, with HTTP 503, and nothing else runs.
// Not closed: scripts that skip permission checks (NOT_CHECK_PERMISSIONS: cron_events.php, the update steps,
// the 1C exchange) and the admin section (ADMIN_SECTION). The stand-in has no sessions, so no visitor is an
// administrator.
$bxSiteStopped = COption::GetOptionString('main', 'site_stopped', 'N') === 'Y'
    && !(defined('NOT_CHECK_PERMISSIONS') && NOT_CHECK_PERMISSIONS === true)
    && !(defined('ADMIN_SECTION') && ADMIN_SECTION === true);
if ($bxSiteStopped) {
    $bxClosedPage = bx_local_or_bitrix('php_interface/' . LANG . '/site_closed.php');
    if ($bxClosedPage === null) {
        $bxClosedPage = bx_local_or_bitrix('php_interface/include/site_closed.php');
    }
    if ($bxClosedPage === null) {
        $bxClosedPage = $bxDocRoot . '/bitrix/modules/main/include/site_closed.php';
    }
    if (!headers_sent()) {
        http_response_code(503);
        header('Retry-After: 3600');
    }
    include $bxClosedPage;
    die();
}

// Agents run on hits unless cron mode (main.agents_use_crontab=Y or BX_CRONTAB_SUPPORT), as the real kernel does.
$bxCronMode = COption::GetOptionString('main', 'agents_use_crontab', 'N') === 'Y'
    || (defined('BX_CRONTAB_SUPPORT') && BX_CRONTAB_SUPPORT === true);
if (!$bxCronMode && COption::GetOptionString('main', 'check_agents', 'Y') === 'Y') {
    $BX_MYSQLI->query(
        "UPDATE b_agent SET LAST_EXEC = NOW(), NEXT_EXEC = DATE_ADD(NOW(), INTERVAL AGENT_INTERVAL SECOND) "
        . "WHERE ACTIVE = 'Y' AND NEXT_EXEC <= NOW()"
    );
}

$bxInit = file_exists($bxDocRoot . '/local/php_interface/init.php')
    ? $bxDocRoot . '/local/php_interface/init.php'
    : $bxDocRoot . '/bitrix/php_interface/init.php';
if (file_exists($bxInit)) {
    include_once $bxInit;
}
