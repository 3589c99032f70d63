#!/bin/sh
# Sets up llama3c and runs its main job: build, then generate text with the models in
# ../shared/fixtures (Karpathy's trained stories260K, and the Llama 3 tokenizer's tok32 model
# in chat format). Pass your own model to run it instead: scripts/demo.sh -m MODEL -p "..."
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
if [ $# -gt 0 ]; then
  exec build/llama3 run "$@"
fi
F=../shared/fixtures
build/llama3 info -m $F/stories260K/stories260K.gguf
echo "--- stories260K, greedy from BOS:"
build/llama3 run -m $F/stories260K/stories260K.gguf --prompt-ids 1 -n 200 --temp 0
echo "--- stories260K, sampled (seed 42):"
build/llama3 run -m $F/stories260K/stories260K.gguf --prompt-ids 1 -n 200 --temp 0.8 --seed 42
