#!/bin/bash
# Half-closed clients get their whole reply; clients that close entirely free their slot
# (tests/server_halfclose.mjs: node's net sockets, as curl cannot half-close).
# usage: test_server_halfclose.sh LLAMA3_CLI MODEL (skipped, 77, without node)
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
start_server "$CLI" "$MODEL" --slots 2 -c 2048
timeout 300 node "$(dirname "$0")/server_halfclose.mjs" "$BASE" || fail "half-closed clients"
finish
