#!/bin/bash
# Recording runs of the real local model through evals/record_proxy.py: demo sample on server A, PubMedQA on B.
set -u
cd .
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700
C=../h1-eval
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8012/v1 .venv/bin/paperbot eval --questions $C/demo-sample.jsonl \
  --corpus ../shared/corpus/inference-cost-papers.txt --collection eval-demo-249750b7f5 --mode llm --no-judge \
  --configs hybrid --work-dir $C --out $C/runs/demo-record > $C/demo-record.log 2>&1 &
A=$!
PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:8022/v1 .venv/bin/paperbot eval --dataset pubmedqa-dev \
  --datasets-dir ../shared/datasets --limit 15 --max-corpus 200 --mode llm --no-judge --configs hybrid:answer_k=3 \
  --work-dir $C --out $C/runs/pubmedqa-record > $C/pubmedqa-record.log 2>&1 &
B=$!
wait $A; echo "demo exit $?" >> $C/record.status
wait $B; echo "pubmedqa exit $?" >> $C/record.status
