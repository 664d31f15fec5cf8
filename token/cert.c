/* SPDX-License-Identifier: MIT */
/*
 * token/cert.c — turns the DER of one X.509 certificate into the summary a
 * person reads (struct cert_summary). Owns the display rules: RFC 4514 name
 * strings that keep UTF-8, serial and fingerprint hex, ISO 8601 UTC times,
 * key and signature algorithm names ("SM2", "SM3withSM2", "EC P-256"), and
 * key usage names. All decoding is OpenSSL's; this file only presents.
 *
 * Every allocation goes through OPENSSL_malloc so that one allocator hook
 * (CRYPTO_set_mem_functions) can fail any of them, ours or OpenSSL's, in the
 * tests.
 */
#include "token/cert.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "token/spki.h"

#define SECONDS_PER_DAY 86400

/* String types whose characters ASN1_STRING_to_UTF8 can convert. */
#define TEXT_STRING_TYPES (B_ASN1_UTF8STRING | B_ASN1_BMPSTRING | B_ASN1_UNIVERSALSTRING | \
                           B_ASN1_PRINTABLESTRING | B_ASN1_T61STRING | B_ASN1_IA5STRING | \
                           B_ASN1_VISIBLESTRING | B_ASN1_NUMERICSTRING)

static void x509_freep(X509 **x) { X509_free(*x); }
static void bio_freep(BIO **b) { BIO_free(*b); }
static void openssl_freep(void *p) { OPENSSL_free(*(void **)p); }

/*
 * OpenSSL reports "out of memory" and "bad input" through the same NULL or
 * -1; the error queue (emptied by cert_summarize before it starts) tells them
 * apart, so a full heap is not shown to the user as a broken certificate.
 */
static token_err openssl_failure(token_err otherwise)
{
    token_err err = otherwise;
    unsigned long e;

    while ((e = ERR_get_error()) != 0)
        if (ERR_GET_REASON(e) == ERR_GET_REASON(ERR_R_MALLOC_FAILURE))
            err = TOKEN_E_NO_MEMORY;
    return err;
}

static token_err dup_string(const char *s, char **out)
{
    *out = OPENSSL_strdup(s);
    return *out ? TOKEN_OK : TOKEN_E_NO_MEMORY;
}

/* A mem BIO is our string builder: it grows with OpenSSL's allocator. */
static token_err bio_append(BIO *b, const void *data, size_t len)
{
    if (len == 0)
        return TOKEN_OK;
    if (len > INT_MAX || BIO_write(b, data, (int)len) != (int)len)
        return openssl_failure(TOKEN_E_NO_MEMORY);
    return TOKEN_OK;
}

static token_err bio_append_str(BIO *b, const char *s)
{
    return bio_append(b, s, strlen(s));
}

static token_err bio_to_string(BIO *b, char **out)
{
    char *data;
    long len = BIO_get_mem_data(b, &data);

    *out = OPENSSL_strndup(len > 0 ? data : "", len > 0 ? (size_t)len : 0);
    return *out ? TOKEN_OK : TOKEN_E_NO_MEMORY;
}

static token_err new_string_builder(BIO **out)
{
    *out = BIO_new(BIO_s_mem());
    return *out ? TOKEN_OK : openssl_failure(TOKEN_E_NO_MEMORY);
}

