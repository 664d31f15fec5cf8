/* SPDX-License-Identifier: MIT */
/*
 * Tests for token/service.c through the whole token layer and the real parts:
 * pcscd (private), vsmartcard's vpcd reader driver, and two virtual PIV
 * tokens. What a user would notice: the certificates read right, the PIN
 * counter behaves like the card's, the layer never spends a last try by
 * itself, a pulled token or a restarted pcscd gives clean errors and is
 * recovered from without restarting the process.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/rig.h"
#include "tests/tap.h"
#include "token/pcsc/apdu.h"
#include "token/pcsc/pcsc.h"
#include "token/token.h"

#define PIN      "123456"
#define PUK      "12345678"
#define NEW_PIN  "654321"
#define NEW_PUK  "87654321"
#define WRONG    "000000"

static struct rig rig;

/* ---- event capture ---- */

#define MAX_EVENTS 256

static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    struct {
        enum token_event_kind kind;
        char token_id[80];
        int tries_left;
    } ev[MAX_EVENTS];
    size_t n;
} events = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0};

static void on_event(const struct token_event *ev, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&events.m);
    if (events.n < MAX_EVENTS) {
        events.ev[events.n].kind = ev->kind;
        snprintf(events.ev[events.n].token_id, sizeof(events.ev[0].token_id), "%s",
                 ev->token_id ? ev->token_id : "");
        events.ev[events.n].tries_left = ev->tries_left;
        events.n++;
    }
    pthread_cond_broadcast(&events.c);
    pthread_mutex_unlock(&events.m);
}

static size_t events_mark(void)
{
    size_t n;

    pthread_mutex_lock(&events.m);
    n = events.n;
    pthread_mutex_unlock(&events.m);
    return n;
}

/* Waits for an event of `kind` (for `id` when not NULL) after `mark`; -1 on timeout. */
static int wait_event(size_t mark, enum token_event_kind kind, const char *id, double timeout_s,
                      double *took)
{
    double start = rig_now();
    int found = -1;

    pthread_mutex_lock(&events.m);
    for (;;) {
        size_t i;

        for (i = mark; i < events.n && found < 0; i++)
            if (events.ev[i].kind == kind && (!id || strcmp(events.ev[i].token_id, id) == 0))
                found = (int)i;
        if (found >= 0 || rig_now() - start > timeout_s)
            break;
        {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&events.c, &events.m, &ts);
        }
    }
    pthread_mutex_unlock(&events.m);
    if (took)
        *took = rig_now() - start;
    return found;
}

/* ---- helpers ---- */

static struct token_snapshot *find_by_serial(struct token_service *svc, const char *serial)
{
    struct token_snapshot **list = NULL, *found = NULL;
    size_t n = 0, i;

    if (token_service_tokens(svc, &list, &n) != TOKEN_OK)
        return NULL;
    for (i = 0; i < n; i++)
        if (list[i]->serial && strcmp(list[i]->serial, serial) == 0)
            found = token_snapshot_ref(list[i]);
    token_snapshots_free(list, n);
    return found;
}

static const struct token_cert *cert_in_slot(const struct token_snapshot *s, uint8_t slot)
{
    size_t i;

    for (i = 0; i < s->n_certs; i++)
        if (s->certs[i].slot == slot)
            return &s->certs[i];
    return NULL;
}

/* The DER of a PEM the demo token was provisioned from equals what the layer read. */
static bool same_as_pem(const struct token_cert *c, const char *pem_name)
{
    char path[512];
    unsigned char *der = NULL;
    X509 *x = NULL;
    FILE *f;
    int len;
    bool same;

    snprintf(path, sizeof(path), "%s/demo/%s", rig.build, pem_name);
    f = fopen(path, "r");
    if (!f)
        return false;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x)
        return false;
    len = i2d_X509(x, &der);
    same = c && len > 0 && (size_t)len == c->der_len && memcmp(der, c->der, c->der_len) == 0;
    OPENSSL_free(der);
    X509_free(x);
    return same;
}

static int tries_now(struct token_service *svc, const char *id)
{
    struct token_pin_info pin;
    token_err err = token_service_pin_info(svc, id, &pin);

    if (err != TOKEN_OK) {
        tap_diag("reading the PIN state failed: %s", token_err_name(err));
        return -100;
    }
    return pin.blocked ? 0 : pin.tries_left;
}

/* ---- tests ---- */

