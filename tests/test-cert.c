/* SPDX-License-Identifier: MIT */
/*
 * tests/test-cert.c — cert_summarize (token/cert.c) against certificates
 * minted here with OpenSSL's API (SM2/SM3 with Chinese names, RSA, NIST and
 * other curves, Ed25519, odd names and dates), against every kind of broken
 * DER, and with every allocation it makes failing in turn.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/tap.h"
#include "token/cert.h"

#define T_2018 ((time_t)1514764800)   /* 2018-01-01T00:00:00Z */
#define T_2020 ((time_t)1577836800)
#define T_2024 ((time_t)1704067200)
#define T_2025 ((time_t)1735689600)
#define T_2026 ((time_t)1767225600)
#define DAY    ((time_t)86400)

/* ---- allocation failure injection -------------------------------------- */

/* Allocations left before the next one fails; negative means never fail. */
static long alloc_budget = -1;
/* Only that one fails (a transient shortage), or every one after it too. */
static bool alloc_fail_once;

static long alloc_count;

static bool alloc_should_fail(void)
{
    alloc_count++;
    if (alloc_budget < 0)
        return false;
    if (alloc_budget == 0) {
        if (alloc_fail_once)
            alloc_budget = -1;
        return true;
    }
    alloc_budget--;
    return false;
}

static void *failing_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    return alloc_should_fail() ? NULL : malloc(n);
}

static void *failing_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file; (void)line;
    if (n == 0) {
        free(p);
        return NULL;
    }
    return alloc_should_fail() ? NULL : realloc(p, n);
}

static void plain_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    free(p);
}

/* ---- minting certificates ---------------------------------------------- */

struct attr_spec {
    const char *field;   /* "CN", "O", ... or a dotted OID; NULL ends a list */
    int type;            /* MBSTRING_UTF8 lets OpenSSL pick; else this ASN.1 type */
    const char *value;   /* UTF-8, converted to `type`; raw bytes when raw_len >= 0 */
    int raw_len;
    bool same_rdn;       /* joins the previous attribute's RDN */
};

#define TEXT(f, v)          { (f), MBSTRING_UTF8, (v), -1, false }
#define TYPED(f, t, v)      { (f), (t), (v), -1, false }
#define RAW(f, t, v, n)     { (f), (t), (v), (n), false }
#define SAME_RDN(f, v)      { (f), MBSTRING_UTF8, (v), -1, true }
#define END_ATTRS           { NULL, 0, NULL, 0, false }

enum signer { SIGN_PLAIN, SIGN_SM2, SIGN_RSA_PSS };

struct cert_spec {
    EVP_PKEY *key;
    const EVP_MD *md;                  /* NULL for Ed25519 */
    enum signer signer;
    const struct attr_spec *subject;
    const struct attr_spec *issuer;    /* NULL: same as subject */
    const char *serial;                /* hex for BN_hex2bn, "-1" allowed */
    time_t not_before, not_after;
    const char *key_usage;             /* X509V3 config syntax, or NULL */
    const char *ext_key_usage;
};

static const char sm2_id[] = "1234567812345678";   /* GM/T 0009 default ID */

static bool add_attr(X509_NAME *name, const struct attr_spec *a)
{
    ASN1_STRING *conv = NULL;
    const unsigned char *bytes = (const unsigned char *)a->value;
    int len = a->raw_len, type = a->type, set = a->same_rdn ? -1 : 0;
    bool ok;

    if (type != MBSTRING_UTF8 && a->raw_len < 0) {
        if (ASN1_mbstring_copy(&conv, bytes, -1, MBSTRING_UTF8, ASN1_tag2bit(type)) < 0)
            return false;
        bytes = conv->data;
        len = conv->length;
    }
    ok = X509_NAME_add_entry_by_txt(name, a->field, type, bytes, len, -1, set);
    ASN1_STRING_free(conv);
    return ok;
}

static X509_NAME *make_name(const struct attr_spec *attrs)
{
    X509_NAME *name = X509_NAME_new();

    for (; name && attrs->field; attrs++)
        if (!add_attr(name, attrs)) {
            X509_NAME_free(name);
            return NULL;
        }
    return name;
}

static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    bool ok;

    if (!value)
        return true;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static bool sign_cert(X509 *x, const struct cert_spec *spec)
{
    EVP_MD_CTX *mctx;
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = false;

    if (spec->signer == SIGN_PLAIN)
        return X509_sign(x, spec->key, spec->md) > 0;
    mctx = EVP_MD_CTX_new();
    if (!mctx)
        return false;
    if (spec->signer == SIGN_SM2) {
        /* The SM2 ID goes into Z = SM3(ENTL || ID || curve || key): set it first. */
        pctx = EVP_PKEY_CTX_new(spec->key, NULL);
        if (!pctx || EVP_PKEY_CTX_set1_id(pctx, sm2_id, (int)strlen(sm2_id)) <= 0)
            goto out;
        EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
        ok = EVP_DigestSignInit(mctx, NULL, EVP_sm3(), NULL, spec->key) > 0;
    } else {
        ok = EVP_DigestSignInit(mctx, &pctx, spec->md, NULL, spec->key) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0;
        pctx = NULL;   /* owned by mctx */
    }
    ok = ok && X509_sign_ctx(x, mctx) > 0;
out:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static bool set_serial(X509 *x, const char *hex)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    bool ok;

    ok = BN_hex2bn(&bn, hex) > 0 && (serial = BN_to_ASN1_INTEGER(bn, NULL)) &&
         X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

static X509 *make_cert(const struct cert_spec *spec)
{
    X509 *x = X509_new();
    X509_NAME *subject = make_name(spec->subject);
    X509_NAME *issuer = make_name(spec->issuer ? spec->issuer : spec->subject);
    bool ok;

    ok = x && subject && issuer && X509_set_version(x, X509_VERSION_3) &&
         set_serial(x, spec->serial ? spec->serial : "01") &&
         X509_set_subject_name(x, subject) && X509_set_issuer_name(x, issuer) &&
         ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before ? spec->not_before : T_2024) &&
         ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after ? spec->not_after : T_2026) &&
         X509_set_pubkey(x, spec->key) &&
         add_ext(x, NID_key_usage, spec->key_usage) &&
         add_ext(x, NID_ext_key_usage, spec->ext_key_usage) &&
         sign_cert(x, spec);
    X509_NAME_free(subject);
    X509_NAME_free(issuer);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

