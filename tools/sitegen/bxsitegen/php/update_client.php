<?php
/**
 * bxops STAND-IN for 1C-Bitrix's bitrix/modules/main/classes/general/update_client.php (class CUpdateClient)
 * AND for the vendor's proprietary update server. Written by the bxops site generator (tools/sitegen); this
 * is NOT vendor code. Every core has this file: the console (bitrix/bitrix.php, main 25.100.200 and later)
 * calls it, and older cores are updated by calling its steps from PHP after including prolog_before.php with
 * NOT_CHECK_PERMISSIONS, each step in a new PHP process:
 *
 *   CUpdateClient::GetUpdatesList(&$error, $lang, $stable)          -> array('CLIENT'|'MODULES'|'UPDATE_SYSTEM'|'ERROR')
 *   CUpdateClient::UpdateUpdate(&$error, $lang, $stable)            -> bool (the update system updates itself)
 *   CUpdateClient::LoadModulesUpdates(&$error, &$desc, $lang, $stable, $requested, $strongList)
 *        'S' a step's archive was downloaded to bitrix/updates/update_archive.gz ($desc DATA/#/ITEM lists it);
 *        'F' nothing left for the requested modules; 'E' error; '' (called again while a downloaded archive
 *        waits) the caller unpacks next
 *   CUpdateClient::UnGzipArchive(&$dir, &$error, $delete)           -> bool, unpacks into bitrix/updates/update_m<time>/
 *   CUpdateClient::CheckUpdatability($dir, &$error)                 -> bool ([UCDF03] [UCDF04] [UCDF05])
 *   CUpdateClient::UpdateStepModules($dir, &$error)                 -> bool (copies files, runs updater<ver>.php)
 *
 * $requested: module ids (dependencies added, all pending versions) or, with $strongList, module => highest
 * version. Updates come from BX_UPDATE_SERVER_DIR (default /opt/bxops-update-server): index.json plus
 * one folder per package (files/, updater<version>.php, description.en). Fault knobs are documented in
 * tools/sitegen/README.md (FAIL_HALFWAY, CORRUPT, PAUSE_BEFORE_DB, LICENSE_INACTIVE).
 */
if (!defined('UPDATE_SYSTEM_VERSION')) {
    define('UPDATE_SYSTEM_VERSION', '%UPDATE_SYSTEM_VERSION%');
}

function bx_compare_versions($a, $b)
{
    $pa = array_map('intval', explode('.', $a));
    $pb = array_map('intval', explode('.', $b));
    for ($i = 0; $i < 3; $i++) {
        $x = isset($pa[$i]) ? $pa[$i] : 0;
        $y = isset($pb[$i]) ? $pb[$i] : 0;
        if ($x !== $y) {
            return $x < $y ? -1 : 1;
        }
    }
    return 0;
}

function bx_log($text, $code = '')
{
    $file = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/updater.log';
    @file_put_contents($file, date('Y-m-d H:i:s') . ' - ' . $code . ' - ' . $text . "\n", FILE_APPEND);
}

function bx_file_mode()
{
    return defined('BX_FILE_PERMISSIONS') ? BX_FILE_PERMISSIONS : 0644;
}

function bx_dir_mode()
{
    return defined('BX_DIR_PERMISSIONS') ? BX_DIR_PERMISSIONS : 0755;
}

function bx_server_dir()
{
    $server = getenv('BX_UPDATE_SERVER_DIR');
    return rtrim(($server === false || $server === '') ? '/opt/bxops-update-server' : $server, '/');
}

function bx_module_version_file($module)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    if ($module === 'main') {
        return $root . '/bitrix/modules/main/classes/general/version.php';
    }
    return $root . '/bitrix/modules/' . $module . '/install/version.php';
}

/** PHP source without its comments (line, hash and block comments), as PHP reads it; "<?" opens PHP. */
function bx_strip_php_comments($text)
{
    $code = preg_replace('/^<\?(?!php|=)/', '<?php ', ltrim($text, "\xEF\xBB\xBF"));
    $out = '';
    foreach (token_get_all($code) as $token) {
        if (is_array($token)) {
            if ($token[0] === T_COMMENT || $token[0] === T_DOC_COMMENT) {
                $out .= "\n";
                continue;
            }
            $out .= $token[1];
        } else {
            $out .= $token;
        }
    }
    return $out;
}

