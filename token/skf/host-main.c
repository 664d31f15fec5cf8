/* SPDX-License-Identifier: MIT */
/*
 * token/skf/host-main.c — ukeyd-skf-host, the helper process that holds one
 * vendor SKF library for ukeyd (docs/skf-helper.md).
 *
 *   ukeyd-skf-host LIBRARY           serve ukeyd: requests on fd 3, events on fd 4
 *   ukeyd-skf-host --check LIBRARY   load it, say what it exports, exit 0 or 1
 *
 * ukeyd starts it (token/skf/host.c) and kills it when it crashes, hangs or
 * answers garbage; so this program keeps nothing worth saving and exits at
 * the first sign that ukeyd is gone. The main thread answers one request at a
 * time; an event thread waits in SKF_WaitForDevEvent (or polls SKF_EnumDev)
 * and writes events on their own channel. PINs arrive in frames: the frame
 * buffers and every copy are wiped after use, and nothing here logs one.
 * Before the library is loaded the helper gives up what it never needs: new
 * privileges, core files, stray descriptors and the network (a seccomp
 * filter, below).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>     /* __NR_socket, __NR_socketpair */
#include <time.h>
#include <unistd.h>

#include "token/skf/lib.h"
#include "token/skf/seal.h"
#include "token/skf/wire.h"

#define CALL_FD         3
#define EVENT_FD        4
#define FIRST_EXTRA_FD  5
#define EXIT_USAGE      2

/* SKF_WaitForDevEvent: a return sooner than INSTANT_MS counts as "at once";
 * INSTANT_LIMIT of those in a row and the library is polled instead. Never
 * call it again sooner than MIN_GAP_MS after it returned: no spinning. */
#define INSTANT_MS      10
#define INSTANT_LIMIT   5
#define MIN_GAP_MS      50

static struct skf_lib lib;
static skf_err load_err;
static char load_why[512];
static bool hello_done;
static bool watching;
static pthread_t event_thread;
/* the devices present when ukeyd asked to watch: what polling compares with */
static struct skf_names baseline;
static bool have_baseline;

