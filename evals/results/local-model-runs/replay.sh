#!/bin/bash
# Final runs: same commands as the recording, replayed through the proxies (misses are generated and recorded).
set -u
cd .
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700
C=../h1-eval
git log -1 --format='%H %s' > $C/replay.git; git status --short >> $C/replay.git
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8012/v1 .venv/bin/paperbot eval --dataset demo --datasets-dir ../shared/datasets \
  --collection eval-demo-249750b7f5 --mode llm --no-judge \
  --configs hybrid --work-dir $C --out $C/runs/demo-final > $C/demo-final.log 2>&1 &
A=$!
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8022/v1 .venv/bin/paperbot eval --dataset pubmedqa-dev \
  --datasets-dir ../shared/datasets --limit 15 --max-corpus 200 --mode llm --no-judge --configs hybrid:answer_k=3 \
  --work-dir $C --out $C/runs/pubmedqa-final > $C/pubmedqa-final.log 2>&1 &
B=$!
wait $A; echo "demo-final exit $?" >> $C/replay.status
wait $B; echo "pubmedqa-final exit $?" >> $C/replay.status
