/* SPDX-License-Identifier: MIT */
/*
 * token/skf/write.h — certificate writes on an SKF key, for the SKF provider
 * (provider.c): a certificate id named back to its container, the key of a
 * container read as SubjectPublicKeyInfo, a new SM2 signing key pair made in
 * place and a PKCS#10 request signed by it (token/csr.c builds the request
 * and the GM/T 0009 input; the key signs e through the helper), an imported
 * certificate read back, and where a container stands against a certificate
 * for recovery. Every call reaches the library through the helper (host.h);
 * those that change the container carry the user PIN, which the helper
 * verifies and whose secure state it clears afterwards.
 */
#ifndef UKEYD_TOKEN_SKF_WRITE_H
#define UKEYD_TOKEN_SKF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token/skf/host.h"
#include "token/token.h"

/* The token whose certificates are written, as the provider found it. */
struct skf_write_target {
    struct skf_host *host;
    const char *dev, *app;
    const char *token_id;
};

/* The provider's one mapping of the helper's errors (provider.c). */
token_err skf_token_err(skf_err e);


/* The container's signing (`sign`) or encryption key. TOKEN_E_NO_OBJECT without. */
token_err skf_write_cert_key(const struct skf_write_target *t, const char *con, bool sign,
                             uint8_t **spki, size_t *spki_len);

/* A new SM2 signing key pair in `con` and a request signed by it (`pin`
 * verified by the caller already; the helper presents it again per call).
 * `key_replaced`: whether the container's key may have changed, set on
 * success and on failure alike; false only for a failure known to come
 * before SKF_GenECCKeyPair. */
token_err skf_write_new_key_csr(const struct skf_write_target *t, const char *pin,
                                const char *con, const uint8_t *subject, size_t subject_len,
                                uint8_t **spki, size_t *spki_len, uint8_t **csr,
                                size_t *csr_len, bool *key_replaced);

/* `der` into `con` as its signing or encryption certificate, then read back:
 * TOKEN_E_WRITE_FAILED unless byte for byte. */
token_err skf_write_import(const struct skf_write_target *t, const char *pin, const char *con,
                           bool sign, const uint8_t *der, size_t der_len);

/* token_slot_state of `con`'s signing or encryption pair against `der` (may be NULL). */
token_err skf_write_state(const struct skf_write_target *t, const char *con, bool sign,
                          const uint8_t *der, size_t der_len, struct token_slot_state *out);

#endif