static uint8_t in_buf[SKF_WIRE_FRAME_MAX];
static uint8_t out_buf[SKF_WIRE_FRAME_MAX];

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- frames on the two channels ------------------------------------------------ */

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* 1: a frame of *len bytes; 0: end of file; -1: error or not a frame. */
static int read_exact(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

static int read_frame(int fd, size_t *len)
{
    size_t total;
    int r = read_exact(fd, in_buf, SKF_WIRE_PREFIX_LEN);

    if (r <= 0)
        return r;
    if (skf_wire_frame_size(in_buf, &total) != SKF_WIRE_OK)
        return -1;
    if ((r = read_exact(fd, in_buf + SKF_WIRE_PREFIX_LEN, total - SKF_WIRE_PREFIX_LEN)) != 1)
        return -1;
    *len = total;
    return 1;
}

static void send_event(const char *name, uint32_t kind)
{
    uint8_t buf[SKF_NAME_MAX + 64];
    struct skf_wire_out w;
    size_t n;

    skf_wire_begin(&w, buf, sizeof buf, SKF_KIND_EVENT, SKF_OP_DEVICE_EVENT, 0);
    skf_wire_str(&w, SKF_TAG_DEVICE, name);
    skf_wire_u32(&w, SKF_TAG_EVENT, kind);
    if ((n = skf_wire_end(&w)) == 0)
        return;
    if (!write_all(EVENT_FD, buf, n))
        _exit(0);       /* ukeyd is gone */
}

/* --- device events -------------------------------------------------------------- */

static void device_event(const char *name, uint32_t kind)
{
    if (kind == SKF_EVENT_REMOVED)
        skf_lib_forget_device(&lib, name);
    send_event(name, kind);
}

/* Returns when the library's SKF_WaitForDevEvent proves useless (keeps
 * returning at once): the caller polls from then on. */
static void wait_for_events(void)
{
    int instant = 0;

    for (;;) {
        char name[SKF_NAME_MAX + 2] = { 0 };
        skf_slot len = SKF_NAME_MAX + 1, ev = 0;
        long long t0 = now_ms(), dt;
        skf_rv rv = lib.fn.wait_for_dev_event(name, &len, &ev);
        uint32_t kind = (uint32_t)ev;

        dt = now_ms() - t0;
        name[SKF_NAME_MAX + 1] = '\0';
        if (rv == SAR_OK && name[0] && strlen(name) <= SKF_NAME_MAX &&
            (kind == SKF_DEV_EVENT_INSERTED || kind == SKF_DEV_EVENT_REMOVED))
            device_event(name, kind == SKF_DEV_EVENT_INSERTED ? SKF_EVENT_INSERTED : SKF_EVENT_REMOVED);
        instant = dt < INSTANT_MS ? instant + 1 : 0;
        if (instant >= INSTANT_LIMIT) {
            fprintf(stderr, "ukeyd-skf-host: SKF_WaitForDevEvent returns at once; polling instead\n");
            return;
        }
        if (dt < MIN_GAP_MS)
            sleep_ms(MIN_GAP_MS - dt);
    }
}

static bool listed(const struct skf_names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return true;
    return false;
}

static void poll_for_events(void)
{
    struct skf_names prev = baseline;
    bool have_prev = have_baseline;

    for (;;) {
        struct skf_names now;

        if (skf_lib_list_devices(&lib, &now, NULL) == SKF_OK) {
            for (size_t i = 0; have_prev && i < now.n; i++)
                if (!listed(&prev, now.name[i]))
                    device_event(now.name[i], SKF_EVENT_INSERTED);
            for (size_t i = 0; have_prev && i < prev.n; i++)
                if (!listed(&now, prev.name[i]))
                    device_event(prev.name[i], SKF_EVENT_REMOVED);
            skf_names_free(&prev);
            prev = now;
            have_prev = true;
        }
        sleep_ms(lib.profile.poll_ms);
    }
}

static void *event_main(void *arg)
{
    (void)arg;
    if (lib.profile.events == SKF_EVENTS_WAIT && lib.fn.wait_for_dev_event)
        wait_for_events();
    poll_for_events();
    return NULL;
}

/* --- requests --------------------------------------------------------------------- */

struct request {
    const struct skf_frame *f;
    struct skf_wire_out *w;
    char dev[SKF_NAME_MAX + 1];
    char app[SKF_NAME_MAX + 1];
    char con[SKF_NAME_MAX + 1];
};

static void answer_status(struct skf_wire_out *w, skf_err e, uint32_t sar)
{
    skf_wire_u32(w, SKF_TAG_STATUS, e);
    if (sar != SAR_OK)
        skf_wire_u32(w, SKF_TAG_SAR, sar);
}

static void answer_names(struct skf_wire_out *w, skf_err e, uint32_t sar, struct skf_names *l)
{
    answer_status(w, e, sar);
    for (size_t i = 0; e == SKF_OK && i < l->n; i++)
        skf_wire_str(w, SKF_TAG_NAME, l->name[i]);
    skf_names_free(l);
}

/* Fetches the names a request must carry: device always, then app, con. */
static bool want_names(struct request *r, bool app, bool con)
{
    if (!skf_frame_str(r->f, SKF_TAG_DEVICE, r->dev, sizeof r->dev))
        return false;
    if (app && !skf_frame_str(r->f, SKF_TAG_APP, r->app, sizeof r->app))
        return false;
    return !con || skf_frame_str(r->f, SKF_TAG_CONTAINER, r->con, sizeof r->con);
}

static bool want_role(const struct skf_frame *f, enum skf_pin_role *role)
{
    uint32_t v;

    if (!skf_frame_u32(f, SKF_TAG_PIN_ROLE, &v) || (v != SKF_PIN_USER && v != SKF_PIN_ADMIN))
        return false;
    *role = (enum skf_pin_role)v;
    return true;
}

static void do_hello(struct request *r)
{
    struct skf_profile p = *skf_profile_standard();
    uint32_t bool_bits, ulong_bits, packed, swapped, global, mode, poll_ms;
    char why[128];

    if (load_err != SKF_OK) {
        answer_status(r->w, load_err, SAR_OK);
        skf_wire_str(r->w, SKF_TAG_DETAIL, load_why);
        return;
    }
    if (!skf_frame_u32(r->f, SKF_TAG_BOOL_BITS, &bool_bits) ||
        !skf_frame_u32(r->f, SKF_TAG_ULONG_BITS, &ulong_bits) ||
        !skf_frame_u32(r->f, SKF_TAG_DEVINFO_PACKED, &packed) ||
        !skf_frame_u32(r->f, SKF_TAG_PIN_SWAPPED, &swapped) ||
        !skf_frame_u32(r->f, SKF_TAG_GLOBAL_DEVICE, &global) ||
        !skf_frame_u32(r->f, SKF_TAG_EVENT_MODE, &mode) ||
        !skf_frame_u32(r->f, SKF_TAG_POLL_MS, &poll_ms)) {
        answer_status(r->w, SKF_E_INVALID_ARG, SAR_OK);
        return;
    }
    p.bool_bits = (uint8_t)bool_bits;
    p.ulong_bits = (uint8_t)ulong_bits;
    p.devinfo_packed = packed != 0;
    p.pin_types_swapped = swapped != 0;
    p.global_device = global != 0;
    p.events = (enum skf_event_mode)mode;
    p.poll_ms = poll_ms;
    if (bool_bits > UINT8_MAX || ulong_bits > UINT8_MAX || !skf_profile_valid(&p, why, sizeof why)) {
        answer_status(r->w, SKF_E_INVALID_ARG, SAR_OK);
        skf_wire_str(r->w, SKF_TAG_DETAIL, why);
        return;
    }
    skf_lib_set_profile(&lib, &p);
    hello_done = true;
    answer_status(r->w, SKF_OK, SAR_OK);
    skf_wire_u32(r->w, SKF_TAG_CAPS, lib.caps);
    skf_wire_u32(r->w, SKF_TAG_PID, (uint32_t)getpid());
}

static void do_list(struct request *r, unsigned op)
{
    struct skf_names l = { 0 };
    uint32_t sar = SAR_OK;
    skf_err e;

    if (op == SKF_OP_LIST_DEVICES)
        e = skf_lib_list_devices(&lib, &l, &sar);
    else if (!want_names(r, op == SKF_OP_LIST_CONTAINERS, false))
        e = SKF_E_INVALID_ARG;
    else if (op == SKF_OP_LIST_APPS)
        e = skf_lib_list_apps(&lib, r->dev, &l, &sar);
    else
        e = skf_lib_list_containers(&lib, r->dev, r->app, &l, &sar);
    answer_names(r->w, e, sar, &l);
}

static void do_device_info(struct request *r)
{
    struct skf_devinfo d;
    uint32_t sar = SAR_OK;
    skf_err e = want_names(r, false, false) ? skf_lib_device_info(&lib, r->dev, &d, &sar)
                                            : SKF_E_INVALID_ARG;

    answer_status(r->w, e, sar);
    if (e != SKF_OK)
        return;
    skf_wire_str(r->w, SKF_TAG_MANUFACTURER, d.manufacturer);
    skf_wire_str(r->w, SKF_TAG_ISSUER, d.issuer);
    skf_wire_str(r->w, SKF_TAG_LABEL, d.label);
    skf_wire_str(r->w, SKF_TAG_SERIAL, d.serial);
    skf_wire_u32(r->w, SKF_TAG_VERSIONS, (uint32_t)d.version << 16 | d.hw_version);
    skf_wire_u32(r->w, SKF_TAG_FW_VERSION, d.fw_version);
    skf_wire_u32(r->w, SKF_TAG_ALG_SYM, d.alg_sym);
    skf_wire_u32(r->w, SKF_TAG_ALG_ASYM, d.alg_asym);
    skf_wire_u32(r->w, SKF_TAG_ALG_HASH, d.alg_hash);
    skf_wire_u32(r->w, SKF_TAG_TOTAL_SPACE, d.total_space);
    skf_wire_u32(r->w, SKF_TAG_FREE_SPACE, d.free_space);
}

static void do_container_type(struct request *r)
{
    uint32_t type = 0, sar = SAR_OK;
    skf_err e = want_names(r, true, true) ? skf_lib_container_type(&lib, r->dev, r->app, r->con, &type, &sar)
                                          : SKF_E_INVALID_ARG;

    answer_status(r->w, e, sar);
    if (e == SKF_OK)
        skf_wire_u32(r->w, SKF_TAG_CONTAINER_TYPE, type);
}

static void do_export_cert(struct request *r)
{
    uint32_t sign, sar = SAR_OK;
    uint8_t *der = NULL;
    size_t len = 0;
    skf_err e = SKF_E_INVALID_ARG;

    if (want_names(r, true, true) && skf_frame_u32(r->f, SKF_TAG_SIGN, &sign))
        e = skf_lib_export_cert(&lib, r->dev, r->app, r->con, sign != 0, &der, &len, &sar);
    answer_status(r->w, e, sar);
    if (e == SKF_OK)
        skf_wire_bytes(r->w, SKF_TAG_CERT, der, len);
    free(der);
}

static void do_pin_info(struct request *r)
{
    struct skf_pin_info info;
    enum skf_pin_role role;
    uint32_t sar = SAR_OK;
    skf_err e = SKF_E_INVALID_ARG;

    if (want_names(r, true, false) && want_role(r->f, &role))
        e = skf_lib_pin_info(&lib, r->dev, r->app, role, &info, &sar);
    answer_status(r->w, e, sar);
    if (e != SKF_OK)
        return;
    skf_wire_u32(r->w, SKF_TAG_TRIES_MAX, info.tries_max);
    skf_wire_u32(r->w, SKF_TAG_TRIES_LEFT, info.tries_left);
    skf_wire_u32(r->w, SKF_TAG_DEFAULT_PIN, info.default_pin);
}

static void answer_tries(struct skf_wire_out *w, skf_err e, uint32_t sar, uint32_t tries_left)
{
    answer_status(w, e, sar);
    if (e == SKF_E_PIN_INCORRECT || e == SKF_E_PIN_LOCKED)
        skf_wire_u32(w, SKF_TAG_TRIES_LEFT, tries_left);
}

/* VERIFY_PIN, CHANGE_PIN, UNBLOCK_PIN: the PINs live in `pin`/`new_pin` only
 * for the call, and are wiped before the answer is written. */
static void do_pin_op(struct request *r, unsigned op)
{
    char pin[SKF_PROFILE_PIN_LEN_LIMIT + 1], new_pin[SKF_PROFILE_PIN_LEN_LIMIT + 1];
    enum skf_pin_role role = SKF_PIN_ADMIN;
    uint32_t sar = SAR_OK, tries = 0;
    skf_err e = SKF_E_INVALID_ARG;
    bool ok = want_names(r, true, false) && (op == SKF_OP_UNBLOCK_PIN || want_role(r->f, &role)) &&
              skf_frame_str(r->f, SKF_TAG_PIN, pin, sizeof pin) &&
              (op == SKF_OP_VERIFY_PIN || skf_frame_str(r->f, SKF_TAG_NEW_PIN, new_pin, sizeof new_pin));

    if (ok && op == SKF_OP_VERIFY_PIN)
        e = skf_lib_verify_pin(&lib, r->dev, r->app, role, pin, &tries, &sar);
    else if (ok && op == SKF_OP_CHANGE_PIN)
        e = skf_lib_change_pin(&lib, r->dev, r->app, role, pin, new_pin, &tries, &sar);
    else if (ok)
        e = skf_lib_unblock_pin(&lib, r->dev, r->app, pin, new_pin, &tries, &sar);
    explicit_bzero(pin, sizeof pin);
    explicit_bzero(new_pin, sizeof new_pin);
    answer_tries(r->w, e, sar, tries);
}

static void do_clear_state(struct request *r)
{
    uint32_t sar = SAR_OK;
    skf_err e = want_names(r, true, false) ? skf_lib_clear_state(&lib, r->dev, r->app, &sar)
                                           : SKF_E_INVALID_ARG;

    answer_status(r->w, e, sar);
}

static void do_remote_request(struct request *r)
{
    uint8_t challenge[SKF_CHALLENGE_MAX];
    uint32_t len = 0, sar = SAR_OK;
    skf_err e = SKF_E_INVALID_ARG;

    if (want_names(r, true, false) && skf_frame_u32(r->f, SKF_TAG_LENGTH, &len) && len <= sizeof challenge)
        e = skf_lib_remote_unblock_request(&lib, r->dev, r->app, challenge, len, &sar);
    answer_status(r->w, e, sar);
    if (e == SKF_OK)
        skf_wire_bytes(r->w, SKF_TAG_BLOB, challenge, len);
}

static void do_remote_unblock(struct request *r)
{
    const struct skf_field *answer = skf_frame_get(r->f, SKF_TAG_BLOB);
    uint32_t sar = SAR_OK, tries = 0;
    skf_err e = SKF_E_INVALID_ARG;

    if (want_names(r, true, false) && answer)
        e = skf_lib_remote_unblock(&lib, r->dev, r->app, answer->val, answer->len, &tries, &sar);
    answer_tries(r->w, e, sar, tries);
}

static void do_watch(struct request *r)
{
    skf_err e = SKF_OK;

    if (!watching) {
        /* taken now, so that a change right after the answer is never lost,
         * whenever polling begins */
        have_baseline = skf_lib_list_devices(&lib, &baseline, NULL) == SKF_OK;
        if (pthread_create(&event_thread, NULL, event_main, NULL) == 0)
            watching = true;
        else
            e = SKF_E_NO_MEMORY;
    }
    answer_status(r->w, e, SAR_OK);
}

/* --- certificate writes: the PIN lives in `pin` only for the call --------------- */

static void answer_point(struct skf_wire_out *w, const uint8_t *x, const uint8_t *y)
{
    uint8_t point[2 * SKF_EC_COORD_LEN];

    memcpy(point, x, SKF_EC_COORD_LEN);
    memcpy(point + SKF_EC_COORD_LEN, y, SKF_EC_COORD_LEN);
    skf_wire_bytes(w, SKF_TAG_EC_POINT, point, sizeof point);
}

static void do_export_public_key(struct request *r)
{
    uint8_t x[SKF_EC_COORD_LEN], y[SKF_EC_COORD_LEN];
    uint32_t sar = SAR_OK, sign = 0;
    skf_err e = want_names(r, true, true) && skf_frame_u32(r->f, SKF_TAG_SIGN, &sign)
                    ? skf_lib_export_public_key(&lib, r->dev, r->app, r->con, sign != 0, x, y, &sar)
                    : SKF_E_INVALID_ARG;

    answer_status(r->w, e, sar);
    if (e == SKF_OK)
        answer_point(r->w, x, y);
}

/* GEN_SIGN_KEY, SIGN_DIGEST, IMPORT_CERT */
static void do_write_op(struct request *r, unsigned op)
{
    char pin[SKF_PROFILE_PIN_LEN_LIMIT + 1];
    uint8_t a[SKF_EC_COORD_LEN], b[SKF_EC_COORD_LEN];
    const struct skf_field *digest = skf_frame_get(r->f, SKF_TAG_DIGEST);
    const struct skf_field *cert = skf_frame_get(r->f, SKF_TAG_CERT);
    uint32_t sar = SAR_OK, tries = 0, sign = 0;
    skf_err e = SKF_E_INVALID_ARG;
    bool ok = want_names(r, true, true) && skf_frame_str(r->f, SKF_TAG_PIN, pin, sizeof pin);

    if (ok && op == SKF_OP_GEN_SIGN_KEY)
        e = skf_lib_gen_sign_key(&lib, r->dev, r->app, r->con, pin, a, b, &tries, &sar);
    else if (ok && op == SKF_OP_SIGN_DIGEST && digest)
        e = skf_lib_sign_digest(&lib, r->dev, r->app, r->con, pin, digest->val, digest->len, a,
                                b, &tries, &sar);
    else if (ok && op == SKF_OP_IMPORT_CERT && cert && skf_frame_u32(r->f, SKF_TAG_SIGN, &sign))
        e = skf_lib_import_cert(&lib, r->dev, r->app, r->con, pin, sign != 0, cert->val,
                                cert->len, &tries, &sar);
    explicit_bzero(pin, sizeof pin);
    answer_tries(r->w, e, sar, tries);
    if (e == SKF_OK && op == SKF_OP_GEN_SIGN_KEY)
        answer_point(r->w, a, b);
    else if (e == SKF_OK && op == SKF_OP_SIGN_DIGEST) {
        uint8_t sig[2 * SKF_EC_COORD_LEN];

        memcpy(sig, a, SKF_EC_COORD_LEN);
        memcpy(sig + SKF_EC_COORD_LEN, b, SKF_EC_COORD_LEN);
        skf_wire_bytes(r->w, SKF_TAG_SIGNATURE, sig, sizeof sig);
    }
}

/* ---- READ_DEVICE: a whole device in one round trip ---- */

/* What a READ_DEVICE answer keeps free for the fields written after the
 * certificates: APP, the PIN info (3), SEALS, RESUME and STATUS. */
#define READ_TAIL_FIELDS  7
#define READ_TAIL_BYTES   (READ_TAIL_FIELDS * (SKF_WIRE_FIELD_HEADER + 4) + SKF_WIRE_NAME_MAX)
#define CERT_ENTRY_FIELDS 3
#define DEVINFO_FIELDS    11

/* The answer being filled: fields counted, as the parser limits them. */
struct read_answer {
    struct skf_wire_out *w;
    size_t fields;
    uint32_t resume;          /* the slot to go on from; 0: nothing left */
    size_t certs;
};

/* Every answer holds at least one certificate besides its fixed fields, so
 * a sequence of answers always moves on. */
_Static_assert(SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN + DEVINFO_FIELDS * SKF_WIRE_FIELD_HEADER +
                   sizeof(((struct skf_devinfo *)0)->manufacturer) * 4 + 7 * 4 + READ_TAIL_BYTES +
                   CERT_ENTRY_FIELDS * SKF_WIRE_FIELD_HEADER + SKF_WIRE_NAME_MAX + 4 + SKF_WIRE_BYTES_MAX <=
                   SKF_WIRE_FRAME_MAX,
               "one certificate fits in every READ_DEVICE answer");
_Static_assert(DEVINFO_FIELDS + CERT_ENTRY_FIELDS + READ_TAIL_FIELDS <= SKF_WIRE_FIELDS_MAX,
               "one certificate fits in every READ_DEVICE answer's fields");

static void put_devinfo(struct read_answer *a, const struct skf_devinfo *d)
{
    struct skf_wire_out *w = a->w;

    skf_wire_str(w, SKF_TAG_MANUFACTURER, d->manufacturer);
    skf_wire_str(w, SKF_TAG_ISSUER, d->issuer);
    skf_wire_str(w, SKF_TAG_LABEL, d->label);
    skf_wire_str(w, SKF_TAG_SERIAL, d->serial);
    skf_wire_u32(w, SKF_TAG_VERSIONS, (uint32_t)d->version << 16 | d->hw_version);
    skf_wire_u32(w, SKF_TAG_FW_VERSION, d->fw_version);
    skf_wire_u32(w, SKF_TAG_ALG_SYM, d->alg_sym);
    skf_wire_u32(w, SKF_TAG_ALG_ASYM, d->alg_asym);
    skf_wire_u32(w, SKF_TAG_ALG_HASH, d->alg_hash);
    skf_wire_u32(w, SKF_TAG_TOTAL_SPACE, d->total_space);
    skf_wire_u32(w, SKF_TAG_FREE_SPACE, d->free_space);
    a->fields += DEVINFO_FIELDS;
}

static bool entry_fits(const struct read_answer *a, const char *con, size_t der_len)
{
    size_t bytes = CERT_ENTRY_FIELDS * SKF_WIRE_FIELD_HEADER + strlen(con) + 4 + der_len;

    return a->fields + CERT_ENTRY_FIELDS + READ_TAIL_FIELDS <= SKF_WIRE_FIELDS_MAX &&
           a->w->len + bytes + READ_TAIL_BYTES <= a->w->cap;
}

/* The certificate in `slot` of container `con`, if it has one and it fits;
 * else a->resume says where the next answer starts. */
static skf_err put_cert(struct read_answer *a, const char *dev, const char *app, const char *con,
                        uint32_t type, uint32_t slot, uint32_t *sar)
{
    bool sign = slot % 2 == 0;
    uint8_t *der = NULL;
    size_t len = 0;
    skf_err e = skf_lib_export_cert(&lib, dev, app, con, sign, &der, &len, sar);

    if (e == SKF_E_CERT_NOT_FOUND || e == SKF_E_CONTAINER_NOT_FOUND) {
        *sar = SAR_OK;
        return SKF_OK;      /* an empty slot: not an error, as for EXPORT_CERT's callers */
    }
    if (e == SKF_OK && !entry_fits(a, con, len))
        a->resume = slot;
    else if (e == SKF_OK) {
        skf_wire_str(a->w, SKF_TAG_ENTRY_CONTAINER, con);
        skf_wire_u32(a->w, SKF_TAG_ENTRY_TYPE, type);
        skf_wire_bytes(a->w, sign ? SKF_TAG_SIGN_CERT : SKF_TAG_ENC_CERT, der, len);
        a->fields += CERT_ENTRY_FIELDS;
        a->certs++;
    }
    free(der);
    return e;
}

/* The certificates of `app` from slot `from` on, as many as fit. */
static skf_err put_app_certs(struct read_answer *a, const char *dev, const char *app, uint32_t from,
                             uint32_t *sar)
{
    struct skf_names cons = { 0 };
    skf_err e = skf_lib_list_containers(&lib, dev, app, &cons, sar);

    for (size_t i = 0; e == SKF_OK && a->resume == 0 && i < cons.n && i < UINT32_MAX / 2; i++) {
        uint32_t type = 0, slot = (uint32_t)i * 2;

        if (slot + 1 < from)
            continue;
        e = skf_lib_container_type(&lib, dev, app, cons.name[i], &type, sar);
        for (; e == SKF_OK && a->resume == 0 && slot < (uint32_t)i * 2 + 2; slot++)
            if (slot >= from)
                e = put_cert(a, dev, app, cons.name[i], type, slot, sar);
    }
    skf_names_free(&cons);
    return e;
}

/* The PIN application: the first holding a certificate (its certificates
 * written), else the first. */
static skf_err put_pin_app(struct read_answer *a, const char *dev, char *app, size_t cap, uint32_t *sar)
{
    struct skf_names apps = { 0 };
    skf_err e = skf_lib_list_apps(&lib, dev, &apps, sar);

    if (e == SKF_OK && apps.n == 0)
        e = SKF_E_APP_NOT_FOUND;     /* a blank key: nothing to show, no PIN to check */
    for (size_t i = 0; e == SKF_OK && i < apps.n; i++) {
        e = put_app_certs(a, dev, apps.name[i], 0, sar);
        if (i == 0 || (e == SKF_OK && (a->certs > 0 || a->resume != 0)))
            snprintf(app, cap, "%s", apps.name[i]);
        if (a->certs > 0 || a->resume != 0)
            break;
    }
    skf_names_free(&apps);
    return e;
}

/* SEALS: how many of the application's files open as a seal. Counted here
 * rather than sent as file heads: one u32 fits every first answer beside
 * any certificate, where heads (up to SKF_NAMES_MAX of them) would need a
 * resume sequence of their own. Left out when the files cannot be read: a
 * key whose files cannot be read is still a key to use. */
static void put_seals(struct skf_wire_out *w, const char *dev, const char *app)
{
    static struct skf_file_heads heads;   /* too big for the stack of a small helper */
    uint32_t sar = SAR_OK, seals = 0;

    if (skf_lib_file_heads(&lib, dev, app, &heads, &sar) != SKF_OK)
        return;
    for (size_t i = 0; i < heads.n; i++)
        if (skf_seal_recognised(heads.head[i], heads.len[i]))
            seals++;
    skf_wire_u32(w, SKF_TAG_SEALS, seals);
}

static skf_err read_first(struct read_answer *a, struct request *r, uint32_t *sar)
{
    struct skf_devinfo d;
    struct skf_pin_info pi;
    skf_err e = skf_lib_device_info(&lib, r->dev, &d, sar);

    if (e == SKF_OK) {
        put_devinfo(a, &d);
        e = put_pin_app(a, r->dev, r->app, sizeof r->app, sar);
    }
    if (e == SKF_OK)
        e = skf_lib_pin_info(&lib, r->dev, r->app, SKF_PIN_USER, &pi, sar);
    if (e == SKF_OK) {
        skf_wire_str(a->w, SKF_TAG_APP, r->app);
        skf_wire_u32(a->w, SKF_TAG_TRIES_MAX, pi.tries_max);
        skf_wire_u32(a->w, SKF_TAG_TRIES_LEFT, pi.tries_left);
        skf_wire_u32(a->w, SKF_TAG_DEFAULT_PIN, pi.default_pin);
        put_seals(a->w, r->dev, r->app);
    }
    return e;
}

/* First answer: device info, APP, PIN info, SEALS, certificates. With
 * RESUME (and APP) in the request: only the certificates from that slot on. */
static void do_read_device(struct request *r)
{
    struct read_answer a = { .w = r->w };
    size_t start = r->w->len;
    uint32_t from = 0, sar = SAR_OK;
    bool resume = skf_frame_get(r->f, SKF_TAG_RESUME) != NULL;
    skf_err e = SKF_E_INVALID_ARG;

    if (!want_names(r, resume, false) || (resume && (!skf_frame_u32(r->f, SKF_TAG_RESUME, &from) || from == 0)))
        e = SKF_E_INVALID_ARG;
    else if (resume)
        e = put_app_certs(&a, r->dev, r->app, from, &sar);
    else
        e = read_first(&a, r, &sar);
    if (e != SKF_OK)
        r->w->len = start;       /* an error answers with its status alone */
    else if (a.resume != 0)
        skf_wire_u32(r->w, SKF_TAG_RESUME, a.resume);
    answer_status(r->w, e, sar);
}

static void dispatch(struct request *r, unsigned op)
{
    if (op != SKF_OP_HELLO && !hello_done) {
        answer_status(r->w, SKF_E_INVALID_ARG, SAR_OK);
        skf_wire_str(r->w, SKF_TAG_DETAIL, "HELLO first");
        return;
    }
    switch (op) {
    case SKF_OP_HELLO: do_hello(r); break;
    case SKF_OP_LIST_DEVICES:
    case SKF_OP_LIST_APPS:
    case SKF_OP_LIST_CONTAINERS: do_list(r, op); break;
    case SKF_OP_DEVICE_INFO: do_device_info(r); break;
    case SKF_OP_CONTAINER_TYPE: do_container_type(r); break;
    case SKF_OP_EXPORT_CERT: do_export_cert(r); break;
    case SKF_OP_PIN_INFO: do_pin_info(r); break;
    case SKF_OP_VERIFY_PIN:
    case SKF_OP_CHANGE_PIN:
    case SKF_OP_UNBLOCK_PIN: do_pin_op(r, op); break;
    case SKF_OP_CLEAR_STATE: do_clear_state(r); break;
    case SKF_OP_REMOTE_UNBLOCK_REQUEST: do_remote_request(r); break;
    case SKF_OP_REMOTE_UNBLOCK: do_remote_unblock(r); break;
    case SKF_OP_WATCH: do_watch(r); break;
    case SKF_OP_EXPORT_PUBLIC_KEY: do_export_public_key(r); break;
    case SKF_OP_GEN_SIGN_KEY:
    case SKF_OP_SIGN_DIGEST:
    case SKF_OP_IMPORT_CERT: do_write_op(r, op); break;
    case SKF_OP_READ_DEVICE: do_read_device(r); break;
    default: answer_status(r->w, SKF_E_INVALID_ARG, SAR_OK); break;
    }
}

static int serve(void)
{
    static struct skf_frame f;

    for (;;) {
        struct skf_wire_out w;
        struct request r = { .f = &f, .w = &w };
        size_t len = 0, n;
        int got = read_frame(CALL_FD, &len);

        if (got == 0)
            return 0;
        if (got < 0 || skf_wire_parse(in_buf, len, &f) != SKF_WIRE_OK || f.kind != SKF_KIND_REQUEST) {
            fprintf(stderr, "ukeyd-skf-host: a request that is not a frame; exiting\n");
            return 1;
        }
        skf_wire_begin(&w, out_buf, sizeof out_buf, SKF_KIND_RESPONSE, f.op, f.id);
        dispatch(&r, f.op);
        skf_wire_wipe(in_buf, len);
        if ((n = skf_wire_end(&w)) == 0) {
            /* the answer did not fit: say so rather than send half of it */
            skf_wire_begin(&w, out_buf, sizeof out_buf, SKF_KIND_RESPONSE, f.op, f.id);
            answer_status(&w, SKF_E_MALFORMED, SAR_OK);
            n = skf_wire_end(&w);
        }
        if (!write_all(CALL_FD, out_buf, n))
            return 0;
        skf_wire_wipe(out_buf, n);
        if (f.op == SKF_OP_HELLO && load_err != SKF_OK)
            return 1;
    }
}

static int check_library(const char *path)
{
    size_t n;
    skf_err e = skf_lib_open(&lib, path, load_why, sizeof load_why);

    if (e != SKF_OK) {
        printf("%s: %s\n", skf_err_name(e), load_why);
        return 1;
    }
    skf_lib_required_functions(&n);
    printf("ok: %s exports the %zu required functions", path, n);
    printf("; SKF_WaitForDevEvent %s; remote unblock extension %s\n",
           lib.caps & SKF_CAP_WAIT_FOR_DEV_EVENT ? "present" : "absent (events are polled)",
           lib.caps & SKF_CAP_REMOTE_UNBLOCK ? "present" : "absent");
    return 0;
}

/* --- no network: a seccomp filter ------------------------------------------------------ */

/* The filter's architecture: the one this program is built for, and only
 * where socket() and socketpair() are syscalls of their own (no socketcall
 * multiplexer, whose arguments sit in memory a filter cannot read) and the
 * first argument's low half comes first (little-endian). */
#if defined(__x86_64__) && !defined(__ILP32__)
#define FILTER_ARCH          AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FILTER_ARCH          AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64 && defined(AUDIT_ARCH_RISCV64)
#define FILTER_ARCH          AUDIT_ARCH_RISCV64
#endif

#ifdef FILTER_ARCH
/* x32 syscalls reach an x86_64 process with the same arch and this bit in
 * the number: a second door to socket() the filter closes. */
#ifdef __x86_64__
#define X32_SYSCALL_BIT      0x40000000u
#endif

#define DATA_ARCH            offsetof(struct seccomp_data, arch)
#define DATA_NR              offsetof(struct seccomp_data, nr)
#define DATA_ARG0_LOW        offsetof(struct seccomp_data, args[0])   /* little-endian */
#define DATA_ARG2_LOW        offsetof(struct seccomp_data, args[2])

#define ALLOW                SECCOMP_RET_ALLOW
#define DENY_NETWORK         (SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA))
#define DENY_AS_ABSENT       (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))

#define LOAD(off)            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RETURN(action)       BPF_STMT(BPF_RET | BPF_K, (action))
/* skip the next `n` instructions when the loaded word equals k */
#define SKIP_IF_EQ(k, n)     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (n), 0)
#define SKIP_UNLESS_EQ(k, n) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (n))
#define SKIP_UNLESS_GE(k, n) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), 0, (n))

/* socket() and socketpair() only for AF_UNIX (pcscd's socket, a library's own
 * pipes) and for the kernel's device announcements (AF_NETLINK with
 * NETLINK_KOBJECT_UEVENT: libusb and libudev watch for hotplug with it, and
 * libusb will not start without it); every other family fails with EACCES.
 * Syscalls of a foreign ABI (int 0x80 on x86_64, x32) and io_uring_setup
 * fail with ENOSYS, as if absent: a 64-bit library has no use for them, and
 * they would pass the filter by (io_uring opens sockets without socket()).
 * Every other syscall is allowed: libraries ioctl hidraw, usbfs and sg. */
static const struct sock_filter no_network[] = {
    LOAD(DATA_ARCH),
    SKIP_IF_EQ(FILTER_ARCH, 1),
    RETURN(DENY_AS_ABSENT),
    LOAD(DATA_NR),
#ifdef X32_SYSCALL_BIT
    SKIP_UNLESS_GE(X32_SYSCALL_BIT, 1),
    RETURN(DENY_AS_ABSENT),
#endif
#ifdef __NR_io_uring_setup
    SKIP_UNLESS_EQ(__NR_io_uring_setup, 1),
    RETURN(DENY_AS_ABSENT),
#endif
    SKIP_IF_EQ(__NR_socket, 2),
    SKIP_IF_EQ(__NR_socketpair, 1),
    RETURN(ALLOW),
    LOAD(DATA_ARG0_LOW),
    SKIP_IF_EQ(AF_UNIX, 4),
    SKIP_UNLESS_EQ(AF_NETLINK, 2),
    LOAD(DATA_ARG2_LOW),
    SKIP_IF_EQ(NETLINK_KOBJECT_UEVENT, 1),
    RETURN(DENY_NETWORK),
    RETURN(ALLOW),
};

/* prctl, not seccomp(2): ukeyd.service's SystemCallFilter=@system-service
 * leaves out the seccomp syscall but keeps prctl. prctl filters only the
 * calling thread, which is enough: the helper has no other thread yet, and
 * every thread it starts later inherits the filter. NO_NEW_PRIVS (set
 * before) is what lets an unprivileged process install one. */
static void deny_network(void)
{
    struct sock_fprog prog = {
        .len = sizeof no_network / sizeof no_network[0],
        .filter = (struct sock_filter *)no_network,
    };

    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        fprintf(stderr, "ukeyd-skf-host: no network filter (seccomp: %s); the library keeps the network\n",
                strerror(errno));
}
#else
/* An architecture the filter does not know: the helper still serves (a
 * vendor library is no less needed there), and says what it lacks. */
static void deny_network(void)
{
    fprintf(stderr, "ukeyd-skf-host: no network filter for this architecture; the library keeps the network\n");
}
#endif

/* What a process holding PINs and a closed library should not have. */
static void drop_privileges(void)
{
    struct rlimit no_core = { 0, 0 };

    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    setrlimit(RLIMIT_CORE, &no_core);     /* no core file with a PIN in it */
    close_range(FIRST_EXTRA_FD, ~0U, 0);
    deny_network();
}

static bool is_socket(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check") == 0)
        return check_library(argv[2]);
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ukeyd-skf-host LIBRARY (started by ukeyd)\n"
                        "       ukeyd-skf-host --check LIBRARY\n");
        return EXIT_USAGE;
    }
    if (!is_socket(CALL_FD) || !is_socket(EVENT_FD)) {
        fprintf(stderr, "ukeyd-skf-host: fds 3 and 4 must be ukeyd's sockets; use --check by hand\n");
        return EXIT_USAGE;
    }
    drop_privileges();
    load_err = skf_lib_open(&lib, argv[1], load_why, sizeof load_why);
    if (load_err != SKF_OK)
        fprintf(stderr, "ukeyd-skf-host: %s\n", load_why);
    /* _exit: a library's destructors must not run while the event thread may
     * still be inside it */
    if (serve() != 0)
        _exit(1);
    if (watching && lib.fn.cancel_wait_for_dev_event)
        lib.fn.cancel_wait_for_dev_event();
    _exit(0);
}
