#!/usr/bin/env bash
# Renders an `optune report` HTML file in headless Chromium and saves a PNG screenshot, to look
# at the plots without a browser (the report needs no network; Chromium gets none it could use).
#
# Usage: tools/report-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]   (default 1200x2400)
# Needs chromium (Debian: apt-get install -y chromium; run as root to have it installed here).
set -euo pipefail

case "${1:-}" in
    -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1200x2400}
[ -f "$report" ] || { echo "report-screenshot: no such file: $report" >&2; exit 1; }
[[ "$size" =~ ^[0-9]+x[0-9]+$ ]] || { echo "report-screenshot: size must look like 1200x2400, got $size" >&2; exit 2; }

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [ -z "$browser" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "report-screenshot: installing chromium" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
        browser=chromium
    else
        echo "report-screenshot: chromium is not installed (sudo apt-get install -y chromium)" >&2
        exit 1
    fi
fi

abs_report=$(realpath "$report")
abs_out=$(realpath -m "$out")
mkdir -p "$(dirname "$abs_out")"
rm -f "$abs_out"
# A private profile so a running browser or a stale lock does not interfere.
profile=$(mktemp -d "${TMPDIR:-/tmp}/report-screenshot.XXXXXX")
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --no-first-run --no-default-browser-check --disable-extensions \
    --screenshot="$abs_out" --window-size="${size/x/,}" "file://$abs_report" >/dev/null 2>"$profile/stderr" || {
    cat "$profile/stderr" >&2
    exit 1
}
[ -s "$abs_out" ] || { echo "report-screenshot: chromium wrote no screenshot" >&2; cat "$profile/stderr" >&2; exit 1; }
echo "$abs_out"
