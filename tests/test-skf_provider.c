/* SPDX-License-Identifier: MIT */
/*
 * test-skf_provider — SKF tokens through the token service (token/token.h),
 * as the API layer sees them: token/skf/provider.c over the real helper
 * process ($UKEYD_BUILD/ukeyd-skf-host) and the virtual SKF token
 * ($UKEYD_BUILD/vskf), beside a virtual PIV token in the PC/SC rig. What a
 * user would notice: the key's SM2 signing and encryption certificates with
 * their Chinese names, its model and the tries left, that the PIN is still
 * the factory's; wrong PINs down to the last try, never spent unless asked;
 * change, unblock with the admin PIN under the same guard the PUK has, the
 * challenge-response unblock; plug and unplug followed; two libraries at
 * once; a helper killed costs a clean error and the next call works; a
 * configured library that is missing is a clear log line and every other
 * token is still served; certificate writes by certificate id (a new SM2 key
 * in the container and its request, an import read back) under the PIN, a
 * wrong one costing one try and nothing else. No PIN reaches the log.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tests/rig.h"
#include "tests/tap.h"
#include "token/cert.h"
#include "token/token.h"

#define DEV_A        "VSKF-A"
#define DEV_B        "VSKF-B"
#define SERIAL_A     "SN-A 01"          /* a space: the token id encodes it */
#define ID_A         "skf-SN-A~2001"
#define SERIAL_B     "SN-B02"
#define ID_B         "skf-SN-B02"
#define LABEL        "测试钥匙"
#define CONTAINER    "容器 1"           /* not URL-safe: the certificate ids encode it */
#define CERT_SIGN_ID "~e5~ae~b9~e5~99~a8~201.sign"
#define CERT_ENC_ID  "~e5~ae~b9~e5~99~a8~201.enc"
#define USER_PIN     "123456"
#define ADMIN_PIN    "12345678"
#define NEW_PIN      "654321"
#define OTHER_PIN    "111111"
#define NEW_ADMIN    "87654321"
#define REMOTE_PIN   "246810"
#define WRONG_PIN    "000000"
#define WRONG_ADMIN  "00000000"
#define TRIES        3
#define CHALLENGE_LEN 16
#define WAIT_S       20     /* a bound on a hang, never a timing claim */
#define PATH_LEN     512
#define CMD_LEN      2048
#define LOG_MAX      256
#define LOG_LINE     400

static struct rig rig;
static char build[256], work[256], helper[PATH_LEN], vskf_cli[PATH_LEN], devdir[PATH_LEN];
static char lib_std[PATH_LEN], lib_bool64[PATH_LEN], lib_missing[PATH_LEN];

/* ---- commands ---- */

