#!/bin/sh
# `llama3 serve` in a build without the HTTP server: whatever the arguments, one line on stderr
# saying so and a non-zero exit; `llama3 --help` still lists serve, marked, and every other
# command's --help works. Arguments: the CLI linked without the server, help_texts.sh.
cli=$1
want="llama3 serve: this build has no HTTP server (built without libmicrohttpd; install libmicrohttpd-dev and rebuild)"
for args in "" "-m model.gguf --port 8080" "--help"; do
  err=$("$cli" serve $args 2>&1 >/dev/null) && { echo "FAIL: llama3 serve $args exits 0"; exit 1; }
  [ "$err" = "$want" ] || { echo "FAIL: llama3 serve $args says: $err"; exit 1; }
  echo "ok: llama3 serve $args"
done
"$cli" --help | grep -q '^  serve .*(not in this build)$' || { echo "FAIL: --help does not mark serve"; exit 1; }
echo "ok: llama3 --help marks serve"
sh "$2" "$cli"
