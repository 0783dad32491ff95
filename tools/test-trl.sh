#!/usr/bin/env bash
# Tests the TRL trainer (python/optune_trl): installs the pinned torch/transformers/TRL into a
# virtualenv, then runs python/tests with pytest, printing both loss checks and the training steps.
# CPU only; needs no GPU, no network besides PyPI (and Debian's packages when python3-venv is
# missing), and downloads no model. Not part of .ci/run: the virtualenv is 1.5 GB with a CPU build
# of torch, 5.2 GB with PyPI's default (CUDA) build, which also runs on CPU.
#
# Usage: tools/test-trl.sh [arguments for pytest, e.g. -k loss]
#   OPTUNE_TRL_VENV   the virtualenv folder (default: .venv-trl in the repository)
#   OPTUNE_TRL_PYTHON the interpreter that creates it (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test-trl: %s\n' "$*"; }
venv=${OPTUNE_TRL_VENV:-.venv-trl}
python=${OPTUNE_TRL_PYTHON:-python3}
requirements=python/optune_trl/requirements.txt

case "${1:-}" in
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

# --- Python with venv -----------------------------------------------------------------------------
# Debian splits venv/ensurepip out of python3 (python3-venv); install it the way tools/setup.sh does.
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if command -v dpkg >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        say "installing python3 and python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv
    else
        say "$python with the venv module is needed: sudo apt-get install -y python3 python3-venv" >&2
        exit 1
    fi
fi
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { say "Python 3.10 or newer is needed, $python is $("$python" --version 2>&1)" >&2; exit 1; }

# --- Virtualenv with the pinned packages (reinstalled when requirements.txt changes) ----------------
stamp="$venv/.optune-requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -c1-64)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    say "$venv: pinned packages present"
else
    [ -x "$venv/bin/python" ] || { say "creating $venv"; "$python" -m venv "$venv"; }
    say "installing $requirements into $venv (torch is large; this takes a few minutes the first time)"
    started=$(date +%s)
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
    say "installed in $(($(date +%s) - started)) s; $venv is $(du -sh "$venv" | cut -f1)"
fi
"$venv/bin/python" - <<'EOF'
import accelerate, datasets, torch, transformers, trl
print(f"test-trl: torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
      f"datasets {datasets.__version__}, accelerate {accelerate.__version__}, CUDA available: {torch.cuda.is_available()}")
EOF

# --- Tests ----------------------------------------------------------------------------------------
# Offline: nothing is fetched from a model hub; the tests build their tokenizer and model in code.
# A private HF_HOME keeps the datasets cache (reference log-probs, tokenised sets) out of ~/.cache.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false HF_DATASETS_DISABLE_PROGRESS_BARS=1
hf_home=$(mktemp -d /tmp/optune-trl-hf.XXXXXX)
trap 'rm -rf "$hf_home"' EXIT
export HF_HOME="$hf_home"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
say "running: pytest python/tests -v -s $*"
status=0
"$venv/bin/python" -m pytest python/tests -v -s -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 0 ]; then say "passed"; else say "FAILED (pytest exit status $status)" >&2; fi
exit "$status"