static void test_listing(struct token_service *svc, char *sm2_id, char *rsa_id)
{
    struct token_status st;
    struct token_reader *readers = NULL;
    struct token_snapshot *sm2, *rsa;
    const struct token_cert *c;
    size_t n = 0;

    TAP_EQ_INT(token_service_status(svc, &st), TOKEN_OK, "status");
    tap_ok(st.pcsc_available, "pcscd reachable");
    TAP_EQ_INT(st.n_tokens, 2, "two tokens recognised");
    TAP_EQ_INT(token_service_readers(svc, &readers, &n), TOKEN_OK, "readers listed");
    tap_ok(n >= 2, "at least the two readers holding tokens (%zu)", n);
    token_readers_free(readers, n);

    sm2 = find_by_serial(svc, "10000001");
    rsa = find_by_serial(svc, "10000002");
    if (!tap_ok(sm2 && rsa, "both demo tokens found by serial"))
        goto out;
    snprintf(sm2_id, 80, "%s", sm2->id);
    snprintf(rsa_id, 80, "%s", rsa->id);
    tap_ok(strncmp(sm2->id, "piv-", 4) == 0 && strlen(sm2->id) == 4 + 32,
           "token id comes from the CHUID GUID (%s)", sm2->id);
    tap_ok(strcmp(sm2->id, rsa->id) != 0, "each token has its own id");
    TAP_EQ_STR(sm2->edge, "PIV", "card edge");
    TAP_EQ_STR(sm2->reader, rig.reader[0], "the SM2 token sits in the first rig reader");
    tap_ok(sm2->model && *sm2->model, "a model name (%s)", sm2->model ? sm2->model : "");
    TAP_EQ_INT(sm2->pin.tries_left, 3, "PIN tries left read without spending one");
    TAP_EQ_INT(sm2->pin.min_len, 6, "PIN policy minimum");
    TAP_EQ_INT(sm2->pin.max_len, 8, "PIN policy maximum");

    TAP_EQ_INT(sm2->n_certs, 2, "SM2 token holds two certificates (signing and encryption)");
    c = cert_in_slot(sm2, 0x9A);
    tap_ok(c && c->summary, "slot 9a read and summarised");
    if (c && c->summary) {
        TAP_EQ_STR(c->summary->subject.common_name, "演示专用", "Chinese owner name intact");
        TAP_EQ_STR(c->summary->key_algorithm, "SM2", "SM2 key recognised as SM2");
        TAP_EQ_STR(c->summary->signature_algorithm, "SM3withSM2", "SM3withSM2 signature");
    }
    tap_ok(same_as_pem(c, "sm2-9a.pem"), "slot 9a bytes equal the provisioned certificate");
    tap_ok(same_as_pem(cert_in_slot(sm2, 0x9D), "sm2-9d.pem"),
           "slot 9d bytes equal the provisioned certificate");

    TAP_EQ_INT(rsa->n_certs, 2, "second token holds two certificates");
    c = cert_in_slot(rsa, 0x9A);
    tap_ok(c && c->summary && strcmp(c->summary->key_algorithm, "RSA-2048") == 0,
           "slot 9a is RSA-2048");
    c = cert_in_slot(rsa, 0x9C);
    tap_ok(c && c->summary && strcmp(c->summary->key_algorithm, "EC P-256") == 0,
           "slot 9c is EC P-256");
    tap_ok(same_as_pem(cert_in_slot(rsa, 0x9A), "rsa-ec-9a.pem") &&
               same_as_pem(cert_in_slot(rsa, 0x9C), "rsa-ec-9c.pem"),
           "second token's certificates equal the provisioned ones");
out:
    token_snapshot_unref(sm2);
    token_snapshot_unref(rsa);
}

static void test_cache(struct token_service *svc)
{
    struct token_snapshot **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    unsigned long before, after;

    token_service_tokens(svc, &a, &na);
    rig_sh(&rig, "tests/rig/rig apdus '%s' 0 > '%s/apdus.before'", rig.dir, rig.dir);
    token_service_tokens(svc, &b, &nb);
    rig_sh(&rig, "tests/rig/rig apdus '%s' 0 > '%s/apdus.after'", rig.dir, rig.dir);
    {
        char p1[300], p2[300];
        FILE *f1, *f2;

        snprintf(p1, sizeof(p1), "%s/apdus.before", rig.dir);
        snprintf(p2, sizeof(p2), "%s/apdus.after", rig.dir);
        f1 = fopen(p1, "r");
        f2 = fopen(p2, "r");
        before = after = 0;
        if (f1 && f2 && fscanf(f1, "%lu", &before) == 1 && fscanf(f2, "%lu", &after) == 1)
            TAP_EQ_INT(after - before, 0, "listing tokens again sends no APDU to the card");
        else
            tap_ok(0, "APDU counter of the virtual token readable");
        if (f1)
            fclose(f1);
        if (f2)
            fclose(f2);
    }
    tap_ok(na == nb && na > 0 && a[0] == b[0], "the second listing is the cached snapshot");
    token_snapshots_free(a, na);
    token_snapshots_free(b, nb);
}

