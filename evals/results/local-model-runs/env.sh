# Sourced by every script here: `. env.sh SRC` runs from SRC (the repository, or a snapshot of it) with the settings
# all recordings and replays share. EVAL_DIR: the eval work dir holding the stores, run folders and recordings
# (default ../h1-eval, the previous session's).
set -u
SRC=$1
cd "$SRC"
export PYTHONPATH=$SRC
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False PAPERBOT_MODELS_DIR=../shared/models
export PAPERBOT_LOCAL_MODEL=../local-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
export PAPERBOT_LOCAL_PROMPT_TOKENS=700 PAPERBOT_LOCAL_MAX_ANSWER_TOKENS=160
C=${EVAL_DIR:-../h1-eval}
R=$C/runs3  # this session's run folders
PY=.venv/bin/python