struct der {
    unsigned char *data;
    size_t len;
};

static struct der der_of(const X509 *x)
{
    struct der d = { NULL, 0 };
    int n = x ? i2d_X509(x, &d.data) : -1;

    d.len = n > 0 ? (size_t)n : 0;
    return d;
}

static struct der mint(const struct cert_spec *spec)
{
    X509 *x = make_cert(spec);
    struct der d = der_of(x);

    X509_free(x);
    if (!d.data)
        tap_diag("could not mint a certificate (serial %s)", spec->serial ? spec->serial : "01");
    return d;
}

static EVP_PKEY *gen_key(const char *type, const char *curve)
{
    if (curve)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    return EVP_PKEY_Q_keygen(NULL, NULL, type);
}

/* ---- checking ---------------------------------------------------------- */

static struct cert_summary *summarize(struct der d, time_t now, const char *what)
{
    struct cert_summary *s = NULL;
    token_err err = d.data ? cert_summarize(d.data, d.len, now, &s) : TOKEN_E_INTERNAL;

    tap_ok(err == TOKEN_OK && s, "%s: summarized (%s)", what, token_err_name(err));
    return s;
}

static void check_attr(const struct cert_name *n, size_t i, const char *name, const char *oid,
                       const char *value, const char *what)
{
    char label[160];

    snprintf(label, sizeof label, "%s attr %zu", what, i);
    if (!tap_ok(i < n->n_attrs, "%s exists", label))
        return;
    TAP_EQ_STR(n->attrs[i].name, name, label);
    TAP_EQ_STR(n->attrs[i].oid, oid, label);
    TAP_EQ_STR(n->attrs[i].value, value, label);
}

static void check_list(char **got, size_t n_got, const char *const *want, size_t n_want,
                       const char *what)
{
    TAP_EQ_INT(n_got, n_want, what);
    for (size_t i = 0; i < n_got && i < n_want; i++)
        TAP_EQ_STR(got[i], want[i], what);
}

