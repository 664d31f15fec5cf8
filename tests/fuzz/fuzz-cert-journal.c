/* SPDX-License-Identifier: MIT */
/*
 * fuzz-cert-journal — certificate-write journal records as ukeyd reads them
 * back from disk at start-up (api/certwrite/certwrite_journal.c over
 * api/base/journal_dir.c): the input is the file STATE/cert/ACTION_ID.json, read
 * through cert_journal_list, unchanged.
 *
 * Properties (api/certwrite/certwrite_journal.h): a record handed on is for the action
 * its file names, every member in its form, and carries what its step needs
 * (a torn or foreign file is left alone, never half read); the public
 * material is no larger than its kind; written back with cert_journal_write
 * and read again, it is the same record.
 */
#include <fcntl.h>
#include <unistd.h>

#include "api/certwrite/certwrite_journal.h"
#include "tests/fuzz/fuzz.h"

#define ACTION_ID  "act-0123456789abcdef0123456789abcdef"
#define SPKI_MAX   1024
#define PATH_LEN   256

static struct cert_journal *journal;
static char state_dir[PATH_LEN], record_path[PATH_LEN];

/* At exit the directory is empty but for its cert/ (each input's record is removed). */
static void remove_state_dir(void)
{
    char sub[PATH_LEN];

    cert_journal_close(journal);
    snprintf(sub, sizeof sub, "%s/%s", state_dir, CERT_JOURNAL_SUBDIR);
    rmdir(sub);
    rmdir(state_dir);
}

/* A private state directory, on tmpfs when there is one (the journal fsyncs). */
static void setup(void)
{
    static char dir[] = "/dev/shm/ukeyd-fuzz-cert-journal.XXXXXX";
    static char tmp_dir[] = "/tmp/ukeyd-fuzz-cert-journal.XXXXXX";
    char why[PATH_LEN];
    const char *state;

    if (journal)
        return;
    fuzz_setup_once();
    state = mkdtemp(dir) ? dir : mkdtemp(tmp_dir);
    FUZZ_ASSERT(state != NULL);
    FUZZ_ASSERT(cert_journal_open(state, &journal, why, sizeof why) == 0);
    snprintf(state_dir, sizeof state_dir, "%s", state);
    atexit(remove_state_dir);
    snprintf(record_path, sizeof record_path, "%s/%s/%s.json", state, CERT_JOURNAL_SUBDIR,
             ACTION_ID);
}

static void put_file(const uint8_t *data, size_t size)
{
    int fd = open(record_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
}

static bool same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0) && !a == !b;
}

static void check_record(const struct cert_record *r)
{
    const struct ca_action *a = &r->action;
    bool is_new = a->key_policy == CA_KEY_NEW;
    struct ca_action again = { 0 };

    FUZZ_ASSERT((unsigned)r->step < CERT_STEP__COUNT);
    FUZZ_ASSERT(strcmp(a->id, ACTION_ID) == 0 && ca_action_number_valid(a->number));
    FUZZ_ASSERT(ca_action_kind_name(a->kind) && token_key_alg_name(a->key_alg) &&
                ca_mgmt_alg_name(a->mgmt_alg));
    /* A PIV slot or an SKF certificate id, and spelled again the same. */
    FUZZ_ASSERT(ca_action_set_slot(&again, ca_action_slot(a)) && again.slot == a->slot &&
                strcmp(ca_action_slot(&again), ca_action_slot(a)) == 0);
    FUZZ_ASSERT(a->key_policy == CA_KEY_KEEP || is_new);
    /* Every buffer is absent or holds something, within its kind's room. */
    FUZZ_ASSERT(!r->staged_spki == !r->staged_spki_len && r->staged_spki_len <= SPKI_MAX);
    FUZZ_ASSERT(!r->csr == !r->csr_len && r->csr_len <= CA_CSR_DER_MAX);
    FUZZ_ASSERT(!r->cert == !r->cert_len && r->cert_len <= CA_CERT_DER_MAX);
    /* What the step needs to be carried on (certwrite_journal.c's format comment). */
    if (r->step == CERT_STEP_GENERATING || r->step == CERT_STEP_SIGNED ||
        r->step == CERT_STEP_INSTALLING)
        FUZZ_ASSERT(is_new);
    if (r->step == CERT_STEP_WRITING)
        FUZZ_ASSERT(!is_new);
    if (r->step == CERT_STEP_SIGNED)
        FUZZ_ASSERT(r->staged_spki && r->csr);
    if (r->step >= CERT_STEP_WRITING)
        FUZZ_ASSERT(r->cert && r->serial[0]);
}

static void check_same(const struct cert_record *a, const struct cert_record *b)
{
    FUZZ_ASSERT(a->step == b->step && strcmp(a->token_id, b->token_id) == 0 &&
                strcmp(a->ca_url, b->ca_url) == 0 && strcmp(a->serial, b->serial) == 0);
    FUZZ_ASSERT(strcmp(a->action.id, b->action.id) == 0 &&
                strcmp(a->action.number, b->action.number) == 0 &&
                a->action.kind == b->action.kind && a->action.state == b->action.state &&
                a->action.slot == b->action.slot && a->action.key_policy == b->action.key_policy &&
                a->action.key_alg == b->action.key_alg &&
                a->action.mgmt_alg == b->action.mgmt_alg &&
                strcmp(a->action.old_serial, b->action.old_serial) == 0);
    FUZZ_ASSERT(same_bytes(a->staged_spki, a->staged_spki_len, b->staged_spki,
                           b->staged_spki_len));
    FUZZ_ASSERT(same_bytes(a->csr, a->csr_len, b->csr, b->csr_len));
    FUZZ_ASSERT(same_bytes(a->cert, a->cert_len, b->cert, b->cert_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cert_record *recs = NULL, *again = NULL;
    size_t n = 0, n_again = 0;

    setup();
    put_file(data, size);
    FUZZ_ASSERT(cert_journal_list(journal, &recs, &n) == 0);
    FUZZ_ASSERT(n <= 1);
    if (n == 1) {
        check_record(&recs[0]);
        FUZZ_ASSERT(cert_journal_write(journal, &recs[0]) == 0);
        FUZZ_ASSERT(cert_journal_list(journal, &again, &n_again) == 0 && n_again == 1);
        check_same(&recs[0], &again[0]);
    }
    cert_records_free(recs, n);
    cert_records_free(again, n_again);
    FUZZ_ASSERT(cert_journal_remove(journal, ACTION_ID) == 0);
    return 0;
}
