/* SPDX-License-Identifier: MIT */
/*
 * tests/vtoken/provision.c — `vtoken provision` (a new state file from a PIN,
 * a PUK and PEM certificates/keys, decoded by OpenSSL), `vtoken show` (the
 * non-secret part of a state, for people) and `vtoken ctl` (one control
 * command to a running token).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "tests/vtoken/commands.h"
#include "tests/vtoken/control.h"
#include "tests/vtoken/keys.h"
#include "tests/vtoken/mgmt.h"
#include "tests/vtoken/state.h"

#define EXIT_USAGE          2
#define DEFAULT_MODEL       "ukeyd virtual PIV token"
#define DEFAULT_VERSION_MAJ 5
#define DEFAULT_VERSION_MIN 7
#define DEFAULT_VERSION_PAT 0
/* Random default serials look like the eight-digit ones on real tokens. */
#define SERIAL_RANDOM_BASE  10000000u
#define SERIAL_RANDOM_SPAN  90000000u
#define DECIMAL_BASE        10
#define OPENSSL_ERROR_TEXT_MAX 256
#define SLOT_NAME_MAX       3   /* "9a", "8f" and the NUL */

struct provision_options {
    const char *state_path;
    const char *pin;
    const char *puk;
    const char *serial;
    const char *model;
    const char *guid;
    const char *version;
    const char *pin_retries;
    const char *puk_retries;
    const char *mgmt_key;
};

/* --- reading PEM with OpenSSL ------------------------------------------------ */

static void print_openssl_error(const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char text[OPENSSL_ERROR_TEXT_MAX] = "unknown reason";

    if (e)
        ERR_error_string_n(e, text, sizeof text);
    fprintf(stderr, "vtoken provision: %s %s: %s\n", what, file, text);
    ERR_clear_error();
}

/* Refuse encrypted keys at once instead of prompting on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static X509 *read_certificate_pem(const char *file)
{
    BIO *bio = BIO_new_file(file, "r");
    X509 *cert = NULL;

    if (bio)
        cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);
    if (!cert)
        print_openssl_error("cannot read a PEM certificate from", file);
    BIO_free(bio);
    return cert;
}

static EVP_PKEY *read_private_key_pem(const char *file)
{
    BIO *bio = BIO_new_file(file, "r");
    EVP_PKEY *key = NULL;

    if (bio)
        key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    if (!key)
        print_openssl_error("cannot read an unencrypted PEM private key from", file);
    BIO_free(bio);
    return key;
}

static int certificate_to_der(X509 *cert, struct vt_buf *out)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    int rc;

    if (len <= 0)
        return -1;
    rc = vt_buf_set(out, der, (size_t)len);
    OPENSSL_free(der);
    return rc;
}

/* --- --cert / --key ----------------------------------------------------------- */

/* Splits "9a:file.pem" into a slot index and the file name. */
static int split_slot_arg(const char *arg, const char *opt, int *slot, const char **file)
{
    const char *colon = strchr(arg, ':');
    char name[SLOT_NAME_MAX];
    size_t n;

    n = colon ? (size_t)(colon - arg) : 0;
    if (!colon || n == 0 || n >= sizeof name || colon[1] == '\0')
        goto bad;
    memcpy(name, arg, n);
    name[n] = '\0';
    *slot = vt_slot_by_name(name);
    if (*slot < 0)
        goto bad;
    *file = colon + 1;
    return 0;
bad:
    fprintf(stderr, "vtoken provision: %s wants SLOT:FILE.pem with SLOT one of 9a 9c 9d 9e "
                    "82..95, not \"%s\"\n", opt, arg);
    return -1;
}

static int add_certificate(struct vt_state *st, const char *arg)
{
    const char *file;
    X509 *cert;
    int slot, rc;

    if (split_slot_arg(arg, "--cert", &slot, &file) < 0)
        return -1;
    if (st->cert[slot].len) {
        fprintf(stderr, "vtoken provision: two certificates for slot %s\n",
                vt_slot_at(slot)->name);
        return -1;
    }
    cert = read_certificate_pem(file);
    if (!cert)
        return -1;
    rc = certificate_to_der(cert, &st->cert[slot]);
    X509_free(cert);
    if (rc < 0)
        fprintf(stderr, "vtoken provision: cannot encode the certificate from %s\n", file);
    return rc;
}

