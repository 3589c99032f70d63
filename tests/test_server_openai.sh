#!/bin/bash
# The official `openai` npm package drives the server (installed with
# `npm install --prefix NODE_PREFIX openai` when missing; skipped, exit 77, if that fails).
# usage: test_server_openai.sh LLAMA3_CLI MODEL NODE_PREFIX
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2 PREFIX=$3
need_npm "$PREFIX" openai
start_server "$CLI" "$MODEL" --slots 2 -c 256
timeout 120 node "$(dirname "$0")/server_client.mjs" "$BASE" "$PREFIX" || fail "openai client"
finish
