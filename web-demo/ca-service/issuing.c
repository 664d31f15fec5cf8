/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/issuing.c — issuing CAs, requests, subjects and
 * certificates on OpenSSL 3 (see issuing.h).
 */
#include "issuing.h"

#include <limits.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"

#define RSA_KEY_BITS        2048
#define GROUP_NAME_MAX      64
#define SERIAL_BYTES        16        /* 126 random bits: well over CA/B's 64 */
#define SERIAL_TOP_BIT_OFF  0x7F        /* positive: no sign octet needed */
#define SERIAL_SECOND_BIT   0x40        /* and all 8 octets significant */
#define BACKDATE_S          60          /* clocks of relying parties run a little behind */
#define VALIDITY_DAYS       365
#define SIGN_DIGEST_SM2     "SM3"
#define SIGN_DIGEST_OTHER   "SHA256"
#define DEFAULT_COUNTRY     "CN"
#define HEX_PER_BYTE        2
#define SIGN_BIT_DIGITS     "89ABCDEF"  /* a first hex digit with the top bit set */
#define OPENSSL_ERROR_MAX   256

/* RFC 4514 as `openssl -nameopt RFC2253,-esc_msb,sep_comma_plus_space` prints it. */
#define NAME_FLAGS ((XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SEP_MASK) | \
                    XN_FLAG_SEP_CPLUS_SPC)

/* --- key types --------------------------------------------------------------- */

static const char *const key_alg_names[KEY_ALG__COUNT] = {
    [KEY_ALG_RSA2048] = "RSA-2048",
    [KEY_ALG_EC_P256] = "EC-P256",
    [KEY_ALG_EC_P384] = "EC-P384",
    [KEY_ALG_SM2] = "SM2",
};

const char *key_alg_name(enum key_alg alg)
{
    return (unsigned)alg < KEY_ALG__COUNT ? key_alg_names[alg] : NULL;
}

enum key_alg key_alg_from_name(const char *name)
{
    for (unsigned a = KEY_ALG_NONE + 1; name && a < KEY_ALG__COUNT; a++)
        if (strcmp(name, key_alg_names[a]) == 0)
            return (enum key_alg)a;
    return KEY_ALG_NONE;
}

static int curve_nid(const EVP_PKEY *key)
{
    char group[GROUP_NAME_MAX];
    size_t len = 0;
    int nid;

    if (!EVP_PKEY_get_group_name(key, group, sizeof group, &len))
        return NID_undef;
    nid = OBJ_sn2nid(group);
    return nid != NID_undef ? nid : EC_curve_nist2nid(group);
}

enum key_alg key_alg_of(const EVP_PKEY *key)
{
    if (!key)
        return KEY_ALG_NONE;
    if (EVP_PKEY_is_a(key, "RSA"))
        return EVP_PKEY_get_bits(key) == RSA_KEY_BITS ? KEY_ALG_RSA2048 : KEY_ALG_NONE;
    if (EVP_PKEY_is_a(key, "SM2"))
        return KEY_ALG_SM2;
    if (!EVP_PKEY_is_a(key, "EC"))
        return KEY_ALG_NONE;
    switch (curve_nid(key)) {
    case NID_X9_62_prime256v1: return KEY_ALG_EC_P256;
    case NID_secp384r1: return KEY_ALG_EC_P384;
    case NID_sm2: return KEY_ALG_SM2;
    default: return KEY_ALG_NONE;
    }
}

/* --- certificates and names ------------------------------------------------------ */

