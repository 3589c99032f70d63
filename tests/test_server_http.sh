#!/bin/bash
# llama3 serve with curl: both generation endpoints streamed and not, /v1/models, /health,
# /tokenize, /detokenize, error statuses, stop strings, usage counts.
# usage: test_server_http.sh LLAMA3_CLI MODEL
. "$(dirname "$0")/test_server_lib.sh"
CLI=$1 MODEL=$2
start_server "$CLI" "$MODEL" --slots 2 -c 256

# /health, /v1/models
body=$(curl -s -m 10 "$BASE/health")
[ "$(jq -r .status <<<"$body")" = ok ] || fail "/health: $body"
body=$(curl -s -m 10 "$BASE/v1/models")
[ "$(jq -r '.object, .data[0].object' <<<"$body" | tr '\n' ' ')" = "list model " ] || fail "/v1/models: $body"

# /tokenize, /detokenize (ids from Meta's chat-format test in the fixtures README)
post /tokenize '{"content": "This is a test sentence."}' >/dev/null; body=$BODY
[ "$(jq -c .tokens <<<"$body")" = "[2028,374,264,1296,11914,13]" ] || fail "/tokenize: $body"
post /tokenize '{"content": "Hi", "add_special": true}' >/dev/null; body=$BODY
[ "$(jq -c '.tokens[0]' <<<"$body")" = 128000 ] || fail "/tokenize add_special: $body"
post /detokenize '{"tokens": [2028,374,264,2077,13]}' >/dev/null; body=$BODY
[ "$(jq -r .content <<<"$body")" = "This is a response." ] || fail "/detokenize: $body"
post /detokenize '{"tokens": [999999]}' >/dev/null; [ "$STATUS" = 400 ] || fail "/detokenize bad id: $STATUS"

# Chat, not streamed: OpenAI's object, usage adds up, max_tokens gives finish_reason length.
CHAT='{"messages":[{"role":"system","content":"This is a test sentence."},{"role":"user","content":"This is a response."}],"max_tokens":6,"temperature":0}'
post /v1/chat/completions "$CHAT" >/dev/null; body=$BODY
[ "$STATUS" = 200 ] || fail "chat status $STATUS: $body"
[ "$(jq -r '.object, .choices[0].message.role, .choices[0].finish_reason' <<<"$body" | tr '\n' ' ')" = \
  "chat.completion assistant length " ] || fail "chat object: $body"
[ "$(jq '.usage.prompt_tokens' <<<"$body")" = 26 ] || fail "chat prompt_tokens (Meta's format has 26 ids): $body"
[ "$(jq '.usage.completion_tokens == 6 and .usage.total_tokens == 32' <<<"$body")" = true ] || fail "chat usage: $body"
chat_text=$(jq -r '.choices[0].message.content' <<<"$body")

# Streamed: same text (greedy), role chunk first, finish chunk, usage chunk, [DONE] last.
sse=$(curl -s -N -m 60 -H 'Content-Type: application/json' --data-binary \
      "$(jq -c '. + {stream: true, stream_options: {include_usage: true}}' <<<"$CHAT")" "$BASE/v1/chat/completions")
[ "$(grep '^data: ' <<<"$sse" | tail -1)" = "data: [DONE]" ] || fail "stream does not end with [DONE]: $sse"
events=$(grep '^data: {' <<<"$sse" | sed 's/^data: //')
[ "$(head -1 <<<"$events" | jq -r '.choices[0].delta.role')" = assistant ] || fail "no role chunk: $sse"
streamed=$(jq -j '.choices[0].delta.content // empty' <<<"$events")
[ "$streamed" = "$chat_text" ] || fail "streamed text differs: '$streamed' vs '$chat_text'"
[ "$(jq -r 'select(.choices[0].finish_reason != null) | .choices[0].finish_reason' <<<"$events")" = length ] ||
    fail "stream finish_reason: $sse"
[ "$(jq -r 'select(.usage) | .usage.completion_tokens' <<<"$events")" = 6 ] || fail "stream usage: $sse"

