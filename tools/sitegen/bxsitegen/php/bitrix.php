<?php
/**
 * bxops STAND-IN for the 1C-Bitrix console (bitrix/bitrix.php) AND for the vendor's proprietary update
 * server. Written by the bxops site generator (tools/sitegen); this is NOT vendor code. Real Bitrix
 * cannot be downloaded in the test environment, so this file answers the real console's interface:
 *
 *   php bitrix.php update:modules [-m main,iblock] [-i versions.json] [-n] [-q]
 *   php bitrix.php update:versions versions.json
 *   php bitrix.php update:languages [-l en]        (always "No updates found.")
 *   php bitrix.php list | help
 *
 * with the real messages (SymfonyStyle blocks " [OK] ", " [INFO] ", " [ERROR] ", titles underlined with
 * "=", "Installing <module> (<version>)... Done!") and error codes ([CL02], [CL04], [UCDF03], [UCDF04],
 * [UCDF05], [UCDF061], the "You must activate your license key..." message). Exit codes: 0 success, 1 any
 * failure (Symfony's Command::FAILURE). As in Symfony, the command is non-interactive when -n is given or
 * STDIN is not a terminal; then "Install updates?" takes its default (yes).
 *
 * Updates come from a local "update server" directory, BX_UPDATE_SERVER_DIR (default
 * /opt/bxops-update-server), written by the generator: index.json lists packages per module and version;
 * each package has files/ (relative to the module's folder), updater<version>.php (the DB step, run with
 * an $updater object like real updater scripts) and description.en. Flow as in the real UpdaterService:
 * list updates -> when the update system itself has a pending package, install only that, print
 * "Update System upgraded successfully. Restart the command." and exit 0 -> per module: unpack into
 * bitrix/updates/update_m<time>/<module>/, check writability, copy files, run the DB step(s), log to
 * bitrix/modules/updater.log, record bitrix/modules/updater_versions.php, clean the update folder.
 *
 * Fault injection (bxops only, documented in tools/sitegen/README.md):
 *   <package>/FAIL_HALFWAY (content: optional number N of files to copy first, default half) or
 *   env BXOPS_UPDATE_FAIL=<module>[:N]   -> copies N files, then fails with "[UCDF061] ... [CL04] Module
 *                                           update failed." (the DB step is not run; bitrix/updates kept)
 *   <package>/CORRUPT                    -> "[CL02] Cannot extract files from archive."
 *   env BXOPS_UPDATE_PAUSE=<seconds> or <server>/PAUSE_BEFORE_DB or <package>/PAUSE_BEFORE_DB
 *                                        -> after the file copy and before the DB step: writes
 *                                           bitrix/updates/.bxops_paused (pid, module), logs BXOPS-PAUSE
 *                                           to updater.log and sleeps, so a test can kill it there
 *   <server>/LICENSE_INACTIVE            -> licence inactive message (also when license_key.php is absent)
 */
if (PHP_SAPI !== 'cli') {
    http_response_code(404);
    exit;
}
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE);
$_SERVER['DOCUMENT_ROOT'] = dirname(__DIR__);

$BX_QUIET = false;
$BX_INTERACTIVE = true;

function bx_out($text)
{
    global $BX_QUIET;
    if (!$BX_QUIET) {
        fwrite(STDOUT, $text);
    }
}

function bx_err($text)
{
    fwrite(STDERR, $text);
}

function io_title($title)
{
    bx_out("\n" . $title . "\n" . str_repeat('=', strlen($title)) . "\n\n");
}

function io_block($type, $message)
{
    $prefix = ' [' . $type . '] ';
    $lines = explode("\n", rtrim($message, "\n"));
    $text = '';
    foreach ($lines as $i => $line) {
        $text .= ($i === 0 ? $prefix : str_repeat(' ', strlen($prefix))) . $line . "\n";
    }
    bx_out("\n" . $text . "\n");
}

function io_info($m)
{
    io_block('INFO', $m);
}

function io_success($m)
{
    io_block('OK', $m);
}

function io_error($m)
{
    io_block('ERROR', $m);
}

function io_warning($m)
{
    io_block('WARNING', $m);
}

function io_writeln($m)
{
    bx_out($m . "\n");
}