static void digest_hex(const X509 *x, const EVP_MD *md, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    hex[0] = '\0';
    if (X509_digest(x, md, d, &n))
        for (unsigned int i = 0; i < n && i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Fingerprints against X509_digest, PEM by reading it back. */
static void check_encodings(const struct cert_summary *s, struct der d, const char *what)
{
    const unsigned char *p = d.data;
    X509 *x = d2i_X509(NULL, &p, (long)d.len);
    char want[65];
    BIO *b = BIO_new_mem_buf(s->pem ? s->pem : "", -1);
    X509 *back = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    struct der back_der = der_of(back);

    digest_hex(x, EVP_sha256(), want);
    TAP_EQ_STR(s->sha256_hex, want, what);
    digest_hex(x, EVP_sm3(), want);
    TAP_EQ_STR(s->sm3_hex, want, what);
    tap_ok(s->pem && strncmp(s->pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0 &&
           strstr(s->pem, "-----END CERTIFICATE-----\n"), "%s: PEM armour", what);
    tap_ok(back_der.len == d.len && memcmp(back_der.data, d.data, d.len) == 0,
           "%s: PEM decodes to the same DER", what);
    OPENSSL_free(back_der.data);
    X509_free(back);
    BIO_free(b);
    X509_free(x);
}

static void check_key(const struct cert_summary *s, enum cert_key_type type, int bits,
                      const char *algorithm, const char *curve, const char *what)
{
    TAP_EQ_INT(s->key_type, type, what);
    TAP_EQ_INT(s->key_bits, bits, what);
    TAP_EQ_STR(s->key_algorithm, algorithm, what);
    if (curve)
        TAP_EQ_STR(s->curve, curve, what);
    else
        tap_ok(!s->curve, "%s: no curve (got %s)", what, s->curve ? s->curve : "NULL");
}

/* ---- the certificates a user will have --------------------------------- */

static const struct attr_spec demo_subject[] = {
    TEXT("C", "CN"), TEXT("O", "演示科技有限公司"), TEXT("CN", "演示专用"), END_ATTRS,
};
static const struct attr_spec demo_subject_bmp[] = {
    TEXT("C", "CN"), TEXT("O", "演示科技有限公司"),
    TYPED("CN", V_ASN1_BMPSTRING, "演示专用"), END_ATTRS,
};
static const struct attr_spec demo_ca[] = {
    TEXT("C", "CN"), TEXT("O", "演示科技有限公司"), TEXT("CN", "演示 CA"), END_ATTRS,
};

static void check_demo_name(const struct cert_name *n, const char *what)
{
    TAP_EQ_STR(n->display, "CN=演示专用, O=演示科技有限公司, C=CN", what);
    TAP_EQ_STR(n->common_name, "演示专用", what);
    TAP_EQ_INT(n->n_attrs, 3, what);
    check_attr(n, 0, "C", "2.5.4.6", "CN", what);
    check_attr(n, 1, "O", "2.5.4.10", "演示科技有限公司", what);
    check_attr(n, 2, "CN", "2.5.4.3", "演示专用", what);
}

/*
 * OpenSSL 3.0 signs and verifies SM2 with an empty ID unless told otherwise,
 * so a certificate signed with the standard ID verifies only once X509 knows it.
 */
static bool verify_sm2(X509 *x, EVP_PKEY *key)
{
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

    if (!id || !ASN1_OCTET_STRING_set(id, (const unsigned char *)sm2_id, (int)strlen(sm2_id))) {
        ASN1_OCTET_STRING_free(id);
        return false;
    }
    tap_diag("SM2: X509_verify without the ID set says %d", X509_verify(x, key));
    X509_set0_distinguishing_id(x, id);
    return X509_verify(x, key) == 1;
}

static void test_sm2(EVP_PKEY *sm2, struct der *keep)
{
    static const char *const ku[] = { "digitalSignature", "nonRepudiation" };
    static const char *const eku[] = { "clientAuth" };
    struct cert_spec spec = {
        .key = sm2, .signer = SIGN_SM2, .subject = demo_subject, .serial = "7E1F2A3B4C5D6E7F",
        .key_usage = "critical,digitalSignature,nonRepudiation", .ext_key_usage = "clientAuth",
    };
    X509 *x = make_cert(&spec);
    struct der d = der_of(x);
    struct cert_summary *s;

    tap_ok(x && verify_sm2(x, sm2), "SM2: minted certificate verifies with the GM/T 0009 ID");
    X509_free(x);
    s = summarize(d, T_2025, "SM2");
    if (s) {
        check_demo_name(&s->subject, "SM2 subject");
        check_demo_name(&s->issuer, "SM2 issuer");
        TAP_EQ_STR(s->serial_hex, "7E1F2A3B4C5D6E7F", "SM2 serial");
        TAP_EQ_INT(s->not_before, T_2024, "SM2 not_before");
        TAP_EQ_INT(s->not_after, T_2026, "SM2 not_after");
        TAP_EQ_STR(s->not_before_iso, "2024-01-01T00:00:00Z", "SM2 not_before_iso");
        TAP_EQ_STR(s->not_after_iso, "2026-01-01T00:00:00Z", "SM2 not_after_iso");
        TAP_EQ_INT(s->days_left, 365, "SM2 days_left");
        TAP_EQ_INT(cert_days_left(s, T_2025 + 100 * 86400), 265,
                   "days left asked again 100 days later");
        TAP_EQ_INT(cert_days_left(s, T_2026 + 1), -1, "and after expiry");
        check_key(s, CERT_KEY_SM2, 256, "SM2", "SM2", "SM2 key");
        TAP_EQ_STR(s->signature_algorithm, "SM3withSM2", "SM2 signature algorithm");
        check_list(s->key_usage, s->n_key_usage, ku, 2, "SM2 key usage");
        check_list(s->ext_key_usage, s->n_ext_key_usage, eku, 1, "SM2 ext key usage");
        check_encodings(s, d, "SM2");
    }
    cert_summary_free(s);
    *keep = d;
}

static void test_sm2_bmp_cn(EVP_PKEY *sm2)
{
    struct cert_spec spec = { .key = sm2, .signer = SIGN_SM2, .subject = demo_subject_bmp };
    X509 *x = make_cert(&spec);
    struct der d = der_of(x);
    struct cert_summary *s;
    const X509_NAME_ENTRY *cn = x ? X509_NAME_get_entry(X509_get_subject_name(x), 2) : NULL;

    tap_ok(cn && ASN1_STRING_type(X509_NAME_ENTRY_get_data(cn)) == V_ASN1_BMPSTRING,
           "BMP: the minted CN really is a BMPString");
    X509_free(x);
    s = summarize(d, T_2025, "BMP");
    if (s)
        check_demo_name(&s->subject, "BMP subject");
    cert_summary_free(s);
    OPENSSL_free(d.data);
}

static void test_rsa(EVP_PKEY *rsa, struct der *keep)
{
    static const char *const ku[] = { "digitalSignature", "keyEncipherment" };
    static const char *const eku[] = {
        "clientAuth", "emailProtection", "codeSigning", "msSmartcardLogin", "1.2.3.4.5.6.7",
    };
    struct cert_spec spec = {
        .key = rsa, .md = EVP_sha256(), .subject = demo_subject, .issuer = demo_ca,
        .serial = "8A0B0C0D", .key_usage = "critical,digitalSignature,keyEncipherment",
        .ext_key_usage = "clientAuth,emailProtection,codeSigning,1.3.6.1.4.1.311.20.2.2,1.2.3.4.5.6.7",
    };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "RSA");

    if (s) {
        check_demo_name(&s->subject, "RSA subject");
        TAP_EQ_STR(s->issuer.display, "CN=演示 CA, O=演示科技有限公司, C=CN", "RSA issuer");
        TAP_EQ_STR(s->issuer.common_name, "演示 CA", "RSA issuer CN");
        TAP_EQ_STR(s->serial_hex, "008A0B0C0D", "RSA serial keeps its sign octet");
        check_key(s, CERT_KEY_RSA, 2048, "RSA-2048", NULL, "RSA key");
        TAP_EQ_STR(s->signature_algorithm, "SHA256withRSA", "RSA signature algorithm");
        check_list(s->key_usage, s->n_key_usage, ku, 2, "RSA key usage");
        check_list(s->ext_key_usage, s->n_ext_key_usage, eku, 5, "RSA ext key usage");
        check_encodings(s, d, "RSA");
    }
    cert_summary_free(s);
    *keep = d;
}

static void test_signature_names(EVP_PKEY *rsa, EVP_PKEY *p256)
{
    static const struct {
        const EVP_MD *(*md)(void);
        enum signer signer;
        bool ec;
        const char *want;
    } cases[] = {
        { EVP_sha1, SIGN_PLAIN, false, "SHA1withRSA" },
        { EVP_sha384, SIGN_PLAIN, false, "SHA384withRSA" },
        { EVP_sha512, SIGN_PLAIN, false, "SHA512withRSA" },
        { EVP_sha256, SIGN_RSA_PSS, false, "RSASSA-PSS" },
        { EVP_sha384, SIGN_PLAIN, true, "SHA384withECDSA" },
        { EVP_sha512, SIGN_PLAIN, true, "SHA512withECDSA" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cert_spec spec = {
            .key = cases[i].ec ? p256 : rsa, .md = cases[i].md(), .signer = cases[i].signer,
            .subject = demo_subject,
        };
        struct der d = mint(&spec);
        struct cert_summary *s = summarize(d, T_2025, cases[i].want);

        if (s)
            TAP_EQ_STR(s->signature_algorithm, cases[i].want, "signature algorithm");
        cert_summary_free(s);
        OPENSSL_free(d.data);
    }
}

static void test_ec_curves(void)
{
    static const struct {
        const char *curve;
        const EVP_MD *(*md)(void);
        int bits;
        const char *algorithm, *name, *signature;
    } cases[] = {
        { "prime256v1", EVP_sha256, 256, "EC P-256", "P-256", "SHA256withECDSA" },
        { "secp384r1", EVP_sha384, 384, "EC P-384", "P-384", "SHA384withECDSA" },
        { "secp521r1", EVP_sha512, 521, "EC P-521", "P-521", "SHA512withECDSA" },
        { "secp256k1", EVP_sha256, 256, "EC secp256k1", "secp256k1", "SHA256withECDSA" },
        { "brainpoolP256r1", EVP_sha256, 256, "EC brainpoolP256r1", "brainpoolP256r1",
          "SHA256withECDSA" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        EVP_PKEY *key = gen_key("EC", cases[i].curve);
        struct cert_spec spec = { .key = key, .md = cases[i].md(), .subject = demo_subject };
        struct der d = mint(&spec);
        struct cert_summary *s = summarize(d, T_2025, cases[i].curve);

        if (s) {
            check_key(s, CERT_KEY_EC, cases[i].bits, cases[i].algorithm, cases[i].name,
                      cases[i].curve);
            TAP_EQ_STR(s->signature_algorithm, cases[i].signature, cases[i].curve);
            tap_ok(s->n_key_usage == 0 && !s->key_usage && s->n_ext_key_usage == 0 &&
                   !s->ext_key_usage, "%s: no usage extensions, empty lists", cases[i].curve);
        }
        cert_summary_free(s);
        OPENSSL_free(d.data);
        EVP_PKEY_free(key);
    }
}

static void test_all_key_usages(EVP_PKEY *p256)
{
    static const char *const ku[] = {
        "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
        "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
    };
    struct cert_spec spec = {
        .key = p256, .md = EVP_sha256(), .subject = demo_subject,
        .key_usage = "digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,"
                     "keyAgreement,keyCertSign,cRLSign,encipherOnly,decipherOnly",
        .ext_key_usage = "serverAuth,clientAuth,codeSigning,emailProtection,timeStamping,"
                         "OCSPSigning",
    };
    static const char *const eku[] = {
        "serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping",
        "OCSPSigning",
    };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "all usages");

    if (s) {
        check_list(s->key_usage, s->n_key_usage, ku, 9, "all nine key usages, RFC 5280 names");
        check_list(s->ext_key_usage, s->n_ext_key_usage, eku, 6, "ext key usage short names");
    }
    cert_summary_free(s);
    OPENSSL_free(d.data);
}

static void test_ed25519(void)
{
    EVP_PKEY *ed = gen_key("ED25519", NULL);
    struct cert_spec spec = { .key = ed, .subject = demo_subject };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "Ed25519");

    if (s) {
        TAP_EQ_INT(s->key_type, CERT_KEY_UNKNOWN, "Ed25519 key type");
        TAP_EQ_STR(s->key_algorithm, "Ed25519", "Ed25519 key name");
        tap_ok(!s->curve, "Ed25519: no curve");
        TAP_EQ_STR(s->signature_algorithm, "Ed25519", "Ed25519 signature algorithm");
    }
    cert_summary_free(s);
    OPENSSL_free(d.data);
    EVP_PKEY_free(ed);
}

static void test_rsa_pss_key(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    EVP_PKEY *pss = NULL;
    struct der d = { NULL, 0 };
    struct cert_summary *s;

    if (ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024) > 0 &&
        EVP_PKEY_generate(ctx, &pss) > 0) {
        struct cert_spec spec = { .key = pss, .md = EVP_sha256(), .subject = demo_subject };

        d = mint(&spec);
    }
    s = summarize(d, T_2025, "RSA-PSS key");
    if (s) {
        check_key(s, CERT_KEY_RSA, 1024, "RSA-PSS-1024", NULL, "RSA-PSS key");
        TAP_EQ_STR(s->signature_algorithm, "RSASSA-PSS", "RSA-PSS key signature");
    }
    cert_summary_free(s);
    OPENSSL_free(d.data);
    EVP_PKEY_free(pss);
    EVP_PKEY_CTX_free(ctx);
}

/* ---- serials and dates ------------------------------------------------- */

static void test_serials(EVP_PKEY *p256)
{
    static const struct { const char *bn, *want; } cases[] = {
        { "0", "00" },
        { "1", "01" },
        { "7F", "7F" },
        { "80", "0080" },
        { "0F0E", "0F0E" },
        { "123456789ABCDEF0123456789ABCDEF012345678", "123456789ABCDEF0123456789ABCDEF012345678" },
        { "-1", "FF" },          /* negative: two's complement content octets */
        { "-80", "80" },
        { "-81", "FF7F" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cert_spec spec = {
            .key = p256, .md = EVP_sha256(), .subject = demo_subject, .serial = cases[i].bn,
        };
        struct der d = mint(&spec);
        struct cert_summary *s = summarize(d, T_2025, cases[i].bn);

        if (s)
            TAP_EQ_STR(s->serial_hex, cases[i].want, cases[i].bn);
        cert_summary_free(s);
        OPENSSL_free(d.data);
    }
}

static void test_dates(EVP_PKEY *p256)
{
    static const struct {
        time_t not_before, not_after;
        const char *before_iso, *after_iso;
    } cases[] = {
        { -631152000, 2524607999, "1950-01-01T00:00:00Z", "2049-12-31T23:59:59Z" },  /* UTCTime */
        { T_2024, 2524608000, "2024-01-01T00:00:00Z", "2050-01-01T00:00:00Z" },  /* Generalized */
        { T_2024, 253402300799, "2024-01-01T00:00:00Z", "9999-12-31T23:59:59Z" }, /* RFC 5280 "no end" */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cert_spec spec = {
            .key = p256, .md = EVP_sha256(), .subject = demo_subject,
            .not_before = cases[i].not_before, .not_after = cases[i].not_after,
        };
        struct der d = mint(&spec);
        struct cert_summary *s = summarize(d, T_2025, cases[i].after_iso);

        if (s) {
            TAP_EQ_INT(s->not_before, cases[i].not_before, cases[i].before_iso);
            TAP_EQ_INT(s->not_after, cases[i].not_after, cases[i].after_iso);
            TAP_EQ_STR(s->not_before_iso, cases[i].before_iso, "not_before_iso");
            TAP_EQ_STR(s->not_after_iso, cases[i].after_iso, "not_after_iso");
        }
        cert_summary_free(s);
        OPENSSL_free(d.data);
    }
}

static void test_expired_and_days_left(EVP_PKEY *p256)
{
    static const struct { time_t now; long want; } cases[] = {
        { T_2025, -1827 },          /* 2020-01-01 .. 2025-01-01 */
        { T_2020 - 2 * DAY, 2 },
        { T_2020 - DAY - 1, 1 },
        { T_2020 - DAY, 1 },
        { T_2020 - 1, 0 },
        { T_2020, 0 },
        { T_2020 + 1, -1 },         /* one second expired is day -1, not 0 */
        { T_2020 + DAY, -1 },
        { T_2020 + DAY + 1, -2 },
        { T_2018 - 3 * DAY, 733 },  /* before not_before still counts to not_after */
    };
    struct cert_spec spec = {
        .key = p256, .md = EVP_sha256(), .subject = demo_subject,
        .not_before = T_2018, .not_after = T_2020,
    };
    struct der d = mint(&spec);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cert_summary *s = summarize(d, cases[i].now, "expired");

        if (s) {
            TAP_EQ_STR(s->not_after_iso, "2020-01-01T00:00:00Z", "expired not_after_iso");
            tap_ok(s->days_left == cases[i].want, "days_left at now=%lld (got %ld, want %ld)",
                   (long long)cases[i].now, s->days_left, cases[i].want);
        }
        cert_summary_free(s);
    }
    OPENSSL_free(d.data);
}

/* ---- odd names --------------------------------------------------------- */

static void test_odd_subject(EVP_PKEY *p256, struct der *keep)
{
    static const struct attr_spec odd[] = {
        TYPED("DC", V_ASN1_IA5STRING, "com"),
        TYPED("DC", V_ASN1_IA5STRING, "example"),
        TEXT("C", "CN"),
        TEXT("ST", " Beijing"),
        TYPED("L", V_ASN1_T61STRING, "München"),         /* T61 is read as Latin-1 */
        TEXT("O", "Foo, Inc.+Co"),
        TEXT("OU", "#hash"),
        SAME_RDN("UID", "a;b<c>d"),
        TEXT("1.2.3.4.5", "x=\"y\"\\z "),
        TYPED("emailAddress", V_ASN1_IA5STRING, "user@example.com"),
        TEXT("CN", "Line\nBreak"),
        END_ATTRS,
    };
    struct cert_spec spec = { .key = p256, .md = EVP_sha256(), .subject = odd };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "odd subject");

    if (s) {
        const struct cert_name *n = &s->subject;

        TAP_EQ_STR(n->display,
                   "CN=Line\\0ABreak, emailAddress=user@example.com, 1.2.3.4.5=x=\\\"y\\\"\\\\z\\ , "
                   "UID=a\\;b\\<c\\>d + OU=\\#hash, O=Foo\\, Inc.\\+Co, L=München, "
                   "ST=\\ Beijing, C=CN, DC=example, DC=com",
                   "odd subject display (RFC 4514 escaping, UTF-8 kept)");
        TAP_EQ_STR(n->common_name, "Line\nBreak", "odd CN is the raw value");
        TAP_EQ_INT(n->n_attrs, 11, "odd subject attr count");
        check_attr(n, 0, "DC", "0.9.2342.19200300.100.1.25", "com", "odd");
        check_attr(n, 3, "ST", "2.5.4.8", " Beijing", "odd");
        check_attr(n, 4, "L", "2.5.4.7", "München", "odd");
        check_attr(n, 5, "O", "2.5.4.10", "Foo, Inc.+Co", "odd");
        check_attr(n, 7, "UID", "0.9.2342.19200300.100.1.1", "a;b<c>d", "odd");
        check_attr(n, 8, "1.2.3.4.5", "1.2.3.4.5", "x=\"y\"\\z ", "odd unknown OID");
        check_attr(n, 9, "emailAddress", "1.2.840.113549.1.9.1", "user@example.com", "odd");
    }
    cert_summary_free(s);
    *keep = d;
}