__attribute__((format(printf, 1, 2)))
static int run(const char *fmt, ...)
{
    char cmd[CMD_LEN];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `vskf show` of a device has a line `line`, e.g. "user-pin-tries: 1/3". */
static bool shows(const char *dev, const char *line)
{
    return run("'%s' show '%s' '%s' | grep -qF -- '%s'", vskf_cli, devdir, dev, line) == 0;
}

/* ---- the log and events ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static char logs[LOG_MAX][LOG_LINE];
static size_t n_logs;

static struct {
    enum token_event_kind kind;
    char id[80];
} evs[LOG_MAX];
static size_t n_evs;

static void on_log(void *ud, int prio, const char *token_id, const char *msg)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    if (n_logs < LOG_MAX)
        snprintf(logs[n_logs++], LOG_LINE, "<%d> %s%s%s", prio, token_id ? token_id : "",
                 token_id ? ": " : "", msg);
    pthread_mutex_unlock(&mu);
    tap_diag("log <%d> %s%s%s", prio, token_id ? token_id : "", token_id ? ": " : "", msg);
}

static bool logged(const char *a, const char *b)
{
    bool found = false;

    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_logs && !found; i++)
        found = strstr(logs[i], a) && (!b || strstr(logs[i], b));
    pthread_mutex_unlock(&mu);
    return found;
}

static size_t count_logged(const char *a)
{
    size_t n = 0;

    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_logs; i++)
        n += strstr(logs[i], a) != NULL;
    pthread_mutex_unlock(&mu);
    return n;
}

static void on_event(const struct token_event *ev, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    if (n_evs < LOG_MAX) {
        evs[n_evs].kind = ev->kind;
        snprintf(evs[n_evs].id, sizeof evs[n_evs].id, "%s", ev->token_id ? ev->token_id : "");
        n_evs++;
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
}

static size_t events_mark(void)
{
    size_t n;

    pthread_mutex_lock(&mu);
    n = n_evs;
    pthread_mutex_unlock(&mu);
    return n;
}

static bool wait_event(size_t mark, enum token_event_kind kind, const char *id)
{
    struct timespec until;
    bool found = false;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    pthread_mutex_lock(&mu);
    while (!found) {
        for (size_t i = mark; i < n_evs && !found; i++)
            found = evs[i].kind == kind && strcmp(evs[i].id, id) == 0;
        if (!found && pthread_cond_timedwait(&cond, &mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&mu);
    return found;
}

/* ---- helpers ---- */

static const struct token_cert *cert_by_id(const struct token_snapshot *s, const char *id)
{
    for (size_t i = 0; i < s->n_certs; i++)
        if (strcmp(s->certs[i].id, id) == 0)
            return &s->certs[i];
    return NULL;
}

static size_t count_edge(struct token_service *svc, const char *edge)
{
    struct token_snapshot **list = NULL;
    size_t n = 0, count = 0;

    if (token_service_tokens(svc, &list, &n) != TOKEN_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        count += strcmp(list[i]->edge, edge) == 0;
    token_snapshots_free(list, n);
    return count;
}

/* The helper processes of this test (children running `lib`). */
static pid_t helper_of(const char *lib)
{
    char path[64], cmd[1024];
    struct dirent *e;
    pid_t found = 0;
    DIR *d = opendir("/proc");

    while (d && !found && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        FILE *f;
        size_t n;
        int ppid = 0;

        if (pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        if (!(f = fopen(path, "r")))
            continue;
        if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) != 1)
            ppid = 0;
        fclose(f);
        if (ppid != getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
        if (!(f = fopen(path, "r")))
            continue;
        n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[n] = '\0';
        if (strstr(cmd, "ukeyd-skf-host") && strstr(cmd, lib))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

/* ---- the tests ---- */

static void test_libraries(void)
{
    tap_ok(logged("not loaded", lib_missing), "the missing library is a clear log line naming it");
    tap_ok(logged(lib_missing, "LIBRARY_LOAD"), "saying it did not load");
    tap_ok(logged(" loaded", lib_bool64), "the 64-bit-BOOL library loaded (profile gmssl)");
    tap_ok(logged(" loaded", lib_std), "the standard library loaded beside it");
    tap_ok(helper_of(lib_bool64) > 0 && helper_of(lib_std) > 0, "one helper process per library");
}

static void test_listing(struct token_service *svc, char *piv_id, size_t piv_id_len)
{
    struct token_snapshot *s = NULL, **list = NULL;
    const struct token_cert *sign, *enc;
    struct token_status st;
    size_t n = 0;

    TAP_EQ_INT(count_edge(svc, "SKF"), 1, "one SKF token listed, though two libraries see it");
    TAP_EQ_INT(count_edge(svc, "PIV"), 1, "and the PIV token beside it");
    if (token_service_tokens(svc, &list, &n) == TOKEN_OK)
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i]->edge, "PIV") == 0)
                snprintf(piv_id, piv_id_len, "%s", list[i]->id);
    token_snapshots_free(list, n);
    TAP_EQ_INT(token_service_status(svc, &st), TOKEN_OK, "status");
    TAP_EQ_INT(st.n_tokens, 2, "counts both tokens");

    if (!TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "the SKF token by its id " ID_A))
        return;
    TAP_EQ_STR(s->edge, "SKF", "speaks SKF");
    TAP_EQ_STR(s->model, LABEL, "model: the label, Chinese intact");
    TAP_EQ_STR(s->manufacturer ? s->manufacturer : "", "ukeyd virtual SKF", "manufacturer");
    TAP_EQ_STR(s->serial ? s->serial : "", SERIAL_A, "serial");
    TAP_EQ_STR(s->reader, DEV_A, "the library's device name");
    TAP_EQ_INT(s->caps & (TOKEN_CAP_UNLOCK_ADMIN_PIN | TOKEN_CAP_UNLOCK_REMOTE | TOKEN_CAP_UNLOCK_PUK |
                          TOKEN_CAP_CERT_WRITE),
               TOKEN_CAP_UNLOCK_ADMIN_PIN | TOKEN_CAP_UNLOCK_REMOTE | TOKEN_CAP_CERT_WRITE,
               "unlocks by admin PIN and by challenge-response, no PUK; writes (under its PIN)");
    TAP_EQ_INT(s->pin.tries_left, TRIES, "tries left");
    TAP_EQ_INT(s->pin.tries_max, TRIES, "tries at most");
    TAP_EQ_INT(s->pin.is_default, TOKEN_PIN_DEFAULT_YES, "the PIN is still the factory's");
    TAP_EQ_INT(s->pin.min_len, 6, "PIN policy from the profile: at least 6");
    TAP_EQ_INT(s->pin.max_len, 16, "at most 16");
    TAP_EQ_INT(s->n_certs, 2, "two certificates");
    sign = cert_by_id(s, CERT_SIGN_ID);
    enc = cert_by_id(s, CERT_ENC_ID);
    tap_ok(sign && enc, "ids <container>.sign / .enc, the name URL-encoded (%s)",
           s->n_certs ? s->certs[0].id : "none");
    if (sign && sign->summary) {
        TAP_EQ_STR(sign->summary->subject.common_name ? sign->summary->subject.common_name : "",
                   "测试用户", "signing certificate: owner's Chinese name intact");
        TAP_EQ_INT(sign->summary->key_type, CERT_KEY_SM2, "an SM2 key");
        TAP_EQ_STR(sign->slot_label, "SKF signing", "labelled signing");
    } else {
        tap_ok(0, "the signing certificate is summarised");
    }
    if (enc && enc->summary) {
        TAP_EQ_STR(enc->summary->subject.common_name ? enc->summary->subject.common_name : "",
                   "测试用户", "encryption certificate too");
        TAP_EQ_INT(enc->summary->key_type, CERT_KEY_SM2, "an SM2 key");
    } else {
        tap_ok(0, "the encryption certificate is summarised");
    }
    token_snapshot_unref(s);

    if (TAP_EQ_INT(token_service_get(svc, piv_id, &s), TOKEN_OK, "the PIV token by its id")) {
        TAP_EQ_STR(s->edge, "PIV", "speaks PIV");
        tap_ok(s->caps & TOKEN_CAP_UNLOCK_PUK, "unlocks by PUK");
        tap_ok(cert_by_id(s, "9a") != NULL, "its certificate ids are the slots, as before (9a)");
        TAP_EQ_INT(s->pin.is_default, TOKEN_PIN_DEFAULT_UNKNOWN, "PIV does not say whether the PIN is default");
        token_snapshot_unref(s);
    }
}

