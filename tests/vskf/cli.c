/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/cli.c — `vskf`, the hands of the tests on the virtual SKF
 * devices: provision a device (its state file), plug it in and pull it out
 * (the library's SKF_WaitForDevEvent sees both), show what it holds without
 * its secrets, put a file into an application or take one out (as a CA's
 * tool writes electronic seals), set the library's quirk profile, and
 * compute the CA's answer to a remote-unblock challenge. It uses no ukeyd code.
 */
#include "tests/vskf/vskf.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define EXIT_USAGE          2
#define SERIAL_RANDOM_LEN   8
#define DEFAULT_APP         "DEFAULT_APP"
#define DEFAULT_CONTAINER   "DEFAULT_CONTAINER"
#define DEFAULT_MANUFACTURER "ukeyd virtual SKF"
#define DEFAULT_ISSUER      "ukeyd test issuer"
#define ERR_MAX             512
#define DIR_MODE            0700

static void usage(void)
{
    fputs("usage:\n"
          "  vskf provision DIR NAME [--label L] [--serial S] [--manufacturer M] [--issuer I]\n"
          "       [--usb-id VID:PID] [--app NAME] [--container NAME] [--no-app]\n"
          "       [--user-pin P] [--admin-pin P] [--user-tries N] [--admin-tries N]\n"
          "       [--default-pin yes|no] [--dev-auth-key HEX]\n"
          "       [--sign-cert FILE --sign-key FILE] [--enc-cert FILE --enc-key FILE]\n"
          "  vskf plug DIR NAME | vskf unplug DIR NAME | vskf show DIR NAME\n"
          "  vskf check DIR NAME CONTAINER sign|enc\n"
          "  vskf put-file DIR NAME APP FILE SOURCE | vskf rm-file DIR NAME APP FILE\n"
          "  vskf quirks DIR [QUIRK,...]        (no list: clear the profile)\n"
          "  vskf unblock-answer ADMIN-PIN NEW-PIN CHALLENGE-HEX\n",
          stderr);
}

__attribute__((format(printf, 1, 2)))
static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("vskf: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

/* --- provision ------------------------------------------------------------------------- */

struct provision {
    const char *label, *serial, *manufacturer, *issuer, *usb_id;
    const char *app, *container;
    const char *user_pin, *admin_pin;
    unsigned user_tries, admin_tries;
    int default_pin;        /* -1: default when the user PIN is the factory one */
    bool no_app;
    const char *dev_auth_key;
    const char *sign_cert, *sign_key, *enc_cert, *enc_key;
};

static int read_cert(const char *path, struct vskf_bytes *out)
{
    FILE *f = fopen(path, "re");
    X509 *x = NULL;
    unsigned char *der = NULL;
    int len;

    if (!f)
        return fail("cannot open %s: %s", path, strerror(errno));
    x = PEM_read_X509(f, NULL, NULL, NULL);
    if (!x) {
        rewind(f);
        x = d2i_X509_fp(f, NULL);
    }
    fclose(f);
    if (!x)
        return fail("%s: not a certificate (PEM or DER)", path);
    len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0 || vskf_bytes_set(out, der, (size_t)len) < 0) {
        OPENSSL_free(der);
        return fail("%s: cannot encode", path);
    }
    OPENSSL_free(der);
    return 0;
}

static int read_key(const char *path, struct vskf_bytes *out)
{
    FILE *f = fopen(path, "re");
    EVP_PKEY *raw = NULL, *key = NULL;
    struct vskf_bytes der = { 0 };
    int rc;

    if (!f)
        return fail("cannot open %s: %s", path, strerror(errno));
    raw = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!raw) {
        rewind(f);
        raw = d2i_PrivateKey_fp(f, NULL);
    }
    fclose(f);
    ERR_clear_error();
    if (!raw)
        return fail("%s: not an unencrypted private key", path);
    if (!vskf_key_is_sm2(raw)) {
        EVP_PKEY_free(raw);
        return fail("%s: not an SM2 key", path);
    }
    rc = vskf_key_store(raw, &der);
    EVP_PKEY_free(raw);
    key = rc == 0 ? vskf_key_load(&der) : NULL;   /* normalised to an "SM2" key */
    rc = key && vskf_key_store(key, out) == 0 ? 0 : fail("%s: cannot encode the key", path);
    EVP_PKEY_free(key);
    vskf_bytes_free(&der);
    return rc;
}