/* OPENSSL_buf2hexstr_ex writes upper case; fingerprints are shown lower case. */
static token_err hex_encode(const unsigned char *buf, size_t len, bool lower,
                            char *hex, size_t hex_size)
{
    if (!OPENSSL_buf2hexstr_ex(hex, hex_size, NULL, buf, len, '\0'))
        return openssl_failure(TOKEN_E_INTERNAL);
    for (char *p = hex; lower && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return TOKEN_OK;
}

static token_err hex_encode_alloc(const unsigned char *buf, size_t len, char **out)
{
    size_t size = 2 * len + 1;
    token_err err;

    *out = OPENSSL_malloc(size);
    if (!*out)
        return TOKEN_E_NO_MEMORY;
    err = hex_encode(buf, len, false, *out, size);
    if (err) {
        OPENSSL_free(*out);
        *out = NULL;
    }
    return err;
}

/* ---- decoding ---------------------------------------------------------- */

/*
 * d2i_X509 is lenient about BER (long-form or indefinite lengths). We insist
 * that re-encoding gives back the very bytes we were handed, so fingerprints
 * and PEM always describe the same certificate.
 */
static token_err require_exact_der(const X509 *x, const uint8_t *der, size_t len)
{
    unsigned char *reencoded __attribute__((cleanup(openssl_freep))) = NULL;
    int n = i2d_X509(x, &reencoded);

    if (n < 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    if ((size_t)n != len || memcmp(reencoded, der, len) != 0)
        return TOKEN_E_MALFORMED;
    return TOKEN_OK;
}

static token_err decode_certificate(const uint8_t *der, size_t len, X509 **out)
{
    const unsigned char *p = der;
    X509 *x;
    token_err err;

    if (!der || len == 0 || len > LONG_MAX)
        return TOKEN_E_MALFORMED;
    x = d2i_X509(NULL, &p, (long)len);
    if (!x)
        return openssl_failure(TOKEN_E_MALFORMED);
    err = p == der + len ? require_exact_der(x, der, len) : TOKEN_E_MALFORMED;
    if (err) {
        X509_free(x);
        return err;
    }
    *out = x;
    return TOKEN_OK;
}

/* ---- names ------------------------------------------------------------- */

static token_err dup_dotted_oid(const ASN1_OBJECT *obj, char **out)
{
    int n = OBJ_obj2txt(NULL, 0, obj, 1);

    if (n <= 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    *out = OPENSSL_malloc((size_t)n + 1);
    if (!*out)
        return TOKEN_E_NO_MEMORY;
    if (OBJ_obj2txt(*out, n + 1, obj, 1) != n) {
        OPENSSL_free(*out);
        *out = NULL;
        return openssl_failure(TOKEN_E_INTERNAL);
    }
    return TOKEN_OK;
}

/* OpenSSL's short or long name when it knows the OID, else the dotted OID. */
static token_err dup_object_name(const ASN1_OBJECT *obj, bool long_name, char **out)
{
    int nid = OBJ_obj2nid(obj);
    const char *name = NULL;

    if (nid != NID_undef)
        name = long_name ? OBJ_nid2ln(nid) : OBJ_nid2sn(nid);
    return name ? dup_string(name, out) : dup_dotted_oid(obj, out);
}

/*
 * RFC 4514 hexstring form "#<DER>" for values that are not text, or whose
 * text holds a NUL (which would silently cut a C string short).
 */
static token_err value_as_hexstring(const ASN1_STRING *v, char **out)
{
    BIO *b __attribute__((cleanup(bio_freep))) = NULL;
    token_err err = new_string_builder(&b);

    if (err)
        return err;
    if (ASN1_STRING_print_ex(b, v, ASN1_STRFLGS_DUMP_ALL | ASN1_STRFLGS_DUMP_DER) < 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    return bio_to_string(b, out);
}

static token_err value_to_utf8(const ASN1_STRING *v, char **out, bool *hexstring)
{
    unsigned char *utf8 __attribute__((cleanup(openssl_freep))) = NULL;
    int n;

    *hexstring = !(ASN1_tag2bit(ASN1_STRING_type(v)) & TEXT_STRING_TYPES);
    if (*hexstring)
        return value_as_hexstring(v, out);
    n = ASN1_STRING_to_UTF8(&utf8, v);
    if (n < 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    if (n > 0 && memchr(utf8, '\0', (size_t)n)) {
        *hexstring = true;
        return value_as_hexstring(v, out);
    }
    *out = OPENSSL_strndup((const char *)utf8, (size_t)n);
    return *out ? TOKEN_OK : TOKEN_E_NO_MEMORY;
}

static token_err fill_attr(struct cert_name_attr *a, const X509_NAME_ENTRY *ne, bool *hexstring)
{
    const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);
    token_err err;

    if ((err = dup_object_name(obj, false, &a->name)) ||
        (err = dup_dotted_oid(obj, &a->oid)))
        return err;
    return value_to_utf8(X509_NAME_ENTRY_get_data(ne), &a->value, hexstring);
}

static bool rfc4514_special(const char *value, size_t i, size_t len)
{
    unsigned char c = (unsigned char)value[i];

    if (c != '\0' && strchr("\"+,;<>\\", c))
        return true;
    if (i == 0 && (c == ' ' || c == '#'))
        return true;
    return i == len - 1 && c == ' ';
}

/*
 * RFC 4514 section 2.4 escaping, except that non-ASCII UTF-8 stays as it is
 * (a person has to read 演示专用, not \E6\BC\94...). Control characters are
 * written as \XX so that the display stays one printable line.
 */
static token_err append_escaped_value(BIO *b, const char *value)
{
    size_t len = strlen(value);
    token_err err = TOKEN_OK;

    for (size_t i = 0; i < len && !err; i++) {
        unsigned char c = (unsigned char)value[i];
        char escaped[4];

        if (c < 0x20 || c == 0x7f) {
            snprintf(escaped, sizeof escaped, "\\%02X", c);
            err = bio_append_str(b, escaped);
        } else if (rfc4514_special(value, i, len)) {
            escaped[0] = '\\';
            escaped[1] = (char)c;
            err = bio_append(b, escaped, 2);
        } else {
            err = bio_append(b, &value[i], 1);
        }
    }
    return err;
}

static token_err append_attr(BIO *b, const struct cert_name_attr *a, bool hexstring)
{
    token_err err;

    if ((err = bio_append_str(b, a->name)) || (err = bio_append_str(b, "=")))
        return err;
    return hexstring ? bio_append_str(b, a->value) : append_escaped_value(b, a->value);
}

/*
 * Walks the entries from last to first: that is RFC 4514's string order
 * (most specific RDN first), and the first CN met is the most specific one.
 */
static token_err fill_name(struct cert_name *n, const X509_NAME *name)
{
    BIO *b __attribute__((cleanup(bio_freep))) = NULL;
    int count = X509_NAME_entry_count(name);
    int prev_set = -1;
    token_err err;

    if (count < 0)
        return TOKEN_E_MALFORMED;
    if ((err = new_string_builder(&b)))
        return err;
    if (count > 0) {
        n->attrs = OPENSSL_zalloc((size_t)count * sizeof *n->attrs);
        if (!n->attrs)
            return TOKEN_E_NO_MEMORY;
        n->n_attrs = (size_t)count;
    }
    for (int i = count - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(ne);
        bool hexstring;

        if ((err = fill_attr(&n->attrs[i], ne, &hexstring)))
            return err;
        if (i < count - 1 && (err = bio_append_str(b, set == prev_set ? " + " : ", ")))
            return err;
        if ((err = append_attr(b, &n->attrs[i], hexstring)))
            return err;
        if (!n->common_name && OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)) == NID_commonName &&
            (err = dup_string(n->attrs[i].value, &n->common_name)))
            return err;
        prev_set = set;
    }
    return bio_to_string(b, &n->display);
}

/* ---- serial and validity ----------------------------------------------- */

/*
 * The INTEGER's content octets exactly as encoded, the way browsers and
 * Windows show a serial: a positive serial whose top bit is set keeps its
 * 00 sign octet, and a negative one (forbidden by RFC 5280, seen in old
 * certificates) shows its two's complement ("FF" for -1).
 */
static token_err fill_serial(struct cert_summary *s, const X509 *x)
{
    unsigned char *der __attribute__((cleanup(openssl_freep))) = NULL;
    const unsigned char *content;
    long content_len;
    int tag, xclass;
    int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);

    if (n <= 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    content = der;
    if (ASN1_get_object(&content, &content_len, &tag, &xclass, n) & 0x80)
        return openssl_failure(TOKEN_E_MALFORMED);
    return hex_encode_alloc(content, (size_t)content_len, &s->serial_hex);
}

static token_err asn1_time_to_utc(const ASN1_TIME *t, time_t *when, char iso[21])
{
    struct tm tm;

    if (!ASN1_TIME_to_tm(t, &tm))
        return openssl_failure(TOKEN_E_MALFORMED);
    *when = timegm(&tm);
    if (snprintf(iso, 21, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) != 20)
        return TOKEN_E_MALFORMED;
    return TOKEN_OK;
}

/* Rounds towards minus infinity: one second past expiry is day -1, not 0. */
static long whole_days_until(time_t when, time_t now)
{
    long long diff = (long long)when - (long long)now;
    long long days = diff / SECONDS_PER_DAY;

    if (diff % SECONDS_PER_DAY != 0 && diff < 0)
        days--;
    return (long)days;
}

static token_err fill_validity(struct cert_summary *s, const X509 *x, time_t now)
{
    token_err err;

    if ((err = asn1_time_to_utc(X509_get0_notBefore(x), &s->not_before, s->not_before_iso)) ||
        (err = asn1_time_to_utc(X509_get0_notAfter(x), &s->not_after, s->not_after_iso)))
        return err;
    s->days_left = whole_days_until(s->not_after, now);
    return TOKEN_OK;
}

long cert_days_left(const struct cert_summary *s, time_t now)
{
    return whole_days_until(s->not_after, now);
}

/* ---- public key -------------------------------------------------------- */

static token_err set_key_description(struct cert_summary *s, enum cert_key_type type,
                                     const char *algorithm, const char *curve)
{
    token_err err;

    s->key_type = type;
    if ((err = dup_string(algorithm, &s->key_algorithm)))
        return err;
    return curve ? dup_string(curve, &s->curve) : TOKEN_OK;
}

static token_err describe_rsa_key(struct cert_summary *s, const char *family)
{
    char algorithm[32];

    snprintf(algorithm, sizeof algorithm, "%s-%d", family, s->key_bits);
    return set_key_description(s, CERT_KEY_RSA, algorithm, NULL);
}

/*
 * SM2 keys arrive as id-ecPublicKey on the SM2 curve (GM/T 0015), so only the
 * curve tells SM2 from EC. No curve name is an error, never a nameless "EC":
 * RFC 5480 forbids explicit curve parameters, and OpenSSL also answers
 * "no name" when it runs out of memory.
 */
static token_err describe_ec_key(struct cert_summary *s, const EVP_PKEY *pkey)
{
    char group[80], algorithm[96];
    size_t group_len;
    const char *curve;
    int nid;

    if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, &group_len))
        return openssl_failure(TOKEN_E_MALFORMED);
    nid = OBJ_txt2nid(group);
    if (nid == NID_sm2)
        return set_key_description(s, CERT_KEY_SM2, "SM2", "SM2");
    curve = nid != NID_undef && EC_curve_nid2nist(nid) ? EC_curve_nid2nist(nid) : group;
    snprintf(algorithm, sizeof algorithm, "EC %s", curve);
    return set_key_description(s, CERT_KEY_EC, algorithm, curve);
}

