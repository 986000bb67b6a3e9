#!/bin/bash
# Helper for the full demo recording: the same questions from the end, on server B, into the shared cache.
set -u
cd .
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700
C=../h1-eval
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8022/v1 .venv/bin/paperbot eval --questions $C/demo-reversed.jsonl \
  --corpus ../shared/corpus/inference-cost-papers.txt --collection eval-demo-249750b7f5 --mode llm --no-judge \
  --configs hybrid --work-dir $C --out $C/runs/demo-rev-record > $C/demo-rev-record.log 2>&1
echo "demo-rev exit $?" >> $C/record.status