/* A certificate for the key `spki`, signed by a throwaway key: what a CA
 * issues, less the chain (the token checks no chain; ukeyd's API does). */
static bool cert_for(const uint8_t *spki, size_t len, long serial, uint8_t **der, size_t *der_len)
{
    const unsigned char *p = spki;
    EVP_PKEY *subject = d2i_PUBKEY(NULL, &p, (long)len);
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    unsigned char *out = NULL;
    int n = -1;

    if (subject && ca && x && X509_set_version(x, X509_VERSION_3) &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                   (const unsigned char *)"演示专用", -1, -1, 0) &&
        X509_set_issuer_name(x, X509_get_subject_name(x)) && X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, subject) &&
        X509_sign(x, ca, EVP_sha256()) > 0)
        n = i2d_X509(x, &out);
    if (n > 0 && (*der = malloc((size_t)n))) {
        memcpy(*der, out, (size_t)n);
        *der_len = (size_t)n;
    }
    OPENSSL_free(out);
    X509_free(x);
    EVP_PKEY_free(ca);
    EVP_PKEY_free(subject);
    return n > 0 && *der;
}

static void test_cert_writes(struct token_service *svc)
{
    struct token_snapshot *s = NULL;
    struct token_slot_state st;
    const struct token_cert *c;
    uint8_t *old_der = NULL, *key = NULL, *spki = NULL, *csr = NULL, *issued = NULL;
    size_t old_len = 0, key_len = 0, spki_len = 0, csr_len = 0, issued_len = 0, mark;
    bool same = false, replaced = true;
    int tries = -9;

    if (!TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "writes: the key's snapshot"))
        return;
    tap_ok(s->caps & TOKEN_CAP_CERT_WRITE, "writes: the key says it can be written to");
    c = cert_by_id(s, CERT_SIGN_ID);
    if (c && (old_der = malloc(c->der_len))) {
        memcpy(old_der, c->der, c->der_len);
        old_len = c->der_len;
    }
    token_snapshot_unref(s);
    if (!tap_ok(old_der != NULL, "writes: the signing certificate of container %s", CONTAINER))
        return;
    TAP_EQ_INT(token_service_cert_key(svc, ID_A, CERT_SIGN_ID, &key, &key_len), TOKEN_OK,
               "the container's signing key read by its certificate's id (escapes undone), no PIN");
    tap_ok(cert_key_matches_spki(old_der, old_len, key, key_len, &same) == TOKEN_OK && same,
           "…the key of the certificate there");
    free(key);
    key = NULL;
    TAP_EQ_INT(token_service_cert_key(svc, ID_A, "no-such-id", &key, &key_len), TOKEN_E_INVALID_ARG,
               "an id that names no certificate is refused");
    TAP_EQ_INT(token_service_new_key_csr(svc, ID_A, CERT_ENC_ID, USER_PIN, 0, TOKEN_KEY_SM2, NULL, 0,
                                         &spki, &spki_len, &csr, &csr_len, &tries, &replaced),
               TOKEN_E_NOT_SUPPORTED, "no new key for an encryption certificate (it comes enveloped)");
    tap_ok(!replaced, "…the key said untouched");
    TAP_EQ_INT(token_service_new_key_csr(svc, ID_A, CERT_SIGN_ID, USER_PIN, 0, TOKEN_KEY_EC_P256, NULL,
                                         0, &spki, &spki_len, &csr, &csr_len, &tries, &replaced),
               TOKEN_E_NOT_SUPPORTED, "…nor a key other than SM2");
    tap_ok(shows(DEV_A, "user-pin-tries: 3/3"), "…both refused before the PIN was presented");
    TAP_EQ_INT(token_service_new_key_csr(svc, ID_A, CERT_SIGN_ID, WRONG_PIN, 0, TOKEN_KEY_SM2, NULL, 0,
                                         &spki, &spki_len, &csr, &csr_len, &tries, &replaced),
               TOKEN_E_PIN_INCORRECT, "a new key pair under a wrong PIN is refused");
    TAP_EQ_INT(tries, 2, "…for one try");
    tap_ok(!replaced, "…the key said untouched");
    tap_ok(token_service_cert_key(svc, ID_A, CERT_SIGN_ID, &key, &key_len) == TOKEN_OK &&
           cert_key_matches_spki(old_der, old_len, key, key_len, &same) == TOKEN_OK && same,
           "…and the container keeps its key");
    free(key);
    key = NULL;
    TAP_EQ_INT(token_service_new_key_csr(svc, ID_A, CERT_SIGN_ID, USER_PIN, 0, TOKEN_KEY_SM2, NULL, 0,
                                         &spki, &spki_len, &csr, &csr_len, &tries, &replaced),
               TOKEN_OK, "a new SM2 key pair in the container, and a request signed by it");
    tap_ok(replaced, "…the key said replaced");
    tap_ok(spki && csr && csr_len > 0 &&
           !(cert_key_matches_spki(old_der, old_len, spki, spki_len, &same) == TOKEN_OK && same),
           "…a new key (the request's own signature was checked before it was handed out)");
    tap_ok(shows(DEV_A, "user-pin-tries: 3/3") && !shows(DEV_A, "logged-in: user"),
           "…the tries full again, no PIN left verified");
    TAP_EQ_INT(token_service_cert_state(svc, ID_A, CERT_SIGN_ID, old_der, old_len, &st), TOKEN_OK,
               "the container's state against its old certificate");
    tap_ok(st.key_known && st.has_key && !st.key_matches && st.cert_is_given && !st.cert_matches_key,
           "…the new key beside the old certificate: the window a journal covers");
    TAP_EQ_INT(token_service_import_cert(svc, ID_A, CERT_SIGN_ID, WRONG_PIN, 0, old_der, old_len,
                                         &tries),
               TOKEN_E_KEY_MISMATCH, "a certificate for another key is refused before the PIN");
    tap_ok(shows(DEV_A, "user-pin-tries: 3/3"), "…at no cost");
    if (!tap_ok(cert_for(spki, spki_len, 4242, &issued, &issued_len), "a certificate for the new key"))
        goto out;
    mark = events_mark();
    TAP_EQ_INT(token_service_import_cert(svc, ID_A, CERT_SIGN_ID, USER_PIN, 0, issued, issued_len,
                                         &tries),
               TOKEN_OK, "imported under the PIN, read back whole");
    tap_ok(wait_event(mark, TOKEN_EV_CERTS_CHANGED, ID_A), "…CERTS_CHANGED sent");
    if (TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "…and the snapshot read again")) {
        c = cert_by_id(s, CERT_SIGN_ID);
        tap_ok(c && c->der_len == issued_len && memcmp(c->der, issued, issued_len) == 0,
               "…shows the new certificate");
        token_snapshot_unref(s);
    }
    TAP_EQ_INT(token_service_cert_state(svc, ID_A, CERT_SIGN_ID, issued, issued_len, &st), TOKEN_OK,
               "the container's state against the new certificate");
    tap_ok(st.key_matches && st.cert_is_given && st.cert_matches_key, "…key and certificate agree");