X509 *cert_parse(const void *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (!der || len == 0 || len > LONG_MAX)
        return NULL;
    x = d2i_X509(NULL, &p, (long)len);
    if (x && p != (const unsigned char *)der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

bool name_text(const X509_NAME *name, char *out, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    bool ok;

    if (!bio)
        return false;
    ok = X509_NAME_print_ex(bio, name, 0, NAME_FLAGS) >= 0 &&
         (n = BIO_get_mem_data(bio, &data)) >= 0 && (size_t)n < size;
    if (ok) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(bio);
    return ok;
}

/* The serial as certSerial: its content octets in upper-case hex, so a
 * serial whose top bit is set keeps its 00 sign octet. */
static bool serial_text(const ASN1_INTEGER *serial, char *out, size_t size)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    bool ok = hex && !BN_is_negative(bn);

    if (ok) {
        const char *sign = hex[0] && strchr(SIGN_BIT_DIGITS, hex[0]) ? "00" : "";
        const char *pad = strlen(hex) % HEX_PER_BYTE ? "0" : "";

        ok = (size_t)snprintf(out, size, "%s%s%s", sign, pad, hex) < size;
    }
    OPENSSL_free(hex);
    BN_free(bn);
    return ok;
}

bool cert_facts_of(X509 *cert, struct cert_facts *out)
{
    memset(out, 0, sizeof *out);
    out->key_alg = key_alg_of(X509_get0_pubkey(cert));
    return serial_text(X509_get0_serialNumber(cert), out->serial, sizeof out->serial) &&
           name_text(X509_get_issuer_name(cert), out->issuer, sizeof out->issuer) &&
           name_text(X509_get_subject_name(cert), out->subject, sizeof out->subject);
}

/* --- issuing CAs ------------------------------------------------------------------- */

struct issuer {
    X509 *cert;
    EVP_PKEY *key;
    enum key_alg key_alg;
};

struct issuers {
    size_t n;
    struct issuer *v;
};

static void log_openssl(const char *what)
{
    unsigned long e = ERR_get_error();
    char why[OPENSSL_ERROR_MAX];

    ERR_error_string_n(e, why, sizeof why);
    ca_log("%s: %s", what, e ? why : "failed");
    ERR_clear_error();
}

static X509 *read_cert_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    return x;
}

static EVP_PKEY *read_key_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    return k;
}

/* A usable CA: a CA certificate, its own private key, a key type we sign with. */
static bool issuer_usable(const struct issuer *is, const char *spec)
{
    if (!is->cert || !is->key) {
        log_openssl(spec);
        return false;
    }
    if (X509_check_ca(is->cert) == 0 || X509_check_private_key(is->cert, is->key) != 1) {
        ca_log("--issuer %s: not a CA certificate with its private key", spec);
        ERR_clear_error();
        return false;
    }
    if (is->key_alg != KEY_ALG_SM2 && !EVP_PKEY_is_a(is->key, "RSA") &&
        !EVP_PKEY_is_a(is->key, "EC")) {
        ca_log("--issuer %s: an SM2, RSA or EC key is needed", spec);
        return false;
    }
    return true;
}

static struct issuers *grow(struct issuers **set)
{
    struct issuers *s = *set;
    struct issuer *v;

    if (!s && !(s = *set = calloc(1, sizeof *s)))
        return NULL;
    if (!(v = realloc(s->v, (s->n + 1) * sizeof *v)))
        return NULL;
    s->v = v;
    return s;
}

bool issuers_add(struct issuers **set, const char *spec)
{
    const char *colon = strrchr(spec, ':');
    struct issuer is = { 0 };
    char *cert_path;
    struct issuers *s;

    if (!colon || colon == spec || !colon[1]) {
        fprintf(stderr, "ukey-ca: --issuer wants CERT.pem:KEY.pem\n");
        return false;
    }
    if (!(cert_path = strndup(spec, (size_t)(colon - spec))))
        return false;
    is.cert = read_cert_pem(cert_path);
    is.key = read_key_pem(colon + 1);
    is.key_alg = key_alg_of(is.key);
    free(cert_path);
    if (!issuer_usable(&is, spec) || !(s = grow(set))) {
        X509_free(is.cert);
        EVP_PKEY_free(is.key);
        return false;
    }
    s->v[s->n++] = is;
    return true;
}

void issuers_free(struct issuers *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        X509_free(set->v[i].cert);
        EVP_PKEY_free(set->v[i].key);
    }
    free(set->v);
    free(set);
}

size_t issuers_count(const struct issuers *set)
{
    return set ? set->n : 0;
}

const struct issuer *issuers_pick(const struct issuers *set, X509 *old, enum key_alg key_alg)
{
    size_t i;

    for (i = 0; old && i < issuers_count(set); i++)
        if (X509_check_issued(set->v[i].cert, old) == X509_V_OK)
            return &set->v[i];
    for (i = 0; i < issuers_count(set); i++)
        if ((set->v[i].key_alg == KEY_ALG_SM2) == (key_alg == KEY_ALG_SM2))
            return &set->v[i];
    return NULL;
}

static bool der_of_cert(X509 *x, unsigned char **der, size_t *len);

bool issuer_chain_der(const struct issuer *is, unsigned char **der, size_t *len)
{
    *der = NULL;
    *len = 0;
    return X509_self_signed(is->cert, 0) == 1 || der_of_cert(is->cert, der, len);
}

/* --- subjects ------------------------------------------------------------------------- */

/* X.520 order, most general first, as the demo certificates are written. */
static const int name_order[] = {
    NID_countryName, NID_stateOrProvinceName, NID_localityName, NID_organizationName,
    NID_organizationalUnitName, NID_commonName, NID_pkcs9_emailAddress,
};
#define N_NAME_ORDER (sizeof name_order / sizeof name_order[0])

