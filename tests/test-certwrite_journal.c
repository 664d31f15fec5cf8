/* SPDX-License-Identifier: MIT */
/* Tests api/certwrite/certwrite_journal.c in a temporary directory: records of every
 * step written and read back with their public material, replaced and
 * removed; a pair's record (format 2) with its other half, and a single
 * one still written as format 1; torn, foreign and incomplete files left
 * alone; no PIN-shaped
 * member ever written; and the recovery rules (certwrite_plan) for every
 * step against what the card may hold after an interruption. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/certwrite/certwrite_journal.h"
#include "api/base/json.h"
#include "tests/tap.h"

#define PATH_TEXT_MAX 512
#define MODE_BITS     07777
#define ACTION_A      "act-0123456789abcdef0123456789abcdef"
#define ACTION_B      "act-fedcba9876543210fedcba9876543210"

static const uint8_t spki[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86 };
static const uint8_t csr[] = { 0x30, 0x82, 0x01, 0x10, 0x30, 0x81, 0xb7 };
static const uint8_t cert[] = { 0x30, 0x82, 0x02, 0x00, 0x30, 0x82, 0x01, 0xa5, 0xa0, 0x03 };
static const uint8_t enc_cert[] = { 0x30, 0x82, 0x02, 0x10, 0x30, 0x82, 0x01, 0xb5, 0xa0, 0x03 };

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n);

    if (copy)
        memcpy(copy, p, n);
    return copy;
}

static void sample(struct cert_record *r, const char *action_id, enum cert_step step,
                   enum ca_key_policy policy)
{
    *r = (struct cert_record){ .step = step };
    snprintf(r->token_id, sizeof r->token_id, "piv-fe7a4c07566b2b23c95cdfbab86046bd");
    snprintf(r->ca_url, sizeof r->ca_url, "http://127.0.0.1:17991");
    snprintf(r->action.id, sizeof r->action.id, "%s", action_id);
    snprintf(r->action.number, sizeof r->action.number, "C2026112101");
    snprintf(r->action.old_serial, sizeof r->action.old_serial, "184E831EDBC1E728");
    r->action.kind = policy == CA_KEY_NEW ? CA_KIND_RENEWAL : CA_KIND_CHANGE;
    r->action.slot = 0x9A;
    r->action.key_policy = policy;
    r->action.key_alg = TOKEN_KEY_SM2;
    r->action.mgmt_alg = TOKEN_MGMT_ALG_AES128;
    if (policy == CA_KEY_NEW && step >= CERT_STEP_SIGNED) {
        r->staged_spki = dup_bytes(spki, sizeof spki);
        r->staged_spki_len = sizeof spki;
        r->csr = dup_bytes(csr, sizeof csr);
        r->csr_len = sizeof csr;
    }
    if (step >= CERT_STEP_WRITING) {
        r->cert = dup_bytes(cert, sizeof cert);
        r->cert_len = sizeof cert;
        snprintf(r->serial, sizeof r->serial, "5A0B");
    }
}

static unsigned mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & MODE_BITS) : 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_TEXT_MAX];
    FILE *f;

    snprintf(path, sizeof path, "%s/cert/%s", dir, name);
    f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Whether the record's members (names) avoid anything that could hold a PIN. */
static bool no_pin_member(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, 0, &jerr), *value;
    const char *key;
    bool ok = v != NULL;

    json_object_foreach(v, key, value)
        if (strcasestr(key, "pin"))
            ok = false;
    json_decref(v);
    return ok;
}