out:
    free(issued);
    free(spki);
    free(csr);
    free(old_der);
}

static void test_wrong_pin(struct token_service *svc)
{
    struct token_pin_info pi;
    struct token_snapshot *s = NULL;
    size_t mark = events_mark();
    int tries = -9;

    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, USER_PIN, 0, &tries), TOKEN_OK, "right PIN");
    TAP_EQ_INT(tries, TRIES, "tries stay at 3");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, WRONG_PIN, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "wrong PIN");
    TAP_EQ_INT(tries, 2, "2 left");
    tap_ok(wait_event(mark, TOKEN_EV_PIN_CHANGED, ID_A), "PIN_CHANGED sent");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, WRONG_PIN, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "wrong again");
    TAP_EQ_INT(tries, 1, "1 left");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, WRONG_PIN, 0, &tries), TOKEN_E_PIN_LAST_TRY,
               "the last try is not spent unasked");
    TAP_EQ_INT(tries, 1, "still 1");
    tap_ok(shows(DEV_A, "user-pin-tries: 1/3"), "the token agrees: 1/3");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, "12", 0, &tries), TOKEN_E_PIN_POLICY,
               "a PIN outside the policy never reaches the token");
    TAP_EQ_INT(token_service_pin_info(svc, ID_A, &pi), TOKEN_OK, "PIN state read");
    TAP_EQ_INT(pi.tries_left, 1, "1 left, reading cost none");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, WRONG_PIN, TOKEN_PIN_ALLOW_LAST_TRY, &tries),
               TOKEN_E_PIN_BLOCKED, "asked to spend it: the PIN is blocked");
    TAP_EQ_INT(tries, 0, "0 left");
    if (TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "snapshot")) {
        tap_ok(s->pin.blocked, "the snapshot says blocked");
        token_snapshot_unref(s);
    }
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, USER_PIN, TOKEN_PIN_ALLOW_LAST_TRY, &tries),
               TOKEN_E_PIN_BLOCKED, "even the right PIN: blocked");
}

