#!/bin/bash
# The demo questions from the end, on server A, into the same recordings (meets the forward run in the middle).
set -u
cd SNAPSHOT
export PYTHONPATH=SNAPSHOT
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700 PAPERBOT_LOCAL_MAX_ANSWER_TOKENS=160
C=../h1-eval
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8112/v1 nice -n 10 .venv/bin/python -m paperbot eval \
  --questions $C/runs2/demo-reversed.jsonl --corpus ../shared/corpus/inference-cost-papers.txt \
  --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid --work-dir $C --out $C/runs2/demo-rev-record \
  > $C/runs2/demo-rev-record.log 2>&1
echo "demo-rev exit $?" >> $C/runs2/record.status