static int load_pair(const char *cert_path, const char *key_path, struct vskf_bytes *cert,
                     struct vskf_bytes *key, const char *what)
{
    if (!cert_path && !key_path)
        return 0;
    if (key_path && read_key(key_path, key))
        return EXIT_FAILURE;
    if (cert_path && read_cert(cert_path, cert))
        return EXIT_FAILURE;
    if (cert_path && key_path && vskf_cert_matches_key(cert, key) != 1)
        return fail("the %s key does not match its certificate", what);
    return 0;
}

static int set_field(char *dst, size_t size, const char *value, const char *what)
{
    if (vskf_strlcpy(dst, value, size) < 0)
        return fail("%s longer than %zu bytes", what, size - 1);
    return 0;
}

static int set_pin(struct vskf_pin *pin, const char *value, unsigned tries, const char *what)
{
    size_t n = strlen(value);

    if (n < VSKF_PIN_MIN || n > VSKF_PIN_MAX)
        return fail("%s PIN must be %d..%d characters", what, VSKF_PIN_MIN, VSKF_PIN_MAX);
    if (tries < 1 || tries > VSKF_TRIES_MAX)
        return fail("%s tries must be 1..%d", what, VSKF_TRIES_MAX);
    vskf_strlcpy(pin->value, value, sizeof pin->value);
    pin->max_tries = pin->tries_left = tries;
    return 0;
}

static int build_app(struct vskf_state *st, const struct provision *pv)
{
    struct vskf_app *app = &st->apps[st->n_apps++];
    struct vskf_container *c;

    if (set_field(app->name, sizeof app->name, pv->app, "application name") ||
        set_pin(&app->user, pv->user_pin, pv->user_tries, "user") ||
        set_pin(&app->admin, pv->admin_pin, pv->admin_tries, "admin"))
        return EXIT_FAILURE;
    app->user.is_default = pv->default_pin < 0
                               ? strcmp(pv->user_pin, VSKF_DEFAULT_USER_PIN) == 0
                               : pv->default_pin == 1;
    app->admin.is_default = strcmp(pv->admin_pin, VSKF_DEFAULT_ADMIN_PIN) == 0;
    app->create_rights = SECURE_USER_ACCOUNT;
    if (!pv->sign_cert && !pv->sign_key && !pv->enc_cert && !pv->enc_key)
        return 0;
    c = &app->containers[app->n_containers++];
    if (set_field(c->name, sizeof c->name, pv->container, "container name") ||
        load_pair(pv->sign_cert, pv->sign_key, &c->sign_cert, &c->sign_key, "signing") ||
        load_pair(pv->enc_cert, pv->enc_key, &c->enc_cert, &c->enc_key, "encryption"))
        return EXIT_FAILURE;
    return 0;
}

static int random_serial(char *out, size_t size)
{
    uint8_t raw[SERIAL_RANDOM_LEN];

    if (size < 2 * sizeof raw + 1 || vskf_random(raw, sizeof raw) < 0)
        return -1;
    vskf_hex_encode(raw, sizeof raw, out);
    return 0;
}

static int build_state(struct vskf_state *st, const struct provision *pv, const char *name)
{
    struct vskf_bytes key = { 0 };

    if (set_field(st->label, sizeof st->label, pv->label ? pv->label : name, "label") ||
        set_field(st->manufacturer, sizeof st->manufacturer, pv->manufacturer, "manufacturer") ||
        set_field(st->issuer, sizeof st->issuer, pv->issuer, "issuer") ||
        (pv->usb_id && set_field(st->usb_id, sizeof st->usb_id, pv->usb_id, "usb-id")))
        return EXIT_FAILURE;
    if (pv->serial ? set_field(st->serial, sizeof st->serial, pv->serial, "serial")
                   : random_serial(st->serial, sizeof st->serial))
        return EXIT_FAILURE;
    if (pv->dev_auth_key) {
        if (vskf_hex_decode(pv->dev_auth_key, &key) < 0 || key.len != VSKF_SM4_KEY_LEN) {
            vskf_bytes_free(&key);
            return fail("--dev-auth-key must be %d bytes of hex", VSKF_SM4_KEY_LEN);
        }
        memcpy(st->dev_auth_key, key.data, VSKF_SM4_KEY_LEN);
        vskf_bytes_free(&key);
    }
    return pv->no_app ? 0 : build_app(st, pv);
}

