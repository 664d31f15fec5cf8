/* SPDX-License-Identifier: MIT */
/* token/pcsc/edge.c — what all card-edge drivers share: the registry, PIN policy, cleanup. */
#include <stdlib.h>
#include <string.h>

#include "token/pcsc/edge.h"

const struct card_edge *const card_edges[] = {
    &piv_edge,
    NULL,
};

token_err edge_check_pin_policy(const struct token_secret_policy *p, const char *pin)
{
    return service_check_secret(p, pin);
}

void edge_identity_clear(struct edge_identity *id)
{
    if (!id)
        return;
    free(id->id);
    free(id->model);
    free(id->serial);
    free(id->version);
    memset(id, 0, sizeof(*id));
}
