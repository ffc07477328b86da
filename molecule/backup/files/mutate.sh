#!/bin/sh
# Test helper: change the site the way a failed update or an intruder would, so a restore has work to do.
# Usage: mutate.sh DOCROOT DATABASE
set -eu
D=$1
DB=$2
# content changed (mtime too), a file deleted, files and a folder added, owner and mode changed
echo '<?php // changed after the backup' >> "$D/index.php"
victim=$(find "$D/upload/iblock" -type f | sort | head -n 1)
rm -f "$victim"
echo '<?php echo "added after the backup";' > "$D/added_after_backup.php"
mkdir -p "$D/local/modules/added.module/lib"
echo '<?php' > "$D/local/modules/added.module/lib/x.php"
chmod 0600 "$D/bitrix/php_interface/dbconn.php"
chown root:root "$D/bitrix/modules/main/classes/general/version.php"
chmod 0777 "$D/upload"
# a file in a disposable folder: the restore leaves it alone
mkdir -p "$D/upload/tmp"
echo keep > "$D/upload/tmp/added_in_disposable.txt"
# database: rows changed, deleted, added; a table created
mysql "$DB" -e "UPDATE b_option SET VALUE = CONCAT(VALUE, '-changed') ORDER BY MODULE_ID, NAME LIMIT 3;
  DELETE FROM b_file ORDER BY ID LIMIT 5;
  INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('bxops_test', 'added_after_backup', 'x');
  CREATE TABLE bxops_added_after_backup (id INT PRIMARY KEY) ENGINE=InnoDB;
  INSERT INTO bxops_added_after_backup VALUES (1);"
printf '{"deleted": "%s"}\n' "${victim#"$D"/}"