static const char *edwards_montgomery_name(int nid)
{
    switch (nid) {
    case NID_ED25519: return "Ed25519";
    case NID_ED448:   return "Ed448";
    case NID_X25519:  return "X25519";
    case NID_X448:    return "X448";
    default:          return NULL;
    }
}

static const ASN1_OBJECT *public_key_algorithm(const X509 *x)
{
    ASN1_OBJECT *alg = NULL;

    X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, X509_get_X509_PUBKEY(x));
    return alg;
}

static token_err describe_other_key(struct cert_summary *s, const X509 *x)
{
    char *name __attribute__((cleanup(openssl_freep))) = NULL;
    token_err err;

    if ((err = dup_object_name(public_key_algorithm(x), true, &name)))
        return err;
    return set_key_description(s, CERT_KEY_UNKNOWN, name, NULL);
}

/*
 * OpenSSL decodes the key while parsing and keeps quiet when it cannot, so
 * an algorithm it implements but could not decode means broken key bits (or
 * no memory, which it does not tell us), never a key to show as "unknown".
 */
static bool openssl_decodes_key_algorithm(int nid)
{
    switch (nid) {
    case NID_rsaEncryption: case NID_rsassaPss: case NID_X9_62_id_ecPublicKey:
    case NID_dsa: case NID_ED25519: case NID_ED448: case NID_X25519: case NID_X448:
        return true;
    default:
        return false;
    }
}