static int add_private_key(struct vt_state *st, const char *arg)
{
    const char *file;
    EVP_PKEY *key;
    int slot, rc;

    if (split_slot_arg(arg, "--key", &slot, &file) < 0)
        return -1;
    if (st->key[slot].len) {
        fprintf(stderr, "vtoken provision: two keys for slot %s\n", vt_slot_at(slot)->name);
        return -1;
    }
    key = read_private_key_pem(file);
    if (!key)
        return -1;
    rc = vt_key_to_pkcs8(key, &st->key[slot]);
    st->key_info[slot] = vt_key_info_default(slot, VT_KEY_ORIGIN_IMPORTED);
    EVP_PKEY_free(key);
    if (rc < 0)
        fprintf(stderr, "vtoken provision: cannot encode the key from %s\n", file);
    return rc;
}

static X509 *certificate_from_der(const struct vt_buf *der)
{
    const unsigned char *p = der->data;

    return d2i_X509(NULL, &p, (long)der->len);
}

static EVP_PKEY *private_key_from_der(const struct vt_buf *der)
{
    const unsigned char *p = der->data;

    return d2i_AutoPrivateKey(NULL, &p, (long)der->len);
}

/* A slot given both a certificate and a key must hold a matching pair. */
static int check_slot_pairs(const struct vt_state *st)
{
    for (int i = 0; i < VT_SLOT_COUNT; i++) {
        X509 *cert;
        EVP_PKEY *key;
        int match;

        if (!st->cert[i].len || !st->key[i].len)
            continue;
        cert = certificate_from_der(&st->cert[i]);
        key = private_key_from_der(&st->key[i]);
        match = cert && key && X509_check_private_key(cert, key) == 1;
        X509_free(cert);
        EVP_PKEY_free(key);
        ERR_clear_error();
        if (!match) {
            fprintf(stderr, "vtoken provision: slot %s: key does not match the certificate\n",
                    vt_slot_at(i)->name);
            return -1;
        }
    }
    return 0;
}

/* --- scalar options ------------------------------------------------------------- */

static int parse_unsigned(const char *text, unsigned long min, unsigned long max,
                          unsigned long *out)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *out = strtoul(text, &end, DECIMAL_BASE);
    return errno || *end || *out < min || *out > max ? -1 : 0;
}

static int set_retries(const char *text, const char *opt, unsigned *limit, unsigned *left)
{
    unsigned long v = VT_RETRIES_DEFAULT;

    if (text && parse_unsigned(text, 1, VT_RETRIES_MAX, &v) < 0) {
        fprintf(stderr, "vtoken provision: %s must be 1..%d\n", opt, VT_RETRIES_MAX);
        return -1;
    }
    *limit = *left = (unsigned)v;
    return 0;
}

static int set_serial(struct vt_state *st, const char *text)
{
    unsigned long v;
    uint32_t r;

    if (!text) {
        if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
            return -1;
        st->serial = SERIAL_RANDOM_BASE + r % SERIAL_RANDOM_SPAN;
        return 0;
    }
    if (parse_unsigned(text, 0, UINT32_MAX, &v) < 0) {
        fprintf(stderr, "vtoken provision: --serial must be a 32-bit decimal number\n");
        return -1;
    }
    st->serial = (uint32_t)v;
    return 0;
}

static int set_guid(struct vt_state *st, const char *hex)
{
    if (!hex)
        return RAND_bytes(st->guid, VT_GUID_LEN) == 1 ? 0 : -1;
    if (vt_hex_decode_fixed(hex, st->guid, VT_GUID_LEN) < 0) {
        fprintf(stderr, "vtoken provision: --guid must be %d hex digits\n", 2 * VT_GUID_LEN);
        return -1;
    }
    return 0;
}

