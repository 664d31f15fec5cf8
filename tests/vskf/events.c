/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/events.c — plug and unplug events (GM/T 0016-2012 7.1.2-7.1.3).
 * The library remembers which devices were present, from its first use on;
 * SKF_WaitForDevEvent reports one difference between that and $VSKF_DIR at
 * a time (a removal before an insertion of the same name, so a quick
 * unplug-replug is never lost), blocking on inotify while there is none.
 * SKF_CancelWaitForDevEvent wakes every waiter through its own pipe.
 */
#include "tests/vskf/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WAITERS_MAX      16
#define INOTIFY_BUF      4096
#define EVENT_NONE       0u
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | \
                    IN_DELETE_SELF | IN_MOVE_SELF)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
/* The present devices as last reported (sessions tell a replug apart). */
static struct vskf_dev_list known;
static int waiter_fds[WAITERS_MAX];       /* write ends; -1 when free */

static void take_baseline(void)
{
    struct vskf_dev_list *now = malloc(sizeof *now);

    pthread_mutex_lock(&ev_lock);
    for (size_t i = 0; i < WAITERS_MAX; i++)
        waiter_fds[i] = -1;
    known.n = 0;
    if (now && vskf_scan(vskf_dir(), now) == 0)
        for (size_t i = 0; i < now->n; i++)
            if (now->devs[i].present)
                known.devs[known.n++] = now->devs[i];
    pthread_mutex_unlock(&ev_lock);
    free(now);
}

void vskf_ensure_init(void)
{
    pthread_once(&init_once, take_baseline);
}

/* A library without the wait functions (libvskf-nowait.so) has none of what
 * follows. */
#ifndef VSKF_NO_WAIT_EVENT

static const struct vskf_dev_entry *find(const struct vskf_dev_list *list, const char *name)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->devs[i].name, name) == 0)
            return &list->devs[i];
    return NULL;
}

static void forget(size_t i)
{
    known.devs[i] = known.devs[known.n - 1];
    known.n--;
}

/* Finds the first difference; *apply makes it part of what is known.
 * Returns the event, or EVENT_NONE. Called with ev_lock held. */
static ULONG next_difference(const struct vskf_dev_list *now, char *name, size_t name_size,
                             bool apply)
{
    for (size_t i = 0; i < known.n; i++) {
        const struct vskf_dev_entry *cur = find(now, known.devs[i].name);

        if (!cur || !cur->present ||
            memcmp(cur->session, known.devs[i].session, VSKF_SESSION_LEN) != 0) {
            vskf_strlcpy(name, known.devs[i].name, name_size);
            if (apply)
                forget(i);
            return DEV_EVENT_REMOVED;
        }
    }
    for (size_t i = 0; i < now->n; i++) {
        if (!now->devs[i].present || find(&known, now->devs[i].name))
            continue;
        vskf_strlcpy(name, now->devs[i].name, name_size);
        if (apply && known.n < VSKF_DEVS_MAX)
            known.devs[known.n++] = now->devs[i];
        return DEV_EVENT_INSERTED;
    }
    return EVENT_NONE;
}

/* One attempt: SAR_OK with *event set (EVENT_NONE when nothing changed). */
static ULONG poll_once(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent)
{
    struct vskf_dev_list *now = malloc(sizeof *now);
    char name[VSKF_DEV_NAME_MAX + 1] = "";
    ULONG event, rv = SAR_OK;

    if (!now)
        return SAR_MEMORYERR;
    pthread_mutex_lock(&ev_lock);
    if (vskf_scan(vskf_dir(), now) < 0)
        now->n = 0;
    event = next_difference(now, name, sizeof name, false);
    if (event != EVENT_NONE) {
        size_t need = strlen(name) + 1;

        if (*pulDevNameLen < need) {
            *pulDevNameLen = (ULONG)need;
            rv = SAR_BUFFER_TOO_SMALL;      /* the event stays for the next call */
        } else {
            next_difference(now, name, sizeof name, true);
            memcpy(szDevName, name, need);
            *pulDevNameLen = (ULONG)need;
        }
    }
    *pulEvent = rv == SAR_OK ? event : EVENT_NONE;
    pthread_mutex_unlock(&ev_lock);
    free(now);
    return rv;
}

static int add_waiter(int fd)
{
    int rc = -1;

    pthread_mutex_lock(&ev_lock);
    for (size_t i = 0; i < WAITERS_MAX; i++) {
        if (waiter_fds[i] < 0) {
            waiter_fds[i] = fd;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&ev_lock);
    return rc;
}

static void remove_waiter(int fd)
{
    pthread_mutex_lock(&ev_lock);
    for (size_t i = 0; i < WAITERS_MAX; i++) {
        if (waiter_fds[i] == fd) {
            waiter_fds[i] = -1;
        }
    }
    pthread_mutex_unlock(&ev_lock);
}

static void drain(int fd)
{
    char buf[INOTIFY_BUF];

    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static ULONG wait_blocking(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent)
{
    int cancel[2] = { -1, -1 }, ino;
    ULONG rv = SAR_FAIL;

    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0 || pipe2(cancel, O_NONBLOCK | O_CLOEXEC) < 0 || add_waiter(cancel[1]) < 0)
        goto out;
    for (;;) {
        struct pollfd fds[2] = { { .fd = cancel[0], .events = POLLIN },
                                 { .fd = ino, .events = POLLIN } };
        const char *dir = vskf_dir();

        /* Watch first, then look: a change in between still wakes poll. */
        if (dir)
            inotify_add_watch(ino, dir, WATCH_MASK);
        rv = poll_once(szDevName, pulDevNameLen, pulEvent);
        if (rv != SAR_OK || *pulEvent != EVENT_NONE)
            break;
        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            rv = SAR_FAIL;
            break;
        }
        if (fds[0].revents) {
            rv = SAR_NOT_EVENTERR;          /* cancelled */
            break;
        }
        drain(ino);
    }
out:
    if (cancel[1] >= 0) {
        remove_waiter(cancel[1]);
        close(cancel[1]);
    }
    if (cancel[0] >= 0)
        close(cancel[0]);
    if (ino >= 0)
        close(ino);
    return rv;
}

ULONG SKF_WaitForDevEvent(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent)
{
    vskf_ensure_init();
    if (!szDevName || !pulDevNameLen || !pulEvent)
        return SAR_INVALIDPARAMERR;
    if (vskf_quirk(VSKF_Q_NO_WAIT_EVENT))
        return SAR_NOTSUPPORTYETERR;
    if (vskf_quirk(VSKF_Q_WAIT_AT_ONCE)) {
        ULONG rv = poll_once(szDevName, pulDevNameLen, pulEvent);

        if (rv == SAR_OK && *pulEvent == EVENT_NONE) {
            if (*pulDevNameLen)
                szDevName[0] = '\0';
            *pulDevNameLen = 0;
        }
        return rv;
    }
    return wait_blocking(szDevName, pulDevNameLen, pulEvent);
}

ULONG SKF_CancelWaitForDevEvent(void)
{
    static const char wake = 1;

    vskf_ensure_init();
    if (vskf_quirk(VSKF_Q_NO_WAIT_EVENT))
        return SAR_NOTSUPPORTYETERR;
    pthread_mutex_lock(&ev_lock);
    for (size_t i = 0; i < WAITERS_MAX; i++)
        if (waiter_fds[i] >= 0 && write(waiter_fds[i], &wake, 1) < 0 && errno != EAGAIN)
            continue;
    pthread_mutex_unlock(&ev_lock);
    return SAR_OK;
}
#endif
