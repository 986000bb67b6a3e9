#!/bin/bash
# Final demo run: the eval command replayed through a --replay-only recording proxy (code: $1).
. "$(dirname "$0")/env.sh" "$1"  # the code snapshot to run, and the shared settings
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8116/v1 nice -n 10 .venv/bin/python -m paperbot eval --dataset demo \
  --datasets-dir ../shared/datasets --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid \
  --work-dir $C --out $C/runs2/demo-final > $C/runs2/demo-final.log 2>&1
echo "demo-final exit $?" >> $C/runs2/replay.status