static void test_long_subject(EVP_PKEY *p256)
{
    enum { CHARS = 400 };
    static char long_value[CHARS * 3 + 1];
    struct attr_spec subject[] = {
        TEXT("C", "CN"), TEXT("1.2.156.10260.4.1.1", long_value), TEXT("CN", "演示专用"), END_ATTRS,
    };
    struct cert_spec spec = { .key = p256, .md = EVP_sha256(), .subject = subject };
    struct der d;
    struct cert_summary *s;
    char *want = malloc(sizeof long_value + 64);

    for (int i = 0; i < CHARS; i++)
        memcpy(long_value + 3 * i, "中", 3);
    d = mint(&spec);
    s = summarize(d, T_2025, "long subject");
    if (s && want) {
        snprintf(want, sizeof long_value + 64, "CN=演示专用, 1.2.156.10260.4.1.1=%s, C=CN",
                 long_value);
        TAP_EQ_INT(strlen(s->subject.display), strlen(want), "long subject display length");
        tap_ok(strcmp(s->subject.display, want) == 0, "long subject display intact");
        check_attr(&s->subject, 1, "1.2.156.10260.4.1.1", "1.2.156.10260.4.1.1", long_value,
                   "long subject");
    }
    free(want);
    cert_summary_free(s);
    OPENSSL_free(d.data);
}

