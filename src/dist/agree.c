/* Steps every process takes together, and the one error they report (dist.h). */
#include "dist/dist.h"
#include "util.h"

int l3_dist_agree(l3_dist *d, int rc, const char *what, llama3_error *err) {
    if (l3_dist_size(d) == 1) return rc;
    const int any = l3_dist_allreduce_max(d, rc != 0);
    int first = rc;
    l3_dist_bcast(d, &first, sizeof first);
    if (!any) return 0;
    if (l3_dist_rank(d) == 0) {
        if (rc) return rc;
        return l3_fail(err, LLAMA3_ERR_IO, "another process of the %d could not %s (its own message says why)",
                       l3_dist_size(d), what);
    }
    if (!rc || first) {
        if (err) err->code = rc ? rc : LLAMA3_ERR_IO, err->msg[0] = 0;
        return rc ? rc : LLAMA3_ERR_IO;
    }
    return rc;
}