function io_confirm($question, $default = true)
{
    global $BX_INTERACTIVE;
    if (!$BX_INTERACTIVE) {
        return $default;
    }
    bx_out(' ' . $question . ' (yes/no) [' . ($default ? 'yes' : 'no') . "]:\n > ");
    $line = fgets(STDIN);
    if ($line === false) {
        throw new RuntimeException('Aborted.');
    }
    bx_out("\n");
    $line = trim($line);
    if ($line === '') {
        return $default;
    }
    return (bool)preg_match('/^y/i', $line);
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

function bx_module_version_file($module)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    if ($module === 'main') {
        return $root . '/bitrix/modules/main/classes/general/version.php';
    }
    return $root . '/bitrix/modules/' . $module . '/install/version.php';
}

function bx_read_version($file)
{
    $text = @file_get_contents($file);
    if ($text === false) {
        return null;
    }
    if (preg_match('/define\(\s*["\']SM_VERSION["\']\s*,\s*["\']([^"\']+)["\']/', $text, $m)) {
        return $m[1];
    }
    if (preg_match('/["\']VERSION["\']\s*=>\s*["\']([^"\']+)["\']/', $text, $m)) {
        return $m[1];
    }
    if (preg_match('/define\(\s*["\']UPDATE_SYSTEM_VERSION["\']\s*,\s*["\']([^"\']+)["\']/', $text, $m)) {
        return $m[1];
    }
    return null;
}

