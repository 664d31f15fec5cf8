/* SPDX-License-Identifier: MIT */
/*
 * token/skf/host.h — the supervisor, in ukeyd's process, of one helper
 * process (ukeyd-skf-host) holding one vendor SKF library.
 *
 * Why a process: vendor libraries are closed, keep global state, block in
 * SKF_WaitForDevEvent and some crash. Here a crash, a hang past the call's
 * deadline, or a frame that does not parse costs the call a clean skf_err
 * (HELPER_DIED, HELPER_TIMEOUT, HELPER_GARBAGE): the helper is killed
 * (SIGKILL) and reaped, and the next call starts a fresh one — at once after
 * a first failure, then after a doubling backoff (HELPER_BACKOFF meanwhile)
 * until a call succeeds. No call ever waits longer than its deadline plus
 * the time to kill.
 *
 * Calls are serialised: one at a time per library, from any thread. Device
 * events arrive on a thread of the supervisor's own and go to on_event; that
 * callback must not call skf_host_* (hand the event to another thread), as a
 * call may be waiting for the event thread to end. HELPER_LOST says the
 * helper went away: events may have been missed, enumerate again.
 *
 * Every call names its device, application and container: the helper keeps
 * no state a restart could lose, except that a verified PIN never survives a
 * PIN operation (it clears the secure state whatever the outcome). PINs are
 * checked against the profile's policy before they leave this process, and
 * the frames that carried them are wiped.
 */
#ifndef UKEYD_TOKEN_SKF_HOST_H
#define UKEYD_TOKEN_SKF_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "token/skf/profile.h"
#include "token/skf/status.h"
#include "token/skf/wire.h"

/* Deadlines, milliseconds, when the options leave them 0. */
#define SKF_HOST_START_MS        5000    /* spawn, dlopen, HELLO */
#define SKF_HOST_READ_MS         8000    /* lists, device info, certificates, PIN info */
#define SKF_HOST_PIN_MS          15000   /* verify, change, unblock, remote unblock */
#define SKF_HOST_BACKOFF_FIRST_MS 500    /* after a second failure in a row */
#define SKF_HOST_BACKOFF_MAX_MS  30000

struct skf_host;

enum skf_host_event_kind {
    SKF_HOST_EVENT_INSERTED = 1,
    SKF_HOST_EVENT_REMOVED = 2,
    SKF_HOST_EVENT_HELPER_LOST = 3,   /* device is NULL */
};

struct skf_host_event {
    enum skf_host_event_kind kind;
    const char *device;
};

struct skf_host_options {
    const char *helper_path;          /* the ukeyd-skf-host program */
    const char *library_path;         /* the vendor's library, as dlopen takes it */
    const struct skf_profile *profile;  /* NULL: skf_profile_standard() */
    unsigned start_ms, read_ms, pin_ms; /* deadlines; 0: the defaults above */
    unsigned backoff_first_ms, backoff_max_ms;
    /* device events; NULL: the helper is not asked to watch */
    void (*on_event)(void *userdata, const struct skf_host_event *ev);
    void *event_userdata;
    /* one line per fault or restart (syslog priorities); never a secret */
    void (*log)(void *userdata, int priority, const char *msg);
    void *log_userdata;
};

/* Starts the helper and greets it. On failure nothing is left running, *out
 * is NULL and `why` says what (a library that does not load, or the name of
 * the required function it lacks). */
skf_err skf_host_start(const struct skf_host_options *o, struct skf_host **out,
                       char *why, size_t why_len);

/* Ends the helper (EOF, then SIGKILL after a grace period), reaps it, frees. */
void skf_host_stop(struct skf_host *h);

/* SKF_CAP_* (wire.h) of the library, as the last HELLO said. */
uint32_t skf_host_caps(struct skf_host *h);

/* The running helper's pid, or 0 (for diagnostics and tests). */
pid_t skf_host_pid(struct skf_host *h);

struct skf_name_list {
    size_t n;
    char **name;
};

void skf_name_list_free(struct skf_name_list *l);

skf_err skf_host_list_devices(struct skf_host *h, struct skf_name_list *out);
skf_err skf_host_device_info(struct skf_host *h, const char *dev, struct skf_devinfo *out);
skf_err skf_host_list_apps(struct skf_host *h, const char *dev, struct skf_name_list *out);
skf_err skf_host_list_containers(struct skf_host *h, const char *dev, const char *app,
                                 struct skf_name_list *out);