static size_t rank_of(int nid)
{
    for (size_t i = 0; i < N_NAME_ORDER; i++)
        if (name_order[i] == nid)
            return i;
    return N_NAME_ORDER;
}

/* Where a missing attribute goes: after the last entry that comes before it. */
static int insert_position(const X509_NAME *name, int nid)
{
    int n = X509_NAME_entry_count(name), at = 0;

    for (int i = 0; i < n; i++) {
        int other = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i)));

        if (rank_of(other) <= rank_of(nid))
            at = i + 1;
    }
    return at;
}

/* Replaces every entry of type nid with one of value (or inserts it). */
static bool set_attribute(X509_NAME *name, int nid, const char *value)
{
    int first = X509_NAME_get_index_by_NID(name, nid, -1), at, i;

    if (!value)
        return true;
    at = first >= 0 ? first : insert_position(name, nid);
    while ((i = X509_NAME_get_index_by_NID(name, nid, -1)) >= 0)
        X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, i));
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                      at, 0) == 1;
}

/* Any ASN.1 value's DER into a malloc'd buffer (the caller frees with free). */
static bool der_of(const void *value, const ASN1_ITEM *item, unsigned char **der, size_t *len)
{
    int n = ASN1_item_i2d((const ASN1_VALUE *)value, NULL, item);
    unsigned char *p;

    if (n <= 0 || !(*der = malloc((size_t)n)))
        return false;
    p = *der;
    if (ASN1_item_i2d((const ASN1_VALUE *)value, &p, item) != n) {
        free(*der);
        *der = NULL;
        return false;
    }
    *len = (size_t)n;
    return true;
}

static bool der_of_name(const X509_NAME *name, unsigned char **der, size_t *len)
{
    return der_of(name, ASN1_ITEM_rptr(X509_NAME), der, len);
}

bool subject_build(const X509_NAME *base, const struct subject_details *d, unsigned char **der,
                   size_t *len, char *text, size_t text_size)
{
    X509_NAME *name = base ? X509_NAME_dup(base) : X509_NAME_new();
    bool ok = name != NULL;

    *der = NULL;
    if (ok && !base)
        ok = set_attribute(name, NID_countryName, DEFAULT_COUNTRY);
    ok = ok && set_attribute(name, NID_organizationName, d->organization) &&
         set_attribute(name, NID_organizationalUnitName, d->organizational_unit) &&
         set_attribute(name, NID_commonName, d->common_name) &&
         set_attribute(name, NID_pkcs9_emailAddress, d->email) &&
         X509_NAME_entry_count(name) > 0 && name_text(name, text, text_size) &&
         der_of_name(name, der, len);
    if (!ok) {
        free(*der);
        *der = NULL;
        ERR_clear_error();
    }
    X509_NAME_free(name);
    return ok;
}

/* --- requests ------------------------------------------------------------------------- */

/* SM2 signatures hash the signer's distinguishing id in: the request must say which. */
static bool set_sm2_id(X509_REQ *req)
{
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

    if (!id || !ASN1_OCTET_STRING_set(id, (const unsigned char *)SM2_DIST_ID,
                                      (int)strlen(SM2_DIST_ID))) {
        ASN1_OCTET_STRING_free(id);
        return false;
    }
    X509_REQ_set0_distinguishing_id(req, id);
    return true;
}

enum csr_check csr_check(const void *der, size_t len, enum key_alg want, EVP_PKEY **key)
{
    const unsigned char *p = der;
    X509_REQ *req = len && len <= LONG_MAX ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
    EVP_PKEY *pub = req ? X509_REQ_get0_pubkey(req) : NULL;
    enum csr_check result = CSR_MALFORMED;
    enum key_alg alg = key_alg_of(pub);

    *key = NULL;
    if (!req || p != (const unsigned char *)der + len || !pub)
        goto out;
    result = CSR_WRONG_KEY;
    if (alg == KEY_ALG_NONE || alg != want)
        goto out;
    result = CSR_BAD_SIGNATURE;
    if ((alg == KEY_ALG_SM2 && !set_sm2_id(req)) || X509_REQ_verify(req, pub) != 1)
        goto out;
    if (EVP_PKEY_up_ref(pub) != 1)
        goto out;
    *key = pub;
    result = CSR_OK;
out:
    ERR_clear_error();
    X509_REQ_free(req);
    return result;
}

/* --- certificates ------------------------------------------------------------------------ */