static void test_hexstring_values(EVP_PKEY *p256)
{
    static const char bmp_with_nul[] = { 0, 'a', 0, 'b', 0, 0, 0, 'c', 0, 'd' };
    static const char bits[] = { (char)0xA5 };
    static const struct attr_spec subject[] = {
        RAW("1.2.3.4.6", V_ASN1_BIT_STRING, bits, 1),
        RAW("CN", V_ASN1_BMPSTRING, bmp_with_nul, 10),
        END_ATTRS,
    };
    struct cert_spec spec = { .key = p256, .md = EVP_sha256(), .subject = subject };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "hexstring");

    if (s) {
        TAP_EQ_STR(s->subject.display, "CN=#1E0A00610062000000630064, 1.2.3.4.6=#030200A5",
                   "non-text and NUL-holding values in RFC 4514 #hex form");
        check_attr(&s->subject, 0, "1.2.3.4.6", "1.2.3.4.6", "#030200A5", "BIT STRING value");
        check_attr(&s->subject, 1, "CN", "2.5.4.3", "#1E0A00610062000000630064", "CN with NUL");
    }
    cert_summary_free(s);
    OPENSSL_free(d.data);
}

static void test_empty_subject(EVP_PKEY *p256)
{
    static const struct attr_spec none[] = { END_ATTRS };
    struct cert_spec spec = { .key = p256, .md = EVP_sha256(), .subject = none };
    struct der d = mint(&spec);
    struct cert_summary *s = summarize(d, T_2025, "empty subject");

    if (s) {
        TAP_EQ_STR(s->subject.display, "", "empty subject: empty display");
        tap_ok(!s->subject.common_name && s->subject.n_attrs == 0 && !s->subject.attrs,
               "empty subject: no CN, no attrs");
    }
    cert_summary_free(s);
    OPENSSL_free(d.data);
}

