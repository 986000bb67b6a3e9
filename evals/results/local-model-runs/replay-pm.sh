#!/bin/bash
# Final PubMedQA run: the recorded part of the first 100 dev questions, replayed through a --replay-only proxy.
. "$(dirname "$0")/env.sh" "$1"  # the code snapshot to run, and the shared settings
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8116/v1 nice -n 10 .venv/bin/python -m paperbot eval \
  --questions $C/runs2/pubmedqa-sample.jsonl --corpus $C/runs2/pubmedqa-dev-100.jsonl \
  --corpus $C/runs2/pubmedqa-dev-distractors.jsonl --collection eval-pubmedqa-dev-5ac283d0a5 --mode llm --no-judge \
  --configs hybrid:answer_k=3 --work-dir $C --out $C/runs2/pubmedqa-final > $C/runs2/pubmedqa-final.log 2>&1
echo "pubmedqa-final exit $?" >> $C/runs2/replay.status