static void test_unblock_admin(struct token_service *svc)
{
    struct token_snapshot *s = NULL;
    int tries = -9;

    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, WRONG_ADMIN, NEW_PIN, &tries),
               TOKEN_E_PUK_INCORRECT, "a wrong admin PIN is the unlock secret's error");
    TAP_EQ_INT(tries, 2, "the admin PIN has 2 left");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, "1234", NEW_PIN, &tries), TOKEN_E_PUK_POLICY,
               "an admin PIN outside the policy never reaches the token");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, ADMIN_PIN, NEW_PIN, &tries), TOKEN_OK,
               "unblocked with the admin PIN");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, NEW_PIN, 0, &tries), TOKEN_OK, "the new PIN works");
    TAP_EQ_INT(tries, TRIES, "3 tries again");
    if (TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "snapshot")) {
        tap_ok(!s->pin.blocked && s->pin.tries_left == TRIES, "not blocked, 3 left");
        TAP_EQ_INT(s->pin.is_default, TOKEN_PIN_DEFAULT_NO, "no longer the factory PIN");
        token_snapshot_unref(s);
    }
    tap_ok(shows(DEV_A, "admin-pin-tries: 3/3"), "the right admin PIN restored its tries");
}

static void test_change(struct token_service *svc)
{
    int tries = -9;

    TAP_EQ_INT(token_service_change_pin(svc, ID_A, WRONG_PIN, OTHER_PIN, 0, &tries),
               TOKEN_E_PIN_INCORRECT, "change with a wrong old PIN");
    TAP_EQ_INT(tries, 2, "costs a try");
    TAP_EQ_INT(token_service_change_pin(svc, ID_A, NEW_PIN, OTHER_PIN, 0, &tries), TOKEN_OK,
               "PIN changed");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, OTHER_PIN, 0, &tries), TOKEN_OK, "the changed PIN works");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, NEW_PIN, 0, &tries), TOKEN_E_PIN_INCORRECT,
               "the old one does not");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, OTHER_PIN, 0, &tries), TOKEN_OK, "tries restored");
    tap_ok(shows(DEV_A, "logged-in: none") || !shows(DEV_A, "logged-in: user"),
           "no verified PIN left on the token afterwards");
    TAP_EQ_INT(token_service_change_puk(svc, ID_A, ADMIN_PIN, NEW_ADMIN, &tries), TOKEN_OK,
               "admin PIN changed");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, ADMIN_PIN, NEW_PIN, &tries),
               TOKEN_E_PUK_INCORRECT, "the old admin PIN no longer unblocks");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, NEW_ADMIN, NEW_PIN, &tries), TOKEN_OK,
               "the new one does");
}

