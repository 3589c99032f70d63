/* The public face of dist.h (llama3.h: model parallelism over processes). */
#include "dist/dist.h"

int llama3_world_rank(void) { return l3_dist_rank(l3_dist_world()); }
int llama3_world_size(void) { return l3_dist_size(l3_dist_world()); }
const char *llama3_world_transport(void) { return l3_dist_name(); }