static void test_pin_counter(struct token_service *svc, const char *id)
{
    int tries = -1;
    size_t mark;

    TAP_EQ_INT(tries_now(svc, id), 3, "three tries at the start");
    TAP_EQ_INT(tries_now(svc, id), 3, "asking for the count costs no try");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK, "right PIN verifies");
    TAP_EQ_INT(tries, 3, "tries left after a right PIN");

    mark = events_mark();
    TAP_EQ_INT(token_service_verify_pin(svc, id, WRONG, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "wrong PIN refused");
    TAP_EQ_INT(tries, 2, "wrong PIN spends one try");
    tap_ok(wait_event(mark, TOKEN_EV_PIN_CHANGED, id, 1.0, NULL) >= 0,
           "pin-changed event after the wrong PIN");
    TAP_EQ_INT(tries_now(svc, id), 2, "the card agrees: two left");
    TAP_EQ_INT(token_service_verify_pin(svc, id, WRONG, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "second wrong PIN");
    TAP_EQ_INT(tries, 1, "one try left");

    TAP_EQ_INT(token_service_verify_pin(svc, id, WRONG, 0, &tries), TOKEN_E_PIN_LAST_TRY,
               "the last try is not spent without the caller's say-so");
    TAP_EQ_INT(tries_now(svc, id), 1, "and the card still has one try");
    TAP_EQ_INT(token_service_change_pin(svc, id, WRONG, NEW_PIN, 0, &tries), TOKEN_E_PIN_LAST_TRY,
               "nor by a PIN change");
    TAP_EQ_INT(token_service_verify_pin(svc, id, WRONG, TOKEN_PIN_ALLOW_LAST_TRY, &tries),
               TOKEN_E_PIN_BLOCKED, "the last try spent on request blocks the PIN");
    TAP_EQ_INT(tries, 0, "no tries left");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, TOKEN_PIN_ALLOW_LAST_TRY, &tries),
               TOKEN_E_PIN_BLOCKED, "a blocked PIN stays blocked for the right PIN too");

    TAP_EQ_INT(token_service_unblock_pin(svc, id, "11111111", NEW_PIN, &tries),
               TOKEN_E_PUK_INCORRECT, "wrong PUK refused");
    TAP_EQ_INT(tries, 2, "wrong PUK spends a PUK try");
    TAP_EQ_INT(token_service_unblock_pin(svc, id, PUK, NEW_PIN, &tries), TOKEN_OK,
               "unblock with the PUK and a new PIN");
    TAP_EQ_INT(tries_now(svc, id), 3, "the PIN counter is back to three");
    TAP_EQ_INT(token_service_verify_pin(svc, id, NEW_PIN, 0, &tries), TOKEN_OK,
               "the new PIN verifies");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "the old PIN does not");

    TAP_EQ_INT(token_service_change_pin(svc, id, NEW_PIN, PIN, 0, &tries), TOKEN_OK,
               "change the PIN back");
    TAP_EQ_INT(tries, 3, "a right old PIN resets the counter");
    TAP_EQ_INT(token_service_change_pin(svc, id, WRONG, NEW_PIN, 0, &tries),
               TOKEN_E_PIN_INCORRECT, "change with a wrong old PIN is refused");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "the PIN is unchanged after a refused change");

    TAP_EQ_INT(token_service_change_puk(svc, id, PUK, NEW_PUK, &tries), TOKEN_OK, "change the PUK");
    TAP_EQ_INT(token_service_change_puk(svc, id, PUK, NEW_PUK, &tries), TOKEN_E_PUK_INCORRECT,
               "the old PUK is gone");
    TAP_EQ_INT(token_service_change_puk(svc, id, NEW_PUK, PUK, &tries), TOKEN_OK,
               "the new PUK works (and changes it back)");
}

