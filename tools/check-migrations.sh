#!/usr/bin/env bash
# Fails when a landed migration changed: every file listed in Migrations/checksums.sha256 must
# still have its recorded sha256. A new migration is added with --record (which only appends:
# it never rewrites the line of a file already listed).
#
# Usage: tools/check-migrations.sh [--record]
set -euo pipefail
cd "$(dirname "$0")/.."
list=Migrations/checksums.sha256
status=0
while read -r sum name; do
    [ -n "$name" ] || continue
    if [ ! -f "Migrations/sql/$name" ]; then
        echo "check-migrations: $name is listed in $list but missing: a landed migration is never removed" >&2
        status=1
    elif [ "$(sha256sum "Migrations/sql/$name" | cut -d' ' -f1)" != "$sum" ]; then
        echo "check-migrations: Migrations/sql/$name changed after it landed; change the schema with a new migration instead" >&2
        status=1
    fi
done < "$list"
for file in Migrations/sql/*.sql; do
    name=$(basename "$file")
    if ! grep -q " $name\$" "$list"; then
        if [ "${1:-}" = "--record" ]; then
            (cd Migrations/sql && sha256sum "$name") >> "$list"
            echo "check-migrations: recorded $name"
        else
            echo "check-migrations: $name is not in $list; run tools/check-migrations.sh --record when it lands" >&2
            status=1
        fi
    fi
done
[ "$status" -eq 0 ] && echo "check-migrations: $(wc -l < "$list") landed migrations unchanged"
exit "$status"
