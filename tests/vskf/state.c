/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/state.c — the files of a virtual SKF device under $VSKF_DIR:
 * NAME.skf (its non-volatile memory: strict text, refused whole when
 * damaged, replaced atomically and durably), NAME.present (its RAM: exists
 * only while the device is plugged), NAME.lock (the flock every change is
 * made under, across processes).
 */
#include "tests/vskf/vskf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <zlib.h>

#define STATE_FORMAT        "ukeyd-vskf-state-1"
#define RAM_FORMAT          "ukeyd-vskf-ram-1"
#define STATE_MAX_BYTES     (4u << 20)
#define STATE_CRC_KEY       "crc32="
#define STATE_CRC_HEX_LEN   8
#define STATE_CRC_LINE_LEN  (sizeof STATE_CRC_KEY - 1 + STATE_CRC_HEX_LEN + 1)
#define HEX_BASE            16
#define DECIMAL_BASE        10
#define VERSION_TEXT_MAX    8
#define READ_CHUNK          4096
#define FILE_MODE_PRIVATE   0600

/* --- bytes and strings ---------------------------------------------------- */

int vskf_bytes_set(struct vskf_bytes *b, const void *data, size_t len)
{
    uint8_t *copy = NULL;

    if (len) {
        copy = malloc(len);
        if (!copy)
            return -1;
        memcpy(copy, data, len);
    }
    vskf_bytes_free(b);
    b->data = copy;
    b->len = len;
    return 0;
}

void vskf_bytes_free(struct vskf_bytes *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->len);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
}

void vskf_hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0F];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + DECIMAL_BASE;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + DECIMAL_BASE;
    return -1;
}

int vskf_hex_decode(const char *hex, struct vskf_bytes *out)
{
    size_t n = strlen(hex);
    uint8_t *data;

    if (n % 2)
        return -1;
    data = malloc(n / 2 + 1);
    if (!data)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(data, n / 2);
            free(data);
            return -1;
        }
        data[i] = (uint8_t)(hi << 4 | lo);
    }
    vskf_bytes_free(out);
    out->data = n ? data : NULL;
    out->len = n / 2;
    if (!n)
        free(data);
    return 0;
}

int vskf_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);

    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* --- paths and locks ---------------------------------------------------------- */

bool vskf_dev_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > VSKF_DEV_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c < ' ' || c > '~' || c == '/')
            return false;
    }
    return true;
}

int vskf_paths_for(const char *dir, const char *name, struct vskf_paths *p)
{
    if (!dir || !*dir || !vskf_dev_name_valid(name))
        return -1;
    if ((size_t)snprintf(p->state, sizeof p->state, "%s/%s%s", dir, name, VSKF_STATE_SUFFIX) >=
            sizeof p->state ||
        (size_t)snprintf(p->ram, sizeof p->ram, "%s/%s%s", dir, name, VSKF_RAM_SUFFIX) >=
            sizeof p->ram ||
        (size_t)snprintf(p->lock, sizeof p->lock, "%s/%s%s", dir, name, VSKF_LOCK_SUFFIX) >=
            sizeof p->lock ||
        (size_t)snprintf(p->excl, sizeof p->excl, "%s/%s%s", dir, name, VSKF_EXCL_SUFFIX) >=
            sizeof p->excl)
        return -1;
    return 0;
}

int vskf_lock(const char *lock_path)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE_PRIVATE);

    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

void vskf_unlock(int fd)
{
    if (fd >= 0)
        close(fd);    /* closing drops the flock */
}

/* --- lookups -------------------------------------------------------------------- */

struct vskf_app *vskf_find_app(struct vskf_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_apps; i++)
        if (strcmp(st->apps[i].name, name) == 0)
            return &st->apps[i];
    return NULL;
}

struct vskf_container *vskf_find_container(struct vskf_app *app, const char *name)
{
    for (size_t i = 0; i < app->n_containers; i++)
        if (strcmp(app->containers[i].name, name) == 0)
            return &app->containers[i];
    return NULL;
}

struct vskf_file *vskf_find_file(struct vskf_app *app, const char *name)
{
    for (size_t i = 0; i < app->n_files; i++)
        if (strcmp(app->files[i].name, name) == 0)
            return &app->files[i];
    return NULL;
}