static void test_policy_before_card(struct token_service *svc, const char *id)
{
    static const struct {
        const char *pin, *why;
    } bad[] = {
        {"123", "too short"},
        {"123456789", "too long"},
        {"12345\n", "a control character"},
        {"", "empty"},
        {"\xe6\xbc\x94\xe7\xa4\xba\xe4\xb8\x93", "non-ASCII"},
    };
    int tries = -1;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        TAP_EQ_INT(token_service_verify_pin(svc, id, bad[i].pin, 0, &tries), TOKEN_E_PIN_POLICY,
                   bad[i].why);
    TAP_EQ_INT(token_service_change_pin(svc, id, PIN, "12", 0, &tries), TOKEN_E_PIN_POLICY,
               "a new PIN that breaks the policy");
    TAP_EQ_INT(tries_now(svc, id), 3, "policy errors never reach the card");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "and the PIN still verifies");
    TAP_EQ_INT(token_service_verify_pin(svc, "piv-nosuchtoken", PIN, 0, &tries),
               TOKEN_E_TOKEN_NOT_FOUND, "unknown token id");
}

/* A second PC/SC client on the card, as another program would be. */
struct other_client {
    struct pcsc_ctx *ctx;
    struct pcsc_card *card;
};

static bool other_connect(struct other_client *o, const char *reader)
{
    static const uint8_t aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};
    struct apdu select = {0x00, ISO_INS_SELECT, 0x04, 0x00, aid, sizeof(aid), APDU_LE_ANY};
    struct apdu_response rsp = {0};

    memset(o, 0, sizeof(*o));
    if (pcsc_ctx_open(&o->ctx) != TOKEN_OK || pcsc_card_connect(o->ctx, reader, &o->card) != TOKEN_OK)
        return false;
    apdu_transmit(pcsc_card_transport(o->card), &select, &rsp);
    apdu_response_clear(&rsp);
    return true;
}

static uint16_t other_send(struct other_client *o, uint8_t p1, const char *pin)
{
    uint8_t data[8];
    struct apdu cmd = {0x00, ISO_INS_VERIFY, p1, 0x80, data, pin ? 8 : 0, 0};
    struct apdu_response rsp = {0};
    uint16_t sw;

    memset(data, 0xFF, sizeof(data));
    if (pin)
        memcpy(data, pin, strlen(pin));
    if (!pin)
        cmd.data = NULL;
    apdu_transmit(pcsc_card_transport(o->card), &cmd, &rsp);
    sw = rsp.sw;
    apdu_response_clear(&rsp);
    return sw;
}

static void other_close(struct other_client *o)
{
    pcsc_card_free(o->card);
    pcsc_ctx_free(o->ctx);
}

/* The PUK's tries left, asked of the card by another client (GET METADATA, key reference 81). */
static int puk_tries_on_card(void)
{
    struct other_client o;
    struct apdu cmd = {0x00, 0xF7, 0x00, 0x81, NULL, 0, APDU_LE_ANY};
    struct apdu_response rsp = {0};
    int tries = -1;

    if (!other_connect(&o, rig.reader[0]))
        return -1;
    apdu_transmit(pcsc_card_transport(o.card), &cmd, &rsp);
    /* ... 06 02 <limit> <left> */
    for (size_t i = 0; rsp.sw == 0x9000 && i + 3 < rsp.len; i++)
        if (rsp.data[i] == 0x06 && rsp.data[i + 1] == 0x02)
            tries = rsp.data[i + 3];
    apdu_response_clear(&rsp);
    other_close(&o);
    return tries;
}

/* A PUK from the CA's record that the card refuses costs a try, never the last. */
static void test_unlock_secret_last_try(struct token_service *svc, const char *id)
{
    int tries = -1;

    TAP_EQ_INT(puk_tries_on_card(), 3, "the PUK has three tries");
    TAP_EQ_INT(token_service_unblock_pin(svc, id, "11111111", NEW_PIN, &tries),
               TOKEN_E_PUK_INCORRECT, "a wrong PUK is refused");
    TAP_EQ_INT(tries, 2, "…and spends a try");
    TAP_EQ_INT(token_service_change_puk(svc, id, "11111111", NEW_PUK, &tries),
               TOKEN_E_PUK_INCORRECT, "a wrong PUK again");
    TAP_EQ_INT(tries, 1, "…one try left");
    TAP_EQ_INT(token_service_unblock_pin(svc, id, "11111111", NEW_PIN, &tries),
               TOKEN_E_PUK_LAST_TRY, "the PUK's last try is never spent by an unblock");
    TAP_EQ_INT(tries, 1, "…which says one try is left");
    TAP_EQ_INT(token_service_change_puk(svc, id, "11111111", NEW_PUK, &tries),
               TOKEN_E_PUK_LAST_TRY, "…nor by a PUK change");
    TAP_EQ_INT(token_service_change_puk(svc, id, PUK, NEW_PUK, &tries), TOKEN_E_PUK_LAST_TRY,
               "…even with the right PUK: ukeyd cannot know it is right");
    TAP_EQ_INT(puk_tries_on_card(), 1, "the card still has its last PUK try");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "the PIN is untouched");

    TAP_EQ_INT(token_service_unblock_pin(svc, id, "1234", NEW_PIN, &tries), TOKEN_E_PUK_POLICY,
               "a PUK that breaks the PUK rules is the PUK's error, not the PIN's");
    TAP_EQ_INT(token_service_change_puk(svc, id, PUK, "123456789", &tries), TOKEN_E_PUK_POLICY,
               "…and so is a new PUK that does");
    TAP_EQ_INT(puk_tries_on_card(), 1, "policy refusals never reach the card");
}

