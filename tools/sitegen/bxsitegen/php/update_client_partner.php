<?php
/**
 * bxops STAND-IN for 1C-Bitrix's bitrix/modules/main/classes/general/update_client_partner.php (class
 * CUpdateClientPartner: Marketplace modules). Written by the bxops site generator (tools/sitegen); this is NOT
 * vendor code. Only the list is imitated: GetUpdatesList answers in the shape of CUpdateClient::GetUpdatesList
 * with the partner releases of index.json "partner_modules" newer than the installed module
 * (local/modules/<id> wins over bitrix/modules/<id>). The core updater never touches partner modules.
 */
require_once __DIR__ . '/update_client.php';

class CUpdateClientPartner
{
    public static function GetUpdatesList(&$strError, $lang = false, $stableVersionsOnly = 'Y', $arRequestedModules = array(), $aditData = array())
    {
        $server = bx_server_dir();
        $list = bx_list_updates($server);
        if (!empty($list['reserved_key'])) {
            return array('ERROR' => array(array('@' => array('TYPE' => 'RESERVED_KEY'), '#' => 'License key is not active')));
        }
        if ($list['error'] !== '') {
            $strError .= $list['error'];
            return false;
        }
        $index = json_decode((string)@file_get_contents($server . '/index.json'), true);
        $partner = isset($index['partner_modules']) && is_array($index['partner_modules']) ? $index['partner_modules'] : array();
        ksort($partner);
        $modules = array();
        foreach ($partner as $module => $packages) {
            $current = null;
            foreach (array('/local/modules/', '/bitrix/modules/') as $base) {
                $file = $_SERVER['DOCUMENT_ROOT'] . $base . $module . '/install/version.php';
                if (file_exists($file)) {
                    $current = bx_read_version($file);
                    break;
                }
            }
            if ($current === null) {
                continue;
            }
            $versions = array();
            foreach ($packages as $pkg) {
                if (bx_compare_versions($pkg['version'], $current) > 0) {
                    $versions[] = array('@' => array('ID' => $pkg['version'], 'DATE' => $pkg['date']), '#' => array());
                }
            }
            if (!empty($versions)) {
                $modules[] = array('@' => array('ID' => $module, 'NAME' => $module), '#' => array('VERSION' => $versions));
            }
        }
        return array('MODULES' => array(array('@' => array(), '#' => array('MODULE' => $modules))));
    }
}