static void test_round_trip(const char *dir, struct cert_journal *j)
{
    struct cert_record rec, *list = NULL;
    char path[PATH_TEXT_MAX];
    size_t n = 0;

    sample(&rec, ACTION_A, CERT_STEP_INSTALLING, CA_KEY_NEW);
    tap_ok(cert_journal_write(j, &rec) == 0, "write an `installing` record");
    snprintf(path, sizeof path, "%s/cert/" ACTION_A ".json", dir);
    tap_ok(mode_of(path) == 0600, "…file mode 0600 (%o)", mode_of(path));
    tap_ok(no_pin_member(path), "…no member that could hold a PIN");
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 1, "list finds it");
    if (n == 1) {
        tap_ok(list[0].step == CERT_STEP_INSTALLING && list[0].action.slot == 0x9A &&
               list[0].action.key_policy == CA_KEY_NEW &&
               list[0].action.key_alg == TOKEN_KEY_SM2 &&
               list[0].action.mgmt_alg == TOKEN_MGMT_ALG_AES128 &&
               strcmp(list[0].action.number, "C2026112101") == 0 &&
               strcmp(list[0].action.old_serial, "184E831EDBC1E728") == 0,
               "…step and action read back");
        tap_ok(list[0].cert_len == sizeof cert && memcmp(list[0].cert, cert, sizeof cert) == 0 &&
               list[0].csr_len == sizeof csr && memcmp(list[0].csr, csr, sizeof csr) == 0 &&
               list[0].staged_spki_len == sizeof spki &&
               memcmp(list[0].staged_spki, spki, sizeof spki) == 0 &&
               strcmp(list[0].serial, "5A0B") == 0,
               "…certificate, CSR, staged key and serial read back byte for byte");
        tap_ok(cert_record_slot_has_new(&list[0]), "…the slot should hold the new certificate");
    }
    cert_records_free(list, n);
    cert_record_clear(&rec);

    sample(&rec, ACTION_A, CERT_STEP_CONFIRMING, CA_KEY_NEW);
    tap_ok(cert_journal_write(j, &rec) == 0, "replace it with `confirming`");
    cert_record_clear(&rec);
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 1 && list[0].step == CERT_STEP_CONFIRMING,
           "…one record, the new step");
    cert_records_free(list, n);

    sample(&rec, ACTION_B, CERT_STEP_GENERATING, CA_KEY_NEW);
    tap_ok(cert_journal_write(j, &rec) == 0, "a second action's `generating` record");
    tap_ok(!cert_record_slot_has_new(&rec), "…the slot should still hold the old certificate");
    cert_record_clear(&rec);
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 2, "list finds both");
    cert_records_free(list, n);
    tap_ok(cert_journal_remove(j, ACTION_A) == 0 && cert_journal_remove(j, ACTION_B) == 0,
           "remove both");
    tap_ok(cert_journal_remove(j, ACTION_A) == 0, "removing what is gone is fine");
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 0, "the journal is empty");
    free(list);
}

/* The record's "format" member, or -1. */
static int format_of(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, 0, &jerr);
    int format = v ? (int)json_integer_value(json_object_get(v, "format")) : -1;

    json_decref(v);
    return format;
}

/* A format 2 record of ACTION_B, its "partners" member given. */
#define PAIR_RECORD(partners)                                                                   \
    "{\"format\":2,\"step\":\"writing\",\"tokenId\":\"piv-x\","                               \
    "\"caUrl\":\"http://127.0.0.1:1\","                                                      \
    "\"actionId\":\"" ACTION_B "\",\"number\":\"C2026112101\",\"kind\":\"change\","            \
    "\"slot\":\"9a\",\"keyPolicy\":\"keep\",\"keyAlgorithm\":\"SM2\","                       \
    "\"managementKeyAlgorithm\":\"AES-128\",\"oldSerial\":null,"                                 \
    "\"certificate\":\"MIICAA==\",\"serial\":\"5A0B\",\"partners\":" partners "}"

static void add_enc_partner(struct cert_record *rec)
{
    rec->partners[0] = (struct cert_partner){ .slot = 0x9D,
                                              .cert = dup_bytes(enc_cert, sizeof enc_cert),
                                              .cert_len = sizeof enc_cert };
    snprintf(rec->partners[0].cert_id, sizeof rec->partners[0].cert_id, "9d");
    snprintf(rec->partners[0].serial, sizeof rec->partners[0].serial, "6C1D");
    rec->n_partners = 1;
}

static bool holds_pair(const struct cert_record *r)
{
    const struct cert_partner *p = &r->partners[0];

    return r->n_partners == 1 && p->slot == 0x9D && strcmp(p->cert_id, "9d") == 0 &&
           p->cert_len == sizeof enc_cert &&
           memcmp(p->cert, enc_cert, sizeof enc_cert) == 0 && strcmp(p->serial, "6C1D") == 0 &&
           r->cert_len == sizeof cert && strcmp(r->serial, "5A0B") == 0;
}