/* The right PUK presented by another program restores the counter, as it
 * would at the CA's counter. */
static void restore_puk_counter(void)
{
    struct other_client o;
    uint8_t data[16];
    struct apdu cmd = {0x00, ISO_INS_CHANGE_REF_DATA, 0x00, 0x81, data, sizeof(data), 0};
    struct apdu_response rsp = {0};

    memset(data, 0xFF, sizeof(data));
    memcpy(data, PUK, strlen(PUK));
    memcpy(data + 8, PUK, strlen(PUK));
    if (!other_connect(&o, rig.reader[0]))
        return;
    apdu_transmit(pcsc_card_transport(o.card), &cmd, &rsp);
    TAP_EQ_INT(rsp.sw, 0x9000, "the right PUK from another program restores the counter");
    apdu_response_clear(&rsp);
    other_close(&o);
}

/* Another program holds the card in a transaction: callers get TOKEN_BUSY in
 * time, and an attempt given up on never reaches the card afterwards. */
static void test_card_held_by_another_program(struct token_service *svc, const char *id)
{
    struct other_client o;
    double t0, took;
    int tries = -1;
    token_err err;

    if (!tap_ok(other_connect(&o, rig.reader[0]) && pcsc_card_begin(o.card) == TOKEN_OK,
                "another program takes the card in a transaction"))
        return;
    t0 = rig_now();
    err = token_service_verify_pin(svc, id, WRONG, 0, &tries);
    took = rig_now() - t0;
    TAP_EQ_INT(err, TOKEN_E_TOKEN_BUSY, "a PIN attempt meanwhile is refused as busy");
    tap_ok(took < 2.0, "after the configured wait, not for as long as the card is held (%.1f s)",
           took);
    t0 = rig_now();
    TAP_EQ_INT(token_service_verify_pin(svc, id, WRONG, 0, &tries), TOKEN_E_TOKEN_BUSY,
               "a second attempt is refused");
    tap_ok(rig_now() - t0 < 0.2, "at once, not queued behind the first");
    usleep(300 * 1000);
    pcsc_card_end(o.card, false);
    other_close(&o);
    usleep(300 * 1000);
    TAP_EQ_INT(tries_now(svc, id), 3,
               "the wrong PIN given up on was never sent once the card was free");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "operations work again once the card is free");
}

/* A read must not log out a program the user verified in (a browser's signer). */
static void test_reads_keep_others_logged_in(struct token_service *svc, const char *id)
{
    struct token_snapshot **list = NULL;
    struct token_pin_info pin;
    struct other_client o;
    size_t n = 0;

    if (!tap_ok(other_connect(&o, rig.reader[0]), "another program connects"))
        return;
    TAP_EQ_INT(other_send(&o, 0x00, PIN), 0x9000, "and verifies the PIN");
    TAP_EQ_INT(token_service_pin_info(svc, id, &pin), TOKEN_OK, "ukeyd reads the PIN state");
    token_service_tokens(svc, &list, &n);
    token_snapshots_free(list, n);
    TAP_EQ_INT(other_send(&o, 0x00, NULL), 0x9000,
               "the other program is still verified after ukeyd's reads");
    other_send(&o, 0xFF, NULL);
    other_close(&o);
}

