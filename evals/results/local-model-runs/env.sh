# Sourced by every script here: `. env.sh SRC` runs from SRC, a snapshot of the code (the working tree was
# mid-change by other engineers), with the settings all recordings and replays share.
set -u
SRC=$1
cd "$SRC"
export PYTHONPATH=$SRC
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700 PAPERBOT_LOCAL_MAX_ANSWER_TOKENS=160
C=../h1-eval
PY=.venv/bin/python
