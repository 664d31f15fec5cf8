/* SPDX-License-Identifier: MIT */
/*
 * daemon/log.c — the journal sink.
 *
 * systemd sets JOURNAL_STREAM to the device and inode of the stream it gave
 * us as stderr; when our stderr is still that stream, lines go to the journal
 * as structured entries (UKEYD_TOKEN=, UKEYD_ORIGIN=, UKEYD_REQUEST_ID= beside
 * MESSAGE=), which `journalctl UKEYD_TOKEN=…` can select. Otherwise (a
 * terminal, a test's log file) lines stay plain text on stderr.
 */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "api/base/log.h"

#define JOURNAL_FIELDS_MAX  6
#define JOURNAL_FIELD_MAX   1200

static bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

struct journal_entry {
    struct iovec iov[JOURNAL_FIELDS_MAX];
    char text[JOURNAL_FIELDS_MAX][JOURNAL_FIELD_MAX];
    int n;
};

__attribute__((format(printf, 2, 3)))
static void add_field(struct journal_entry *e, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (e->n >= JOURNAL_FIELDS_MAX)
        return;
    va_start(ap, fmt);
    len = vsnprintf(e->text[e->n], JOURNAL_FIELD_MAX, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    e->iov[e->n].iov_base = e->text[e->n];
    e->iov[e->n].iov_len = (size_t)len < JOURNAL_FIELD_MAX ? (size_t)len : JOURNAL_FIELD_MAX - 1;
    e->n++;
}

static void journal_sink(int priority, const struct log_fields *f, const char *message)
{
    struct journal_entry e = { .n = 0 };

    add_field(&e, "MESSAGE=%s", message);
    add_field(&e, "PRIORITY=%d", priority);
    add_field(&e, "SYSLOG_IDENTIFIER=ukeyd");
    if (f->token_id)
        add_field(&e, "UKEYD_TOKEN=%s", f->token_id);
    if (f->origin)
        add_field(&e, "UKEYD_ORIGIN=%s", f->origin);
    if (f->request_id)
        add_field(&e, "UKEYD_REQUEST_ID=%s", f->request_id);
    if (sd_journal_sendv(e.iov, e.n) < 0)
        log_sink_stderr(priority, f, message);
}

bool daemon_log_setup(void)
{
    bool journal = stderr_is_journal();

    log_set_sink(journal ? journal_sink : log_sink_stderr);
    return journal;
}
