/* SPDX-License-Identifier: MIT */
/*
 * token/cert.h — what a person wants to know about an X.509 certificate,
 * decoded by OpenSSL from the DER a card holds.
 *
 * All strings are UTF-8 whatever the ASN.1 string type in the certificate
 * (BMPString, UTF8String, PrintableString, T61String...), so Chinese names
 * come out intact. The summary owns every string in it.
 */
#ifndef UKEYD_TOKEN_CERT_H
#define UKEYD_TOKEN_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "token/error.h"

struct cert_name_attr {
    char *name;    /* short name when OpenSSL knows one ("CN", "O", "C"), else the dotted OID */
    char *oid;     /* dotted OID, e.g. "2.5.4.3" */
    char *value;   /* UTF-8, unescaped; a value that is not a character string, or
                      holds a NUL, comes in RFC 4514 hexstring form "#0403..." */
};

struct cert_name {
    char *display;                 /* "CN=演示专用, O=…, C=CN": most specific first, RFC 4514 order
                                      and escaping, but UTF-8 kept and ", " / " + " between
                                      RDNs / AVAs; control characters as \XX; "" for an
                                      empty name */
    char *common_name;             /* the most specific CN alone, or NULL when there is none */
    struct cert_name_attr *attrs;  /* in certificate order (least specific first) */
    size_t n_attrs;
};

enum cert_key_type {
    CERT_KEY_UNKNOWN = 0,
    CERT_KEY_RSA,
    CERT_KEY_EC,     /* NIST and other named curves except SM2 */
    CERT_KEY_SM2,    /* EC key on the SM2 curve (GM/T 0003), never reported as plain EC */
};

struct cert_summary {
    struct cert_name subject;
    struct cert_name issuer;
    char *serial_hex;           /* upper-case hex of the INTEGER's content octets as encoded, no
                                   separators: "008A0B" keeps its sign octet; a negative serial
                                   (forbidden by RFC 5280) shows two's complement, -1 is "FF" */
    time_t not_before;
    time_t not_after;
    char not_before_iso[21];    /* "2026-11-21T05:43:49Z" */
    char not_after_iso[21];
    long days_left;             /* whole days from `now` to not_after; negative when expired */
    enum cert_key_type key_type;
    int key_bits;               /* 2048, 256, ...; 0 when OpenSSL cannot decode the key */
    char *key_algorithm;        /* display: "SM2", "RSA-2048", "RSA-PSS-2048", "EC P-256",
                                   "EC secp256k1", "Ed25519"; else OpenSSL's long name of the
                                   key algorithm, or its dotted OID */
    char *curve;                /* "P-256", "secp256k1", "SM2"; NULL unless EC or SM2 */
    char *signature_algorithm;  /* "SM3withSM2", "SHA256withRSA", "SHA256withECDSA", else OpenSSL's long name */
    char **key_usage;           /* "digitalSignature", "keyEncipherment", ... (RFC 5280 names);
                                   NULL and 0 when the extension is absent, likewise below */
    size_t n_key_usage;
    char **ext_key_usage;       /* "clientAuth", "emailProtection", ... or dotted OID */
    size_t n_ext_key_usage;
    char sha256_hex[65];        /* fingerprint of the DER, lower-case hex */
    char sm3_hex[65];
    char *pem;                  /* "-----BEGIN CERTIFICATE-----\n…" */
};

/*
 * Decodes `der` (exactly `len` bytes; trailing bytes are an error) into a new
 * summary; days_left counts from `now`. TOKEN_E_MALFORMED for anything that
 * is not one well-formed certificate: also BER that is not DER (so the
 * fingerprints and the PEM are of the same bytes), a keyUsage or
 * extKeyUsage that does not decode or appears twice, and undecodable key
 * bits of an algorithm OpenSSL implements. The signature is not verified.
 * TOKEN_E_INVALID_ARG when `out` is NULL; TOKEN_E_NO_MEMORY, or when OpenSSL
 * does not say why it failed TOKEN_E_INTERNAL, for want of memory.
 * On error *out is left NULL. Leaves the thread's OpenSSL error queue empty.
 * Strings come from OPENSSL_malloc: free them only with cert_summary_free.
 */
token_err cert_summarize(const uint8_t *der, size_t len, time_t now,
                         struct cert_summary **out);

void cert_summary_free(struct cert_summary *s);

/* Whole days from `now` to not_after, negative once expired. A summary lives
 * as long as the token stays plugged in, so callers showing "days left" ask
 * again with the current time rather than trusting days_left. */
long cert_days_left(const struct cert_summary *s, time_t now);

/*
 * The certificate's SubjectPublicKeyInfo DER, malloc()ed (free with free()),
 * for comparing with a key a card holds. TOKEN_E_MALFORMED as cert_summarize.
 */
token_err cert_public_key(const uint8_t *der, size_t len, uint8_t **spki, size_t *spki_len);

/* *match when the certificate's public key is the key `spki` (SubjectPublicKeyInfo DER). */
token_err cert_key_matches_spki(const uint8_t *der, size_t len, const uint8_t *spki,
                                size_t spki_len, bool *match);

/* For __attribute__((cleanup)) */
static inline void cert_summary_freep(struct cert_summary **s)
{
    if (*s)
        cert_summary_free(*s);
}

#endif
