#!/bin/sh
# Test helper: copy a backup and change one file inside its archive (manifest left as it was).
# Usage: tamper.sh BACKUP_PATH TARGET_DIR RELATIVE_FILE
set -eu
src=$1
dst=$2/$(basename "$src")
rel=$3
rm -rf "$2"
mkdir -p "$dst" "$2/x"
cp -a "$src/." "$dst/"
archive=$(ls "$dst" | grep '^files\.tar')
case $archive in
  *.zst) dec="zstd -q -d -c"; comp="zstd -q -c" ;;
  *) dec="gzip -d -c"; comp="gzip -1 -c" ;;
esac
$dec "$dst/$archive" | tar -x -C "$2/x" --numeric-owner -p
echo '<?php // tampered' >> "$2/x/$rel"
tar -c -C "$2/x" --numeric-owner --format=posix . | $comp > "$dst/$archive"
rm -rf "$2/x"
