/* Per-op timers of the forward pass (LLAMA3_PROFILE=1, `llama3 bench --profile`): the
 * profiler stands between forward.c and the session's backend, as a copy of the backend's op
 * table whose ops time the real ones, so neither forward.c nor any backend carries timing
 * code. With the host thread pool's accounting (threads.h) it also splits each op's time into
 * the part that ran on all threads and the part that ran on one: the serial fraction of a pass,
 * and its Amdahl projection to more cores. */
#ifndef LLAMA3_PROFILE_H
#define LLAMA3_PROFILE_H

#include <stddef.h>
#include "backend/backend.h"
#include "llama3_tools.h"

/* Starts timing session s's ops (or restarts: the counts go back to zero); pool is the
 * session's host thread pool. 0, or LLAMA3_ERR_MEMORY. */
int l3_profile_attach(l3_backend_session *s, struct l3_pool *pool, llama3_error *err);
/* Stops timing and gives s its backend's own table back (nothing if it was not attached). */
void l3_profile_detach(l3_backend_session *s);
/* 1 while s is being timed. */
int l3_profile_attached(const l3_backend_session *s);
/* The report as text (a table per op kind, then the serial fraction), snprintf's
 * convention: the length it needs, written up to cap. 0 when s is not being timed. */
int l3_profile_format(const l3_backend_session *s, char *buf, size_t cap);

/* Per op kind (pass order, kinds not run left out): up to cap entries, returns how many. */
int l3_profile_ops(const l3_backend_session *s, llama3_profile_op *out, int cap);

#endif