static int set_version(struct vt_state *st, const char *text)
{
    static const uint8_t default_version[VT_VERSION_LEN] = {
        DEFAULT_VERSION_MAJ, DEFAULT_VERSION_MIN, DEFAULT_VERSION_PAT,
    };

    if (!text) {
        memcpy(st->version, default_version, VT_VERSION_LEN);
        return 0;
    }
    if (vt_version_from_text(text, st->version) < 0) {
        fprintf(stderr, "vtoken provision: --version must look like 5.7.0\n");
        return -1;
    }
    return 0;
}

static int set_model(struct vt_state *st, const char *text)
{
    const char *model = text ? text : DEFAULT_MODEL;
    size_t n = strlen(model);

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)model[i] < ' ' || model[i] == '\x7f')
            n = 0;
    if (n == 0 || n > VT_MODEL_MAX) {
        fprintf(stderr, "vtoken provision: --model must be 1..%d printable characters\n",
                VT_MODEL_MAX);
        return -1;
    }
    st->model = strdup(model);
    return st->model ? 0 : -1;
}

static int set_reference(const char *text, const char *opt, uint8_t out[VT_REF_DATA_LEN])
{
    if (!text || vt_ref_data_from_text(text, out) < 0) {
        fprintf(stderr, "vtoken provision: %s must be %d..%d printable ASCII characters\n", opt,
                VT_REF_DATA_MIN_LEN, VT_REF_DATA_LEN);
        return -1;
    }
    return 0;
}

/* ALG:HEX, or the PIV default 3DES key when not given. */
static int set_mgmt_key(struct vt_state *st, const char *text)
{
    size_t len;

    if (!text) {
        vt_state_default_mgmt_key(st);
        return 0;
    }
    if (vt_mgmt_parse(text, &st->mgmt_alg, st->mgmt_key, &len) < 0) {
        fprintf(stderr, "vtoken provision: --mgmt-key must be ALG:HEX with ALG one of 3DES "
                        "(24 bytes), AES-128 (16), AES-192 (24), AES-256 (32)\n");
        return -1;
    }
    return 0;
}

static int apply_scalars(struct vt_state *st, const struct provision_options *o)
{
    if (set_reference(o->pin, "--pin", st->pin) < 0 ||
        set_reference(o->puk, "--puk", st->puk) < 0 ||
        set_retries(o->pin_retries, "--pin-retries", &st->pin_retries, &st->pin_tries_left) < 0 ||
        set_retries(o->puk_retries, "--puk-retries", &st->puk_retries, &st->puk_tries_left) < 0 ||
        set_serial(st, o->serial) < 0 || set_guid(st, o->guid) < 0 ||
        set_version(st, o->version) < 0 || set_model(st, o->model) < 0 ||
        set_mgmt_key(st, o->mgmt_key) < 0)
        return -1;
    return 0;
}

/* --- provision ------------------------------------------------------------------ */

enum {
    OPT_STATE = 1, OPT_PIN, OPT_PUK, OPT_SERIAL, OPT_MODEL, OPT_GUID, OPT_VERSION,
    OPT_PIN_RETRIES, OPT_PUK_RETRIES, OPT_CERT, OPT_KEY, OPT_MGMT_KEY,
};

static const struct option provision_longopts[] = {
    { "state",       required_argument, NULL, OPT_STATE },
    { "pin",         required_argument, NULL, OPT_PIN },
    { "puk",         required_argument, NULL, OPT_PUK },
    { "serial",      required_argument, NULL, OPT_SERIAL },
    { "model",       required_argument, NULL, OPT_MODEL },
    { "guid",        required_argument, NULL, OPT_GUID },
    { "version",     required_argument, NULL, OPT_VERSION },
    { "pin-retries", required_argument, NULL, OPT_PIN_RETRIES },
    { "puk-retries", required_argument, NULL, OPT_PUK_RETRIES },
    { "cert",        required_argument, NULL, OPT_CERT },
    { "key",         required_argument, NULL, OPT_KEY },
    { "mgmt-key",    required_argument, NULL, OPT_MGMT_KEY },
    { NULL, 0, NULL, 0 },
};

/* Certificates and keys are read as their options come; the rest is kept
 * for apply_scalars(). */
static int parse_provision_options(int argc, char **argv, struct provision_options *o,
                                   struct vt_state *st)
{
    int c;

