/* SPDX-License-Identifier: MIT */
/* token/edge.c — what all card-edge drivers share: the registry, PIN policy, cleanup. */
#include <stdlib.h>
#include <string.h>

#include "token/edge.h"

const struct card_edge *const card_edges[] = {
    &piv_edge,
    NULL,
};

token_err edge_check_pin_policy(const struct edge_pin_policy *p, const char *pin)
{
    size_t len, i;
    bool digits = strcmp(p->charset, "digits") == 0;

    if (!pin)
        return TOKEN_E_PIN_POLICY;
    len = strlen(pin);
    if (len < p->min_len || len > p->max_len)
        return TOKEN_E_PIN_POLICY;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pin[i];

        if (digits ? (c < '0' || c > '9') : (c < 0x20 || c > 0x7E))
            return TOKEN_E_PIN_POLICY;
    }
    return TOKEN_OK;
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

void token_certs_free(struct token_cert *certs, size_t n)
{
    size_t i;

    if (!certs)
        return;
    for (i = 0; i < n; i++) {
        free(certs[i].der);
        if (certs[i].summary)
            cert_summary_free(certs[i].summary);
    }
    free(certs);
}
