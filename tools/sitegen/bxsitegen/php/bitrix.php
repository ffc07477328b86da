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
 * The update client and the server stand-in live in bitrix/modules/main/classes/general/update_client.php
 * (CUpdateClient's steps, shared with cores that have no console); this file is the command line around them.
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
 *                                           /tmp/bxops-update-stand-in.paused (pid, module; outside the
 *                                           site, so bxops never meets it), logs BXOPS-PAUSE
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

require_once $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/classes/general/update_client.php';

/** What the real console needs before it runs: composer's symfony/console, the kernel's settings and DB. */
function bx_bootstrap()
{
    $root = $_SERVER['DOCUMENT_ROOT'];
    $settings = @include $root . '/bitrix/.settings.php';
    $dbconn = file_exists($root . '/local/php_interface/dbconn.php')
        ? $root . '/local/php_interface/dbconn.php' : $root . '/bitrix/php_interface/dbconn.php';
    if (file_exists($dbconn)) {
        include $dbconn;
    }
    $composer = isset($settings['composer']['value']['config_path']) ? $settings['composer']['value']['config_path'] : '';
    if ($composer !== '' && $composer[0] !== '/') {
        $composer = $root . '/' . $composer;
    }
    if ($composer === '' || !file_exists($composer) || !is_dir(dirname($composer) . '/vendor/symfony/console')) {
        die("\n\tSymfony Console is not installed.\n\tPlease install and configure composer in your project.\n"
            . "\tFor details see official documentation https://docs.1c-bitrix.ru/pages/get-started/composer.html\n\n\n");
    }
    return bx_db();
}

/** One module through the client's steps, in this process (as the console's UpdaterService does). */
function bx_install_module($module, $version)
{
    $error = '';
    $description = null;
    $loaded = CUpdateClient::LoadModulesUpdates($error, $description, false, 'Y', array($module => $version), true);
    if ($loaded === 'E') {
        return $error !== '' ? trim($error) : '[CL02] Cannot extract files from archive.';
    }
    if ($loaded === 'F') {
        return '';
    }
    $dir = '';
    if (!CUpdateClient::UnGzipArchive($dir, $error)) {
        return $error;
    }
    if (!CUpdateClient::CheckUpdatability($dir, $error)) {
        return $error;
    }
    if (!CUpdateClient::UpdateStepModules($dir, $error)) {
        return $error . '[CL04] Module update failed.';
    }
    return '';
}

function cmd_update_modules($opts)
{
    bx_bootstrap();
    $list = bx_list_updates(bx_server_dir());
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
            $error = bx_update_system($list['system']);
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
    uksort($selectedVersions, 'bx_step_order');
    foreach ($selectedVersions as $module => $pkgs) {
        bx_out('Installing ' . $module . ' (' . $pkgs[count($pkgs) - 1]['version'] . ')... ');
        $error = bx_install_module($module, $pkgs[count($pkgs) - 1]['version']);
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
