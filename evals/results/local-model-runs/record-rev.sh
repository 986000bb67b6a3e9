#!/bin/bash
# The demo questions from the end, on server A, into the same recordings (meets the forward run in the middle).
. "$(dirname "$0")/env.sh" "$1"  # the code snapshot to run, and the shared settings
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8112/v1 nice -n 10 .venv/bin/python -m paperbot eval \
  --questions $C/runs2/demo-reversed.jsonl --corpus ../shared/corpus/inference-cost-papers.txt \
  --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid --work-dir $C --out $C/runs2/demo-rev-record \
  > $C/runs2/demo-rev-record.log 2>&1
echo "demo-rev exit $?" >> $C/runs2/record.status