void vskf_container_free(struct vskf_container *con)
{
    vskf_bytes_free(&con->sign_key);
    vskf_bytes_free(&con->sign_cert);
    vskf_bytes_free(&con->enc_key);
    vskf_bytes_free(&con->enc_cert);
}

void vskf_app_free(struct vskf_app *app)
{
    for (size_t i = 0; i < app->n_files; i++)
        vskf_bytes_free(&app->files[i].data);
    for (size_t i = 0; i < app->n_containers; i++)
        vskf_container_free(&app->containers[i]);
    OPENSSL_cleanse(app, sizeof *app);
}

size_t vskf_used_space(const struct vskf_state *st)
{
    size_t used = 0;

    for (size_t a = 0; a < st->n_apps; a++) {
        const struct vskf_app *app = &st->apps[a];

        for (size_t i = 0; i < app->n_files; i++)
            used += app->files[i].data.len;
        for (size_t i = 0; i < app->n_containers; i++) {
            const struct vskf_container *c = &app->containers[i];

            used += c->sign_key.len + c->sign_cert.len + c->enc_key.len + c->enc_cert.len;
        }
    }
    return used;
}

void vskf_state_init(struct vskf_state *st)
{
    memset(st, 0, sizeof *st);
    st->hw_version[0] = 1;
    st->fw_version[0] = 1;
    st->total_space = VSKF_TOTAL_SPACE;
    memcpy(st->dev_auth_key, VSKF_DEFAULT_DEV_AUTH_KEY, VSKF_SM4_KEY_LEN);
}

void vskf_state_free(struct vskf_state *st)
{
    for (size_t i = 0; i < st->n_apps; i++)
        vskf_app_free(&st->apps[i]);
    OPENSSL_cleanse(st, sizeof *st);
}

/* --- the text writer --------------------------------------------------------------- */

struct text {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

__attribute__((format(printf, 2, 3)))
static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    for (;;) {
        size_t room = t->cap - t->len;

        va_start(ap, fmt);
        n = vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : READ_CHUNK;

        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *grown = malloc(cap);

        if (!grown) {
            t->failed = true;
            return;
        }
        if (t->data) {
            memcpy(grown, t->data, t->len);
            OPENSSL_cleanse(t->data, t->cap);
            free(t->data);
        }
        t->data = grown;
        t->cap = cap;
    }
}

static void text_hex(struct text *t, const char *key, const uint8_t *data, size_t len)
{
    char *hex;

    if (t->failed)
        return;
    hex = malloc(2 * len + 1);
    if (!hex) {
        t->failed = true;
        return;
    }
    vskf_hex_encode(data, len, hex);
    text_add(t, "%s=%s\n", key, hex);
    OPENSSL_cleanse(hex, 2 * len + 1);
    free(hex);
}

static void text_free(struct text *t)
{
    if (t->data) {
        OPENSSL_cleanse(t->data, t->cap);
        free(t->data);
    }
    memset(t, 0, sizeof *t);
}

static void write_pin(struct text *t, const char *who, const struct vskf_pin *pin)
{
    char key[32];

    snprintf(key, sizeof key, "%s-pin", who);
    text_hex(t, key, (const uint8_t *)pin->value, strlen(pin->value));
    text_add(t, "%s-max-tries=%" PRIu32 "\n", who, pin->max_tries);
    text_add(t, "%s-tries-left=%" PRIu32 "\n", who, pin->tries_left);
    text_add(t, "%s-default=%d\n", who, pin->is_default ? 1 : 0);
}

static void write_bytes_if(struct text *t, const char *key, const struct vskf_bytes *b)
{
    if (b->len)
        text_hex(t, key, b->data, b->len);
}

