/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/issuing.h — the CA proper, on OpenSSL: the issuing
 * CAs given with --issuer, the key types the certificate protocol names,
 * certificate signing requests (parsed, proof of possession checked),
 * subjects with a person's changes applied, and the certificates it signs.
 *
 * SM2 follows GB/T 32918 and GM/T 0009: requests and certificates are signed
 * SM3withSM2 with the default distinguishing id 1234567812345678, the one
 * the demo tokens' certificates and ukeyd's requests use.
 */
#ifndef UKEY_CA_ISSUING_H
#define UKEY_CA_ISSUING_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "ca.h"

#define SM2_DIST_ID "1234567812345678"

/* The protocol's keyAlgorithm values. */
enum key_alg { KEY_ALG_NONE, KEY_ALG_RSA2048, KEY_ALG_EC_P256, KEY_ALG_EC_P384, KEY_ALG_SM2,
               KEY_ALG__COUNT };

const char *key_alg_name(enum key_alg alg);              /* NULL for KEY_ALG_NONE */
enum key_alg key_alg_from_name(const char *name);        /* KEY_ALG_NONE when unknown */
enum key_alg key_alg_of(const EVP_PKEY *key);            /* KEY_ALG_NONE when none of them */

/* What the service keeps and shows of a certificate. */
struct cert_facts {
    char serial[CA_SERIAL_MAX];      /* the protocol's certSerial: content octets, upper hex */
    char issuer[CA_ISSUER_MAX];      /* RFC 4514, as the unlock protocol compares it */
    char subject[CA_ISSUER_MAX];
    enum key_alg key_alg;
};

/* A DER certificate; NULL when it is not exactly one. */
X509 *cert_parse(const void *der, size_t len);
bool cert_facts_of(X509 *cert, struct cert_facts *out);
/* A name as RFC 4514 text, most specific RDN first, UTF-8 kept. */
bool name_text(const X509_NAME *name, char *out, size_t size);

/* --- the issuing CAs ------------------------------------------------------- */

struct issuer;
struct issuers;

/* Loads "CERT.pem:KEY.pem" into the set (created on first use); logs why not. */
bool issuers_add(struct issuers **set, const char *spec);
void issuers_free(struct issuers *set);
size_t issuers_count(const struct issuers *set);

/*
 * The CA that issued `old` (when given and one of ours did), else the first
 * whose key type fits: an SM2 CA for SM2 keys, any other CA for the rest.
 * NULL when none fits.
 */
const struct issuer *issuers_pick(const struct issuers *set, X509 *old, enum key_alg key_alg);

/* The CA's certificate when it is an intermediate (it goes in the chain
 * of what it issues): *der malloc'd, or NULL for a self-signed root. */
bool issuer_chain_der(const struct issuer *is, unsigned char **der, size_t *len);

/* --- subjects ------------------------------------------------------------------ */

/* The parts of a subject a person may ask to change; NULL: keep as it is. */
struct subject_details {
    const char *organization;            /* O */
    const char *organizational_unit;     /* OU */
    const char *common_name;             /* CN */
    const char *email;                   /* emailAddress */
};

/*
 * `base` (NULL: C=CN alone) with the details applied: a given attribute
 * replaces the ones of its type, or is inserted where X.520 order puts it.
 * *der (malloc'd) and text get the result. False when a value does not fit
 * its type (too long, say).
 */
bool subject_build(const X509_NAME *base, const struct subject_details *d, unsigned char **der,
                   size_t *len, char *text, size_t text_size);

/* --- requests and certificates ------------------------------------------------- */

enum csr_check { CSR_OK, CSR_MALFORMED, CSR_BAD_SIGNATURE, CSR_WRONG_KEY };

/* Parses a PKCS#10 request, checks its signature with its own key and that
 * the key is of type `want`; *key (the caller's) on CSR_OK. */
enum csr_check csr_check(const void *der, size_t len, enum key_alg want, EVP_PKEY **key);

struct issue_order {
    const struct issuer *issuer;
    EVP_PKEY *key;                       /* the subject's public key */
    const unsigned char *subject_der;    /* from subject_build */
    size_t subject_len;
    X509 *old;                           /* the slot's certificate before, or NULL */
    const char *slot;                    /* "9a" … for default key usages */
};

/*
 * A new certificate: random positive 128-bit serial, valid from a minute ago
 * for a year (never past the issuer's own end), key usages as `old` had them
 * (or the slot's usual ones), key identifiers; signed SM3withSM2 by an SM2
 * CA, SHA-256 by any other. *der malloc'd.
 */
bool cert_issue(const struct issue_order *o, unsigned char **der, size_t *len,
                struct cert_facts *facts);

#endif