/* After a verify, another process on the card must not find the PIN verified. */
static void test_security_status_reset(struct token_service *svc, const char *id)
{
    static const uint8_t aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08};
    struct apdu select = {0x00, ISO_INS_SELECT, 0x04, 0x00, aid, sizeof(aid), APDU_LE_ANY};
    struct apdu status = {0x00, ISO_INS_VERIFY, 0x00, 0x80, NULL, 0, 0};
    struct apdu_response rsp = {0};
    struct pcsc_ctx *ctx = NULL;
    struct pcsc_card *card = NULL;
    int tries;

    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK, "verify");
    if (!tap_ok(pcsc_ctx_open(&ctx) == TOKEN_OK &&
                    pcsc_card_connect(ctx, rig.reader[0], &card) == TOKEN_OK,
                "a second PC/SC client connects"))
        goto out;
    apdu_transmit(pcsc_card_transport(card), &select, &rsp);
    apdu_response_clear(&rsp);
    apdu_transmit(pcsc_card_transport(card), &status, &rsp);
    tap_ok(rsp.sw == 0x63C3, "it finds the PIN not verified (SW %04X)", rsp.sw);
    apdu_response_clear(&rsp);
out:
    pcsc_card_free(card);
    pcsc_ctx_free(ctx);
}

static void test_remove_insert(struct token_service *svc, const char *id)
{
    struct token_snapshot *s = NULL;
    struct token_status st;
    double took = 0;
    size_t mark;
    int tries;

    mark = events_mark();
    rig_do(&rig, "remove", 0);
    tap_ok(wait_event(mark, TOKEN_EV_TOKEN_REMOVED, id, 2.0, &took) >= 0,
           "token-removed event (%.0f ms after pcscd saw it)", took * 1000);
    token_service_status(svc, &st);
    TAP_EQ_INT(st.n_tokens, 1, "one token left");
    TAP_EQ_INT(token_service_get(svc, id, &s), TOKEN_E_TOKEN_NOT_FOUND, "the removed token is gone");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_E_TOKEN_NOT_FOUND,
               "a PIN operation on it says so");

    mark = events_mark();
    rig_do(&rig, "insert", 0);
    tap_ok(wait_event(mark, TOKEN_EV_TOKEN_INSERTED, id, 2.0, &took) >= 0,
           "token-inserted event with the same id (%.0f ms)", took * 1000);
    TAP_EQ_INT(token_service_get(svc, id, &s), TOKEN_OK, "the token is back");
    token_snapshot_unref(s);
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "and its PIN still verifies");
}

/* The card goes while the layer still believes it is there. */
static void test_removed_before_monitor_knows(struct token_service *svc, const char *id)
{
    int tries = -1;
    token_err err;
    size_t mark = events_mark();

    /* SIGUSR1 pulls the virtual card at once; pcscd notices ~0.4 s later */
    rig_sh(&rig, "pkill -USR1 -f -- '--state %s'", rig.state[0]);
    err = token_service_verify_pin(svc, id, PIN, 0, &tries);
    tap_ok(err == TOKEN_E_TOKEN_REMOVED || err == TOKEN_E_TOKEN_NOT_FOUND,
           "PIN operation on a just-pulled token fails cleanly (%s)", token_err_name(err));
    wait_event(mark, TOKEN_EV_TOKEN_REMOVED, id, 2.0, NULL);
    mark = events_mark();
    rig_do(&rig, "insert", 0);
    wait_event(mark, TOKEN_EV_TOKEN_INSERTED, id, 2.0, NULL);
    TAP_EQ_INT(tries_now(svc, id), 3, "no try was spent by the failed operation");
}

struct hammer {
    struct token_service *svc;
    const char *id;
    volatile bool stop;
    int ok, clean_errors, other;
    char other_name[64];
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;

    while (!h->stop) {
        int tries;
        struct token_pin_info pin;
        token_err err = token_service_verify_pin(h->svc, h->id, PIN, 0, &tries);

        if (err == TOKEN_OK)
            err = token_service_pin_info(h->svc, h->id, &pin);
        if (err == TOKEN_OK)
            h->ok++;
        else if (err == TOKEN_E_TOKEN_REMOVED || err == TOKEN_E_TOKEN_NOT_FOUND) {
            h->clean_errors++;
            usleep(5 * 1000);   /* a user would not retry faster either */
        }
        else {
            h->other++;
            snprintf(h->other_name, sizeof(h->other_name), "%s", token_err_name(err));
        }
    }
    return NULL;
}