static void test_pair(const char *dir, struct cert_journal *j)
{
    struct cert_record rec, *list = NULL;
    char path[PATH_TEXT_MAX];
    size_t n = 0;

    sample(&rec, ACTION_A, CERT_STEP_WRITING, CA_KEY_KEEP);
    snprintf(path, sizeof path, "%s/cert/%s.json", dir, ACTION_A);
    tap_ok(cert_journal_write(j, &rec) == 0 && format_of(path) == 1,
           "a single certificate's record is format 1 (a ukeyd of before pairs reads it)");
    add_enc_partner(&rec);
    tap_ok(cert_journal_write(j, &rec) == 0 && format_of(path) == 2,
           "a pair's record is format 2 (one of before leaves it alone, never finishes half)");
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 1, "list finds the pair's record");
    if (n == 1)
        tap_ok(holds_pair(&list[0]),
               "…with both certificates and serials, the action's own and 9d's");
    cert_records_free(list, n);
    cert_record_clear(&rec);

    write_file(dir, ACTION_B ".json", PAIR_RECORD("[{\"slot\":\"9d\",\"serial\":\"6C1D\"}]"));
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 1 &&
               strcmp(list[0].action.id, ACTION_A) == 0,
           "a pair's record whose other half has no certificate is not read");
    cert_records_free(list, n);
    write_file(dir, ACTION_B ".json",
               PAIR_RECORD("[{\"slot\":\"9a\",\"serial\":\"6C1D\",\"certificate\":\"MIICAA==\"}]"));
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 1,
           "…nor one whose other half is in the action's own slot");
    cert_records_free(list, n);
    tap_ok(cert_journal_remove(j, ACTION_A) == 0 && cert_journal_remove(j, ACTION_B) == 0,
           "remove both");
}

/* A format 2 record of ACTION_B for an SKF key's signing certificate. */
#define SKF_PAIR_RECORD(partners)                                                               \
    "{\"format\":2,\"step\":\"writing\",\"tokenId\":\"skf-x\","                               \
    "\"caUrl\":\"http://127.0.0.1:1\","                                                      \
    "\"actionId\":\"" ACTION_B "\",\"number\":\"C2026112101\",\"kind\":\"change\","            \
    "\"slot\":\"c1.sign\",\"keyPolicy\":\"keep\",\"keyAlgorithm\":\"SM2\","                  \
    "\"managementKeyAlgorithm\":\"AES-128\",\"oldSerial\":null,"                                 \
    "\"certificate\":\"MIICAA==\",\"serial\":\"5A0B\",\"partners\":" partners "}"

/* An SKF key's pair: its certificate ids, not PIV slots, on both halves. */
static void test_skf_pair(const char *dir, struct cert_journal *j)
{
    struct cert_record rec, *list = NULL;
    size_t n = 0;

    sample(&rec, ACTION_A, CERT_STEP_WRITING, CA_KEY_KEEP);
    tap_ok(ca_action_set_slot(&rec.action, "c1.sign"), "an SKF action names c1.sign");
    add_enc_partner(&rec);
    rec.partners[0].slot = 0;
    snprintf(rec.partners[0].cert_id, sizeof rec.partners[0].cert_id, "c1.enc");
    tap_ok(cert_journal_write(j, &rec) == 0 && cert_journal_list(j, &list, &n) == 0 && n == 1,
           "an SKF pair's record is written and read back");
    if (n == 1)
        tap_ok(list[0].action.slot == 0 && strcmp(list[0].action.cert_id, "c1.sign") == 0 &&
                   list[0].n_partners == 1 && list[0].partners[0].slot == 0 &&
                   strcmp(list[0].partners[0].cert_id, "c1.enc") == 0 &&
                   strcmp(list[0].partners[0].serial, "6C1D") == 0,
               "…the other half is c1.enc, by its id");
    cert_records_free(list, n);
    cert_record_clear(&rec);
    tap_ok(cert_journal_remove(j, ACTION_A) == 0, "remove it");

    write_file(dir, ACTION_B ".json", SKF_PAIR_RECORD(
        "[{\"slot\":\"9d\",\"serial\":\"6C1D\",\"certificate\":\"MIICAA==\"}]"));
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 0,
           "an SKF action whose other half is a PIV slot is not read");
    cert_records_free(list, n);
    write_file(dir, ACTION_B ".json", SKF_PAIR_RECORD(
        "[{\"slot\":\"c1.sign\",\"serial\":\"6C1D\",\"certificate\":\"MIICAA==\"}]"));
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 0,
           "…nor one whose other half is its own id");
    cert_records_free(list, n);
    tap_ok(cert_journal_remove(j, ACTION_B) == 0, "remove it");
}

