#!/bin/bash
# Final demo run: the eval command replayed through a --replay-only recording proxy (code: $1).
set -u
SRC=$1
cd $SRC
export PYTHONPATH=$SRC
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700 PAPERBOT_LOCAL_MAX_ANSWER_TOKENS=160
C=../h1-eval
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8116/v1 nice -n 10 .venv/bin/python -m paperbot eval --dataset demo \
  --datasets-dir ../shared/datasets --collection eval-demo-249750b7f5 --mode llm --no-judge --configs hybrid \
  --work-dir $C --out $C/runs2/demo-final > $C/runs2/demo-final.log 2>&1
echo "demo-final exit $?" >> $C/runs2/replay.status
