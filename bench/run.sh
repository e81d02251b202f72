#!/usr/bin/env bash
# Install what the bench needs (Debian wrk + nginx-light; LiteLLM in its own venv), then run bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
VENV="${BENCH_LITELLM_VENV:-bench/.litellm-venv}"
if [ -z "${BENCH_NO_LITELLM:-}" ] && [ ! -x "$VENV/bin/litellm" ]; then
  python3 -m venv "$VENV"
  # 1.106.12: newer [proxy] extras need a package not served here; never 1.107.0 (a compromised release).
  "$VENV/bin/pip" install --quiet "litellm[proxy]==1.106.12"
fi
ulimit -n "$(ulimit -Hn)"
exec .venv/bin/python bench/bench.py "$@"