# Completions, not streamed and streamed.
COMP='{"prompt":"Once upon a time","max_tokens":5,"temperature":0}'
post /v1/completions "$COMP" >/dev/null; body=$BODY
[ "$(jq -r '.object, .choices[0].finish_reason, .usage.prompt_tokens, .usage.completion_tokens' <<<"$body" | tr '\n' ' ')" = \
  "text_completion length 5 5 " ] || fail "completion: $body"
comp_text=$(jq -r '.choices[0].text' <<<"$body")
sse=$(curl -s -N -m 60 --data-binary "$(jq -c '. + {stream: true}' <<<"$COMP")" "$BASE/v1/completions")
[ "$(grep '^data: ' <<<"$sse" | tail -1)" = "data: [DONE]" ] || fail "completion stream end: $sse"
streamed=$(grep '^data: {' <<<"$sse" | sed 's/^data: //' | jq -j '.choices[0].text')
[ "$streamed" = "$comp_text" ] || fail "streamed completion differs: '$streamed' vs '$comp_text'"

# A stop string cuts the text before it and ends with finish_reason stop.
if [ ${#comp_text} -ge 4 ]; then
    stop=${comp_text:2:2}
    post /v1/completions "$(jq -c --arg s "$stop" '. + {stop: [$s]}' <<<"$COMP")" >/dev/null; body=$BODY
    [ "$(jq -r .choices[0].finish_reason <<<"$body")" = stop ] || fail "stop string: $body"
    [ "$(jq -r .choices[0].text <<<"$body")" = "${comp_text%%"$stop"*}" ] || fail "stop string cut: $body"
    sse=$(curl -s -N -m 60 --data-binary "$(jq -c --arg s "$stop" '. + {stop: $s, stream: true}' <<<"$COMP")" "$BASE/v1/completions")
    streamed=$(grep '^data: {' <<<"$sse" | sed 's/^data: //' | jq -j '.choices[0].text')
    [ "$streamed" = "${comp_text%%"$stop"*}" ] || fail "streamed stop string: '$streamed'"
fi

# Seeded sampling is reproducible.
S='{"prompt":"Hello","max_tokens":8,"temperature":1.0,"top_p":0.9,"seed":7}'
[ "$(post /v1/completions "$S" | jq -r .choices[0].text)" = "$(post /v1/completions "$S" | jq -r .choices[0].text)" ] ||
    fail "same seed, different text"

# max_tokens is capped by the context (256 - 5 prompt ids).
post /v1/completions '{"prompt":"Once upon a time","max_tokens":100000,"temperature":0,"stop":"qqqzzzq"}' >/dev/null; body=$BODY
[ "$(jq '.usage.completion_tokens <= 251' <<<"$body")" = true ] || fail "max_tokens not capped: $body"

# Errors: OpenAI-style objects with the right status.
post /v1/chat/completions '{"messages": 5}' >/dev/null; body=$BODY
[ "$STATUS" = 400 ] && [ "$(jq -r '.error.type' <<<"$body")" = invalid_request_error ] &&
    [ "$(jq -r '.error.code' <<<"$body")" = 400 ] && [ -n "$(jq -r '.error.message' <<<"$body")" ] || fail "400 object: $body"
post /v1/completions '{"prompt": "x", "max_tokens": "5"}' >/dev/null; [ "$STATUS" = 400 ] || fail "wrong type: $STATUS"
post /v1/completions "{\"prompt\": \"$(head -c 3000 /dev/zero | tr '\0' 'a' | sed 's/a/a b /g')\"}" >/dev/null
[ "$STATUS" = 400 ] || fail "prompt longer than the context: $STATUS"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$BASE/v2/nothing")" = 404 ] || fail "unknown route"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$BASE/v1/completions")" = 405 ] || fail "GET on a POST route"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X DELETE "$BASE/health")" = 405 ] || fail "DELETE /health"
big=$(mktemp)
head -c 1100000 /dev/zero | tr '\0' ' ' >"$big"
[ "$(curl -s -m 20 -o /dev/null -w '%{http_code}' --data-binary @"$big" "$BASE/v1/completions")" = 413 ] || fail "big body"
[ "$(curl -s -m 20 -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$big" "$BASE/v1/completions")" = 413 ] ||
    fail "big chunked body"
rm -f "$big"

finish
