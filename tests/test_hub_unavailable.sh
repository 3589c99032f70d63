#!/bin/sh
# `llama3 pull`, `list`, `rm` and `-m hf:...` in a build without the Hugging Face client: one
# line on stderr saying what to install and a non-zero exit; `llama3 --help` marks the three
# commands, and every other command's --help works. Arguments: the CLI linked without the
# client, help_texts.sh.
cli=$1
msg="this build has no Hugging Face client (built without libcurl or OpenSSL's libcrypto; install libcurl4-openssl-dev and libssl-dev and rebuild)"
check() {  # check NAME EXPECTED-LINE COMMAND...
  name=$1 want=$2
  shift 2
  err=$("$@" 2>&1 >/dev/null) && { echo "FAIL: $name exits 0"; exit 1; }
  [ "$err" = "$want" ] || { echo "FAIL: $name says: $err"; exit 1; }
  echo "ok: $name"
}
check "llama3 pull" "llama3 pull: $msg" "$cli" pull owner/name:Q4_K_M
check "llama3 list" "llama3 list: $msg" "$cli" list
check "llama3 rm" "llama3 rm: $msg" "$cli" rm owner/name
check "llama3 run -m hf:" "llama3 run: $msg" "$cli" run -m hf:owner/name -p x
for c in pull list rm; do
  "$cli" --help | grep -q "^  $c .*(not in this build)$" || { echo "FAIL: --help does not mark $c"; exit 1; }
done
echo "ok: llama3 --help marks pull, list, rm"
sh "$2" "$cli"