/*
 * The key type comes from the certificate's algorithm OID, not from asking
 * the EVP_PKEY (EVP_PKEY_is_a and friends): under memory pressure those
 * quietly answer "no", and OpenSSL 3.0 gives an SM2 key decoded from a
 * certificate no legacy id at all (EVP_PKEY_get_id() is -1).
 */
static token_err fill_key(struct cert_summary *s, const X509 *x)
{
    EVP_PKEY *pkey = X509_get0_pubkey(x);
    int alg = OBJ_obj2nid(public_key_algorithm(x));

    if (!pkey)
        return openssl_decodes_key_algorithm(alg) ? openssl_failure(TOKEN_E_MALFORMED)
                                                  : describe_other_key(s, x);
    /* Cached when the key was decoded; 0 if that caching failed. */
    s->key_bits = EVP_PKEY_get_bits(pkey);
    if (s->key_bits <= 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    switch (alg) {
    case NID_rsaEncryption:        return describe_rsa_key(s, "RSA");
    case NID_rsassaPss:            return describe_rsa_key(s, "RSA-PSS");
    case NID_X9_62_id_ecPublicKey:
    case NID_sm2:                  return describe_ec_key(s, pkey);
    default:
        if (edwards_montgomery_name(alg))
            return set_key_description(s, CERT_KEY_UNKNOWN, edwards_montgomery_name(alg), NULL);
        return describe_other_key(s, x);
    }
}

/* ---- signature algorithm ----------------------------------------------- */

/* The key half of Java-style names ("SHA256withECDSA"), familiar to CA staff. */
static const char *signature_key_name(int pkey_nid)
{
    switch (pkey_nid) {
    case NID_rsaEncryption:        return "RSA";
    case NID_X9_62_id_ecPublicKey: return "ECDSA";
    case NID_sm2:                  return "SM2";
    case NID_dsa:                  return "DSA";
    default:                       return NULL;
    }
}

static const char *digestless_signature_name(int sig_nid)
{
    switch (sig_nid) {
    case NID_rsassaPss: return "RSASSA-PSS";
    case NID_ED25519:   return "Ed25519";
    case NID_ED448:     return "Ed448";
    default:            return NULL;
    }
}

static token_err fill_signature_algorithm(struct cert_summary *s, const X509 *x)
{
    const X509_ALGOR *alg;
    const ASN1_OBJECT *obj;
    int md_nid, pkey_nid, sig_nid;
    char name[96];

    X509_get0_signature(NULL, &alg, x);
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    sig_nid = OBJ_obj2nid(obj);
    if (sig_nid != NID_undef && OBJ_find_sigid_algs(sig_nid, &md_nid, &pkey_nid) &&
        md_nid != NID_undef && signature_key_name(pkey_nid) && OBJ_nid2sn(md_nid)) {
        snprintf(name, sizeof name, "%swith%s", OBJ_nid2sn(md_nid), signature_key_name(pkey_nid));
        return dup_string(name, &s->signature_algorithm);
    }
    if (digestless_signature_name(sig_nid))
        return dup_string(digestless_signature_name(sig_nid), &s->signature_algorithm);
    return dup_object_name(obj, true, &s->signature_algorithm);
}

/* ---- key usage --------------------------------------------------------- */

/* RFC 5280 section 4.2.1.3, in bit order. */
static const char *const key_usage_names[] = {
    "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
    "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
};

/*
 * NULL with *found false: the extension is absent. An extension that is
 * present but does not decode, or appears twice, makes the certificate
 * malformed (RFC 5280 4.2: at most one instance of an extension).
 */
static token_err get_extension(const X509 *x, int nid, void **ext, bool *found)
{
    int crit;

    *ext = X509_get_ext_d2i(x, nid, &crit, NULL);
    *found = crit != -1;
    if (*found && !*ext)
        return openssl_failure(TOKEN_E_MALFORMED);
    return TOKEN_OK;
}

static token_err new_string_list(size_t max, char ***list)
{
    *list = max ? OPENSSL_zalloc(max * sizeof **list) : NULL;
    return max && !*list ? TOKEN_E_NO_MEMORY : TOKEN_OK;
}

static token_err fill_key_usage(struct cert_summary *s, const X509 *x)
{
    const size_t n_names = sizeof key_usage_names / sizeof key_usage_names[0];
    void *bits;
    bool found;
    token_err err;

    if ((err = get_extension(x, NID_key_usage, &bits, &found)) || !found)
        return err;
    err = new_string_list(n_names, &s->key_usage);
    for (size_t i = 0; i < n_names && !err; i++)
        if (ASN1_BIT_STRING_get_bit(bits, (int)i))
            err = dup_string(key_usage_names[i], &s->key_usage[s->n_key_usage++]);
    ASN1_BIT_STRING_free(bits);
    return err;
}

static token_err fill_ext_key_usage(struct cert_summary *s, const X509 *x)
{
    void *ext;
    EXTENDED_KEY_USAGE *eku;
    bool found;
    token_err err;

    if ((err = get_extension(x, NID_ext_key_usage, &ext, &found)) || !found)
        return err;
    eku = ext;
    err = new_string_list((size_t)sk_ASN1_OBJECT_num(eku), &s->ext_key_usage);
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku) && !err; i++)
        err = dup_object_name(sk_ASN1_OBJECT_value(eku, i), false,
                              &s->ext_key_usage[s->n_ext_key_usage++]);
    EXTENDED_KEY_USAGE_free(eku);
    return err;
}

