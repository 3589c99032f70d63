#!/bin/bash
# The chat page at / in headless Chromium (tests/server_webui.mjs). Needs Debian's chromium
# and the playwright-core npm package (installed with `npm install --prefix NODE_PREFIX
# playwright-core` when missing); skipped (77) without them.
# usage: test_server_webui.sh LLAMA3_CLI MODEL NODE_PREFIX
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2 PREFIX=$3
CHROMIUM=$(command -v chromium || command -v chromium-browser) || { echo "SKIP: chromium not installed"; exit 77; }
need_npm "$PREFIX" playwright-core
start_server "$CLI" "$MODEL" --slots 2 -c 1024
page=$(curl -s -m 10 "$BASE/")
grep -q '<title>llama3c chat</title>' <<<"$page" || fail "GET / is not the chat page"
grep -Eq '(src|href)="https?:' <<<"$page" && fail "the page loads something from elsewhere"
timeout 240 node "$(dirname "$0")/server_webui.mjs" "$BASE" "$PREFIX" "$CHROMIUM" || fail "web page in chromium"
finish
