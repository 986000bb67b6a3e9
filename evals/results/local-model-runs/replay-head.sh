#!/bin/bash
# The final runs: the evals replayed through a --replay-only recording proxy on port 8177 (PORT=... overrides it)
# (`python -m evals.record_proxy --cache $C/llm-cache-run3 --port 8177 --replay-only`), on the code in $1.
# Usage: replay-head.sh REPO demo|pubmedqa|holdout [RUN_NAME]   (default RUN_NAME: demo-final / pubmedqa-final /
# holdout-final; holdout: the 44 single-paper holdout questions, record-holdout.sh writes their file)
. "$(dirname "$0")/env.sh" "$1"  # the code to run, and the shared settings
export PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:${PORT:-8177}/v1 PAPERBOT_MAX_ATTEMPTS=1  # a miss is an error, not a retry
NAME=${3:-$2-final}
case $2 in
  demo)
    nice -n 10 $PY -m paperbot eval --dataset demo --datasets-dir ../shared/datasets --collection eval-demo-249750b7f5 \
      --mode llm --no-judge --configs hybrid --work-dir $C --out $R/$NAME > $R/$NAME.log 2>&1 ;;
  pubmedqa)
    nice -n 10 $PY -m paperbot eval --questions $C/runs2/pubmedqa-100.jsonl --corpus $C/runs2/pubmedqa-dev-100.jsonl \
      --corpus $C/runs2/pubmedqa-dev-distractors.jsonl --collection eval-pubmedqa-dev-5ac283d0a5 --mode llm \
      --no-judge --configs hybrid:answer_k=3 --work-dir $C --out $R/$NAME > $R/$NAME.log 2>&1 ;;
  holdout)
    nice -n 10 $PY -m paperbot eval --questions $R/holdout-single-44.jsonl --corpus ../shared/corpus/inference-cost-papers.txt \
      --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid --work-dir $C --out $R/$NAME \
      > $R/$NAME.log 2>&1 ;;
esac
echo "$NAME exit $?" >> $R/replay.status
