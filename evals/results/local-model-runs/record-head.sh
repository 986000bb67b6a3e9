#!/bin/bash
# Session 3: the stores copied from the previous session's EVAL_DIR and rebuilt for HEAD's BM25 format
# (`paperbot --data-dir $C --collection NAME reindex`), then every eval through recording proxies: requests recorded
# before are replayed, new ones generated. Servers: `PAPERBOT_LOCAL_REPACK=off paperbot llm serve --model $M
# --port 8171|8173 --threads 1`; proxies: `python -m evals.record_proxy --upstream http://127.0.0.1:8171/v1
# --cache $C/llm-cache-run3 --port 8172` (and 8173 -> 8174). Each eval runs forward on one server and reversed on the
# other (`tac`), so they meet in the middle and the second half replays. Usage: record-head.sh REPO demo|pubmedqa
. "$(dirname "$0")/env.sh" "$1"  # the code to run, and the shared settings
mkdir -p $R
run() {  # $1 proxy port, $2 name, then the eval's own arguments
  local port=$1 name=$2; shift 2
  PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:$port/v1 nice -n 10 $PY -m paperbot eval "$@" --mode llm --no-judge \
    --work-dir $C --out $R/$name > $R/$name.log 2>&1
  echo "$name exit $?" >> $R/record.status
}
case $2 in
  demo)
    tac evals/questions/demo.jsonl > $R/demo-reversed.jsonl
    run 8172 demo-rec --dataset demo --datasets-dir ../shared/datasets --collection eval-demo-249750b7f5 \
      --configs hybrid &
    run 8174 demo-rev-rec --questions $R/demo-reversed.jsonl --corpus ../shared/corpus/inference-cost-papers.txt \
      --collection eval-demo-249750b7f5 --configs hybrid &
    wait ;;
  pubmedqa)  # the first 100 dev questions (the previous session's files in $C/runs2)
    tac $C/runs2/pubmedqa-100.jsonl > $R/pubmedqa-100-reversed.jsonl
    for dir in fwd:$C/runs2/pubmedqa-100.jsonl:8172 rev:$R/pubmedqa-100-reversed.jsonl:8174; do
      IFS=: read -r name questions port <<< "$dir"
      run $port pubmedqa-$name-rec --questions $questions --corpus $C/runs2/pubmedqa-dev-100.jsonl \
        --corpus $C/runs2/pubmedqa-dev-distractors.jsonl --collection eval-pubmedqa-dev-5ac283d0a5 \
        --configs hybrid:answer_k=3 &
    done
    wait ;;
esac
