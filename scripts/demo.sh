#!/bin/sh
# Sets up llama3c and runs its main job: build, then generate text with the models in
# ../shared/fixtures: Karpathy's trained stories260K, then the chat format on the tok32 model
# (random weights, the real Llama 3 tokenizer and chat template). The build is quiet unless it
# fails. Pass your own model to run it instead: scripts/demo.sh -m MODEL -p "..."
# (or -m hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M to download one first).
set -eu
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { sh scripts/install-deps.sh && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build -j"$(nproc 2>/dev/null || echo 2)"; } >"$log" 2>&1; then
  cat "$log"
  echo "demo.sh: the build failed (above)" >&2
  exit 1
fi
if [ $# -gt 0 ]; then
  exec build/llama3 run "$@"
fi
F=../shared/fixtures
S=$F/stories260K/stories260K.gguf
T=$F/models/tok32/gguf/model-bf16.gguf
echo "=== stories260K (a tiny trained model):"
build/llama3 info -m $S
echo
echo "--- greedy from BOS:"
build/llama3 run -m $S --prompt-ids 1 -n 200 --temp 0
echo "--- sampled (seed 42):"
build/llama3 run -m $S --prompt-ids 1 -n 200 --temp 0.8 --seed 42
echo
echo "=== the Llama 3 chat format, on tok32 (random weights: the answer is noise; the format is real)"
echo "--- llama3 chat, one turn through a pipe (the answer):"
ids=$(printf 'What is the capital of France?\n' |
      build/llama3 chat -m $T -sys "You are a helpful assistant." -n 12 --temp 1 --seed 2 --repeat-penalty 1.3 --print-ids 2>/dev/null)
printf '%s\n' "$ids" | sed '$d'
echo "--- the conversation as the model saw it (llama3 detokenize of chat --print-ids):"
build/llama3 detokenize -m $T $(printf '%s\n' "$ids" | tail -1)
echo
echo "A real model in one command: build/llama3 chat -m hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
