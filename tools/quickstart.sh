#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds optune (release),
# starts the private PostgreSQL under ./.optune, and runs OPTune on the built-in digit task.
# Extra arguments go to `optune run` (see `.build/release/optune run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
optune=.build/release/optune
"$optune" db start
"$optune" db migrate
"$optune" db status
echo
echo "=== optune run $* ==="
"$optune" run "$@"