static bool answer_for(const char *admin, const char *pin, const uint8_t *ch, size_t len,
                       uint8_t *ans, size_t *ans_len)
{
    char hex[2 * CHALLENGE_LEN + 1], out[256] = "";
    char cmd[CMD_LEN];
    FILE *p;
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02X", ch[i]);
    snprintf(cmd, sizeof cmd, "'%s' unblock-answer '%s' '%s' %s", vskf_cli, admin, pin, hex);
    if (!(p = popen(cmd, "r")))
        return false;
    if (!fgets(out, sizeof out, p))
        out[0] = '\0';
    pclose(p);
    for (; out[2 * n] && out[2 * n] != '\n' && n < 64; n++)
        if (sscanf(out + 2 * n, "%2hhx", &ans[n]) != 1)
            return false;
    *ans_len = n;
    return n > 0;
}

/* The CA's side of the relay, through the vskf CLI; `fail` makes it give up. */
struct test_relay {
    const char *admin, *pin;
    bool fail;
    int calls;
};

static token_err test_answer(void *userdata, const uint8_t *challenge, size_t len,
                             uint8_t *answer, size_t *answer_len)
{
    struct test_relay *r = userdata;
    uint8_t ans[64];
    size_t n = 0;

    r->calls++;
    if (r->fail || !answer_for(r->admin, r->pin, challenge, len, ans, &n) || n > *answer_len)
        return TOKEN_E_RELAY_FAILED;
    memcpy(answer, ans, n);
    *answer_len = n;
    return TOKEN_OK;
}

static token_err unblock_via(struct token_service *svc, const char *id, struct test_relay *tr,
                             int *tries)
{
    struct token_unblock_relay r = {.challenge_len = CHALLENGE_LEN, .answer = test_answer,
                                    .userdata = tr};

    return token_service_unblock_remote(svc, id, &r, tries);
}

static void test_remote_unblock(struct token_service *svc, const char *piv_id)
{
    struct test_relay ca = {.admin = NEW_ADMIN, .pin = REMOTE_PIN};
    struct test_relay down = {.fail = true};
    char quirks[PATH_LEN + 16];
    int tries = -9;

    TAP_EQ_INT(unblock_via(svc, piv_id, &ca, &tries), TOKEN_E_NOT_SUPPORTED,
               "a PIV token has no challenge-response unblock");
    TAP_EQ_INT(ca.calls, 0, "and the CA is not asked");
    TAP_EQ_INT(unblock_via(svc, ID_A, &down, &tries), TOKEN_E_RELAY_FAILED,
               "a relay that gives up fails the unblock");
    tap_ok(shows(DEV_A, "admin-pin-tries: 3/3"), "at no admin try");
    TAP_EQ_INT(unblock_via(svc, ID_A, &ca, &tries), TOKEN_OK,
               "the challenge relayed, the CA's answer sets the PIN");
    TAP_EQ_INT(ca.calls, 1, "the CA asked once");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, REMOTE_PIN, 0, &tries), TOKEN_OK,
               "the PIN the CA's answer carried works");
    tap_ok(shows(DEV_A, "admin-pin-tries: 3/3"), "and that cost no admin try");

    /* a key that draws a fresh random when an application closes */
    snprintf(quirks, sizeof quirks, "%s/quirks", devdir);
    if (!tap_ok(run("echo challenge-lost-on-close >'%s'", quirks) == 0,
                "the key loses its challenge when its application closes"))
        return;
    ca.pin = NEW_PIN;
    TAP_EQ_INT(unblock_via(svc, ID_A, &ca, &tries), TOKEN_OK,
               "the unblock holds the application from challenge to answer: the answer is taken");
    TAP_EQ_INT(token_service_verify_pin(svc, ID_A, NEW_PIN, 0, &tries), TOKEN_OK,
               "its PIN works");
    tap_ok(shows(DEV_A, "admin-pin-tries: 3/3"), "no admin try spent");
    unlink(quirks);
    TAP_EQ_INT(token_service_change_pin(svc, ID_A, NEW_PIN, REMOTE_PIN, 0, &tries), TOKEN_OK,
               "the PIN as the tests after expect it");
}

