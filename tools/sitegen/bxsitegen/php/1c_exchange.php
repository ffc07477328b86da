<?php
/**
 * bxops STAND-IN for 1C-Bitrix's /bitrix/admin/1c_exchange.php (catalog import part only).
 * Written by the bxops site generator; NOT vendor code. Authentication is SKIPPED in this stand-in
 * (mode=checkauth always answers success). What it keeps from the real exchange is what the
 * permissions role must observe: mode=init empties upload/1c_catalog/ and mode=file appends the request
 * body to a file there, both as the PHP-FPM user, answering the real failure codes when it cannot:
 *   failure\nCC_BSC1_ERROR_INIT       folder cannot be created/emptied (init)
 *   failure\nCC_BSC1_ERROR_FILE_OPEN  file cannot be opened for writing (file)
 *   failure\nCC_BSC1_ERROR_FILE_WRITE write failed (file)
 * Success answers are the real ones: init -> "zip=no\nfile_limit=N", file -> "success".
 */
define('NOT_CHECK_PERMISSIONS', true);
require_once $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/include/prolog_before.php';

header('Content-Type: text/plain; charset=utf-8');
$type = isset($_GET['type']) ? $_GET['type'] : '';
$mode = isset($_GET['mode']) ? $_GET['mode'] : '';
$uploadDir = COption::GetOptionString('main', 'upload_dir', 'upload');
$dir = $_SERVER['DOCUMENT_ROOT'] . '/' . $uploadDir . '/1c_catalog';

function bx_exchange_empty_dir($path)
{
    $ok = true;
    $items = @scandir($path);
    if ($items === false) {
        return false;
    }
    foreach ($items as $item) {
        if ($item === '.' || $item === '..') {
            continue;
        }
        $full = $path . '/' . $item;
        if (is_dir($full) && !is_link($full)) {
            $ok = bx_exchange_empty_dir($full) && @rmdir($full) && $ok;
        } else {
            $ok = @unlink($full) && $ok;
        }
    }
    return $ok;
}

if ($type !== 'catalog') {
    echo "failure\nUnknown exchange type (this stand-in serves type=catalog only).";
    exit;
}

if ($mode === 'checkauth') {
    echo "success\nPHPSESSID\n" . md5((string)mt_rand()) . "\n";
} elseif ($mode === 'init') {
    if (!is_dir($dir)) {
        @mkdir($dir, BX_DIR_PERMISSIONS, true);
    }
    if (!is_dir($dir) || !is_writable($dir) || !bx_exchange_empty_dir($dir)) {
        echo "failure\nCC_BSC1_ERROR_INIT";
        exit;
    }
    echo "zip=no\nfile_limit=104857600";
} elseif ($mode === 'file') {
    $name = isset($_GET['filename']) ? basename($_GET['filename']) : '';
    if ($name === '' || $name === '.' || $name === '..') {
        echo "failure\nCC_BSC1_ERROR_FILE_OPEN";
        exit;
    }
    $data = file_get_contents('php://input');
    $fp = @fopen($dir . '/' . $name, 'ab');
    if (!$fp) {
        echo "failure\nCC_BSC1_ERROR_FILE_OPEN";
        exit;
    }
    $written = @fwrite($fp, $data);
    fclose($fp);
    if ($written === false || $written !== strlen($data)) {
        echo "failure\nCC_BSC1_ERROR_FILE_WRITE";
        exit;
    }
    @chmod($dir . '/' . $name, BX_FILE_PERMISSIONS);
    echo "success";
} elseif ($mode === 'import') {
    echo "success\nImport is not simulated by the bxops stand-in.";
} else {
    echo "failure\nUnknown mode.";
}
