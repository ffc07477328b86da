# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Updates of cores without the update console (before main 25.100.200): the steps of CUpdateClient,
each in a new PHP process, as the site's own admin page and the console drive them.

One process per call of STEP_PHP: ``list`` (GetUpdatesList), ``list_partner`` (CUpdateClientPartner's
GetUpdatesList: Marketplace modules, listed only), ``system`` (UpdateUpdate), ``step`` (LoadModulesUpdates;
when an archive is loaded: UnGzipArchive, CheckUpdatability, UpdateStepModules).
The script answers with one ``BXOPS-STEP <json>`` line; anything else it printed (the site's own
init.php, PHP warnings) is kept for the report.
"""

from __future__ import annotations

import json

ANSWER_MARK = "BXOPS-STEP "

# PHP 5.6+ syntax on purpose: the cores that need this path run old PHP versions.
STEP_PHP = r"""<?php
// bxops.bitrix update step: one CUpdateClient step of a 1C-Bitrix core without the update console,
// in its own PHP process (the updater requires a new process per step). Run as the site user.
$action = isset($argv[1]) ? $argv[1] : '';
$modules = (isset($argv[2]) && $argv[2] !== '') ? explode(',', $argv[2]) : array();
$_SERVER['DOCUMENT_ROOT'] = getenv('BXOPS_DOCROOT');
define('NOT_CHECK_PERMISSIONS', true);
define('NO_KEEP_STATISTIC', true);
define('NO_AGENT_STATISTIC', true);
define('NO_AGENT_CHECK', true);
define('STOP_STATISTICS', true);
@set_time_limit(0);
@ignore_user_abort(true);

function bxops_answer($data)
{
    echo "\n" . 'BXOPS-STEP ' . json_encode($data) . "\n";
}

require $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/include/prolog_before.php';
require_once $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/classes/general/update_client.php';

$damaged = '[CL02] Cannot extract files from archive.';
$stable = class_exists('COption') ? COption::GetOptionString('main', 'stable_versions_only', 'Y') : 'Y';
$error = '';
function bxops_listing($list, $error)
{
    $answer = array('state' => 'listed', 'error' => $error, 'licence' => false, 'system' => false,
        'modules' => new stdClass());
    if (is_array($list)) {
        if (isset($list['ERROR'])) {
            foreach ($list['ERROR'] as $item) {
                $type = $item['@']['TYPE'];
                if ($type === 'RESERVED_KEY') {
                    $answer['licence'] = true;
                } elseif ($type !== 'NEW_UPDATE_SYSTEM') {
                    $answer['error'] .= '[' . $type . '] ' . $item['#'] . ' ';
                }
            }
        }
        $answer['system'] = isset($list['UPDATE_SYSTEM']);
        $modules = array();
        if (isset($list['MODULES'][0]['#']['MODULE'])) {
            foreach ($list['MODULES'][0]['#']['MODULE'] as $module) {
                $found = array();
                if (isset($module['#']['VERSION'])) {
                    foreach ($module['#']['VERSION'] as $version) {
                        $found[] = $version['@']['ID'];
                    }
                }
                $modules[$module['@']['ID']] = $found;
            }
        }
        if (!empty($modules)) {
            $answer['modules'] = $modules;
        }
    } elseif ($error === '') {
        $answer['error'] = 'the update server gave no list';
    }
    if ($answer['licence'] || $answer['error'] !== '') {
        $answer['state'] = 'error';
    }
    return $answer;
}

if ($action === 'list') {
    $list = CUpdateClient::GetUpdatesList($error, false, $stable);
    bxops_answer(bxops_listing($list, $error));
} elseif ($action === 'list_partner') {
    $partnerClient = $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/classes/general/update_client_partner.php';
    if (!file_exists($partnerClient)) {
        bxops_answer(array('state' => 'error', 'error' => 'this core has no CUpdateClientPartner'));
    } else {
        require_once $partnerClient;
        $list = CUpdateClientPartner::GetUpdatesList($error, false, $stable);
        bxops_answer(bxops_listing($list, $error));
    }
} elseif ($action === 'system') {
    $ok = CUpdateClient::UpdateUpdate($error, false, $stable);
    bxops_answer(array('state' => $ok ? 'system_updated' : 'error', 'error' => $error));
} elseif ($action === 'step') {
    $description = array();
    $loaded = CUpdateClient::LoadModulesUpdates($error, $description, false, $stable, $modules);
    $items = array();
    if (isset($description['DATA']['#']['ITEM'])) {
        foreach ($description['DATA']['#']['ITEM'] as $item) {
            $items[$item['@']['NAME']] = $item['@']['VALUE'];
        }
    }
    if ($loaded === 'E') {
        bxops_answer(array('state' => 'error', 'error' => $error !== '' ? $error : $damaged));
    } elseif ($loaded === 'F') {
        bxops_answer(array('state' => 'finished'));
    } elseif ($loaded === 'S') {
        bxops_answer(array('state' => 'loaded', 'items' => $items));
    } else {
        $dir = '';
        if (!CUpdateClient::UnGzipArchive($dir, $error, true)) {
            bxops_answer(array('state' => 'error', 'error' => $error !== '' ? $error : $damaged));
        } elseif (!CUpdateClient::CheckUpdatability($dir, $error)) {
            bxops_answer(array('state' => 'error', 'error' => $error));
        } elseif (!CUpdateClient::UpdateStepModules($dir, $error)) {
            $error .= '[CL04] Module update failed.';
            bxops_answer(array('state' => 'error', 'error' => $error, 'items' => $items));
        } else {
            bxops_answer(array('state' => 'installed', 'items' => $items));
        }
    }
} else {
    bxops_answer(array('state' => 'error', 'error' => 'unknown step ' . $action));
}
"""


def parse_answer(output: str) -> dict | None:
    """The step's answer (the last BXOPS-STEP line), or None when the process died before answering."""
    for line in reversed(output.splitlines()):
        if line.startswith(ANSWER_MARK):
            try:
                answer = json.loads(line[len(ANSWER_MARK):])
            except ValueError:
                return None
            return answer if isinstance(answer, dict) else None
    return None


def without_answers(output: str) -> str:
    """What the step printed besides its answer line."""
    return "\n".join(line for line in output.splitlines() if not line.startswith(ANSWER_MARK)).strip()


def describe(items: dict) -> str:
    return ", ".join(f"{name} ({version})" if version else str(name) for name, version in sorted(items.items()))