static void write_app(struct text *t, const struct vskf_app *app)
{
    text_add(t, "app=%s\n", app->name);
    write_pin(t, "admin", &app->admin);
    write_pin(t, "user", &app->user);
    text_add(t, "create-rights=0x%08" PRIX32 "\n", app->create_rights);
    for (size_t i = 0; i < app->n_files; i++) {
        const struct vskf_file *f = &app->files[i];

        text_add(t, "file=%s\n", f->name);
        text_add(t, "file-read-rights=0x%08" PRIX32 "\n", f->read_rights);
        text_add(t, "file-write-rights=0x%08" PRIX32 "\n", f->write_rights);
        text_add(t, "file-size=%zu\n", f->data.len);
        write_bytes_if(t, "file-data", &f->data);
    }
    for (size_t i = 0; i < app->n_containers; i++) {
        const struct vskf_container *c = &app->containers[i];

        text_add(t, "container=%s\n", c->name);
        write_bytes_if(t, "sign-key", &c->sign_key);
        write_bytes_if(t, "sign-cert", &c->sign_cert);
        write_bytes_if(t, "enc-key", &c->enc_key);
        write_bytes_if(t, "enc-cert", &c->enc_cert);
    }
}

static int fsync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    int fd, rc;

    if (vskf_strlcpy(copy, path, sizeof copy) < 0)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int vskf_write_atomic(const char *path, const void *data, size_t len, bool durable)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dir_len = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    char tmp[PATH_MAX];
    const char *p = data;
    int fd;

    if ((size_t)snprintf(tmp, sizeof tmp, "%.*s/.%s.XXXXXX", dir_len, dir, base) >= sizeof tmp)
        return -1;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if ((durable && fsync(fd) < 0) || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    if (durable && fsync_parent_dir(path) < 0)
        return -1;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int vskf_state_save(const char *path, const struct vskf_state *st, char *err, size_t err_len)
{
    struct text t = { 0 };
    char crc_line[STATE_CRC_LINE_LEN + 1];
    int rc = -1;

    text_add(&t, "format=%s\n", STATE_FORMAT);
    text_add(&t, "label=%s\n", st->label);
    text_add(&t, "serial=%s\n", st->serial);
    text_add(&t, "manufacturer=%s\n", st->manufacturer);
    text_add(&t, "issuer=%s\n", st->issuer);
    if (st->usb_id[0])
        text_add(&t, "usb-id=%s\n", st->usb_id);
    text_add(&t, "hw-version=%u.%u\n", st->hw_version[0], st->hw_version[1]);
    text_add(&t, "fw-version=%u.%u\n", st->fw_version[0], st->fw_version[1]);
    text_add(&t, "total-space=%" PRIu32 "\n", st->total_space);
    text_hex(&t, "dev-auth-key", st->dev_auth_key, sizeof st->dev_auth_key);
    for (size_t i = 0; i < st->n_apps; i++)
        write_app(&t, &st->apps[i]);
    if (t.failed) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    snprintf(crc_line, sizeof crc_line, "%s%08lX\n", STATE_CRC_KEY,
             crc32(0L, (const Bytef *)t.data, (uInt)t.len));
    text_add(&t, "%s", crc_line);
    if (t.failed || vskf_write_atomic(path, t.data, t.len, true) < 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    text_free(&t);
    return rc;
}

/* --- the parser ---------------------------------------------------------------------- */

enum level { LEVEL_DEVICE, LEVEL_APP, LEVEL_FILE, LEVEL_CONTAINER };

struct parser {
    const char *path;
    unsigned line;
    enum level level;
    struct vskf_state *st;
    char *err;
    size_t err_len;
};

__attribute__((format(printf, 2, 3)))
static int parse_fail(struct parser *p, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_len, "%s:%u: %s", p->path, p->line, why);
    return -1;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || end == s || *end || v > UINT32_MAX || !isdigit((unsigned char)s[0]))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_version(const char *s, uint8_t out[2])
{
    unsigned major, minor;
    char tail;

    if (strlen(s) > VERSION_TEXT_MAX ||
        sscanf(s, "%u.%u%c", &major, &minor, &tail) != 2 || major > UINT8_MAX ||
        minor > UINT8_MAX)
        return -1;
    out[0] = (uint8_t)major;
    out[1] = (uint8_t)minor;
    return 0;
}

static bool printable_utf8(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == '\x7f')
            return false;
    return true;
}

static int set_text(struct parser *p, char *dst, size_t size, const char *value, const char *key)
{
    if (!printable_utf8(value) || vskf_strlcpy(dst, value, size) < 0)
        return parse_fail(p, "%s too long or not printable", key);
    return 0;
}