static int parse_tries(const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end || v < 1 || v > VSKF_TRIES_MAX)
        return fail("tries must be 1..%d", VSKF_TRIES_MAX);
    *out = (unsigned)v;
    return 0;
}

enum {
    OPT_LABEL = 256, OPT_SERIAL, OPT_MANUFACTURER, OPT_ISSUER, OPT_USB_ID, OPT_APP,
    OPT_CONTAINER, OPT_NO_APP, OPT_USER_PIN, OPT_ADMIN_PIN, OPT_USER_TRIES, OPT_ADMIN_TRIES,
    OPT_DEFAULT_PIN, OPT_DEV_AUTH_KEY, OPT_SIGN_CERT, OPT_SIGN_KEY, OPT_ENC_CERT, OPT_ENC_KEY,
};

static const struct option provision_options[] = {
    { "label", required_argument, NULL, OPT_LABEL },
    { "serial", required_argument, NULL, OPT_SERIAL },
    { "manufacturer", required_argument, NULL, OPT_MANUFACTURER },
    { "issuer", required_argument, NULL, OPT_ISSUER },
    { "usb-id", required_argument, NULL, OPT_USB_ID },
    { "app", required_argument, NULL, OPT_APP },
    { "container", required_argument, NULL, OPT_CONTAINER },
    { "no-app", no_argument, NULL, OPT_NO_APP },
    { "user-pin", required_argument, NULL, OPT_USER_PIN },
    { "admin-pin", required_argument, NULL, OPT_ADMIN_PIN },
    { "user-tries", required_argument, NULL, OPT_USER_TRIES },
    { "admin-tries", required_argument, NULL, OPT_ADMIN_TRIES },
    { "default-pin", required_argument, NULL, OPT_DEFAULT_PIN },
    { "dev-auth-key", required_argument, NULL, OPT_DEV_AUTH_KEY },
    { "sign-cert", required_argument, NULL, OPT_SIGN_CERT },
    { "sign-key", required_argument, NULL, OPT_SIGN_KEY },
    { "enc-cert", required_argument, NULL, OPT_ENC_CERT },
    { "enc-key", required_argument, NULL, OPT_ENC_KEY },
    { NULL, 0, NULL, 0 },
};

