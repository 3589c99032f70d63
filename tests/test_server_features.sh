#!/bin/bash
# Issue 18's request features through the official `openai` npm client (tests/server_features.mjs):
# logprobs, logit_bias, penalties, structured output, echo, prompt cache, refused fields.
# usage: test_server_features.sh LLAMA3_CLI MODEL NODE_PREFIX (skipped, 77, without the openai package)
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2 PREFIX=$3
need_npm "$PREFIX" openai
start_server "$CLI" "$MODEL" --slots 2 -c 512
timeout 400 node "$(dirname "$0")/server_features.mjs" "$BASE" "$PREFIX" || fail "openai client, features"
finish