/** The version a version file sets when PHP runs it (commented-out lines above the real one are skipped). */
function bx_read_version($file)
{
    $text = @file_get_contents($file);
    if ($text === false) {
        return null;
    }
    $text = bx_strip_php_comments($text);
    if (preg_match('/define\(\s*["\']SM_VERSION["\']\s*,\s*["\']([^"\']+)["\']/', $text, $m)) {
        return $m[1];
    }
    if (preg_match('/["\']VERSION["\']\s*=>\s*["\']([^"\']+)["\']/', $text, $m)) {
        return $m[1];
    }
    return null;
}

/** The update system's own version: the UPDATE_SYSTEM_VERSION define of this file as it is on disk now. */
function bx_update_system_version()
{
    $text = @file_get_contents($_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/classes/general/update_client.php');
    if ($text !== false && preg_match('/define\(\s*["\']UPDATE_SYSTEM_VERSION["\']\s*,\s*["\']([0-9.]+)["\']/', $text, $m)) {
        return $m[1];
    }
    return null;
}

/** Creates the missing folders of $path, like CUpdateClient::__CheckDirPath. */
function bx_check_dir_path($path)
{
    if (!is_dir($path)) {
        @mkdir($path, bx_dir_mode(), true);
    }
}

/** Nearest existing ancestor of $path. */
function bx_existing_ancestor($path)
{
    while ($path !== '' && $path !== '/' && !file_exists($path)) {
        $path = dirname($path);
    }
    return $path;
}

function bx_list_files($dir, $prefix = '')
{
    $result = array();
    $items = @scandir($dir);
    if ($items === false) {
        return $result;
    }
    sort($items, SORT_STRING);
    foreach ($items as $item) {
        if ($item === '.' || $item === '..') {
            continue;
        }
        $rel = $prefix === '' ? $item : $prefix . '/' . $item;
        if (is_dir($dir . '/' . $item)) {
            $result = array_merge($result, bx_list_files($dir . '/' . $item, $rel));
        } else {
            $result[] = $rel;
        }
    }
    return $result;
}

function bx_remove_tree($path)
{
    if (is_file($path) || is_link($path)) {
        @unlink($path);
        return;
    }
    $items = @scandir($path);
    if ($items !== false) {
        foreach ($items as $item) {
            if ($item !== '.' && $item !== '..') {
                bx_remove_tree($path . '/' . $item);
            }
        }
    }
    @rmdir($path);
}

/** Writability check of every target of an unpacked package, like CUpdateClient::CheckUpdatability. */
function bx_check_updatability($toDir, $files)
{
    $error = '';
    $seenDirs = array();
    foreach ($files as $rel) {
        $target = $toDir . '/' . $rel;
        $targetDir = dirname($target);
        if (!isset($seenDirs[$targetDir])) {
            $seenDirs[$targetDir] = true;
            if (file_exists($targetDir)) {
                if (!is_dir($targetDir)) {
                    $error .= '[UCDF03] Cannot create folder ' . $targetDir . '. ';
                } elseif (!is_writable($targetDir)) {
                    $error .= '[UCDF04] Cannot write to folder ' . $targetDir . '. ';
                }
            } else {
                $anc = bx_existing_ancestor($targetDir);
                if (!is_dir($anc) || !is_writable($anc)) {
                    $error .= '[UCDF03] Cannot create folder ' . $targetDir . '. ';
                }
            }
        }
        if (file_exists($target) && !is_writable($target)) {
            $error .= '[UCDF05] Cannot write to file ' . $target . '. ';
        }
    }
    return $error;
}

/** The site's DB: the kernel's connection when prolog_before.php ran, else one from bitrix/.settings.php. */
function bx_db()
{
    if (isset($GLOBALS['BX_DB']) && $GLOBALS['BX_DB'] instanceof mysqli) {
        return $GLOBALS['BX_DB'];
    }
    if (isset($GLOBALS['BX_MYSQLI']) && $GLOBALS['BX_MYSQLI'] instanceof mysqli) {
        $GLOBALS['BX_DB'] = $GLOBALS['BX_MYSQLI'];
        return $GLOBALS['BX_DB'];
    }
    $settings = @include $_SERVER['DOCUMENT_ROOT'] . '/bitrix/.settings.php';
    if (!is_array($settings) || !isset($settings['connections']['value']['default'])) {
        throw new RuntimeException('The database connection is not configured in /bitrix/.settings.php.');
    }
    $c = $settings['connections']['value']['default'];
    mysqli_report(MYSQLI_REPORT_OFF);
    $socket = ($c['host'] === 'localhost' && file_exists('/run/mysqld/mysqld.sock')) ? '/run/mysqld/mysqld.sock' : null;
    $db = @new mysqli($c['host'], $c['login'], $c['password'], $c['database'], 3306, $socket);
    if ($db->connect_errno) {
        throw new RuntimeException('Cannot connect to the database: ' . $db->connect_error);
    }
    $db->set_charset('utf8mb4');
    $GLOBALS['BX_DB'] = $db;
    return $db;
}

class CUpdater
{
    public $module;
    public $version;
    public $errorMessage = array();
    private $db;

    public function __construct($db, $module, $version)
    {
        $this->db = $db;
        $this->module = $module;
        $this->version = $version;
    }

    public function CanUpdateDatabase()
    {
        return true;
    }

    public function TableExists($table)
    {
        $res = $this->db->query("SHOW TABLES LIKE '" . $this->db->real_escape_string($table) . "'");
        return $res && $res->num_rows > 0;
    }

    public function Query($query)
    {
        if (is_array($query)) {
            $query = isset($query['MySQL']) ? $query['MySQL'] : reset($query);
        }
        if (!$this->db->query($query)) {
            $this->errorMessage[] = $this->db->error;
            return false;
        }
        return true;
    }
}

if (!function_exists('IsModuleInstalled')) {
    function IsModuleInstalled($module)
    {
        $db = bx_db();
        $res = $db->query("SELECT ID FROM b_module WHERE ID = '" . $db->real_escape_string($module) . "'");
        return $res && $res->num_rows > 0;
    }
}

function bx_run_updater_script($file, $db, $module, $version)
{
    $updater = new CUpdater($db, $module, $version);
    $DB = $db;
    include $file;
    return $updater->errorMessage;
}

// Written while paused before a DB step ("<pid> <module>"), removed when the pause ends; a test waits for it.
const BX_PAUSE_FLAG = '/tmp/bxops-update-stand-in.paused';

function bx_pause_seconds($server, $pkgDirs)
{
    $env = getenv('BXOPS_UPDATE_PAUSE');
    if ($env !== false && $env !== '') {
        return (float)$env;
    }
    $markers = array($server . '/PAUSE_BEFORE_DB');
    foreach ($pkgDirs as $d) {
        $markers[] = $d . '/PAUSE_BEFORE_DB';
    }
    foreach ($markers as $m) {
        if (file_exists($m)) {
            $v = trim((string)@file_get_contents($m));
            return $v === '' ? 30.0 : (float)$v;
        }
    }
    return 0.0;
}

function bx_fail_after($module, $pkgDirs, $count)
{
    $env = getenv('BXOPS_UPDATE_FAIL');
    if ($env !== false && $env !== '') {
        $parts = explode(':', $env, 2);
        if ($parts[0] === $module) {
            return isset($parts[1]) && $parts[1] !== '' ? (int)$parts[1] : (int)ceil($count / 2);
        }
    }
    foreach ($pkgDirs as $d) {
        if (file_exists($d . '/FAIL_HALFWAY')) {
            $v = trim((string)@file_get_contents($d . '/FAIL_HALFWAY'));
            return $v === '' ? (int)ceil($count / 2) : (int)$v;
        }
    }
    return -1;
}

function bx_finalize($module, $version)
{
    $file = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/updater_versions.php';
    $data = array();
    if (file_exists($file)) {
        $data = include $file;
        if (!is_array($data)) {
            $data = array();
        }
    }
    if (!isset($data['modules'][$module])) {
        $data['modules'][$module] = array();
    }
    $data['modules'][$module][] = array($version, date('Y-m-d H:i:s'));
    @file_put_contents($file, '<?php return ' . var_export($data, true) . ';');
    @chmod($file, bx_file_mode());
}

function bx_license_key()
{
    $file = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/license_key.php';
    if (!file_exists($file)) {
        return '';
    }
    $LICENSE_KEY = '';
    include $file;
    return (string)$LICENSE_KEY;
}

/** The update server's answer: array('error' => ..., 'client' => ..., 'system' => ..., 'modules' => ...). */
function bx_list_updates($server)
{
    $index = @json_decode((string)@file_get_contents($server . '/index.json'), true);
    if (!is_array($index)) {
        return array('error' => '[GNSU01] Cannot connect to the update server (bxops stand-in: '
            . $server . '/index.json is missing or unreadable).');
    }
    $key = bx_license_key();
    $inactive = isset($index['inactive_keys']) && in_array(md5($key), $index['inactive_keys'], true);
    if ($key === '' || $key === 'DEMO' || $inactive || file_exists($server . '/LICENSE_INACTIVE')) {
        return array('error' => 'You must activate your license key before using the update system.',
            'reserved_key' => true);
    }
    $result = array('error' => '', 'client' => isset($index['client']) ? $index['client'] : array(),
        'system' => null, 'modules' => array());
    if (!empty($index['update_system'])) {
        $current = bx_update_system_version();
        if ($current === null || bx_compare_versions($index['update_system']['version'], $current) > 0) {
            $result['system'] = $index['update_system'];
        }
    }
    $modules = isset($index['modules']) && is_array($index['modules']) ? $index['modules'] : array();
    ksort($modules);
    foreach ($modules as $module => $packages) {
        if (strpos($module, '.') !== false || !is_dir($_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/' . $module)) {
            continue;
        }
        $current = bx_read_version(bx_module_version_file($module));
        if ($current === null) {
            continue;
        }
        usort($packages, function ($a, $b) {
            return bx_compare_versions($a['version'], $b['version']);
        });
        $pending = array();
        foreach ($packages as $pkg) {
            if (bx_compare_versions($pkg['version'], $current) > 0) {
                $pending[] = $pkg;
            }
        }
        if (!empty($pending)) {
            $result['modules'][$module] = $pending;
        }
    }
    return $result;
}

function bx_dependencies($updateList, $selected)
{
    $deps = array();
    $queue = array_keys($selected);
    while (!empty($queue)) {
        $module = array_shift($queue);
        foreach ($updateList[$module] as $pkg) {
            if (empty($pkg['requires'])) {
                continue;
            }
            foreach ($pkg['requires'] as $dep => $ver) {
                if (isset($updateList[$dep]) && !isset($selected[$dep]) && !isset($deps[$dep])) {
                    $last = $updateList[$dep][count($updateList[$dep]) - 1];
                    $deps[$dep] = $last['version'];
                    $queue[] = $dep;
                }
            }
        }
    }
    return $deps;
}

/** main first, as the real update server orders its steps; then by id. */
function bx_step_order($a, $b)
{
    if ($a === $b) {
        return 0;
    }
    if ($a === 'main') {
        return -1;
    }
    if ($b === 'main') {
        return 1;
    }
    return strcmp($a, $b);
}

function bx_update_system($pkg)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    $dir = bx_server_dir() . '/' . $pkg['dir'] . '/files';
    if (!is_dir($dir)) {
        return '[CL02] Cannot extract files from archive.';
    }
    $files = bx_list_files($dir);
    $error = bx_check_updatability($root, $files);
    if ($error !== '') {
        return trim($error);
    }
    foreach ($files as $rel) {
        $to = $root . '/' . $rel;
        if (!is_dir(dirname($to))) {
            @mkdir(dirname($to), bx_dir_mode(), true);
        }
        if (!@copy($dir . '/' . $rel, $to)) {
            return '[UCDF05] Cannot write to file ' . $to . '.';
        }
        @chmod($to, bx_file_mode());
    }
    bx_log('Update system updated to ' . $pkg['version'], 'UPD_SUCCESS');
    return '';
}

class CUpdateClient
{
    const ARCHIVE = '/bitrix/updates/update_archive.gz';

    public static function CompareVersions($a, $b)
    {
        return bx_compare_versions($a, $b);
    }

    public static function AddMessage2Log($text, $code = '')
    {
        bx_log($text, $code);
    }

    public static function ClearUpdateFolder($path)
    {
        bx_remove_tree($path);
    }

    /** The update server's list in the XML-derived shape of the real client. */
    public static function GetUpdatesList(&$strError, $lang = false, $stableVersionsOnly = 'Y', $arRequestedModules = array(), $aditData = array())
    {
        $list = bx_list_updates(bx_server_dir());
        if (!empty($list['reserved_key'])) {
            return array('ERROR' => array(array('@' => array('TYPE' => 'RESERVED_KEY'), '#' => 'License key is not active')));
        }
        if ($list['error'] !== '') {
            $strError .= $list['error'];
            return false;
        }
        $client = array();
        foreach ($list['client'] as $k => $v) {
            $client[strtoupper($k)] = $v;
        }
        $result = array('CLIENT' => array(array('@' => $client, '#' => '')));
        if ($list['system'] !== null) {
            $result['UPDATE_SYSTEM'] = array(array('@' => array('ID' => $list['system']['version']), '#' => ''));
        }
        $modules = array();
        foreach ($list['modules'] as $module => $pkgs) {
            $versions = array();
            foreach ($pkgs as $pkg) {
                $versions[] = array('@' => array('ID' => $pkg['version'], 'DATE' => $pkg['date']), '#' => array());
            }
            $modules[] = array('@' => array('ID' => $module, 'NAME' => $module), '#' => array('VERSION' => $versions));
        }
        $result['MODULES'] = array(array('@' => array(), '#' => array('MODULE' => $modules)));
        return $result;
    }

    public static function UpdateUpdate(&$strError, $lang = false, $stableVersionsOnly = 'Y')
    {
        $list = bx_list_updates(bx_server_dir());
        if ($list['error'] !== '') {
            $strError .= $list['error'];
            return false;
        }
        if ($list['system'] === null) {
            return true;
        }
        $error = bx_update_system($list['system']);
        if ($error !== '') {
            $strError .= $error;
            return false;
        }
        return true;
    }

    public static function LoadModulesUpdates(&$errorMessage, &$arUpdateDescription, $lang = false, $stableVersionsOnly = 'Y', $arRequestedModules = array(), $bStrongList = false)
    {
        $root = $_SERVER['DOCUMENT_ROOT'];
        $descFile = $root . self::ARCHIVE . '.json';
        if (file_exists($root . self::ARCHIVE) && file_exists($descFile)) {
            $arUpdateDescription = json_decode((string)file_get_contents($descFile), true);
            return '';
        }
        bx_log('exec CUpdateClient::LoadModulesUpdates', '');
        $server = bx_server_dir();
        $list = bx_list_updates($server);
        if ($list['error'] !== '') {
            $errorMessage .= $list['error'];
            return 'E';
        }
        $updateList = $list['modules'];
        $limits = array();
        if (!empty($arRequestedModules)) {
            $assoc = array_keys($arRequestedModules) !== range(0, count($arRequestedModules) - 1);
            foreach ($arRequestedModules as $k => $v) {
                if ($assoc) {
                    $limits[$k] = $v;
                } else {
                    $limits[$v] = null;
                }
            }
            if (!$bStrongList) {
                $wanted = array();
                foreach ($limits as $m => $v) {
                    if (isset($updateList[$m])) {
                        $wanted[$m] = 1;
                    }
                }
                foreach (bx_dependencies($updateList, $wanted) as $dep => $v) {
                    $limits[$dep] = null;
                }
            }
        }
        $candidates = array();
        foreach ($updateList as $module => $pkgs) {
            if (!empty($limits) && !array_key_exists($module, $limits)) {
                continue;
            }
            $subset = array();
            foreach ($pkgs as $pkg) {
                if (empty($limits) || $limits[$module] === null || bx_compare_versions($pkg['version'], $limits[$module]) <= 0) {
                    $subset[] = $pkg;
                }
            }
            if (!empty($subset)) {
                $candidates[$module] = $subset;
            }
        }
        if (empty($candidates)) {
            return 'F';
        }
        uksort($candidates, 'bx_step_order');
        $module = key($candidates);
        $versions = $candidates[$module];
        $pkgDirs = array();
        $corrupt = false;
        foreach ($versions as $pkg) {
            $d = $server . '/' . $pkg['dir'];
            $pkgDirs[] = $d;
            if (file_exists($d . '/CORRUPT') || !is_dir($d . '/files')) {
                $corrupt = true;
            }
        }
        $updatesRoot = $root . '/bitrix/updates';
        bx_check_dir_path($updatesRoot . '/');
        if (!is_dir($updatesRoot)) {
            $errorMessage .= '[UCDF03] Cannot create folder ' . $updatesRoot . '. ';
            return 'E';
        }
        if (!is_writable($updatesRoot)) {
            $errorMessage .= '[UCDF04] Cannot write to folder ' . $updatesRoot . '. ';
            return 'E';
        }
        $last = $versions[count($versions) - 1]['version'];
        $files = array();
        foreach ($versions as $i => $pkg) {
            foreach (bx_list_files($pkgDirs[$i] . '/files') as $rel) {
                $files[$rel] = base64_encode((string)file_get_contents($pkgDirs[$i] . '/files/' . $rel));
            }
            $script = 'updater' . $pkg['version'] . '.php';
            if (file_exists($pkgDirs[$i] . '/' . $script)) {
                $files[$script] = base64_encode((string)file_get_contents($pkgDirs[$i] . '/' . $script));
            }
        }
        $versionIds = array();
        foreach ($versions as $pkg) {
            $versionIds[] = $pkg['version'];
        }
        $arUpdateDescription = array('DATA' => array('#' => array('ITEM' => array(
            array('@' => array('NAME' => $module, 'VALUE' => $last, 'DESCR' => '')),
        ))));
        $archive = array('module' => $module, 'versions' => $versionIds, 'package_dirs' => $pkgDirs, 'files' => $files);
        $payload = $corrupt ? 'bxops: damaged download' : gzencode(json_encode($archive));
        if (@file_put_contents($root . self::ARCHIVE, $payload) === false
            || @file_put_contents($descFile, json_encode($arUpdateDescription)) === false) {
            $errorMessage .= '[UCDF04] Cannot write to folder ' . $updatesRoot . '. ';
            return 'E';
        }
        return 'S';
    }

    public static function UnGzipArchive(&$updatesDir, &$errorMessage, $bDelArch = true)
    {
        $root = $_SERVER['DOCUMENT_ROOT'];
        $raw = @file_get_contents($root . self::ARCHIVE);
        $json = $raw === false ? false : @gzdecode($raw);
        $archive = $json === false ? null : json_decode($json, true);
        if ($bDelArch) {
            @unlink($root . self::ARCHIVE);
            @unlink($root . self::ARCHIVE . '.json');
        }
        if (!is_array($archive)) {
            bx_log('[CL02] Cannot extract files from archive.', 'LMU');
            $errorMessage .= '[CL02] Cannot extract files from archive.';
            return false;
        }
        $updatesDir = 'update_m' . time();
        $unpacked = $root . '/bitrix/updates/' . $updatesDir . '/' . $archive['module'];
        @mkdir($unpacked, bx_dir_mode(), true);
        foreach ($archive['files'] as $rel => $data) {
            $to = $unpacked . '/' . $rel;
            if (!is_dir(dirname($to))) {
                @mkdir(dirname($to), bx_dir_mode(), true);
            }
            if (@file_put_contents($to, base64_decode($data)) === false) {
                $errorMessage .= '[CL02] Cannot extract files from archive.';
                return false;
            }
        }
        unset($archive['files']);
        file_put_contents($root . '/bitrix/updates/' . $updatesDir . '/update_info.json', json_encode($archive));
        return true;
    }

    /** The unpacked step: (module, versions, package folders, module-relative files, unpack folder). */
    private static function step($updatesDir)
    {
        $base = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/updates/' . $updatesDir;
        $info = json_decode((string)@file_get_contents($base . '/update_info.json'), true);
        if (!is_array($info)) {
            return null;
        }
        $unpacked = $base . '/' . $info['module'];
        $files = array();
        foreach (bx_list_files($unpacked) as $rel) {
            if (strpos($rel, '/') === false && strncmp($rel, 'updater', 7) === 0) {
                continue;
            }
            $files[] = $rel;
        }
        $info['files'] = $files;
        $info['unpacked'] = $unpacked;
        $info['base'] = $base;
        return $info;
    }

    public static function CheckUpdatability($updatesDir, &$errorMessage)
    {
        $step = self::step($updatesDir);
        if ($step === null) {
            $errorMessage .= '[CL02] Cannot extract files from archive.';
            return false;
        }
        $error = bx_check_updatability($_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/' . $step['module'], $step['files']);
        if ($error !== '') {
            bx_log($error, 'CUCU');
            $errorMessage .= trim($error);
            return false;
        }
        return true;
    }

    public static function UpdateStepModules($updatesDir, &$errorMessage, $bSaveUpdaters = false)
    {
        $root = $_SERVER['DOCUMENT_ROOT'];
        $step = self::step($updatesDir);
        if ($step === null) {
            $errorMessage .= '[CL02] Cannot extract files from archive. ';
            return false;
        }
        $module = $step['module'];
        $target = $root . '/bitrix/modules/' . $module;
        $failAfter = bx_fail_after($module, $step['package_dirs'], count($step['files']));
        $copied = 0;
        foreach ($step['files'] as $rel) {
            if ($failAfter >= 0 && $copied >= $failAfter) {
                $error = '[UCDF061] File ' . $target . '/' . $rel . ' was damaged while copying (bxops fault injection). ';
                bx_log($error, 'CUCDF');
                $errorMessage .= $error;
                return false;
            }
            $to = $target . '/' . $rel;
            if (!is_dir(dirname($to))) {
                @mkdir(dirname($to), bx_dir_mode(), true);
            }
            if (file_exists($to) && !is_writable($to)) {
                $error = '[UCDF05] Cannot write to file ' . $to . '. ';
                bx_log($error, 'CUCDF');
                $errorMessage .= $error;
                return false;
            }
            if (!@copy($step['unpacked'] . '/' . $rel, $to)) {
                $error = '[UCDF04] Cannot write to folder ' . dirname($to) . '. ';
                bx_log($error, 'CUCDF');
                $errorMessage .= $error;
                return false;
            }
            @chmod($to, bx_file_mode());
            $copied++;
        }
        $pause = bx_pause_seconds(bx_server_dir(), $step['package_dirs']);
        if ($pause > 0) {
            $flag = BX_PAUSE_FLAG;  // the stand-in's own, outside the site: bxops knows nothing of it
            @file_put_contents($flag, getmypid() . ' ' . $module . "\n");
            bx_log('BXOPS-PAUSE before the DB step of ' . $module . ' for ' . $pause . ' s (pid ' . getmypid() . ')', 'BXOPS');
            usleep((int)($pause * 1000000));
            @unlink($flag);
        }
        foreach ($step['versions'] as $version) {
            $script = $step['unpacked'] . '/updater' . $version . '.php';
            if (file_exists($script)) {
                bx_log("Run updater '" . substr($script, strlen($root)) . "'", 'CRUPDCF1');
                $errors = bx_run_updater_script($script, bx_db(), $module, $version);
                if (!empty($errors)) {
                    $error = '[UUD01] Error in updater script updater' . $version . '.php: ' . implode('; ', $errors) . '. ';
                    bx_log($error, 'CURUS');
                    $errorMessage .= $error;
                    return false;
                }
            }
        }
        $latest = $step['versions'][count($step['versions']) - 1];
        bx_finalize($module, $latest);
        bx_log('Updated: ' . $module . ' (' . $latest . ')', 'UPD_SUCCESS');
        bx_remove_tree($step['base']);
        return true;
    }
}