static void test_refusals(const char *dir, struct cert_journal *j)
{
    struct cert_record rec, *list = NULL;
    char path[PATH_TEXT_MAX];
    size_t n = 0;
    int fd;

    sample(&rec, "../../etc/passwd", CERT_STEP_WRITING, CA_KEY_KEEP);
    tap_ok(cert_journal_write(j, &rec) < 0, "an action id that is a path is never a file name");
    cert_record_clear(&rec);

    /* A record cut short by a crash of the file system's writer (never by
     * ukeyd's rename), one of another format, one whose step lacks its
     * certificate, one under another action's name, and a temporary file. */
    sample(&rec, ACTION_A, CERT_STEP_WRITING, CA_KEY_KEEP);
    cert_journal_write(j, &rec);
    cert_record_clear(&rec);
    snprintf(path, sizeof path, "%s/cert/" ACTION_A ".json", dir);
    fd = open(path, O_WRONLY);
    tap_ok(fd >= 0 && ftruncate(fd, 40) == 0, "tear a record in half");
    if (fd >= 0)
        close(fd);
    write_file(dir, "act-11111111111111111111111111111111.json", "{\"format\": 99}");
    write_file(dir, "act-22222222222222222222222222222222.json",
               "{\"format\":1,\"step\":\"writing\",\"tokenId\":\"piv-x\",\"caUrl\":\"http://127.0.0.1:1\","
               "\"actionId\":\"act-22222222222222222222222222222222\",\"number\":\"C0000000001\","
               "\"kind\":\"change\",\"slot\":\"9a\",\"keyPolicy\":\"keep\",\"keyAlgorithm\":\"SM2\","
               "\"managementKeyAlgorithm\":\"3DES\",\"oldSerial\":null}");
    write_file(dir, "act-33333333333333333333333333333333.json",
               "{\"format\":1,\"step\":\"generating\",\"tokenId\":\"piv-x\",\"caUrl\":\"http://127.0.0.1:1\","
               "\"actionId\":\"act-44444444444444444444444444444444\",\"number\":\"C0000000001\","
               "\"kind\":\"renewal\",\"slot\":\"9a\",\"keyPolicy\":\"new\",\"keyAlgorithm\":\"SM2\","
               "\"managementKeyAlgorithm\":\"3DES\",\"oldSerial\":null}");
    write_file(dir, ".tmp-" ACTION_B ".json", "{}");
    tap_ok(cert_journal_list(j, &list, &n) == 0 && n == 0,
           "torn, foreign, incomplete, misnamed and temporary files are not records (%zu read)",
           n);
    cert_records_free(list, n);
    snprintf(path, sizeof path, "%s/cert/" ACTION_A ".json", dir);
    tap_ok(access(path, F_OK) == 0, "…and are left alone for a person to look at");

    sample(&rec, ACTION_A, CERT_STEP_WRITING, CA_KEY_KEEP);
    tap_ok(cert_journal_write(j, &rec) == 0 && cert_journal_list(j, &list, &n) == 0 && n == 1,
           "a new write replaces the torn record");
    cert_records_free(list, n);
    cert_record_clear(&rec);
}

/* --- the recovery rules -------------------------------------------------------- */

static const struct token_slot_state slot_old = { .has_key = true, .key_known = true,
                                                  .cert_present = true,
                                                  .cert_matches_key = true };