static int provision_option(struct provision *pv, int opt, const char *arg)
{
    switch (opt) {
    case OPT_LABEL: pv->label = arg; break;
    case OPT_SERIAL: pv->serial = arg; break;
    case OPT_MANUFACTURER: pv->manufacturer = arg; break;
    case OPT_ISSUER: pv->issuer = arg; break;
    case OPT_USB_ID: pv->usb_id = arg; break;
    case OPT_APP: pv->app = arg; break;
    case OPT_CONTAINER: pv->container = arg; break;
    case OPT_NO_APP: pv->no_app = true; break;
    case OPT_USER_PIN: pv->user_pin = arg; break;
    case OPT_ADMIN_PIN: pv->admin_pin = arg; break;
    case OPT_USER_TRIES: return parse_tries(arg, &pv->user_tries);
    case OPT_ADMIN_TRIES: return parse_tries(arg, &pv->admin_tries);
    case OPT_DEFAULT_PIN:
        if (strcmp(arg, "yes") && strcmp(arg, "no"))
            return fail("--default-pin takes yes or no");
        pv->default_pin = arg[0] == 'y';
        break;
    case OPT_DEV_AUTH_KEY: pv->dev_auth_key = arg; break;
    case OPT_SIGN_CERT: pv->sign_cert = arg; break;
    case OPT_SIGN_KEY: pv->sign_key = arg; break;
    case OPT_ENC_CERT: pv->enc_cert = arg; break;
    case OPT_ENC_KEY: pv->enc_key = arg; break;
    default:
        usage();
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_provision(int argc, char **argv)
{
    struct provision pv = {
        .manufacturer = DEFAULT_MANUFACTURER, .issuer = DEFAULT_ISSUER, .app = DEFAULT_APP,
        .container = DEFAULT_CONTAINER, .user_pin = VSKF_DEFAULT_USER_PIN,
        .admin_pin = VSKF_DEFAULT_ADMIN_PIN, .user_tries = VSKF_DEFAULT_TRIES,
        .admin_tries = VSKF_DEFAULT_ADMIN_TRIES, .default_pin = -1,
    };
    struct vskf_state *st = calloc(1, sizeof *st);
    struct vskf_paths paths;
    char err[ERR_MAX];
    int opt, rc = EXIT_FAILURE, fd = -1;

    if (!st)
        return fail("out of memory");
    vskf_state_init(st);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", provision_options, NULL)) != -1)
        if ((rc = provision_option(&pv, opt, optarg)) != 0)
            goto out;
    rc = EXIT_FAILURE;
    if (argc - optind != 2) {
        usage();
        rc = EXIT_USAGE;
        goto out;
    }
    if (vskf_paths_for(argv[optind], argv[optind + 1], &paths) < 0) {
        fail("bad directory or device name \"%s\"", argv[optind + 1]);
        goto out;
    }
    if (mkdir(argv[optind], DIR_MODE) < 0 && errno != EEXIST) {
        fail("cannot create %s: %s", argv[optind], strerror(errno));
        goto out;
    }
    if (build_state(st, &pv, argv[optind + 1]))
        goto out;
    fd = vskf_lock(paths.lock);
    if (fd < 0) {
        fail("cannot lock %s", paths.lock);
        goto out;
    }
    /* A new device is a pulled one: its RAM (if it was plugged) goes. */
    if (unlink(paths.ram) < 0 && errno != ENOENT) {
        fail("cannot remove %s: %s", paths.ram, strerror(errno));
        goto out;
    }
    if (vskf_state_save(paths.state, st, err, sizeof err) < 0) {
        fail("%s", err);
        goto out;
    }
    rc = EXIT_SUCCESS;
out:
    vskf_unlock(fd);
    vskf_state_free(st);
    free(st);
    return rc;
}

/* --- plug, unplug ------------------------------------------------------------------------ */

static int cmd_plug(const char *dir, const char *name, bool plug)
{
    struct vskf_paths paths;
    struct vskf_ram ram = { 0 };
    int fd, rc = EXIT_FAILURE;

    if (vskf_paths_for(dir, name, &paths) < 0)
        return fail("bad directory or device name \"%s\"", name);
    if (access(paths.state, F_OK) < 0)
        return fail("no device %s (%s)", name, paths.state);
    fd = vskf_lock(paths.lock);
    if (fd < 0)
        return fail("cannot lock %s", paths.lock);
    if (!plug) {
        if (unlink(paths.ram) < 0 && errno != ENOENT)
            fail("cannot remove %s: %s", paths.ram, strerror(errno));
        else
            rc = EXIT_SUCCESS;
    } else if (access(paths.ram, F_OK) == 0) {
        rc = EXIT_SUCCESS;          /* already in */
    } else if (vskf_random(ram.session, sizeof ram.session) < 0 ||
               vskf_ram_save(paths.ram, &ram) < 0) {
        fail("cannot write %s", paths.ram);
    } else {
        rc = EXIT_SUCCESS;
    }
    vskf_unlock(fd);
    return rc;
}

/* --- show --------------------------------------------------------------------------------- */

static void show_pin(const char *who, const struct vskf_pin *pin)
{
    printf("  %s-pin-tries: %u/%u\n", who, pin->tries_left, pin->max_tries);
    printf("  %s-pin-blocked: %s\n", who, pin->tries_left ? "no" : "yes");
    printf("  %s-pin-default: %s\n", who, pin->is_default ? "yes" : "no");
}

static void show_cert_subject(const struct vskf_bytes *cert)
{
    const unsigned char *p = cert->data;
    X509 *x = d2i_X509(NULL, &p, (long)cert->len);
    BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);

    if (x && out)
        X509_NAME_print_ex(out, X509_get_subject_name(x), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    else
        fputs("(unreadable)", stdout);
    BIO_free(out);
    X509_free(x);
}

static void show_slot(const char *what, const struct vskf_bytes *cert,
                      const struct vskf_bytes *key)
{
    if (!cert->len && !key->len)
        return;
    printf("    %s-key: %s\n", what, key->len ? "yes" : "no");
    if (cert->len) {
        printf("    %s-cert: ", what);
        show_cert_subject(cert);
        putchar('\n');
    }
    if (cert->len && key->len)
        printf("    %s: key %s certificate\n", what,
               vskf_cert_matches_key(cert, key) == 1 ? "matches" : "does not match");
}

static int cmd_show(const char *dir, const char *name)
{
    struct vskf_state *st = calloc(1, sizeof *st);
    struct vskf_paths paths;
    struct vskf_ram ram;
    char err[ERR_MAX];
    size_t used;
    int plugged;

    if (!st)
        return fail("out of memory");
    if (vskf_paths_for(dir, name, &paths) < 0 ||
        vskf_state_load(paths.state, st, err, sizeof err) < 0) {
        free(st);
        return fail("%s", vskf_paths_for(dir, name, &paths) < 0 ? "bad device name" : err);
    }
    plugged = vskf_ram_load(paths.ram, &ram);
    printf("device: %s\nplugged: %s\n", name, plugged == 0 ? "yes" : "no");
    printf("label: %s\nserial: %s\nmanufacturer: %s\nissuer: %s\n", st->label, st->serial,
           st->manufacturer, st->issuer);
    if (st->usb_id[0])
        printf("usb-id: %s\n", st->usb_id);
    used = vskf_used_space(st);
    printf("free-space: %zu/%u\n", used < st->total_space ? st->total_space - used : 0,
           st->total_space);
    for (size_t i = 0; i < st->n_apps; i++) {
        const struct vskf_app *app = &st->apps[i];

        printf("app: %s\n", app->name);
        show_pin("user", &app->user);
        show_pin("admin", &app->admin);
        if (plugged == 0 && vskf_ram_role(&ram, app->name) != VSKF_ROLE_NONE)
            printf("  logged-in: %s\n",
                   vskf_ram_role(&ram, app->name) == VSKF_ROLE_ADMIN ? "admin" : "user");
        for (size_t f = 0; f < app->n_files; f++)
            printf("  file: %s (%zu bytes)\n", app->files[f].name, app->files[f].data.len);
        for (size_t c = 0; c < app->n_containers; c++) {
            const struct vskf_container *con = &app->containers[c];

            printf("  container: %s\n", con->name);
            show_slot("sign", &con->sign_cert, &con->sign_key);
            show_slot("enc", &con->enc_cert, &con->enc_key);
        }
    }
    OPENSSL_cleanse(&ram, sizeof ram);
    vskf_state_free(st);
    free(st);
    return EXIT_SUCCESS;
}

/* --- check --------------------------------------------------------------------------------- */

/* The certificate's serial, upper-case hex of its content octets. */
static bool print_serial(const struct vskf_bytes *cert)
{
    const unsigned char *p = cert->data;
    X509 *x = d2i_X509(NULL, &p, (long)cert->len);
    BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    if (hex)
        printf("serial: %s\n", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(x);
    return hex != NULL;
}

/*
 * Whether a container's signing or encryption certificate belongs to the key
 * pair beside it (GM/T 0016-2012 7.5: a container holds each certificate for
 * its own key pair). Exit 0 and the serial when both are there and the
 * certificate carries the key's public point; 1 otherwise, saying why.
 */
static int cmd_check(const char *dir, const char *name, const char *container, const char *which)
{
    struct vskf_state *st = calloc(1, sizeof *st);
    const struct vskf_container *con = NULL;
    const struct vskf_bytes *cert, *key;
    struct vskf_paths paths;
    char err[ERR_MAX];
    bool sign = strcmp(which, "sign") == 0;
    int rc = EXIT_FAILURE;

    if (!st)
        return fail("out of memory");
    if (!sign && strcmp(which, "enc") != 0) {
        free(st);
        usage();
        return EXIT_USAGE;
    }
    if (vskf_paths_for(dir, name, &paths) < 0 ||
        vskf_state_load(paths.state, st, err, sizeof err) < 0) {
        free(st);
        return fail("%s", vskf_paths_for(dir, name, &paths) < 0 ? "bad device name" : err);
    }
    for (size_t i = 0; i < st->n_apps && !con; i++)
        for (size_t c = 0; c < st->apps[i].n_containers && !con; c++)
            if (strcmp(st->apps[i].containers[c].name, container) == 0)
                con = &st->apps[i].containers[c];
    cert = con ? (sign ? &con->sign_cert : &con->enc_cert) : NULL;
    key = con ? (sign ? &con->sign_key : &con->enc_key) : NULL;
    if (!con)
        fail("no container %s", container);
    else if (!cert->len || !key->len)
        fail("container %s holds no %s %s", container, which, cert->len ? "key" : "certificate");
    else if (vskf_cert_matches_key(cert, key) != 1)
        fail("container %s: the %s certificate is not for the %s key", container, which, which);
    else if (print_serial(cert))
        rc = EXIT_SUCCESS;
    vskf_state_free(st);
    free(st);
    return rc;
}

/* --- files of an application ------------------------------------------------------------- */

/* SOURCE's bytes, at most VSKF_FILE_SIZE_MAX; -1 with a message otherwise. */
static int read_source(const char *path, struct vskf_bytes *out)
{
    static uint8_t buf[VSKF_FILE_SIZE_MAX + 1];
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f)
        return fail("cannot open %s: %s", path, strerror(errno)), -1;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n == 0 || n > VSKF_FILE_SIZE_MAX)
        return fail("%s: 1..%d bytes, please", path, VSKF_FILE_SIZE_MAX), -1;
    return vskf_bytes_set(out, buf, n) < 0 ? (fail("out of memory"), -1) : 0;
}

/* Adds FILE (readable by anyone, written with the user PIN, as the seals a CA
 * writes) or replaces its content; removes it when `source` is NULL. The
 * state file is changed under the device's lock, whether plugged or not. */
static int cmd_file(const char *dir, const char *name, const char *app_name,
                    const char *file, const char *source)
{
    struct vskf_state *st = calloc(1, sizeof *st);
    struct vskf_bytes data = { 0 };
    struct vskf_paths paths;
    struct vskf_app *app;
    struct vskf_file *f;
    char err[ERR_MAX];
    int fd = -1, rc = EXIT_FAILURE;

    if (!st)
        return fail("out of memory");
    if (strlen(file) == 0 || strlen(file) > VSKF_FILE_NAME_MAX) {
        fail("a file name is 1..%d bytes", VSKF_FILE_NAME_MAX);
        goto out;
    }
    if (source && read_source(source, &data) < 0)
        goto out;
    if (vskf_paths_for(dir, name, &paths) < 0) {
        fail("bad directory or device name \"%s\"", name);
        goto out;
    }
    if ((fd = vskf_lock(paths.lock)) < 0) {
        fail("cannot lock %s", paths.lock);
        goto out;
    }
    if (vskf_state_load(paths.state, st, err, sizeof err) < 0) {
        fail("%s", err);
        goto out;
    }
    if (!(app = vskf_find_app(st, app_name))) {
        fail("no application %s", app_name);
        goto out;
    }
    f = vskf_find_file(app, file);
    if (!source) {
        if (!f) {
            fail("no file %s in %s", file, app_name);
            goto out;
        }
        vskf_bytes_free(&f->data);
        *f = app->files[app->n_files - 1];
        memset(&app->files[app->n_files - 1], 0, sizeof *f);
        app->n_files--;
    } else {
        if (!f && app->n_files == VSKF_FILES_MAX) {
            fail("%s holds %d files already", app_name, VSKF_FILES_MAX);
            goto out;
        }
        if (!f) {
            f = &app->files[app->n_files++];
            memset(f, 0, sizeof *f);
            snprintf(f->name, sizeof f->name, "%s", file);
            f->read_rights = SECURE_ANYONE_ACCOUNT;
            f->write_rights = SECURE_USER_ACCOUNT;
        }
        vskf_bytes_free(&f->data);
        f->data = data;
        data = (struct vskf_bytes){ 0 };
        if (vskf_used_space(st) > st->total_space) {
            fail("no room on %s for %s", name, file);
            goto out;
        }
    }
    if (vskf_state_save(paths.state, st, err, sizeof err) < 0) {
        fail("%s", err);
        goto out;
    }
    rc = EXIT_SUCCESS;
out:
    vskf_unlock(fd);
    vskf_bytes_free(&data);
    vskf_state_free(st);
    free(st);
    return rc;
}

/* --- quirks, unblock answers ------------------------------------------------------------------ */

static int cmd_quirks(const char *dir, const char *list)
{
    char path[PATH_MAX], bad[VSKF_DEV_NAME_MAX + 1];
    unsigned bits;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, VSKF_QUIRKS_FILE) >= sizeof path)
        return fail("directory name too long");
    if (!list) {
        if (unlink(path) < 0 && errno != ENOENT)
            return fail("cannot remove %s: %s", path, strerror(errno));
        return EXIT_SUCCESS;
    }
    if (vskf_quirks_parse(list, &bits, bad, sizeof bad) < 0)
        return fail("unknown quirk \"%s\"", bad);
    if (vskf_write_atomic(path, list, strlen(list), true) < 0)
        return fail("cannot write %s", path);
    return EXIT_SUCCESS;
}