static void test_yank_during_operations(struct token_service *svc, const char *id)
{
    struct hammer h = {svc, id, false, 0, 0, 0, ""};
    pthread_t t;
    int i;

    pthread_create(&t, NULL, hammer_main, &h);
    for (i = 0; i < 5; i++) {
        usleep(100 * 1000);
        rig_do(&rig, "remove", 0);
        usleep(50 * 1000);
        rig_do(&rig, "insert", 0);
    }
    usleep(300 * 1000);
    h.stop = true;
    pthread_join(t, NULL);
    tap_ok(h.ok > 0, "operations succeed between yanks (%d)", h.ok);
    tap_ok(h.other == 0, "every failure during yanks is TOKEN_REMOVED or TOKEN_NOT_FOUND "
           "(%d clean, %d other%s%s)", h.clean_errors, h.other, h.other ? ": " : "", h.other_name);
    TAP_EQ_INT(tries_now(svc, id), 3, "the PIN counter is intact after the yanks");
}

static void test_pcscd_restart(struct token_service *svc, const char *id)
{
    struct token_snapshot **list = NULL;
    struct token_status st;
    size_t mark, n = 0;
    double took = 0;
    int tries;

    mark = events_mark();
    rig_do(&rig, "stop-pcscd", -1);
    tap_ok(wait_event(mark, TOKEN_EV_PCSC_LOST, NULL, 3.0, NULL) >= 0, "pcsc-lost event");
    token_service_status(svc, &st);
    tap_ok(!st.pcsc_available, "status says pcscd is not reachable");
    TAP_EQ_INT(token_service_tokens(svc, &list, &n), TOKEN_E_PCSC_UNAVAILABLE,
               "listing tokens says PCSC_UNAVAILABLE");
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_E_PCSC_UNAVAILABLE,
               "a PIN operation says PCSC_UNAVAILABLE");

    mark = events_mark();
    rig_do(&rig, "start-pcscd", -1);
    tap_ok(wait_event(mark, TOKEN_EV_TOKEN_INSERTED, id, 5.0, &took) >= 0,
           "the token is seen again after pcscd is back (%.1f s)", took);
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "PIN operations work again without restarting the process");
}

/* ---- stopping while busy ---- */

#define STOP_ROUNDS       20
#define STOP_BUSY_MS      300
/* longer than the bounded wait stopping used to give card work (1 s) */
#define STOP_RELEASE_MS   1500