static int set_bytes(struct parser *p, struct vskf_bytes *dst, const char *value,
                     const char *key)
{
    if (vskf_hex_decode(value, dst) < 0)
        return parse_fail(p, "%s is not hex", key);
    return 0;
}

static struct vskf_app *cur_app(struct parser *p)
{
    return &p->st->apps[p->st->n_apps - 1];
}

static int parse_device_key(struct parser *p, const char *key, const char *value)
{
    struct vskf_state *st = p->st;
    struct vskf_bytes b = { 0 };

    if (strcmp(key, "label") == 0)
        return set_text(p, st->label, sizeof st->label, value, key);
    if (strcmp(key, "serial") == 0)
        return set_text(p, st->serial, sizeof st->serial, value, key);
    if (strcmp(key, "manufacturer") == 0)
        return set_text(p, st->manufacturer, sizeof st->manufacturer, value, key);
    if (strcmp(key, "issuer") == 0)
        return set_text(p, st->issuer, sizeof st->issuer, value, key);
    if (strcmp(key, "usb-id") == 0)
        return set_text(p, st->usb_id, sizeof st->usb_id, value, key);
    if (strcmp(key, "hw-version") == 0)
        return parse_version(value, st->hw_version) < 0 ? parse_fail(p, "bad %s", key) : 0;
    if (strcmp(key, "fw-version") == 0)
        return parse_version(value, st->fw_version) < 0 ? parse_fail(p, "bad %s", key) : 0;
    if (strcmp(key, "total-space") == 0)
        return parse_u32(value, &st->total_space) < 0 ? parse_fail(p, "bad %s", key) : 0;
    if (strcmp(key, "dev-auth-key") == 0) {
        if (vskf_hex_decode(value, &b) < 0 || b.len != VSKF_SM4_KEY_LEN) {
            vskf_bytes_free(&b);
            return parse_fail(p, "dev-auth-key must be %d hex bytes", VSKF_SM4_KEY_LEN);
        }
        memcpy(st->dev_auth_key, b.data, VSKF_SM4_KEY_LEN);
        vskf_bytes_free(&b);
        return 0;
    }
    return parse_fail(p, "unknown key \"%s\"", key);
}

static int parse_pin_key(struct parser *p, struct vskf_pin *pin, const char *sub,
                         const char *value)
{
    struct vskf_bytes b = { 0 };
    uint32_t v;

    if (strcmp(sub, "pin") == 0) {
        if (vskf_hex_decode(value, &b) < 0 || b.len < VSKF_PIN_MIN || b.len > VSKF_PIN_MAX ||
            memchr(b.data, '\0', b.len)) {
            vskf_bytes_free(&b);
            return parse_fail(p, "bad PIN (hex, %d..%d bytes)", VSKF_PIN_MIN, VSKF_PIN_MAX);
        }
        memcpy(pin->value, b.data, b.len);
        pin->value[b.len] = '\0';
        vskf_bytes_free(&b);
        return 0;
    }
    if (strcmp(sub, "default") == 0) {
        if (strcmp(value, "0") && strcmp(value, "1"))
            return parse_fail(p, "default must be 0 or 1");
        pin->is_default = value[0] == '1';
        return 0;
    }
    if (parse_u32(value, &v) < 0 || v > VSKF_TRIES_MAX)
        return parse_fail(p, "tries must be 0..%d", VSKF_TRIES_MAX);
    if (strcmp(sub, "max-tries") == 0) {
        if (v == 0)
            return parse_fail(p, "max-tries must be at least 1");
        pin->max_tries = v;
        return 0;
    }
    if (strcmp(sub, "tries-left") == 0) {
        pin->tries_left = v;
        return 0;
    }
    return parse_fail(p, "unknown PIN key \"%s\"", sub);
}

static int parse_app_key(struct parser *p, const char *key, const char *value)
{
    struct vskf_app *app = cur_app(p);

    if (strncmp(key, "admin-", 6) == 0)
        return parse_pin_key(p, &app->admin, key + 6, value);
    if (strncmp(key, "user-", 5) == 0)
        return parse_pin_key(p, &app->user, key + 5, value);
    if (strcmp(key, "create-rights") == 0)
        return parse_u32(value, &app->create_rights) < 0 ? parse_fail(p, "bad %s", key) : 0;
    return parse_fail(p, "unknown application key \"%s\"", key);
}

