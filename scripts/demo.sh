#!/usr/bin/env bash
# `make demo`: the main job on a local devnet. It grows with the project; today: devnet up, show what is
# deployed and the minimums read back from chain, then stop everything (the devnet's state stays in .devnet-demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
RECONCILE=.venv/bin/reconcile
DIR=.devnet-demo
PORT=$(.venv/bin/python -c 'from reconciler.anvil import free_port; print(free_port())')
trap '$RECONCILE devnet down --dir "$DIR" >/dev/null 2>&1 || true' EXIT

echo "== starting a local devnet (anvil on 127.0.0.1:$PORT, state in $DIR/)"
$RECONCILE devnet up --dir "$DIR" --port "$PORT"
echo
echo "== what the chain says"
$RECONCILE devnet status --dir "$DIR"
echo
echo "Next: .venv/bin/reconcile devnet up   (a devnet that stays up on 127.0.0.1:8545, state in .devnet/)"