static void test_admin_last_try(struct token_service *svc)
{
    struct test_relay junk = {.admin = WRONG_ADMIN, .pin = NEW_PIN};
    int tries = -9;

    TAP_EQ_INT(token_service_change_puk(svc, ID_A, WRONG_ADMIN, NEW_ADMIN, &tries),
               TOKEN_E_PUK_INCORRECT, "a wrong admin PIN to change it");
    TAP_EQ_INT(tries, 2, "2 admin tries left");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, WRONG_ADMIN, NEW_PIN, &tries),
               TOKEN_E_PUK_INCORRECT, "a wrong admin PIN to unblock");
    TAP_EQ_INT(tries, 1, "1 admin try left");
    TAP_EQ_INT(token_service_unblock_pin(svc, ID_A, NEW_ADMIN, NEW_PIN, &tries),
               TOKEN_E_PUK_LAST_TRY, "the admin PIN's last try is never spent, even a right one's");
    TAP_EQ_INT(tries, 1, "1 left");
    TAP_EQ_INT(token_service_change_puk(svc, ID_A, NEW_ADMIN, ADMIN_PIN, &tries),
               TOKEN_E_PUK_LAST_TRY, "nor by a change of the admin PIN");
    TAP_EQ_INT(unblock_via(svc, ID_A, &junk, &tries), TOKEN_E_PUK_LAST_TRY,
               "nor by a CA's answer, however wrong");
    TAP_EQ_INT(junk.calls, 0, "the CA is not even asked");
    tap_ok(shows(DEV_A, "admin-pin-tries: 1/3"), "the token agrees: 1/3");
}

static void test_plug(struct token_service *svc)
{
    struct token_snapshot *s = NULL;
    size_t mark = events_mark();

    run("'%s' plug '%s' %s", vskf_cli, devdir, DEV_B);
    tap_ok(wait_event(mark, TOKEN_EV_TOKEN_INSERTED, ID_B), "plugged: TOKEN_INSERTED " ID_B);
    TAP_EQ_INT(count_edge(svc, "SKF"), 2, "two SKF tokens listed, once each");
    if (TAP_EQ_INT(token_service_get(svc, ID_B, &s), TOKEN_OK, "the new token read")) {
        TAP_EQ_INT(s->n_certs, 2, "with its certificates");
        token_snapshot_unref(s);
    }
    mark = events_mark();
    run("'%s' unplug '%s' %s", vskf_cli, devdir, DEV_B);
    tap_ok(wait_event(mark, TOKEN_EV_TOKEN_REMOVED, ID_B), "pulled: TOKEN_REMOVED " ID_B);
    TAP_EQ_INT(token_service_get(svc, ID_B, &s), TOKEN_E_TOKEN_NOT_FOUND, "no longer there");
    TAP_EQ_INT(count_edge(svc, "SKF"), 1, "one SKF token left");
}

/* The helper killed: the call meets a clean error or a restarted helper,
 * and calls work again; the other tokens are served throughout. */
static void test_helper_killed(struct token_service *svc, const char *piv_id)
{
    pid_t pid = helper_of(lib_bool64), again;
    struct token_snapshot *s = NULL;
    int tries = -9, i;
    token_err err;

    if (!tap_ok(pid > 0, "the serving helper found (pid %d)", (int)pid))
        return;
    kill(pid, SIGKILL);
    err = token_service_verify_pin(svc, ID_A, REMOTE_PIN, 0, &tries);
    tap_ok(err == TOKEN_OK || err == TOKEN_E_CARD_ERROR || err == TOKEN_E_TOKEN_BUSY,
           "the call in the way: a clean answer (%s)", token_err_name(err));
    TAP_EQ_INT(token_service_get(svc, piv_id, &s), TOKEN_OK, "the PIV token is still served");
    token_snapshot_unref(s);
    /* a restart may wait out its backoff (at most SKF_HOST_BACKOFF_*): poll, bounded */
    for (i = 0; i < WAIT_S * 4 && err != TOKEN_OK; i++) {
        usleep(250 * 1000);
        err = token_service_verify_pin(svc, ID_A, REMOTE_PIN, 0, &tries);
    }
    TAP_EQ_INT(err, TOKEN_OK, "then calls work again");
    TAP_EQ_INT(tries, TRIES, "and the helper's death cost no PIN try");
    again = helper_of(lib_bool64);
    tap_ok(again > 0 && again != pid, "in a new helper (pid %d)", (int)again);
    TAP_EQ_INT(token_service_get(svc, ID_A, &s), TOKEN_OK, "the SKF token is listed still");
    token_snapshot_unref(s);
}

static void test_no_secret_logged(void)
{
    static const char *const secrets[] = {USER_PIN, ADMIN_PIN, NEW_PIN, OTHER_PIN, NEW_ADMIN,
                                          REMOTE_PIN, WRONG_PIN, WRONG_ADMIN};
    bool clean = true;

    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        clean &= count_logged(secrets[i]) == 0;
    tap_ok(clean, "no PIN or admin PIN in any of %zu log lines", n_logs);
}