static int parse_file_key(struct parser *p, const char *key, const char *value)
{
    struct vskf_app *app = cur_app(p);
    struct vskf_file *f = &app->files[app->n_files - 1];
    uint32_t size;

    if (strcmp(key, "file-read-rights") == 0)
        return parse_u32(value, &f->read_rights) < 0 ? parse_fail(p, "bad %s", key) : 0;
    if (strcmp(key, "file-write-rights") == 0)
        return parse_u32(value, &f->write_rights) < 0 ? parse_fail(p, "bad %s", key) : 0;
    if (strcmp(key, "file-size") == 0) {
        uint8_t *zero;

        if (parse_u32(value, &size) < 0 || size > VSKF_FILE_SIZE_MAX)
            return parse_fail(p, "bad %s", key);
        zero = calloc(1, size ? size : 1);
        if (!zero || vskf_bytes_set(&f->data, zero, size) < 0) {
            free(zero);
            return parse_fail(p, "out of memory");
        }
        free(zero);
        return 0;
    }
    if (strcmp(key, "file-data") == 0) {
        struct vskf_bytes b = { 0 };

        if (vskf_hex_decode(value, &b) < 0 || b.len != f->data.len) {
            vskf_bytes_free(&b);
            return parse_fail(p, "file-data is not hex of file-size bytes");
        }
        vskf_bytes_free(&f->data);
        f->data = b;
        return 0;
    }
    return parse_fail(p, "unknown file key \"%s\"", key);
}

static int parse_container_key(struct parser *p, const char *key, const char *value)
{
    struct vskf_app *app = cur_app(p);
    struct vskf_container *c = &app->containers[app->n_containers - 1];

    if (strcmp(key, "sign-key") == 0)
        return set_bytes(p, &c->sign_key, value, key);
    if (strcmp(key, "sign-cert") == 0)
        return set_bytes(p, &c->sign_cert, value, key);
    if (strcmp(key, "enc-key") == 0)
        return set_bytes(p, &c->enc_key, value, key);
    if (strcmp(key, "enc-cert") == 0)
        return set_bytes(p, &c->enc_cert, value, key);
    return parse_fail(p, "unknown container key \"%s\"", key);
}

static int open_app(struct parser *p, const char *name)
{
    struct vskf_app *app;

    if (p->st->n_apps == VSKF_APPS_MAX)
        return parse_fail(p, "more than %d applications", VSKF_APPS_MAX);
    if (!*name || vskf_find_app(p->st, name))
        return parse_fail(p, "empty or duplicate application name");
    app = &p->st->apps[p->st->n_apps++];
    memset(app, 0, sizeof *app);
    if (vskf_strlcpy(app->name, name, sizeof app->name) < 0)
        return parse_fail(p, "application name too long");
    p->level = LEVEL_APP;
    return 0;
}

static int open_file(struct parser *p, const char *name)
{
    struct vskf_app *app = cur_app(p);
    struct vskf_file *f;

    if (app->n_files == VSKF_FILES_MAX)
        return parse_fail(p, "more than %d files", VSKF_FILES_MAX);
    if (!*name || vskf_find_file(app, name))
        return parse_fail(p, "empty or duplicate file name");
    f = &app->files[app->n_files++];
    memset(f, 0, sizeof *f);
    if (vskf_strlcpy(f->name, name, sizeof f->name) < 0)
        return parse_fail(p, "file name too long");
    p->level = LEVEL_FILE;
    return 0;
}