/* ---- fingerprints and PEM ---------------------------------------------- */

/* The summary has room for 256-bit digests: SHA-256 and SM3. */
static token_err fingerprint(const uint8_t *der, size_t len, const EVP_MD *md, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len;

    if (!md || EVP_MD_get_size(md) != 32 || !EVP_Digest(der, len, digest, &digest_len, md, NULL))
        return openssl_failure(TOKEN_E_INTERNAL);
    return hex_encode(digest, digest_len, true, hex, 65);
}

static token_err fill_pem(struct cert_summary *s, X509 *x)
{
    BIO *b __attribute__((cleanup(bio_freep))) = NULL;
    token_err err = new_string_builder(&b);

    if (err)
        return err;
    if (!PEM_write_bio_X509(b, x))
        return openssl_failure(TOKEN_E_INTERNAL);
    return bio_to_string(b, &s->pem);
}

/* ---- public ------------------------------------------------------------ */

static token_err fill_summary(struct cert_summary *s, X509 *x, const uint8_t *der, size_t len,
                              time_t now)
{
    token_err err;

    if ((err = fill_name(&s->subject, X509_get_subject_name(x))) ||
        (err = fill_name(&s->issuer, X509_get_issuer_name(x))) ||
        (err = fill_serial(s, x)) ||
        (err = fill_validity(s, x, now)) ||
        (err = fill_key(s, x)) ||
        (err = fill_signature_algorithm(s, x)) ||
        (err = fill_key_usage(s, x)) ||
        (err = fill_ext_key_usage(s, x)) ||
        (err = fingerprint(der, len, EVP_sha256(), s->sha256_hex)) ||
        (err = fingerprint(der, len, EVP_sm3(), s->sm3_hex)))
        return err;
    return fill_pem(s, x);
}