/* ---- setting up ---- */

static bool setup(void)
{
    const char *b = getenv("UKEYD_BUILD");

    snprintf(build, sizeof build, "%s", b ? b : "build");
    snprintf(work, sizeof work, "/tmp/ukeyd-test-skf-provider.XXXXXX");
    if (!mkdtemp(work))
        return false;
    snprintf(helper, sizeof helper, "%s/ukeyd-skf-host", build);
    snprintf(vskf_cli, sizeof vskf_cli, "%s/vskf/vskf", build);
    snprintf(lib_std, sizeof lib_std, "%s/vskf/libvskf.so", build);
    snprintf(lib_bool64, sizeof lib_bool64, "%s/vskf/libvskf-bool64.so", build);
    snprintf(lib_missing, sizeof lib_missing, "%s/no-such-vendor/libskf.so", work);
    snprintf(devdir, sizeof devdir, "%s/devices", work);
    mkdir(devdir, 0700);
    setenv("VSKF_DIR", devdir, 1);
    return true;
}

/* Two SM2 certificates for one owner, as a CA issues them (self-signed here). */
static bool make_certs(void)
{
    return run("cd '%s' && for k in sign enc; do "
               "openssl genpkey -algorithm SM2 -out $k.key && "
               "openssl req -new -x509 -utf8 -key $k.key -sm3 -subj '/C=CN/O=测试科技/CN=测试用户' "
               "-days 30 -out $k.pem || exit 1; done 2>/dev/null", work) == 0;
}

static bool provision(const char *dev, const char *serial)
{
    return run("'%s' provision '%s' %s --serial '%s' --label '%s' --container '%s' "
               "--user-tries %d --admin-tries %d --sign-cert '%s/sign.pem' --sign-key '%s/sign.key' "
               "--enc-cert '%s/enc.pem' --enc-key '%s/enc.key' >/dev/null",
               vskf_cli, devdir, dev, serial, LABEL, CONTAINER, TRIES, TRIES, work, work, work,
               work) == 0;
}

/* Not inlined: GCC's -O1 truncation analysis of rig_start's argument
 * building sees no bound on the token count once inlined into main. */
__attribute__((noinline)) static int start_rig(void)
{
    static const char *const piv_tokens[] = {"sm2"};

    return rig_start(&rig, 1, piv_tokens);
}

int main(void)
{
    struct token_skf_library libs[3];
    struct token_service_config cfg = {.card_wait_ms = 800, .log = on_log};
    struct token_service *svc = NULL;
    char piv_id[80] = "";

    signal(SIGPIPE, SIG_IGN);
    if (!setup())
        tap_skip_all("cannot make a temporary directory");
    if (access(lib_std, F_OK) != 0 || access(helper, F_OK) != 0) {
        rmdir(devdir);
        rmdir(work);
        tap_skip_all("the SKF helper or the virtual SKF token is not built in this build directory");
    }
    if (!tap_ok(make_certs() && provision(DEV_A, SERIAL_A) && provision(DEV_B, SERIAL_B) &&
                    run("'%s' plug '%s' %s", vskf_cli, devdir, DEV_A) == 0,
                "two virtual SKF keys provisioned with SM2 signing and encryption certificates"))
        goto out;
    if (!tap_ok(start_rig() == 0, "the PC/SC rig starts with a PIV token"))
        goto out;

    /* the 64-bit-BOOL build first: it serves the keys both libraries see */
    libs[0] = (struct token_skf_library){lib_bool64, "gmssl"};
    libs[1] = (struct token_skf_library){lib_missing, NULL};
    libs[2] = (struct token_skf_library){lib_std, "standard"};
    cfg.skf_libraries = libs;
    cfg.n_skf_libraries = 3;
    cfg.skf_helper_path = helper;
    if (!tap_ok(token_service_new(&cfg, &svc) == TOKEN_OK, "the token service starts"))
        goto out;
    token_service_subscribe(svc, on_event, NULL);

    test_libraries();
    test_listing(svc, piv_id, sizeof piv_id);
    test_cert_writes(svc);
    test_wrong_pin(svc);
    test_unblock_admin(svc);
    test_change(svc);
    test_remote_unblock(svc, piv_id);
    test_plug(svc);
    test_helper_killed(svc, piv_id);
    test_admin_last_try(svc);
    token_service_free(svc);
    svc = NULL;
    tap_ok(helper_of("ukeyd-skf-host") == 0, "no helper left once the service stopped");
    test_no_secret_logged();
out:
    token_service_free(svc);
    rig_stop(&rig);
    run("rm -rf '%s'", work);
    return tap_done();
}
