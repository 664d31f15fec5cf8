/* SPDX-License-Identifier: MIT */
/* Tests api/unlock/unlock_journal.c in a temporary directory: records written,
 * replaced, listed and removed; modes; files that are not records. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/base/json.h"
#include "api/unlock/unlock_journal.h"
#include "tests/tap.h"

#define PATH_TEXT_MAX 512
#define MODE_BITS     07777

static struct journal_record sample(void)
{
    struct journal_record r = { .step = JOURNAL_AUTHORIZED, .pin_blocked_before = true };

    snprintf(r.token_id, sizeof r.token_id, "piv-fe7a4c07566b2b23c95cdfbab86046bd");
    snprintf(r.ca_url, sizeof r.ca_url, "https://unlock.example.cn");
    snprintf(r.request_id, sizeof r.request_id, "req-3f9c0b8e5d2a4c7f9e1b6a0d2c4e8f10");
    snprintf(r.rotation_id, sizeof r.rotation_id, "rot-77a0c3000000000000000000000000aa");
    return r;
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

    snprintf(path, sizeof path, "%s/unlock/%s", dir, name);
    f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    char dir[] = "/tmp/ukeyd-test-journal.XXXXXX", path[PATH_TEXT_MAX], why[JOURNAL_WHY_MAX];
    struct journal *j = NULL;
    struct journal_record rec = sample(), *list = NULL;
    size_t n = 0;

    json_wipe_install();
    if (!mkdtemp(dir))
        tap_skip_all("no temporary directory");
    tap_ok(journal_open(dir, &j, why, sizeof why) == 0, "open creates STATE/unlock");
    snprintf(path, sizeof path, "%s/unlock", dir);
    tap_ok(mode_of(path) == 0700, "…mode 0700 (%o)", mode_of(path));
    tap_ok(journal_write(j, &rec) == 0, "write a record");
    snprintf(path, sizeof path, "%s/unlock/%s.json", dir, rec.rotation_id);
    tap_ok(mode_of(path) == 0600, "…named by the rotation, mode 0600 (%o)", mode_of(path));
    rec.step = JOURNAL_CONFIRMED;
    rec.rotated = true;
    rec.pin_reset = true;
    tap_ok(journal_write(j, &rec) == 0, "replace it with the next step");
    write_file(dir, "garbage.json", "{\"format\": 99}");
    write_file(dir, ".tmp-rot-x.json", "{}");
    write_file(dir, "notes.txt", "not a record");
    tap_ok(journal_list(j, &list, &n) == 0 && n == 1, "one record listed, the rest ignored (%zu)", n);
    tap_ok(n == 1 && list[0].step == JOURNAL_CONFIRMED && list[0].rotated && list[0].pin_reset &&
           list[0].pin_blocked_before && !list[0].resumed &&
           strcmp(list[0].request_id, rec.request_id) == 0 &&
           strcmp(list[0].ca_url, rec.ca_url) == 0 && strcmp(list[0].token_id, rec.token_id) == 0,
           "…with every field as written");
    free(list);
    rec.step = JOURNAL_PUK_REFUSED;
    rec.refused = CA_PUK_UNFIT;
    rec.puk_tries_left = 2;
    tap_ok(journal_write(j, &rec) == 0, "record a refused PUK");
    tap_ok(journal_list(j, &list, &n) == 0 && n == 1 && list[0].step == JOURNAL_PUK_REFUSED &&
           list[0].refused == CA_PUK_UNFIT && list[0].puk_tries_left == 2,
           "…read back with why and the PUK's tries left");
    free(list);
    write_file(dir, "rot-77a0c3000000000000000000000000bb.json",
               "{\"format\": 1, \"step\": \"puk-refused\", \"tokenId\": \"piv-x\", "
               "\"caUrl\": \"http://127.0.0.1:1\", \"requestId\": \"req-1\", "
               "\"rotationId\": \"rot-77a0c3000000000000000000000000bb\", \"resumed\": false, "
               "\"pinBlockedBefore\": false}");
    tap_ok(journal_list(j, &list, &n) == 0 && n == 1,
           "a puk-refused record that does not say why is not read (%zu)", n);
    free(list);
    journal_remove(j, "rot-77a0c3000000000000000000000000bb");
    snprintf(rec.rotation_id, sizeof rec.rotation_id, "../escape");
    tap_ok(journal_write(j, &rec) < 0, "a rotation id that is not an id is refused");
    tap_ok(journal_remove(j, "rot-77a0c3000000000000000000000000aa") == 0, "remove it");
    tap_ok(journal_remove(j, "rot-77a0c3000000000000000000000000aa") == 0, "removing twice is fine");
    tap_ok(journal_list(j, &list, &n) == 0 && n == 0, "nothing left");
    free(list);
    tap_ok(strcmp(journal_step_name(JOURNAL_PIN_RESET), "pin-reset") == 0, "step names");
    journal_close(j);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}