static bool set_random_serial(X509 *x)
{
    unsigned char b[SERIAL_BYTES];
    BIGNUM *bn;
    bool ok;

    if (RAND_bytes(b, sizeof b) != 1)
        return false;
    b[0] = (unsigned char)((b[0] & SERIAL_TOP_BIT_OFF) | SERIAL_SECOND_BIT);
    bn = BN_bin2bn(b, sizeof b, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/* A year from now, but never past the issuer's own end: a chain's
 * certificate should not outlive the CA that vouches for it. */
static bool set_validity(X509 *x, X509 *issuer_cert)
{
    /* an expired CA issues nothing: notAfter would come before notBefore */
    if (X509_cmp_current_time(X509_get0_notAfter(issuer_cert)) <= 0) {
        ca_log("issuing CA expired");
        return false;
    }
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_S) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), VALIDITY_DAYS, 0, NULL))
        return false;
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer_cert)) > 0)
        return X509_set1_notAfter(x, X509_get0_notAfter(issuer_cert)) == 1;
    return true;
}

static bool set_subject(X509 *x, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)len);
    bool ok = name && X509_set_subject_name(x, name) == 1;

    X509_NAME_free(name);
    return ok;
}

static bool add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1) == 1;

    X509_EXTENSION_free(ext);
    return ok;
}

/* The usages a PIV slot's certificate has when there was none to copy. An
 * EC key cannot encipher a key (RFC 5480): its 9d certificate agrees one. */
static bool add_default_usages(X509 *x, X509V3_CTX *ctx, const char *slot, EVP_PKEY *key)
{
    enum key_alg alg = key_alg_of(key);
    bool ec = alg == KEY_ALG_EC_P256 || alg == KEY_ALG_EC_P384;

    if (strcmp(slot, "9d") == 0)
        return add_conf_ext(x, ctx, NID_key_usage,
                            ec ? "critical,keyAgreement" : "critical,keyEncipherment");
    if (strcmp(slot, "9e") == 0)
        return add_conf_ext(x, ctx, NID_key_usage, "critical,digitalSignature");
    return add_conf_ext(x, ctx, NID_key_usage, "critical,digitalSignature") &&
           add_conf_ext(x, ctx, NID_ext_key_usage, "clientAuth");
}

static bool copy_ext(X509 *x, X509 *old, int nid)
{
    int i = X509_get_ext_by_NID(old, nid, -1);

    return i < 0 || X509_add_ext(x, X509_get_ext(old, i), -1) == 1;
}

static bool add_extensions(X509 *x, const struct issue_order *o)
{
    X509V3_CTX ctx;
    bool usages;

    X509V3_set_ctx(&ctx, o->issuer->cert, x, NULL, NULL, 0);
    usages = o->old ? copy_ext(x, o->old, NID_key_usage) && copy_ext(x, o->old, NID_ext_key_usage)
                    : add_default_usages(x, &ctx, o->slot, o->key);
    return usages && add_conf_ext(x, &ctx, NID_basic_constraints, "CA:FALSE") &&
           add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
           add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
}

static bool sign_cert(X509 *x, const struct issuer *is)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool sm2 = is->key_alg == KEY_ALG_SM2;
    bool ok = md && EVP_DigestSignInit_ex(md, &pctx, sm2 ? SIGN_DIGEST_SM2 : SIGN_DIGEST_OTHER,
                                          NULL, NULL, is->key, NULL) == 1;

    if (ok && sm2)
        ok = EVP_PKEY_CTX_set1_id(pctx, SM2_DIST_ID, strlen(SM2_DIST_ID)) == 1;
    ok = ok && X509_sign_ctx(x, md) > 0;
    EVP_MD_CTX_free(md);
    return ok;
}

static bool der_of_cert(X509 *x, unsigned char **der, size_t *len)
{
    return der_of(x, ASN1_ITEM_rptr(X509), der, len);
}

bool cert_issue(const struct issue_order *o, unsigned char **der, size_t *len,
                struct cert_facts *facts)
{
    X509 *x = X509_new();
    bool ok = x && X509_set_version(x, X509_VERSION_3) && set_random_serial(x) &&
              X509_set_issuer_name(x, X509_get_subject_name(o->issuer->cert)) &&
              set_validity(x, o->issuer->cert) && set_subject(x, o->subject_der, o->subject_len) &&
              X509_set_pubkey(x, o->key) && add_extensions(x, o) && sign_cert(x, o->issuer) &&
              cert_facts_of(x, facts) && der_of_cert(x, der, len);

    if (!ok)
        log_openssl("issuing a certificate");
    X509_free(x);
    return ok;
}