/* Threads of this process now; the service's own (monitor, card jobs) included. */
static int threads_running(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

struct busy {
    struct token_service *svc;
    const char *id;
    volatile bool stop;
    unsigned calls;
};

static void *busy_reads(void *arg)
{
    struct busy *b = arg;

    while (!b->stop) {
        struct token_snapshot **list = NULL, *s = NULL;
        size_t n = 0;

        if (token_service_tokens(b->svc, &list, &n) == TOKEN_OK)
            token_snapshots_free(list, n);
        if (token_service_get(b->svc, b->id, &s) == TOKEN_OK)
            token_snapshot_unref(s);
        b->calls++;
        usleep(1000);   /* busy as a portal polling, not spinning */
    }
    return NULL;
}

static void *busy_pins(void *arg)
{
    struct busy *b = arg;

    while (!b->stop) {
        struct token_pin_info pin;
        int tries;

        token_service_verify_pin(b->svc, b->id, PIN, 0, &tries);
        token_service_pin_info(b->svc, b->id, &pin);
        b->calls++;
        usleep(1000);
    }
    return NULL;
}

static void *restart_pcscd(void *arg)
{
    (void)arg;
    rig_do(&rig, "restart-pcscd", -1);
    return NULL;
}

struct stopper {
    struct token_service *svc;
    bool done;   /* atomic */
};

static void *stop_service(void *arg)
{
    struct stopper *st = arg;

    token_service_free(st->svc);
    __atomic_store_n(&st->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Threads of the process once the service is stopped, another program
 * holding the card until then or `STOP_RELEASE_MS` into the stop, whichever
 * comes later: pcscd answers a connect to a held card only when it is let go. */
static int threads_after_stop(struct token_service *svc, struct other_client *holder)
{
    struct stopper st = {svc, false};
    pthread_t t;
    int n;

    pthread_create(&t, NULL, stop_service, &st);
    if (holder) {
        usleep(STOP_RELEASE_MS * 1000);
        if (!__atomic_load_n(&st.done, __ATOMIC_ACQUIRE)) {
            pcsc_card_end(holder->card, false);
            other_close(holder);
            holder = NULL;
        }
    }
    pthread_join(t, NULL);
    n = threads_running();
    if (holder) {
        pcsc_card_end(holder->card, false);
        other_close(holder);
    }
    return n;
}

/*
 * Stops the service while reads and PIN operations are in flight, with either
 * another program holding the card (so an operation given up on still waits
 * for it) or pcscd restarting (so the monitor is reading the token again).
 * Every thread the service started must be gone when token_service_free
 * returns: one left behind is still inside pcsc-lite when the process exits
 * and the library frees its contexts under it. Under ASan any touch of freed
 * memory aborts the test.
 */
static void test_stop_while_busy(const struct token_service_config *cfg, const char *id)
{
    struct token_service *svc = NULL;
    int before = threads_running(), left_behind = 0, started = 0, held = 0, i;
    unsigned reads = 0, pins = 0;
    int tries = -1;

    for (i = 0; i < STOP_ROUNDS; i++) {
        struct busy r = {NULL, id, false, 0}, p = {NULL, id, false, 0};
        bool hold = i % 2 == 0;
        struct other_client o = {NULL, NULL};
        pthread_t tr, tp, restart;

        if (token_service_new(cfg, &svc) != TOKEN_OK)
            continue;
        started++;
        r.svc = p.svc = svc;
        if (hold && (!other_connect(&o, rig.reader[0]) || pcsc_card_begin(o.card) != TOKEN_OK)) {
            other_close(&o);
            token_service_free(svc);
            continue;
        }
        held += hold;
        pthread_create(&tr, NULL, busy_reads, &r);
        pthread_create(&tp, NULL, busy_pins, &p);
        if (!hold)
            pthread_create(&restart, NULL, restart_pcscd, NULL);
        usleep(STOP_BUSY_MS * 1000);
        r.stop = p.stop = true;
        pthread_join(tr, NULL);
        pthread_join(tp, NULL);
        if (hold) {
            left_behind += threads_after_stop(svc, &o) != before;
        } else {
            token_service_free(svc);
            pthread_join(restart, NULL);
            left_behind += threads_running() != before;
        }
        svc = NULL;
        reads += r.calls;
        pins += p.calls;
    }
    TAP_EQ_INT(started, STOP_ROUNDS, "the service starts every round");
    TAP_EQ_INT(held, STOP_ROUNDS / 2, "another program held the card in half of them");
    tap_ok(reads > 0 && pins > 0, "reads and PIN operations were in flight (%u, %u calls)",
           reads, pins);
    TAP_EQ_INT(left_behind, 0, "no thread of the service is left running once it is stopped");
    if (!tap_ok(token_service_new(cfg, &svc) == TOKEN_OK, "the service starts again"))
        return;
    TAP_EQ_INT(token_service_verify_pin(svc, id, PIN, 0, &tries), TOKEN_OK,
               "and PIN operations work");
    TAP_EQ_INT(tries_now(svc, id), 3, "the PIN counter is intact");
    token_service_free(svc);
}

static void on_log(void *ud, int prio, const char *token_id, const char *msg)
{
    (void)ud;
    tap_diag("log <%d> %s%s%s", prio, token_id ? token_id : "", token_id ? ": " : "", msg);
}

int main(void)
{
    static const char *const tokens[] = {"sm2", "rsa-ec"};
    struct token_service_config cfg = {.pin_pacing_ms = 0, .card_wait_ms = 800, .log = on_log};
    struct token_service *svc = NULL;
    char sm2_id[80] = "", rsa_id[80] = "";
    int i;

    if (rig_start(&rig, 2, tokens) != 0) {
        tap_ok(0, "the PC/SC rig starts");
        rig_stop(&rig);
        return tap_done();
    }
    if (!tap_ok(token_service_new(&cfg, &svc) == TOKEN_OK, "token service starts"))
        goto out;
    token_service_subscribe(svc, on_event, NULL);

    test_listing(svc, sm2_id, rsa_id);
    test_cache(svc);
    test_pin_counter(svc, sm2_id);
    test_policy_before_card(svc, rsa_id);
    test_unlock_secret_last_try(svc, sm2_id);
    restore_puk_counter();
    TAP_EQ_INT(puk_tries_on_card(), 3, "three PUK tries again");
    test_security_status_reset(svc, sm2_id);
    test_card_held_by_another_program(svc, sm2_id);
    test_reads_keep_others_logged_in(svc, sm2_id);
    test_remove_insert(svc, sm2_id);
    test_removed_before_monitor_knows(svc, sm2_id);
    test_yank_during_operations(svc, sm2_id);
    for (i = 0; i < 2; i++)
        test_pcscd_restart(svc, sm2_id);
    token_service_free(svc);
    svc = NULL;
    test_stop_while_busy(&cfg, sm2_id);
out:
    token_service_free(svc);
    rig_stop(&rig);
    return tap_done();
}
