#!/bin/bash
# Recording runs of the real local model through evals/record_proxy.py: PubMedQA (100) on server A, demo on B.
# Usage: record.sh SNAPSHOT (HEAD + this session's prompts and eval changes).
. "$(dirname "$0")/env.sh" "$1"  # the code snapshot to run, and the shared settings
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8112/v1 nice -n 10 $PY -m paperbot eval --dataset pubmedqa-dev \
  --datasets-dir ../shared/datasets --limit 100 --max-corpus 200 --mode llm --no-judge --configs hybrid:answer_k=3 \
  --work-dir $C --out $C/runs2/pubmedqa-record > $C/runs2/pubmedqa-record.log 2>&1 &
A=$!
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8114/v1 nice -n 10 $PY -m paperbot eval --dataset demo --datasets-dir ../shared/datasets \
  --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid --work-dir $C --out $C/runs2/demo-record \
  > $C/runs2/demo-record.log 2>&1 &
B=$!
wait $A; echo "pubmedqa exit $?" >> $C/runs2/record.status
wait $B; echo "demo exit $?" >> $C/runs2/record.status