static int open_container(struct parser *p, const char *name)
{
    struct vskf_app *app = cur_app(p);
    struct vskf_container *c;

    if (app->n_containers == VSKF_CONTAINERS_MAX)
        return parse_fail(p, "more than %d containers", VSKF_CONTAINERS_MAX);
    if (!*name || vskf_find_container(app, name))
        return parse_fail(p, "empty or duplicate container name");
    c = &app->containers[app->n_containers++];
    memset(c, 0, sizeof *c);
    if (vskf_strlcpy(c->name, name, sizeof c->name) < 0)
        return parse_fail(p, "container name too long");
    p->level = LEVEL_CONTAINER;
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    char *eq = strchr(line, '=');
    const char *key, *value;

    if (!eq)
        return parse_fail(p, "not key=value");
    *eq = '\0';
    key = line;
    value = eq + 1;
    if (strcmp(key, "app") == 0)
        return open_app(p, value);
    if (strcmp(key, "file") == 0 || strcmp(key, "container") == 0) {
        if (p->level == LEVEL_DEVICE)
            return parse_fail(p, "%s outside an application", key);
        return key[0] == 'f' ? open_file(p, value) : open_container(p, value);
    }
    switch (p->level) {
    case LEVEL_DEVICE:
        return parse_device_key(p, key, value);
    case LEVEL_APP:
        return parse_app_key(p, key, value);
    case LEVEL_FILE:
        return parse_file_key(p, key, value);
    case LEVEL_CONTAINER:
        return parse_container_key(p, key, value);
    }
    return parse_fail(p, "bad state");
}

static int check_pin(struct parser *p, const struct vskf_app *app, const struct vskf_pin *pin,
                     const char *who)
{
    if (!pin->value[0] || !pin->max_tries || pin->tries_left > pin->max_tries)
        return parse_fail(p, "application %s: %s PIN missing or tries above the limit",
                          app->name, who);
    return 0;
}

