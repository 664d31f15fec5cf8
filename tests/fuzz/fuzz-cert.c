/* SPDX-License-Identifier: MIT */
/*
 * fuzz-cert — certificate summaries (token/cert.c) from arbitrary DER, and
 * their JSON (api/render/render.c) as GET /v1/tokens shows them: a certificate read
 * from a token is the most complex outside input ukeyd parses.
 *
 * Properties: a summary is all or nothing; an accepted certificate renders
 * (its strings are valid UTF-8 for JSON, whatever the ASN.1 string types);
 * the display name is one line; the PEM is PEM.
 */
#include <time.h>

#include "api/render/render.h"
#include "tests/fuzz/fuzz.h"
#include "token/cert.h"

/* A fixed "now", so that a crash replays exactly. */
#define FUZZ_NOW ((time_t)1795000000)
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----\n"

static void check_summary(const struct cert_summary *s)
{
    FUZZ_ASSERT(s->subject.display && s->issuer.display && s->serial_hex);
    FUZZ_ASSERT(fuzz_text_is_one_line(s->subject.display));
    FUZZ_ASSERT(fuzz_text_is_one_line(s->issuer.display));
    FUZZ_ASSERT(s->key_algorithm && s->signature_algorithm);
    FUZZ_ASSERT(strlen(s->sha256_hex) == 64 && strlen(s->sm3_hex) == 64);
    FUZZ_ASSERT(s->pem && strncmp(s->pem, PEM_BEGIN, strlen(PEM_BEGIN)) == 0);
    FUZZ_ASSERT(s->n_key_usage == 0 || s->key_usage);
}

static void check_render(const uint8_t *der, size_t len, struct cert_summary *s)
{
    struct token_cert c = { 0x9A, "9a", "PIV Authentication", (uint8_t *)der, len, s, "9a", NULL };
    json_t *v = render_certificate(&c);
    char *text;
    size_t text_len = 0;

    FUZZ_ASSERT(v != NULL);
    text = json_text(v, false, &text_len);
    FUZZ_ASSERT(text != NULL);
    json_text_free(text);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cert_summary *s = NULL;
    token_err err;

    fuzz_setup_once();
    err = cert_summarize(data, size, FUZZ_NOW, &s);
    FUZZ_ASSERT((err == TOKEN_OK) == (s != NULL));
    if (!s) {
        /* what the token list shows for bytes that are not a certificate */
        check_render(data, size, NULL);
        return 0;
    }
    check_summary(s);
    check_render(data, size, s);
    cert_summary_free(s);
    return 0;
}