skf_err skf_host_container_type(struct skf_host *h, const char *dev, const char *app,
                                const char *con, uint32_t *type);
/* `sign`: the signing certificate, else the encryption one. *der is malloc'd. */
skf_err skf_host_export_cert(struct skf_host *h, const char *dev, const char *app,
                             const char *con, bool sign, uint8_t **der, size_t *len);
skf_err skf_host_pin_info(struct skf_host *h, const char *dev, const char *app,
                          enum skf_pin_role role, struct skf_pin_info *out);
/* On SKF_E_PIN_INCORRECT or SKF_E_PIN_LOCKED, *tries_left is what the token
 * said (0xFFFFFFFF if it would not say). */
skf_err skf_host_verify_pin(struct skf_host *h, const char *dev, const char *app,
                            enum skf_pin_role role, const char *pin, uint32_t *tries_left);
skf_err skf_host_change_pin(struct skf_host *h, const char *dev, const char *app,
                            enum skf_pin_role role, const char *old_pin, const char *new_pin,
                            uint32_t *tries_left);
/* *tries_left: the admin PIN's. */
skf_err skf_host_unblock_pin(struct skf_host *h, const char *dev, const char *app,
                             const char *admin_pin, const char *new_pin, uint32_t *tries_left);
skf_err skf_host_clear_state(struct skf_host *h, const char *dev, const char *app);
/* The vendor remote-unblock extension; SKF_E_NOT_SUPPORTED without it. */
skf_err skf_host_remote_unblock_request(struct skf_host *h, const char *dev, const char *app,
                                        uint8_t *challenge, size_t len);
skf_err skf_host_remote_unblock(struct skf_host *h, const char *dev, const char *app,
                                const uint8_t *answer, size_t len, uint32_t *tries_left);

/*
 * Certificate writes (SKF_CAP_CERT_WRITE of wire.h). Each that changes the
 * container carries the user PIN, which the helper verifies first and whose
 * secure state it clears afterwards; on SKF_E_PIN_INCORRECT or
 * SKF_E_PIN_LOCKED *tries_left is what the token said. Deadline: pin_ms.
 * Points and signatures: SKF_EC_COORD_LEN-byte numbers each (wire.h).
 */
skf_err skf_host_export_public_key(struct skf_host *h, const char *dev, const char *app,
                                   const char *con, bool sign,
                                   uint8_t point[2 * SKF_EC_COORD_LEN]);
skf_err skf_host_gen_sign_key(struct skf_host *h, const char *dev, const char *app,
                              const char *con, const char *pin,
                              uint8_t point[2 * SKF_EC_COORD_LEN], uint32_t *tries_left);
skf_err skf_host_sign_digest(struct skf_host *h, const char *dev, const char *app,
                             const char *con, const char *pin,
                             const uint8_t digest[SKF_SM3_LEN],
                             uint8_t signature[2 * SKF_EC_COORD_LEN], uint32_t *tries_left);
skf_err skf_host_import_cert(struct skf_host *h, const char *dev, const char *app,
                             const char *con, const char *pin, bool sign, const uint8_t *der,
                             size_t len, uint32_t *tries_left);

/*
 * A whole device in one round trip (SKF_OP_READ_DEVICE): its information,
 * the application its PIN is about (the first holding a certificate, else
 * the first), that application's user PIN and the certificates of its
 * containers, signing before encryption, in the library's order, and how
 * many of its files are electronic seals (token/skf/seal.h; counted by the
 * helper among the files that read without a PIN, unless the library cannot
 * list or read files or the read failed). When the
 * certificates do not fit in one frame the answer says where to go on and
 * more frames follow (docs/skf-helper.md); the whole sequence has read_ms.
 * A device without applications is SKF_E_APP_NOT_FOUND.
 */
struct skf_read_cert {
    char *container;
    uint32_t container_type;   /* 0 empty, 1 RSA, 2 ECC */
    bool sign;
    uint8_t *der;
    size_t len;
};

struct skf_device_read {
    struct skf_devinfo info;
    char *app;
    struct skf_pin_info pin;
    size_t n_certs;
    struct skf_read_cert *certs;
    bool seals_counted;
    uint32_t seals;
    unsigned frames;           /* answers it took (for tests and the bench) */
};

skf_err skf_host_read_device(struct skf_host *h, const char *dev, struct skf_device_read *out);
void skf_device_read_free(struct skf_device_read *r);

#endif