/* ---- odd keys and extensions ------------------------------------------- */

static struct der mint_with_spki(EVP_PKEY *p256, const char *alg_oid, int param_type,
                                 const unsigned char *key, int key_len)
{
    struct cert_spec spec = { .key = p256, .md = EVP_sha256(), .subject = demo_subject };
    X509 *x = make_cert(&spec);
    unsigned char *bits = OPENSSL_memdup(key, (size_t)key_len);
    struct der d = { NULL, 0 };

    if (x && bits && X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_txt2obj(alg_oid, 1),
                                            param_type, NULL, bits, key_len)) {
        bits = NULL;
        if (X509_sign(x, p256, EVP_sha256()) > 0)
            d = der_of(x);
    }
    OPENSSL_free(bits);
    X509_free(x);
    return d;
}

static void test_odd_keys(EVP_PKEY *p256)
{
    static const unsigned char junk[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
    struct der unknown = mint_with_spki(p256, "1.2.3.4.5.6", V_ASN1_UNDEF, junk, 5);
    struct der bad_rsa = mint_with_spki(p256, "1.2.840.113549.1.1.1", V_ASN1_NULL, junk, 5);
    struct cert_summary *s = summarize(unknown, T_2025, "unknown key algorithm");
    token_err err;

    if (s)
        check_key(s, CERT_KEY_UNKNOWN, 0, "1.2.3.4.5.6", NULL, "unknown key algorithm");
    cert_summary_free(s);
    s = NULL;
    err = bad_rsa.data ? cert_summarize(bad_rsa.data, bad_rsa.len, T_2025, &s) : TOKEN_OK;
    tap_ok(err == TOKEN_E_MALFORMED && !s, "rsaEncryption with junk key bits: MALFORMED (%s)",
           token_err_name(err));
    cert_summary_free(s);
    OPENSSL_free(unknown.data);
    OPENSSL_free(bad_rsa.data);
}

static X509_EXTENSION *raw_extension(int nid, const unsigned char *value, int len)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;

    if (os && ASN1_OCTET_STRING_set(os, value, len))
        ext = X509_EXTENSION_create_by_NID(NULL, nid, 0, os);
    ASN1_OCTET_STRING_free(os);
    return ext;
}

static void expect_malformed_with_ext(EVP_PKEY *p256, const char *ku, X509_EXTENSION *extra,
                                      const char *what)
{
    struct cert_spec spec = {
        .key = p256, .md = EVP_sha256(), .subject = demo_subject, .key_usage = ku,
    };
    X509 *x = make_cert(&spec);
    struct cert_summary *s = NULL;
    struct der d = { NULL, 0 };
    token_err err = TOKEN_OK;

    if (x && extra && X509_add_ext(x, extra, -1) && X509_sign(x, p256, EVP_sha256()) > 0)
        d = der_of(x);
    if (d.data)
        err = cert_summarize(d.data, d.len, T_2025, &s);
    tap_ok(d.data && err == TOKEN_E_MALFORMED && !s, "%s: MALFORMED (%s)", what,
           token_err_name(err));
    cert_summary_free(s);
    OPENSSL_free(d.data);
    X509_EXTENSION_free(extra);
    X509_free(x);
}

static void test_broken_extensions(EVP_PKEY *p256)
{
    static const unsigned char not_a_bit_string[] = { 0x04, 0x01, 0x00 };
    static const unsigned char ku_bits[] = { 0x03, 0x02, 0x07, 0x80 };
    static const unsigned char eku_junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

    expect_malformed_with_ext(p256, NULL, raw_extension(NID_key_usage, not_a_bit_string, 3),
                              "keyUsage that is not a BIT STRING");
    expect_malformed_with_ext(p256, "digitalSignature", raw_extension(NID_key_usage, ku_bits, 4),
                              "keyUsage twice");
    expect_malformed_with_ext(p256, NULL, raw_extension(NID_ext_key_usage, eku_junk, 5),
                              "extKeyUsage holding an INTEGER");
}

static void test_signature_not_verified(struct der good)
{
    unsigned char *copy = OPENSSL_memdup(good.data, good.len);
    struct cert_summary *s = NULL;
    token_err err = TOKEN_E_INTERNAL;

    if (copy) {
        copy[good.len - 1] ^= 0x01;   /* last octet of the signature value */
        err = cert_summarize(copy, good.len, T_2025, &s);
    }
    tap_ok(err == TOKEN_OK && s, "a bad signature still summarizes: display only, no trust");
    cert_summary_free(s);
    OPENSSL_free(copy);
}

/* ---- malformed input --------------------------------------------------- */

static bool expect_malformed(const void *data, size_t len)
{
    struct cert_summary *s = (struct cert_summary *)&s;   /* must be overwritten */
    token_err err = cert_summarize(data, len, T_2025, &s);

    return err == TOKEN_E_MALFORMED && s == NULL;
}