static int cmd_unblock_answer(const char *admin_pin, const char *new_pin, const char *challenge)
{
    struct vskf_bytes ch = { 0 };
    uint8_t answer[VSKF_UNBLOCK_MAX];
    size_t len = sizeof answer;
    char hex[2 * VSKF_UNBLOCK_MAX + 1];

    if (vskf_hex_decode(challenge, &ch) < 0 || ch.len == 0 || ch.len > VSKF_CHALLENGE_MAX) {
        vskf_bytes_free(&ch);
        return fail("the challenge must be 1..%d bytes of hex", VSKF_CHALLENGE_MAX);
    }
    if (vskf_unblock_answer(admin_pin, new_pin, ch.data, ch.len, answer, &len) < 0) {
        vskf_bytes_free(&ch);
        return fail("cannot make an answer (PINs %d..%d characters)", VSKF_PIN_MIN, VSKF_PIN_MAX);
    }
    vskf_hex_encode(answer, len, hex);
    puts(hex);
    vskf_bytes_free(&ch);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (strcmp(cmd, "provision") == 0)
        return cmd_provision(argc - 1, argv + 1);
    if ((strcmp(cmd, "plug") == 0 || strcmp(cmd, "unplug") == 0) && argc == 4)
        return cmd_plug(argv[2], argv[3], cmd[0] == 'p');
    if (strcmp(cmd, "show") == 0 && argc == 4)
        return cmd_show(argv[2], argv[3]);
    if (strcmp(cmd, "check") == 0 && argc == 6)
        return cmd_check(argv[2], argv[3], argv[4], argv[5]);
    if (strcmp(cmd, "put-file") == 0 && argc == 7)
        return cmd_file(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (strcmp(cmd, "rm-file") == 0 && argc == 6)
        return cmd_file(argv[2], argv[3], argv[4], argv[5], NULL);
    if (strcmp(cmd, "quirks") == 0 && (argc == 3 || argc == 4))
        return cmd_quirks(argv[2], argc == 4 ? argv[3] : NULL);
    if (strcmp(cmd, "unblock-answer") == 0 && argc == 5)
        return cmd_unblock_answer(argv[2], argv[3], argv[4]);
    usage();
    return EXIT_USAGE;
}