/** Creates the missing folders of $path (a folder path ending with "/"), like CUpdateClient::__CheckDirPath. */
function bx_check_dir_path($path)
{
    if (!is_dir($path)) {
        @mkdir($path, BX_DIR_PERMISSIONS, true);
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
function bx_check_updatability($fromDir, $toDir, $files)
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

function IsModuleInstalled($module)
{
    global $BX_DB;
    $res = $BX_DB->query("SELECT ID FROM b_module WHERE ID = '" . $BX_DB->real_escape_string($module) . "'");
    return $res && $res->num_rows > 0;
}

function bx_run_updater_script($file, $db, $module, $version)
{
    $updater = new CUpdater($db, $module, $version);
    $DB = $db;
    include $file;
    return $updater->errorMessage;
}

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
    @chmod($file, BX_FILE_PERMISSIONS);
}

/** Applies every pending version of one module. Returns '' or the error text. */
function bx_install_module($ctx, $module, $versions)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    $server = $ctx['server'];
    $pkgDirs = array();
    foreach ($versions as $pkg) {
        $pkgDirs[] = $server . '/' . $pkg['dir'];
    }
    bx_log('exec CUpdateClient::LoadModulesUpdates', '');
    foreach ($pkgDirs as $d) {
        if (file_exists($d . '/CORRUPT') || !is_dir($d . '/files')) {
            bx_log('[CL02] Cannot extract files from archive.', 'LMU');
            return '[CL02] Cannot extract files from archive.';
        }
    }
    // "download" and unpack into bitrix/updates/update_m<time>/<module>/
    $updatesRoot = $root . '/bitrix/updates';
    bx_check_dir_path($updatesRoot . '/');
    if (!is_dir($updatesRoot)) {
        return '[UCDF03] Cannot create folder ' . $updatesRoot . '. ';
    }
    if (!is_writable($updatesRoot)) {
        return '[UCDF04] Cannot write to folder ' . $updatesRoot . '. ';
    }
    $stepDir = $updatesRoot . '/update_m' . time();
    $unpacked = $stepDir . '/' . $module;
    @mkdir($unpacked, BX_DIR_PERMISSIONS, true);
    foreach ($versions as $i => $pkg) {
        foreach (bx_list_files($pkgDirs[$i] . '/files') as $rel) {
            $to = $unpacked . '/' . $rel;
            if (!is_dir(dirname($to))) {
                @mkdir(dirname($to), BX_DIR_PERMISSIONS, true);
            }
            if (!@copy($pkgDirs[$i] . '/files/' . $rel, $to)) {
                return '[CL02] Cannot extract files from archive.';
            }
        }
        $script = 'updater' . $pkg['version'] . '.php';
        if (file_exists($pkgDirs[$i] . '/' . $script) && !@copy($pkgDirs[$i] . '/' . $script, $unpacked . '/' . $script)) {
            return '[CL02] Cannot extract files from archive.';
        }
    }
    $files = array();
    foreach (bx_list_files($unpacked) as $rel) {
        if (strpos($rel, '/') === false && strncmp($rel, 'updater', 7) === 0) {
            continue;
        }
        $files[] = $rel;
    }
    $target = $root . '/bitrix/modules/' . $module;
    $error = bx_check_updatability($unpacked, $target, $files);
    if ($error !== '') {
        bx_log($error, 'CUCU');
        return trim($error);
    }
    // UpdateStepModules: copy the files, then run the updater scripts.
    $failAfter = bx_fail_after($module, $pkgDirs, count($files));
    $copied = 0;
    foreach ($files as $rel) {
        if ($failAfter >= 0 && $copied >= $failAfter) {
            $error = '[UCDF061] File ' . $target . '/' . $rel . ' was damaged while copying (bxops fault injection). ';
            bx_log($error, 'CUCDF');
            return $error . '[CL04] Module update failed.';
        }
        $to = $target . '/' . $rel;
        if (!is_dir(dirname($to))) {
            @mkdir(dirname($to), BX_DIR_PERMISSIONS, true);
        }
        if (file_exists($to) && !is_writable($to)) {
            $error = '[UCDF05] Cannot write to file ' . $to . '. ';
            bx_log($error, 'CUCDF');
            return $error . '[CL04] Module update failed.';
        }
        if (!@copy($unpacked . '/' . $rel, $to)) {
            $error = '[UCDF04] Cannot write to folder ' . dirname($to) . '. ';
            bx_log($error, 'CUCDF');
            return $error . '[CL04] Module update failed.';
        }
        @chmod($to, BX_FILE_PERMISSIONS);
        $copied++;
    }
    $pause = bx_pause_seconds($server, $pkgDirs);
    if ($pause > 0) {
        $flag = $updatesRoot . '/.bxops_paused';
        @file_put_contents($flag, getmypid() . ' ' . $module . "\n");
        bx_log('BXOPS-PAUSE before the DB step of ' . $module . ' for ' . $pause . ' s (pid ' . getmypid() . ')', 'BXOPS');
        usleep((int)($pause * 1000000));
        @unlink($flag);
    }
    foreach ($versions as $pkg) {
        $script = $unpacked . '/updater' . $pkg['version'] . '.php';
        if (file_exists($script)) {
            bx_log("Run updater '" . substr($script, strlen($root)) . "'", 'CRUPDCF1');
            $errors = bx_run_updater_script($script, $ctx['db'], $module, $pkg['version']);
            if (!empty($errors)) {
                $error = '[UUD01] Error in updater script updater' . $pkg['version'] . '.php: ' . implode('; ', $errors) . '. ';
                bx_log($error, 'CURUS');
                return $error . '[CL04] Module update failed.';
            }
        }
    }
    $latest = $versions[count($versions) - 1]['version'];
    bx_finalize($module, $latest);
    bx_log('Updated: ' . $module . ' (' . $latest . ')', 'UPD_SUCCESS');
    bx_remove_tree($stepDir);
    return '';
}

function bx_update_system($ctx, $pkg)
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    $dir = $ctx['server'] . '/' . $pkg['dir'] . '/files';
    if (!is_dir($dir)) {
        return '[CL02] Cannot extract files from archive.';
    }
    $files = bx_list_files($dir);
    $error = bx_check_updatability($dir, $root, $files);
    if ($error !== '') {
        return trim($error);
    }
    foreach ($files as $rel) {
        $to = $root . '/' . $rel;
        if (!is_dir(dirname($to))) {
            @mkdir(dirname($to), BX_DIR_PERMISSIONS, true);
        }
        if (!@copy($dir . '/' . $rel, $to)) {
            return '[UCDF05] Cannot write to file ' . $to . '.';
        }
        @chmod($to, BX_FILE_PERMISSIONS);
    }
    bx_log('Update system updated to ' . $pkg['version'], 'UPD_SUCCESS');
    return '';
}