static void test_trivially_bad(void)
{
    static const unsigned char one[] = { 0x30 };
    static const unsigned char empty_seq[] = { 0x30, 0x00 };
    struct cert_summary *s = NULL;

    tap_ok(expect_malformed(NULL, 100), "NULL input: MALFORMED, *out NULL");
    tap_ok(expect_malformed(one, 0), "zero length: MALFORMED");
    tap_ok(expect_malformed(one, 1), "one byte: MALFORMED");
    tap_ok(expect_malformed(empty_seq, 2), "empty SEQUENCE: MALFORMED");
    TAP_EQ_INT(cert_summarize(one, 1, T_2025, NULL), TOKEN_E_INVALID_ARG, "NULL out");
    cert_summary_free(NULL);
    cert_summary_freep(&s);
    tap_ok(1, "cert_summary_free(NULL) and freep on NULL are harmless");
}

static void test_every_truncation(struct der d, const char *what)
{
    size_t bad = 0;

    for (size_t n = 0; n < d.len; n++)
        if (!expect_malformed(d.data, n)) {
            if (bad++ < 3)
                tap_diag("%s: prefix of %zu bytes not MALFORMED", what, n);
        }
    tap_ok(d.len > 0 && bad == 0, "%s: all %zu truncations MALFORMED", what, d.len);
}

static unsigned char *concat(struct der a, const void *b, size_t b_len)
{
    unsigned char *out = malloc(a.len + b_len);

    if (out) {
        memcpy(out, a.data, a.len);
        memcpy(out + a.len, b, b_len);
    }
    return out;
}

static void test_trailing_bytes(struct der d)
{
    static const unsigned char zeros[100];
    unsigned char *one = concat(d, zeros, 1);
    unsigned char *hundred = concat(d, zeros, 100);
    unsigned char *twice = concat(d, d.data, d.len);

    tap_ok(one && expect_malformed(one, d.len + 1), "one trailing byte: MALFORMED");
    tap_ok(hundred && expect_malformed(hundred, d.len + 100), "100 trailing bytes: MALFORMED");
    tap_ok(twice && expect_malformed(twice, 2 * d.len), "two certificates back to back: MALFORMED");
    free(one);
    free(hundred);
    free(twice);
}

/* Certificates are well over 255 bytes, so DER opens with 30 82 HH LL. */
static void test_length_headers(struct der d)
{
    static const unsigned char huge4[] = { 0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xF0, 0x30, 0x82 };
    static const unsigned char huge8[] = {
        0x30, 0x88, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x30, 0x00,
    };
    static const unsigned char huge9[] = {
        0x30, 0x89, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x00,
    };
    size_t body = d.len - 4;
    unsigned char *buf = malloc(d.len + 2);

    tap_ok(d.len > 300 && d.data[0] == 0x30 && d.data[1] == 0x82, "DER opens with 30 82");
    tap_ok(expect_malformed(huge4, sizeof huge4), "4-byte huge length: MALFORMED");
    tap_ok(expect_malformed(huge8, sizeof huge8), "8-byte huge length: MALFORMED");
    tap_ok(expect_malformed(huge9, sizeof huge9), "9-byte length: MALFORMED");
    if (!buf)
        return;

    memcpy(buf, d.data, d.len);
    buf[2] = (unsigned char)((body + 1) >> 8);
    buf[3] = (unsigned char)(body + 1);
    tap_ok(expect_malformed(buf, d.len), "outer length one past the data: MALFORMED");
    buf[2] = 0xFF;
    buf[3] = 0xFF;
    tap_ok(expect_malformed(buf, d.len), "outer length 65535: MALFORMED");

    /* BER, not DER: the same certificate with a needlessly long length. */
    buf[0] = 0x30;
    buf[1] = 0x83;
    buf[2] = 0x00;
    buf[3] = (unsigned char)(body >> 8);
    buf[4] = (unsigned char)body;
    memcpy(buf + 5, d.data + 4, body);
    tap_ok(expect_malformed(buf, d.len + 1), "non-minimal (BER) outer length: MALFORMED");

    /* BER indefinite length with end-of-contents octets. */
    buf[1] = 0x80;
    memcpy(buf + 2, d.data + 4, body);
    buf[2 + body] = 0;
    buf[3 + body] = 0;
    tap_ok(expect_malformed(buf, body + 4), "indefinite outer length: MALFORMED");
    free(buf);
}

/* xorshift64*: a seeded generator, so every run sees the same inputs. */
static uint64_t prng_state = 0x9E3779B97F4A7C15ull;

static uint64_t prng(void)
{
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    return prng_state * 0x2545F4914F6CDD1Dull;
}

static void test_random_bytes(void)
{
    unsigned char buf[700];
    size_t bad = 0;

    for (int i = 0; i < 400; i++) {
        size_t len = prng() % sizeof buf;

        for (size_t j = 0; j < len; j++)
            buf[j] = (unsigned char)prng();
        if (i % 2 && len >= 4) {   /* half of them look like a SEQUENCE of the right size */
            buf[0] = 0x30;
            buf[1] = 0x82;
            buf[2] = (unsigned char)((len - 4) >> 8);
            buf[3] = (unsigned char)(len - 4);
        }
        bad += !expect_malformed(buf, len);
    }
    tap_ok(bad == 0, "400 random inputs: all MALFORMED (%zu not)", bad);
}

/* Mutated certificates may still parse; either way, never a crash or half a result. */
static void test_mutations(struct der d, const char *what)
{
    unsigned char *buf = malloc(d.len);
    size_t ok = 0, malformed = 0, other = 0, broken = 0;

    for (int i = 0; buf && i < 600; i++) {
        struct cert_summary *s = (struct cert_summary *)&s;
        token_err err;

        memcpy(buf, d.data, d.len);
        for (uint64_t k = 1 + prng() % 4; k > 0; k--)
            buf[prng() % d.len] = (unsigned char)prng();
        err = cert_summarize(buf, d.len, T_2025, &s);
        if (err == TOKEN_OK) {
            ok++;
            broken += !s || !s->subject.display || !s->issuer.display || !s->serial_hex ||
                      !s->key_algorithm || !s->signature_algorithm || !s->pem ||
                      strlen(s->not_after_iso) != 20 || strlen(s->sha256_hex) != 64 ||
                      strlen(s->sm3_hex) != 64;
            cert_summary_free(s);
        } else {
            err == TOKEN_E_MALFORMED ? malformed++ : other++;
            broken += s != NULL;
        }
    }
    tap_diag("%s mutations: %zu summarized, %zu malformed", what, ok, malformed);
    tap_ok(buf && other == 0 && broken == 0,
           "%s: 600 mutated DERs give a full summary or MALFORMED with *out NULL", what);
    free(buf);
}

