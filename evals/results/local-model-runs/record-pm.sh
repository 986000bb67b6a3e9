#!/bin/bash
# PubMedQA's first 100 dev questions, forward on server A and from the end on server B, into the same recordings.
. "$(dirname "$0")/env.sh" "$1"  # the code snapshot to run, and the shared settings
run() {  # $1 proxy port, $2 question file, $3 name
  PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:$1/v1 nice -n 10 $PY -m paperbot eval --questions $2 \
    --corpus $C/runs2/pubmedqa-dev-100.jsonl --corpus $C/runs2/pubmedqa-dev-distractors.jsonl \
    --collection eval-pubmedqa-dev-5ac283d0a5 --mode llm --no-judge --configs hybrid:answer_k=3 --work-dir $C \
    --out $C/runs2/$3 > $C/runs2/$3.log 2>&1
  echo "$3 exit $?" >> $C/runs2/record.status
}
run 8112 $C/runs2/pubmedqa-100.jsonl pubmedqa-fwd-record &
run 8114 $C/runs2/pubmedqa-100-reversed.jsonl pubmedqa-rev-record &
wait