static const struct token_slot_state slot_new_key_old_cert = { .has_key = true,
                                                               .key_known = true,
                                                               .key_matches = true,
                                                               .cert_present = true };
static const struct token_slot_state slot_done = { .has_key = true, .key_known = true,
                                                   .key_matches = true, .cert_present = true,
                                                   .cert_is_given = true,
                                                   .cert_matches_key = true };
static const struct token_slot_state slot_erased = { .has_key = true, .key_known = true,
                                                     .key_matches = true };
static const struct token_slot_state unknown = { 0 };
static const struct token_slot_state staged_there = { .has_key = true, .key_known = true,
                                                      .key_matches = true };
static const struct token_slot_state staged_gone = { .key_known = true };

static void plan_is(enum cert_step step, enum ca_key_policy policy,
                    const struct token_slot_state *slot, const struct token_slot_state *staged,
                    enum cert_plan want, const char *what)
{
    struct cert_record rec;
    enum cert_plan got;

    sample(&rec, ACTION_A, step, policy);
    got = certwrite_plan(&rec, slot, staged);
    tap_ok(got == want, "%s: %s → %s (got %s)", cert_step_name(step), what, cert_plan_name(want),
           cert_plan_name(got));
    cert_record_clear(&rec);
}

static void test_plans(void)
{
    plan_is(CERT_STEP_GENERATING, CA_KEY_NEW, &slot_old, &unknown, CERT_PLAN_WAIT_FOR_USER,
            "no CSR yet, the slot untouched");
    plan_is(CERT_STEP_SIGNED, CA_KEY_NEW, &slot_old, &unknown, CERT_PLAN_ISSUE,
            "CSR held: issue without the PIN");
    plan_is(CERT_STEP_WRITING, CA_KEY_KEEP, &slot_old, &unknown, CERT_PLAN_WRITE,
            "old certificate still there");
    plan_is(CERT_STEP_WRITING, CA_KEY_KEEP, &slot_erased, &unknown, CERT_PLAN_WRITE,
            "certificate object empty");
    plan_is(CERT_STEP_WRITING, CA_KEY_KEEP, &slot_done, &unknown, CERT_PLAN_CONFIRM,
            "written before the interruption");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &slot_old, &staged_there, CERT_PLAN_INSTALL,
            "yanked before MOVE KEY");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &slot_new_key_old_cert, &staged_gone,
            CERT_PLAN_WRITE, "yanked between MOVE KEY and PUT DATA");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &slot_erased, &staged_gone, CERT_PLAN_WRITE,
            "moved, certificate object empty");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &slot_done, &staged_gone, CERT_PLAN_CONFIRM,
            "yanked after PUT DATA");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &unknown, &unknown, CERT_PLAN_INSTALL,
            "a card that cannot tell: install (refused if the staged key is not the certificate's)");
    plan_is(CERT_STEP_INSTALLING, CA_KEY_NEW, &slot_old, &staged_gone, CERT_PLAN_LOST,
            "new key on neither slot");
    plan_is(CERT_STEP_CONFIRMING, CA_KEY_NEW, &slot_done, &unknown, CERT_PLAN_CONFIRM,
            "only the CA is left to tell");
}

int main(void)
{
    char dir[] = "/tmp/ukeyd-test-certjournal.XXXXXX", path[PATH_TEXT_MAX], why[256];
    struct cert_journal *j = NULL;

    json_wipe_install();
    if (!mkdtemp(dir))
        tap_skip_all("no temporary directory");
    tap_ok(cert_journal_open(dir, &j, why, sizeof why) == 0, "open creates STATE/cert");
    snprintf(path, sizeof path, "%s/cert", dir);
    tap_ok(mode_of(path) == 0700, "…mode 0700 (%o)", mode_of(path));
    if (j) {
        test_round_trip(dir, j);
        test_pair(dir, j);
        test_skf_pair(dir, j);
        test_refusals(dir, j);
    }
    cert_journal_close(j);
    test_plans();
    tap_ok(cert_journal_open("/proc/self/nonexistent/x", &j, why, sizeof why) < 0 && why[0],
           "an unusable state directory is refused with a reason");
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}