function bx_bootstrap()
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    $settings = @include $root . '/bitrix/.settings.php';
    $dbconn = file_exists($root . '/local/php_interface/dbconn.php')
        ? $root . '/local/php_interface/dbconn.php' : $root . '/bitrix/php_interface/dbconn.php';
    if (file_exists($dbconn)) {
        include $dbconn;
    }
    if (!defined('BX_FILE_PERMISSIONS')) {
        define('BX_FILE_PERMISSIONS', 0644);
    }
    if (!defined('BX_DIR_PERMISSIONS')) {
        define('BX_DIR_PERMISSIONS', 0755);
    }
    $composer = isset($settings['composer']['value']['config_path']) ? $settings['composer']['value']['config_path'] : '';
    if ($composer !== '' && $composer[0] !== '/') {
        $composer = $root . '/' . $composer;
    }
    if ($composer === '' || !file_exists($composer) || !is_dir(dirname($composer) . '/vendor/symfony/console')) {
        die("\n\tSymfony Console is not installed.\n\tPlease install and configure composer in your project.\n"
            . "\tFor details see official documentation https://docs.1c-bitrix.ru/pages/get-started/composer.html\n\n\n");
    }
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

/** CUpdateClient::GetUpdatesList stand-in. Returns array('error' => ..., 'client' => ..., 'system' => ..., 'modules' => ...). */
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
        return array('error' => 'You must activate your license key before using the update system.');
    }
    $result = array('error' => '', 'client' => isset($index['client']) ? $index['client'] : array(),
        'system' => null, 'modules' => array());
    if (!empty($index['update_system'])) {
        $file = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/classes/general/update_client.php';
        $current = bx_read_version($file);
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

function cmd_update_modules($opts)
{
    $server = getenv('BX_UPDATE_SERVER_DIR');
    if ($server === false || $server === '') {
        $server = '/opt/bxops-update-server';
    }
    $db = bx_bootstrap();
    $ctx = array('server' => rtrim($server, '/'), 'db' => $db);
    $list = bx_list_updates($ctx['server']);
    if ($list['error'] !== '') {
        bx_log($list['error'], 'GUL');
        io_error($list['error']);
        return 1;
    }
    if (!empty($list['client'])) {
        io_title('Client information');
        io_writeln('Name: ' . (isset($list['client']['name']) ? $list['client']['name'] : 'n/a'));
        io_writeln('Product: ' . (isset($list['client']['license']) ? $list['client']['license'] : 'n/a'));
    }
    if ($list['system'] !== null) {
        io_info('Upgrade of the Update System is required.');
        if (io_confirm('Upgrade the Update System?')) {
            $error = bx_update_system($ctx, $list['system']);
            if ($error === '') {
                io_success('Update System upgraded successfully. Restart the command.');
                return 0;
            }
            io_error($error);
        }
        return 1;
    }
    $updateList = $list['modules'];
    if (empty($updateList)) {
        io_info('No updates found.');
        return 0;
    }
    io_title('Available updates');
    $lines = array();
    foreach ($updateList as $module => $pkgs) {
        $lines[] = $module . ' (' . $pkgs[count($pkgs) - 1]['version'] . ')';
    }
    sort($lines);
    bx_out(implode("\n", $lines) . "\n");

    if (!empty($opts['import'])) {
        $import = @file_get_contents($opts['import']);
        if ($import === false) {
            io_error('Import of expert updates failed (can\'t read the file).');
            return 1;
        }
        $expert = json_decode($import, true);
        if (!is_array($expert)) {
            io_error('Import of expert updates failed (JSON structure).');
            return 1;
        }
        io_title('Imported expert updates');
        foreach ($expert as $module => $version) {
            io_writeln($module . ' (' . $version . ')');
        }
        $selectedVersions = array();
        foreach ($expert as $module => $version) {
            if (!isset($updateList[$module])) {
                continue;
            }
            $subset = array();
            foreach ($updateList[$module] as $pkg) {
                if (bx_compare_versions($pkg['version'], $version) <= 0) {
                    $subset[] = $pkg;
                }
            }
            if (!empty($subset)) {
                $selectedVersions[$module] = $subset;
            }
        }
    } else {
        $selected = array();
        $wanted = !empty($opts['modules']) ? explode(',', $opts['modules']) : array();
        foreach ($updateList as $module => $pkgs) {
            if (empty($wanted) || in_array($module, $wanted, true)) {
                $selected[$module] = $pkgs[count($pkgs) - 1]['version'];
            }
        }
        if (empty($selected)) {
            io_info('No modules selected.');
            return 0;
        }
        if (!empty($wanted)) {
            $selected = array_merge($selected, bx_dependencies($updateList, $selected));
            ksort($selected);
            io_title('Updates to install');
            foreach ($selected as $module => $version) {
                io_writeln($module . ' (' . $version . ')');
            }
        }
        $selectedVersions = array();
        foreach (array_keys($selected) as $module) {
            $selectedVersions[$module] = $updateList[$module];
        }
    }
    if (!io_confirm('Install updates?')) {
        return 0;
    }
    // main first, as the real update server orders its steps
    uksort($selectedVersions, function ($a, $b) {
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
    });
    foreach ($selectedVersions as $module => $pkgs) {
        bx_out('Installing ' . $module . ' (' . $pkgs[count($pkgs) - 1]['version'] . ')... ');
        $error = bx_install_module($ctx, $module, $pkgs);
        if ($error !== '') {
            bx_out("\n");
            bx_log($error, 'UPD_ERROR');
            io_error($error);
            return 1;
        }
        io_writeln('Done!');
    }
    io_success('Updates installed successfully.');
    return 0;
}

function bx_decrease_version($version)
{
    $p = array_map('intval', explode('.', $version));
    while (count($p) < 3) {
        $p[] = 0;
    }
    if ($p[2] > 0) {
        $p[2]--;
    } elseif ($p[1] > 0) {
        $p[1]--;
        $p[2] = 999;
    } elseif ($p[0] > 0) {
        $p[0]--;
        $p[1] = 999;
        $p[2] = 999;
    }
    return implode('.', $p);
}

function cmd_update_versions($versionsFile)
{
    $import = @file_get_contents($versionsFile);
    if ($import === false) {
        io_error('Import of modules versions failed (can\'t read the file).');
        return 1;
    }
    $modules = json_decode($import, true);
    if (!is_array($modules)) {
        io_error('Import of modules versions failed (JSON structure).');
        return 1;
    }
    bx_bootstrap();
    foreach ($modules as $module => $version) {
        $file = bx_module_version_file($module);
        $current = bx_read_version($file);
        if ($current === null) {
            io_warning('Module ' . $module . ' not found.');
            continue;
        }
        if (bx_compare_versions($current, $version) >= 0) {
            $new = bx_decrease_version($version);
            $text = file_get_contents($file);
            $text = str_replace($current, $new, $text);
            if (@file_put_contents($file, $text) === false) {
                io_error('Cannot write ' . $file . '.');
                return 1;
            }
            io_writeln('Updated ' . $module . ' (' . $current . ') to version ' . $new);
        }
    }
    return 0;
}

$BX_COMMANDS = array(
    'help' => 'Display help for a command',
    'list' => 'List commands',
    'update:languages' => 'Updates language files.',
    'update:modules' => 'Updates modules.',
    'update:versions' => 'Updates modules versions.',
);
$BX_COMMAND_OPTIONS = array(
    'update:modules' => array('modules' => 'm', 'import' => 'i'),
    'update:languages' => array('languages' => 'l'),
    'update:versions' => array(),
    'list' => array(),
    'help' => array(),
);
$BX_USAGE = array(
    'update:modules' => 'update:modules [-m|--modules MODULES] [-i|--import IMPORT]',
    'update:languages' => 'update:languages [-l|--languages LANGUAGES]',
    'update:versions' => 'update:versions <versions>',
    'list' => 'list [<namespace>]',
    'help' => 'help [<command_name>]',
);

function bx_list_commands()
{
    global $BX_COMMANDS;
    bx_out("Bitrix console (bxops stand-in)\n\nUsage:\n  command [options] [arguments]\n\nOptions:\n"
        . "  -h, --help            Display help for the given command.\n"
        . "  -q, --quiet           Do not output any message\n"
        . "  -n, --no-interaction  Do not ask any interactive question\n\nAvailable commands:\n");
    foreach ($BX_COMMANDS as $name => $description) {
        bx_out('  ' . str_pad($name, 20) . $description . "\n");
    }
}

function bx_usage_error($message, $command)
{
    global $BX_USAGE;
    bx_err("\n  " . $message . "  \n\n");
    if ($command !== null && isset($BX_USAGE[$command])) {
        bx_err($BX_USAGE[$command] . "\n\n");
    }
    return 1;
}

function bx_main($argv)
{
    global $BX_QUIET, $BX_INTERACTIVE, $BX_COMMANDS, $BX_COMMAND_OPTIONS, $BX_USAGE;
    $tokens = array_slice($argv, 1);
    $noInteraction = false;
    $help = false;
    $raw = array();
    $positional = array();
    $n = count($tokens);
    for ($i = 0; $i < $n; $i++) {
        $t = $tokens[$i];
        if ($t === '-n' || $t === '--no-interaction') {
            $noInteraction = true;
        } elseif ($t === '-q' || $t === '--quiet') {
            $BX_QUIET = true;
        } elseif ($t === '-h' || $t === '--help') {
            $help = true;
        } elseif (in_array($t, array('-v', '-vv', '-vvv', '--verbose', '--ansi', '--no-ansi'), true)) {
            continue;
        } elseif ($t === '-V' || $t === '--version') {
            bx_out("Bitrix console (bxops stand-in)\n");
            return 0;
        } elseif (strlen($t) > 1 && $t[0] === '-') {
            $raw[] = array($t, $i + 1 < $n ? $tokens[$i + 1] : null, $i);
        } else {
            $positional[] = array($t, $i);
        }
    }
    $BX_INTERACTIVE = !$noInteraction;
    if ($BX_INTERACTIVE && getenv('SHELL_INTERACTIVE') === false) {
        if (function_exists('stream_isatty')) {
            $BX_INTERACTIVE = @stream_isatty(STDIN);
        } elseif (function_exists('posix_isatty')) {
            $BX_INTERACTIVE = @posix_isatty(STDIN);
        }
    }
    $command = empty($positional) ? 'list' : $positional[0][0];
    if (!isset($BX_COMMANDS[$command])) {
        return bx_usage_error('Command "' . $command . '" is not defined.', null);
    }
    $defs = $BX_COMMAND_OPTIONS[$command];
    $opts = array();
    $consumed = array();
    foreach ($raw as $r) {
        list($t, $next, $idx) = $r;
        if (isset($consumed[$idx])) {
            continue;
        }
        if (strncmp($t, '--', 2) === 0) {
            $eq = strpos($t, '=');
            $name = $eq === false ? substr($t, 2) : substr($t, 2, $eq - 2);
            $value = $eq === false ? null : substr($t, $eq + 1);
        } else {
            $short = $t[1];
            $name = array_search($short, $defs, true);
            if ($name === false) {
                return bx_usage_error('The "-' . $short . '" option does not exist.', $command);
            }
            $value = strlen($t) > 2 ? ltrim(substr($t, 2), '=') : null;
        }
        if (!array_key_exists($name, $defs)) {
            return bx_usage_error('The "--' . $name . '" option does not exist.', $command);
        }
        if ($value === null) {
            if ($next === null || ($next !== '' && $next[0] === '-')) {
                return bx_usage_error('The "--' . $name . '" option requires a value.', $command);
            }
            $value = $next;
            $consumed[$idx + 1] = true;
            foreach ($positional as $k => $p) {
                if ($p[1] === $idx + 1) {
                    unset($positional[$k]);
                }
            }
            $positional = array_values($positional);
        }
        $opts[$name] = $value;
    }
    if ($help || $command === 'help') {
        $target = $command === 'help' ? (isset($positional[1]) ? $positional[1][0] : 'help') : $command;
        if (!isset($BX_COMMANDS[$target])) {
            return bx_usage_error('Command "' . $target . '" is not defined.', null);
        }
        bx_out("Description:\n  " . $BX_COMMANDS[$target] . "\n\nUsage:\n  " . $BX_USAGE[$target] . "\n");
        return 0;
    }
    try {
        switch ($command) {
            case 'list':
                bx_list_commands();
                return 0;
            case 'update:modules':
                return cmd_update_modules($opts);
            case 'update:languages':
                bx_bootstrap();
                io_info('No updates found.');
                return 0;
            case 'update:versions':
                if (!isset($positional[1])) {
                    return bx_usage_error('Not enough arguments (missing: "versions").', $command);
                }
                return cmd_update_versions($positional[1][0]);
        }
    } catch (Throwable $e) {
        io_error($e->getMessage());
        return 1;
    }
    return 0;
}

exit(bx_main($argv));
