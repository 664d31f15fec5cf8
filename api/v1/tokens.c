/* SPDX-License-Identifier: MIT */
/*
 * api/v1/tokens.c — the token and certificate routes: the list, one token, its
 * certificates as JSON, PEM (application/x-pem-file) and DER
 * (application/pkix-cert). All of them read the token layer's cached
 * snapshots; none touches a card when nothing changed.
 */
#include <string.h>
#include <time.h>

#include "api/v1/handlers.h"
#include "api/render/render.h"
#include "api/render/rendercache.h"

#define MEDIA_PEM "application/x-pem-file"
#define MEDIA_DER "application/pkix-cert"


/* The certificate of the route's {slot}; NULL when it answered with an error. */
static const struct token_cert *cert_of_request(struct request *r, const struct token_snapshot *s)
{
    const struct token_cert *c = render_find_cert(s, request_param(r, "slot"));

    if (!c)
        respond_code(r, API_CERTIFICATE_NOT_FOUND);
    return c;
}

void handle_tokens(struct request *r)
{
    struct token_snapshot **list = NULL;
    size_t n = 0, len = 0;
    token_err err = token_service_tokens(request_tokens(r), &list, &n);
    char *text;

    if (err != TOKEN_OK) {
        respond_token_error(r, err, -1);
        return;
    }
    text = rendercache_tokens(list, n, r->pretty, time(NULL), &len);
    token_snapshots_free(list, n);
    respond_json_text(r, MHD_HTTP_OK, text, len);
}

void handle_token(struct request *r)
{
    SCOPED_SNAPSHOT *s = request_token(r);

    if (s)
        respond_json(r, MHD_HTTP_OK, render_token(s));
}

void handle_certificates(struct request *r)
{
    SCOPED_SNAPSHOT *s = request_token(r);

    if (s)
        respond_json(r, MHD_HTTP_OK, render_certificates(s));
}

void handle_certificate(struct request *r)
{
    SCOPED_SNAPSHOT *s = request_token(r);
    const struct token_cert *c = s ? cert_of_request(r, s) : NULL;

    if (c)
        respond_json(r, MHD_HTTP_OK, render_certificate(c));
}

void handle_certificate_pem(struct request *r)
{
    SCOPED_SNAPSHOT *s = request_token(r);
    const struct token_cert *c = s ? cert_of_request(r, s) : NULL;

    if (!c)
        return;
    /* PEM comes from the decoded certificate; bytes that do not decode are
     * only offered as they are, through .der. */
    if (!c->summary || !c->summary->pem) {
        respond_code(r, API_CARD_ERROR);
        return;
    }
    respond_bytes(r, MHD_HTTP_OK, MEDIA_PEM, c->summary->pem, strlen(c->summary->pem));
}

void handle_certificate_der(struct request *r)
{
    SCOPED_SNAPSHOT *s = request_token(r);
    const struct token_cert *c = s ? cert_of_request(r, s) : NULL;

    if (c)
        respond_bytes(r, MHD_HTTP_OK, MEDIA_DER, c->der, c->der_len);
}
