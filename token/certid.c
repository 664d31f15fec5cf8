/* SPDX-License-Identifier: MIT */
/*
 * token/certid.c — the token service's certificate writes addressed by a
 * certificate's id (token.h, "certificate writes by certificate id"): each is
 * routed to the provider that published the token, one operation at a time
 * per token; the ones that change the token run inside a PIN verify
 * (service_verify_pin_then), so the PIN's policy, pacing and last-try guard
 * are the service's, as for every other PIN.
 */
#include <stdlib.h>
#include <string.h>

#include "token/cert.h"
#include "token/provider.h"
#include "token/token.h"

static token_err route_writer(struct token_service *svc, const char *id,
                              struct token_provider **p)
{
    token_err err = service_route(svc, id, p);

    if (err)
        return err;
    return (*p)->ops->cert_key && (*p)->ops->cert_state && (*p)->ops->cert_write
               ? TOKEN_OK
               : TOKEN_E_NOT_SUPPORTED;
}

token_err token_service_cert_key(struct token_service *svc, const char *id, const char *cert_id,
                                 uint8_t **spki, size_t *spki_len)
{
    struct token_provider *p = NULL;
    struct token_lock *l;
    token_err err;

    if (!svc || !id || !cert_id || !spki || !spki_len)
        return TOKEN_E_INVALID_ARG;
    *spki = NULL;
    *spki_len = 0;
    if ((err = route_writer(svc, id, &p)) != TOKEN_OK)
        return err;
    if (!(l = service_lock_token(svc, id)))
        return TOKEN_E_NO_MEMORY;
    err = p->ops->cert_key(p, id, cert_id, spki, spki_len);
    service_unlock_token(l);
    return err;
}

token_err token_service_cert_state(struct token_service *svc, const char *id,
                                   const char *cert_id, const uint8_t *der, size_t der_len,
                                   struct token_slot_state *out)
{
    struct token_provider *p = NULL;
    struct token_lock *l;
    token_err err;

    if (!svc || !id || !cert_id || !out || (der && !der_len))
        return TOKEN_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if ((err = route_writer(svc, id, &p)) != TOKEN_OK)
        return err;
    if (!(l = service_lock_token(svc, id)))
        return TOKEN_E_NO_MEMORY;
    err = p->ops->cert_state(p, id, cert_id, der, der_len, out);
    service_unlock_token(l);
    if (err)
        memset(out, 0, sizeof *out);
    return err;
}

token_err token_service_new_key_csr(struct token_service *svc, const char *id,
                                    const char *cert_id, const char *pin, unsigned flags,
                                    enum token_key_alg alg, const uint8_t *subject_der,
                                    size_t subject_len, uint8_t **spki, size_t *spki_len,
                                    uint8_t **csr, size_t *csr_len, int *tries_left,
                                    bool *key_replaced)
{
    struct provider_cert_write w = {.new_key = true, .id = id, .cert_id = cert_id, .alg = alg,
                                    .subject = subject_der, .subject_len = subject_len};
    struct token_provider *p = NULL;
    token_err err;

    if (tries_left)
        *tries_left = -1;
    if (key_replaced)
        *key_replaced = false;
    if (!svc || !id || !cert_id || !pin || !spki || !spki_len || !csr || !csr_len ||
        !key_replaced || !token_key_alg_name(alg))
        return TOKEN_E_INVALID_ARG;
    if ((err = route_writer(svc, id, &p)) != TOKEN_OK)
        return err;
    if ((err = p->ops->cert_write(NULL, &w)) != TOKEN_OK)   /* judged before the PIN */
        return err;
    /* w.key_replaced stays false unless the provider got as far as the key. */
    err = service_verify_pin_then(svc, id, pin, flags, p->ops->cert_write, &w, tries_left);
    *key_replaced = w.key_replaced;
    if (err) {
        free(w.spki);
        free(w.csr);
        return err;
    }
    *spki = w.spki;
    *spki_len = w.spki_len;
    *csr = w.csr;
    *csr_len = w.csr_len;
    return TOKEN_OK;
}

/* The certificate's key must be the token's for `cert_id`: nothing is written
 * (and no PIN presented) for a certificate that would not match its key. */
static token_err check_cert_key(struct token_service *svc, const char *id, const char *cert_id,
                                const uint8_t *der, size_t der_len)
{
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    bool same = false;
    token_err err = token_service_cert_key(svc, id, cert_id, &spki, &spki_len);

    if (err == TOKEN_E_NO_OBJECT)
        return TOKEN_E_KEY_MISMATCH;
    if (!err)
        err = cert_key_matches_spki(der, der_len, spki, spki_len, &same);
    free(spki);
    if (err)
        return err;
    return same ? TOKEN_OK : TOKEN_E_KEY_MISMATCH;
}

token_err token_service_import_cert(struct token_service *svc, const char *id,
                                    const char *cert_id, const char *pin, unsigned flags,
                                    const uint8_t *der, size_t der_len, int *tries_left)
{
    struct provider_cert_write w = {.id = id, .cert_id = cert_id, .der = der,
                                    .der_len = der_len};
    struct token_provider *p = NULL;
    token_err err;

    if (tries_left)
        *tries_left = -1;
    if (!svc || !id || !cert_id || !pin || !der || !der_len)
        return TOKEN_E_INVALID_ARG;
    if ((err = route_writer(svc, id, &p)) != TOKEN_OK)
        return err;
    if ((err = p->ops->cert_write(NULL, &w)) != TOKEN_OK ||
        (err = check_cert_key(svc, id, cert_id, der, der_len)) != TOKEN_OK)
        return err;
    return service_verify_pin_then(svc, id, pin, flags, p->ops->cert_write, &w, tries_left);
}