/* ---- allocation failures ----------------------------------------------- */

/* NULL when equal, else the name of the first field that differs. */
static const char *summary_difference(const struct cert_summary *a, const struct cert_summary *b)
{
#define SAME_STR(f) if (!a->f || !b->f || strcmp(a->f, b->f) != 0) return #f
    SAME_STR(subject.display);
    SAME_STR(issuer.display);
    SAME_STR(serial_hex);
    SAME_STR(not_after_iso);
    SAME_STR(key_algorithm);
    SAME_STR(signature_algorithm);
    SAME_STR(sha256_hex);
    SAME_STR(sm3_hex);
    SAME_STR(pem);
#undef SAME_STR
    if (a->key_type != b->key_type || a->key_bits != b->key_bits)
        return "key_type/bits";
    if (a->n_key_usage != b->n_key_usage || a->n_ext_key_usage != b->n_ext_key_usage)
        return "usage counts";
    if ((a->curve == NULL) != (b->curve == NULL) || (a->curve && strcmp(a->curve, b->curve)))
        return "curve";
    return NULL;
}

/*
 * Fails the 1st, 2nd, 3rd... allocation of one call, up to as many as a
 * good call makes. Each must give an error with *out NULL, or (when OpenSSL
 * recovers by itself) exactly the good summary; and under LeakSanitizer
 * nothing may be left behind. OpenSSL does not always say that it ran out of
 * memory, so INTERNAL and MALFORMED are tolerated errors too.
 */
static void test_allocation_failures(struct der d, bool once, const char *what)
{
    struct cert_summary *reference;
    size_t counts[TOKEN_E__COUNT] = { 0 };
    size_t wrong = 0;
    long total;

    alloc_count = 0;
    reference = summarize(d, T_2025, what);
    total = alloc_count;
    alloc_fail_once = once;
    for (long budget = 0; reference && budget < total; budget++) {
        struct cert_summary *s = (struct cert_summary *)&s;
        token_err err;

        alloc_budget = budget;
        err = cert_summarize(d.data, d.len, T_2025, &s);
        alloc_budget = -1;
        counts[err]++;
        if (err == TOKEN_OK ? !s || summary_difference(s, reference)
                            : s || (err != TOKEN_E_NO_MEMORY && err != TOKEN_E_MALFORMED &&
                                    err != TOKEN_E_INTERNAL)) {
            if (wrong++ < 3)
                tap_diag("%s: failing allocation %ld gave %s%s%s", what, budget,
                         token_err_name(err), err ? "" : ", different ",
                         err || !s ? "" : summary_difference(s, reference));
        }
        if (err == TOKEN_OK)
            cert_summary_free(s);
    }
    tap_diag("%s: %ld allocations; failing %s gave %zu NO_MEMORY, %zu MALFORMED, %zu INTERNAL, "
             "%zu recovered", what, total, once ? "each alone" : "each and all after it",
             counts[TOKEN_E_NO_MEMORY], counts[TOKEN_E_MALFORMED], counts[TOKEN_E_INTERNAL],
             counts[TOKEN_OK]);
    tap_ok(reference && wrong == 0 && counts[TOKEN_E_NO_MEMORY] > 0,
           "%s (%s allocation failures): an error with *out NULL, or the same summary", what,
           once ? "transient" : "persistent");
    cert_summary_free(reference);
}

int main(void)
{
    EVP_PKEY *sm2, *rsa, *p256;
    struct der sm2_der = { 0 }, rsa_der = { 0 }, odd_der = { 0 };

    /* Must precede any OpenSSL allocation. */
    tap_ok(CRYPTO_set_mem_functions(failing_malloc, failing_realloc, plain_free),
           "allocation hook installed");
    sm2 = gen_key("SM2", NULL);
    rsa = EVP_RSA_gen(2048);
    p256 = gen_key("EC", "prime256v1");
    if (!tap_ok(sm2 && rsa && p256, "SM2, RSA-2048 and P-256 keys generated"))
        return tap_done();

    test_sm2(sm2, &sm2_der);
    test_sm2_bmp_cn(sm2);
    test_rsa(rsa, &rsa_der);
    test_signature_names(rsa, p256);
    test_ec_curves();
    test_all_key_usages(p256);
    test_ed25519();
    test_rsa_pss_key();
    test_serials(p256);
    test_dates(p256);
    test_expired_and_days_left(p256);
    test_odd_subject(p256, &odd_der);
    test_long_subject(p256);
    test_hexstring_values(p256);
    test_empty_subject(p256);
    test_odd_keys(p256);
    test_broken_extensions(p256);

    test_trivially_bad();
    if (sm2_der.data && rsa_der.data) {
        test_signature_not_verified(sm2_der);
        test_every_truncation(sm2_der, "SM2");
        test_every_truncation(rsa_der, "RSA");
        test_trailing_bytes(sm2_der);
        test_length_headers(rsa_der);
        test_random_bytes();
        test_mutations(sm2_der, "SM2");
        test_mutations(rsa_der, "RSA");
        for (int once = 0; once <= 1; once++) {
            test_allocation_failures(sm2_der, once, "SM2");
            test_allocation_failures(rsa_der, once, "RSA");
            if (odd_der.data)
                test_allocation_failures(odd_der, once, "odd subject");
        }
    }

    OPENSSL_free(sm2_der.data);
    OPENSSL_free(rsa_der.data);
    OPENSSL_free(odd_der.data);
    EVP_PKEY_free(sm2);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    return tap_done();
}