static int check_state(struct parser *p)
{
    for (size_t i = 0; i < p->st->n_apps; i++) {
        const struct vskf_app *app = &p->st->apps[i];

        if (check_pin(p, app, &app->admin, "admin") < 0 ||
            check_pin(p, app, &app->user, "user") < 0)
            return -1;
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *out_len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rbe");
    char *data = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (cap - len < READ_CHUNK) {
            char *grown;

            cap = cap ? cap * 2 : READ_CHUNK * 4;
            if (cap > STATE_MAX_BYTES + READ_CHUNK)
                goto too_big;
            grown = realloc(data, cap + 1);
            if (!grown)
                goto too_big;
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len, f);

        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    if (len > STATE_MAX_BYTES) {
        OPENSSL_cleanse(data, len);
        free(data);
        snprintf(err, err_len, "%s: larger than %u bytes", path, STATE_MAX_BYTES);
        return -1;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
too_big:
    fclose(f);
    if (data)
        OPENSSL_cleanse(data, len);
    free(data);
    snprintf(err, err_len, "%s: too large or out of memory", path);
    return -1;
}

static int check_crc(const char *path, const char *data, size_t len, char *err, size_t err_len)
{
    char want[STATE_CRC_LINE_LEN + 1];

    if (len < STATE_CRC_LINE_LEN) {
        snprintf(err, err_len, "%s: truncated (no crc32 line)", path);
        return -1;
    }
    snprintf(want, sizeof want, "%s%08lX\n", STATE_CRC_KEY,
             crc32(0L, (const Bytef *)data, (uInt)(len - STATE_CRC_LINE_LEN)));
    if (memcmp(data + len - STATE_CRC_LINE_LEN, want, STATE_CRC_LINE_LEN) != 0) {
        snprintf(err, err_len, "%s: crc32 does not match (damaged or edited by hand)", path);
        return -1;
    }
    return 0;
}

int vskf_state_load(const char *path, struct vskf_state *st, char *err, size_t err_len)
{
    struct parser p = { .path = path, .st = st, .err = err, .err_len = err_len };
    char *data, *line, *save = NULL;
    size_t len;
    int rc = -1;

    vskf_state_init(st);
    if (read_file(path, &data, &len, err, err_len) < 0)
        return -1;
    if (check_crc(path, data, len, err, err_len) < 0)
        goto out;
    data[len - STATE_CRC_LINE_LEN] = '\0';
    line = strtok_r(data, "\n", &save);
    p.line = 1;
    if (!line || strcmp(line, "format=" STATE_FORMAT) != 0) {
        parse_fail(&p, "not a %s file", STATE_FORMAT);
        goto out;
    }
    while ((line = strtok_r(NULL, "\n", &save))) {
        p.line++;
        if (line[0] == '#')
            continue;
        if (parse_line(&p, line) < 0)
            goto out;
    }
    if (check_state(&p) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(data, len);
    free(data);
    if (rc < 0)
        vskf_state_free(st);
    return rc;
}

/* --- RAM ------------------------------------------------------------------------------- */

enum vskf_role vskf_ram_role(const struct vskf_ram *ram, const char *app)
{
    for (size_t i = 0; i < VSKF_APPS_MAX; i++)
        if (ram->logins[i].role != VSKF_ROLE_NONE && strcmp(ram->logins[i].app, app) == 0)
            return ram->logins[i].role;
    return VSKF_ROLE_NONE;
}

void vskf_ram_set_role(struct vskf_ram *ram, const char *app, enum vskf_role role)
{
    size_t free_slot = VSKF_APPS_MAX;

    for (size_t i = 0; i < VSKF_APPS_MAX; i++) {
        if (ram->logins[i].role != VSKF_ROLE_NONE && strcmp(ram->logins[i].app, app) == 0) {
            ram->logins[i].role = role;
            return;
        }
        if (ram->logins[i].role == VSKF_ROLE_NONE && free_slot == VSKF_APPS_MAX)
            free_slot = i;
    }
    if (role != VSKF_ROLE_NONE && free_slot < VSKF_APPS_MAX &&
        vskf_strlcpy(ram->logins[free_slot].app, app, sizeof ram->logins[free_slot].app) == 0)
        ram->logins[free_slot].role = role;
}

static const char *role_name(enum vskf_role role)
{
    return role == VSKF_ROLE_ADMIN ? "admin" : "user";
}

int vskf_ram_save(const char *path, const struct vskf_ram *ram)
{
    struct text t = { 0 };
    char session[2 * VSKF_SESSION_LEN + 1];
    int rc;

    vskf_hex_encode(ram->session, sizeof ram->session, session);
    text_add(&t, "format=%s\nsession=%s\ndev-auth=%d\n", RAM_FORMAT, session,
             ram->dev_authed ? 1 : 0);
    if (ram->challenge_len)
        text_hex(&t, "challenge", ram->challenge, ram->challenge_len);
    for (size_t i = 0; i < VSKF_APPS_MAX; i++)
        if (ram->logins[i].role != VSKF_ROLE_NONE)
            text_add(&t, "login=%s:%s\n", role_name(ram->logins[i].role), ram->logins[i].app);
    rc = t.failed ? -1 : vskf_write_atomic(path, t.data, t.len, false);
    text_free(&t);
    return rc;
}

static int ram_line(struct vskf_ram *ram, char *line)
{
    char *eq = strchr(line, '=');
    struct vskf_bytes b = { 0 };
    int rc = -1;

    if (!eq)
        return -1;
    *eq++ = '\0';
    if (strcmp(line, "format") == 0)
        return strcmp(eq, RAM_FORMAT) == 0 ? 0 : -1;
    if (strcmp(line, "dev-auth") == 0) {
        ram->dev_authed = strcmp(eq, "1") == 0;
        return 0;
    }
    if (strcmp(line, "login") == 0) {
        char *colon = strchr(eq, ':');

        if (!colon)
            return -1;
        *colon++ = '\0';
        vskf_ram_set_role(ram, colon, strcmp(eq, "admin") == 0 ? VSKF_ROLE_ADMIN : VSKF_ROLE_USER);
        return 0;
    }
    if (vskf_hex_decode(eq, &b) < 0)
        return -1;
    if (strcmp(line, "session") == 0 && b.len == VSKF_SESSION_LEN) {
        memcpy(ram->session, b.data, b.len);
        rc = 0;
    } else if (strcmp(line, "challenge") == 0 && b.len && b.len <= VSKF_CHALLENGE_MAX) {
        memcpy(ram->challenge, b.data, b.len);
        ram->challenge_len = b.len;
        rc = 0;
    }
    vskf_bytes_free(&b);
    return rc;
}

int vskf_ram_load(const char *path, struct vskf_ram *ram)
{
    char err[256];
    char *data, *line, *save = NULL;
    size_t len;
    int rc = 0;

    memset(ram, 0, sizeof *ram);
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 1;
    if (read_file(path, &data, &len, err, sizeof err) < 0)
        return errno == ENOENT ? 1 : -1;
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (ram_line(ram, line) < 0)
            rc = -1;
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}