    while ((c = getopt_long(argc, argv, "", provision_longopts, NULL)) != -1) {
        switch (c) {
        case OPT_STATE:       o->state_path = optarg; break;
        case OPT_PIN:         o->pin = optarg; break;
        case OPT_PUK:         o->puk = optarg; break;
        case OPT_SERIAL:      o->serial = optarg; break;
        case OPT_MODEL:       o->model = optarg; break;
        case OPT_GUID:        o->guid = optarg; break;
        case OPT_VERSION:     o->version = optarg; break;
        case OPT_PIN_RETRIES: o->pin_retries = optarg; break;
        case OPT_PUK_RETRIES: o->puk_retries = optarg; break;
        case OPT_MGMT_KEY:    o->mgmt_key = optarg; break;
        case OPT_CERT:
            if (add_certificate(st, optarg) < 0)
                return 1;
            break;
        case OPT_KEY:
            if (add_private_key(st, optarg) < 0)
                return 1;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind != argc || !o->state_path || !o->pin || !o->puk) {
        fprintf(stderr, "usage: vtoken provision --state FILE --pin PIN --puk PUK "
                        "[--serial N] [--model TEXT] [--guid HEX32] [--version X.Y.Z] "
                        "[--pin-retries N] [--puk-retries N] [--cert SLOT:FILE.pem]... "
                        "[--key SLOT:FILE.pem]... [--mgmt-key ALG:HEX]\n");
        return EXIT_USAGE;
    }
    return 0;
}

int vt_cmd_provision(int argc, char **argv)
{
    struct provision_options o = {0};
    struct vt_state st = {0};
    int rc = parse_provision_options(argc, argv, &o, &st);

    if (rc == 0 && (apply_scalars(&st, &o) < 0 || check_slot_pairs(&st) < 0 ||
                    vt_state_save(o.state_path, &st) < 0))
        rc = 1;
    vt_state_free(&st);
    return rc;
}

/* --- show --------------------------------------------------------------------- */

static void print_name(BIO *out, const char *label, const X509_NAME *name)
{
    /* RFC 2253 order, but UTF-8 kept as is so Chinese names stay readable. */
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;

    BIO_printf(out, "    %s: ", label);
    X509_NAME_print_ex(out, name, 0, flags);
    BIO_printf(out, "\n");
}

static void print_certificate(BIO *out, const struct vt_buf *der, uint8_t cert_info)
{
    X509 *cert = vt_cert_decode(der, cert_info);

    if (!cert) {
        BIO_printf(out, "    (certificate does not parse)\n");
        return;
    }
    print_name(out, "subject", X509_get_subject_name(cert));
    print_name(out, "issuer ", X509_get_issuer_name(cert));
    BIO_printf(out, "    serial : ");
    i2a_ASN1_INTEGER(out, X509_get0_serialNumber(cert));
    BIO_printf(out, "\n    expires: ");
    ASN1_TIME_print(out, X509_get0_notAfter(cert));
    BIO_printf(out, "\n");
    X509_free(cert);
}

static const char *key_alg_name(int alg)
{
    switch (alg) {
    case PIV_ALG_RSA_1024:   return "RSA-1024";
    case PIV_ALG_RSA_2048:   return "RSA-2048";
    case PIV_ALG_ECC_P256:   return "EC P-256";
    case PIV_ALG_ECC_P384:   return "EC P-384";
    case PIV_ALG_SM2_VENDOR: return "SM2";
    default:                 return "unusable by the card";
    }
}

static void print_key(BIO *out, const struct vt_buf *pkcs8, const struct vt_key_info *info)
{
    EVP_PKEY *key = vt_key_load(pkcs8);

    BIO_printf(out, "    key    : %s, %s\n", key_alg_name(vt_key_alg(key)),
               info->origin == VT_KEY_ORIGIN_GENERATED ? "generated" : "imported");
    EVP_PKEY_free(key);
    ERR_clear_error();
}

/* One line tests can grep: does the slot's key belong to its certificate? */
static void print_key_match(BIO *out, const struct vt_state *st, int i)
{
    const char *name = vt_slot_at(i)->name;
    const char *verdict;

    if (!st->key[i].len)
        verdict = "no key";
    else if (!st->cert[i].len)
        verdict = "key, no certificate";
    else
        switch (vt_key_matches_cert(&st->key[i], &st->cert[i], st->cert_info[i])) {
        case 1:  verdict = "key matches certificate"; break;
        case 0:  verdict = "key does not match certificate"; break;
        default: verdict = "key or certificate does not decode"; break;
        }
    BIO_printf(out, "%s: %s\n", name, verdict);
}

static const char *mgmt_alg_name(const struct vt_state *st)
{
    const struct vt_mgmt_alg *alg = vt_mgmt_alg_by_id(st->mgmt_alg);

    return alg ? alg->name : "?";
}

static bool is_default_mgmt_key(const struct vt_state *st)
{
    return st->mgmt_alg == PIV_MGMT_ALG_3DES &&
           CRYPTO_memcmp(st->mgmt_key, vt_mgmt_default_key, VT_MGMT_DEFAULT_KEY_LEN) == 0;
}

static void print_tries(BIO *out, const char *what, unsigned left, unsigned limit)
{
    if (left == 0)
        BIO_printf(out, "%s: BLOCKED (limit %u)\n", what, limit);
    else
        BIO_printf(out, "%s: %u of %u tries left\n", what, left, limit);
}

static void print_state(BIO *out, const char *path, const struct vt_state *st)
{
    char guid[2 * VT_GUID_LEN + 1];

    vt_hex_encode(st->guid, VT_GUID_LEN, guid);
    BIO_printf(out, "state  : %s\nserial : %u\nmodel  : %s\nguid   : %s\nversion: %u.%u.%u\n",
               path, st->serial, st->model, guid, st->version[0], st->version[1],
               st->version[2]);
    print_tries(out, "pin    ", st->pin_tries_left, st->pin_retries);
    print_tries(out, "puk    ", st->puk_tries_left, st->puk_retries);
    BIO_printf(out, "mgmt key: %s%s\n", mgmt_alg_name(st),
               is_default_mgmt_key(st) ? " (the PIV default)" : "");
    for (int i = 0; i < VT_SLOT_COUNT; i++) {
        if (!st->cert[i].len && !st->key[i].len)
            continue;
        BIO_printf(out, "slot %s: %s%s\n", vt_slot_at(i)->name,
                   st->cert[i].len ? "certificate" : "no certificate",
                   st->key[i].len ? ", private key" : "");
        if (st->cert[i].len)
            print_certificate(out, &st->cert[i], st->cert_info[i]);
        if (st->key[i].len)
            print_key(out, &st->key[i], &st->key_info[i]);
        print_key_match(out, st, i);
    }
}

int vt_cmd_show(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "state", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    struct vt_state st;
    BIO *out;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 's')
            return EXIT_USAGE;
        path = optarg;
    }
    if (!path || optind != argc) {
        fprintf(stderr, "usage: vtoken show --state FILE\n");
        return EXIT_USAGE;
    }
    if (vt_state_load(path, &st) < 0)
        return 1;
    out = BIO_new_fp(stdout, BIO_NOCLOSE);
    if (out)
        print_state(out, path, &st);
    BIO_free(out);
    vt_state_free(&st);
    return out ? 0 : 1;
}

/* --- ctl ------------------------------------------------------------------------ */

/* The command may come as one argument or several ("fault" "87" "after"). */
int vt_cmd_ctl(int argc, char **argv)
{
    char command[CTL_LINE_MAX] = "";
    size_t used = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: vtoken ctl SOCKET remove|insert|status|stats|reset-stats|"
                        "fault INS before|after [N]|fault clear\n");
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        int n = snprintf(command + used, sizeof command - used, "%s%s", i > 2 ? " " : "",
                         argv[i]);

        if (n < 0 || (size_t)n >= sizeof command - used) {
            fprintf(stderr, "vtoken ctl: command too long\n");
            return EXIT_USAGE;
        }
        used += (size_t)n;
    }
    return vt_ctl_client_run(argv[1], command);
}