token_err cert_summarize(const uint8_t *der, size_t len, time_t now,
                         struct cert_summary **out)
{
    X509 *x __attribute__((cleanup(x509_freep))) = NULL;
    struct cert_summary *s = NULL;
    token_err err;

    if (!out)
        return TOKEN_E_INVALID_ARG;
    *out = NULL;
    ERR_clear_error();
    err = decode_certificate(der, len, &x);
    if (!err) {
        s = OPENSSL_zalloc(sizeof *s);
        err = s ? fill_summary(s, x, der, len, now) : TOKEN_E_NO_MEMORY;
    }
    if (err)
        cert_summary_free(s);
    else
        *out = s;
    ERR_clear_error();
    return err;
}

static void free_name(struct cert_name *n)
{
    for (size_t i = 0; i < n->n_attrs; i++) {
        OPENSSL_free(n->attrs[i].name);
        OPENSSL_free(n->attrs[i].oid);
        OPENSSL_free(n->attrs[i].value);
    }
    OPENSSL_free(n->attrs);
    OPENSSL_free(n->display);
    OPENSSL_free(n->common_name);
}

static void free_string_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(list[i]);
    OPENSSL_free(list);
}

void cert_summary_free(struct cert_summary *s)
{
    if (!s)
        return;
    free_name(&s->subject);
    free_name(&s->issuer);
    OPENSSL_free(s->serial_hex);
    OPENSSL_free(s->key_algorithm);
    OPENSSL_free(s->curve);
    OPENSSL_free(s->signature_algorithm);
    free_string_list(s->key_usage, s->n_key_usage);
    free_string_list(s->ext_key_usage, s->n_ext_key_usage);
    OPENSSL_free(s->pem);
    OPENSSL_free(s);
}

/* ---- the key, for comparing with a card's ------------------------------ */

token_err cert_public_key(const uint8_t *der, size_t len, uint8_t **spki, size_t *spki_len)
{
    X509 *x __attribute__((cleanup(x509_freep))) = NULL;
    unsigned char *pub __attribute__((cleanup(openssl_freep))) = NULL;
    token_err err;
    int n;

    if (!spki || !spki_len)
        return TOKEN_E_INVALID_ARG;
    ERR_clear_error();
    if ((err = decode_certificate(der, len, &x)))
        return err;
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &pub);
    if (n <= 0)
        return openssl_failure(TOKEN_E_MALFORMED);
    *spki = malloc((size_t)n);
    if (!*spki)
        return TOKEN_E_NO_MEMORY;
    memcpy(*spki, pub, (size_t)n);
    *spki_len = (size_t)n;
    return TOKEN_OK;
}

token_err cert_key_matches_spki(const uint8_t *der, size_t len, const uint8_t *spki,
                                size_t spki_len, bool *match)
{
    uint8_t *mine = NULL;
    size_t mine_len = 0;
    token_err err;

    if (!match)
        return TOKEN_E_INVALID_ARG;
    *match = false;
    err = cert_public_key(der, len, &mine, &mine_len);
    if (!err)
        err = spki_equal(mine, mine_len, spki, spki_len, match);
    free(mine);
    return err;
}
