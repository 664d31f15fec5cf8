/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_systemd.c — systemd over the system bus: pcscd's units, their
 * restart and the pcsc.systemd check; timedated's NTPSynchronized.
 *
 * Every call opens its own connection: sd-bus objects are not thread-safe,
 * and the checks run on threads of their own.
 */
#include "api/env/env_systemd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "api/base/timeutil.h"
#include "api/base/scoped.h"

#define SYSTEMD_DEST       "org.freedesktop.systemd1"
#define SYSTEMD_PATH       "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER    "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT       "org.freedesktop.systemd1.Unit"
#define UNIT_NOT_FOUND     "not-found"
#define UNIT_FAILED        "failed"
#define RESTART_MODE       "replace"

static void bus_unrefp(sd_bus **bus)
{
    sd_bus_flush_close_unref(*bus);
}

#define SCOPED_BUS SCOPED(bus_unrefp) sd_bus

static int open_bus(unsigned timeout_ms, sd_bus **out)
{
    int r = sd_bus_open_system(out);

    if (r < 0)
        return r;
    return sd_bus_set_method_call_timeout(*out, (uint64_t)timeout_ms * US_PER_MS);
}

/* Whether the error says that nobody answers for systemd on this bus. */
static bool no_systemd(const sd_bus_error *e)
{
    return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

static void describe_error(const sd_bus_error *e, int r, char *buf, size_t size)
{
    snprintf(buf, size, "%s", e->message ? e->message : strerror(-r));
}

/* LoadUnit rather than GetUnit: it also answers for a unit not running. */
static int unit_path(sd_bus *bus, const char *unit, sd_bus_error *e, char **path)
{
    sd_bus_message *reply = NULL;
    const char *p = NULL;
    int r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "LoadUnit", e,
                               &reply, "s", unit);

    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &p);
    if (r >= 0 && !(*path = strdup(p)))
        r = -ENOMEM;
    sd_bus_message_unref(reply);
    return r;
}

static int read_property(sd_bus *bus, const char *path, const char *name, sd_bus_error *e,
                         char *buf, size_t size)
{
    char *value = NULL;
    int r = sd_bus_get_property_string(bus, SYSTEMD_DEST, path, SYSTEMD_UNIT, name, e, &value);

    if (r >= 0)
        snprintf(buf, size, "%s", value);
    free(value);
    return r;
}

static int read_unit(sd_bus *bus, struct env_unit *u, sd_bus_error *e)
{
    char *path = NULL;
    int r = unit_path(bus, u->name, e, &path);

    if (r >= 0)
        r = read_property(bus, path, "LoadState", e, u->load_state, sizeof u->load_state);
    if (r >= 0)
        r = read_property(bus, path, "ActiveState", e, u->active_state, sizeof u->active_state);
    if (r >= 0)
        r = read_property(bus, path, "SubState", e, u->sub_state, sizeof u->sub_state);
    free(path);
    return r;
}

void env_systemd_query(unsigned timeout_ms, struct env_systemd *out)
{
    SCOPED_BUS *bus = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r;

    memset(out, 0, sizeof *out);
    out->service.name = ENV_PCSCD_SERVICE;
    out->socket.name = ENV_PCSCD_SOCKET;
    r = open_bus(timeout_ms, &bus);
    if (r < 0) {
        snprintf(out->error, sizeof out->error, "no system bus: %s", strerror(-r));
        return;
    }
    r = read_unit(bus, &out->service, &e);
    if (r >= 0)
        r = read_unit(bus, &out->socket, &e);
    out->systemd = !(r < 0 && no_systemd(&e));
    out->queried = r >= 0;
    if (r < 0)
        describe_error(&e, r, out->error, sizeof out->error);
    sd_bus_error_free(&e);
}

static bool unit_found(const struct env_unit *u)
{
    return u->load_state[0] && strcmp(u->load_state, UNIT_NOT_FOUND) != 0;
}

bool env_systemd_has_pcscd(const struct env_systemd *sd)
{
    return unit_found(&sd->service) || unit_found(&sd->socket);
}

bool env_systemd_pcscd_failed(const struct env_systemd *sd)
{
    return strcmp(sd->service.active_state, UNIT_FAILED) == 0;
}

enum env_restart env_systemd_restart_pcscd(unsigned timeout_ms, char *error, size_t size)
{
    SCOPED_BUS *bus = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    enum env_restart result = ENV_RESTART_DONE;
    int r = open_bus(timeout_ms, &bus);

    error[0] = '\0';
    if (r < 0) {
        snprintf(error, size, "no system bus: %s", strerror(-r));
        return ENV_RESTART_NO_SYSTEMD;
    }
    /* Interactive authorisation stays off (sd-bus's default): nobody is
     * there to answer a password prompt. */
    r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "RestartUnit", &e,
                           &reply, "ss", ENV_PCSCD_SERVICE, RESTART_MODE);
    if (r < 0) {
        describe_error(&e, r, error, size);
        if (no_systemd(&e))
            result = ENV_RESTART_NO_SYSTEMD;
        else if (sd_bus_error_has_names(&e, SD_BUS_ERROR_ACCESS_DENIED,
                                        SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
            result = ENV_RESTART_DENIED;
        else
            result = ENV_RESTART_FAILED;
    }
    sd_bus_message_unref(reply);
    sd_bus_error_free(&e);
    return result;
}

enum env_ntp env_systemd_ntp_synchronized(unsigned timeout_ms)
{
    SCOPED_BUS *bus = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int synchronized = 0;
    int r = open_bus(timeout_ms, &bus);

    if (r >= 0)
        r = sd_bus_get_property_trivial(bus, ENV_TIMEDATED_NAME, ENV_TIMEDATED_PATH,
                                        ENV_TIMEDATED_IFACE, ENV_TIMEDATED_NTP_SYNC, &e, 'b',
                                        &synchronized);
    sd_bus_error_free(&e);
    if (r < 0)
        return ENV_NTP_UNKNOWN;
    return synchronized ? ENV_NTP_SYNCHRONIZED : ENV_NTP_UNSYNCHRONIZED;
}

/* --- the check ---------------------------------------------------------- */

static json_t *unit_json(const struct env_unit *u)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "name", u->name, "loadState", u->load_state,
                     "activeState", u->active_state, "subState", u->sub_state);
}

static void say_units(struct env_check *c, const struct env_systemd *sd)
{
    if (!env_systemd_has_pcscd(sd)) {
        env_check_say(c, ENV_WARN, ENV_SYSTEMD_MISSING, ENV_SYSTEMD_HINT_INSTALL);
    } else if (env_systemd_pcscd_failed(sd)) {
        env_check_say(c, ENV_WARN, ENV_SYSTEMD_FAILED, ENV_SYSTEMD_HINT_FAILED);
        env_words_arg(&c->found, "sub", "%s", sd->service.sub_state);
    } else {
        env_check_say(c, ENV_OK, ENV_SYSTEMD_STATE, ENV_MSG_NONE);
        env_words_arg(&c->found, "service", "%s", sd->service.active_state);
        env_words_arg(&c->found, "socket", "%s", sd->socket.active_state);
    }
    env_check_detail(c, "units", json_pack("[o, o]", unit_json(&sd->service),
                                           unit_json(&sd->socket)));
}

void env_systemd_check(struct env_report *r, const struct env_systemd *sd, unsigned timeout_ms)
{
    struct env_check *c = env_report_add(r, "pcsc", "pcsc.systemd", ENV_SYSTEMD_TITLE);

    if (!c)
        return;
    if (!sd) {
        env_check_say(c, ENV_WARN, ENV_TIMED_OUT, ENV_HINT_TIMED_OUT);
        env_words_arg(&c->found, "ms", "%u", timeout_ms);
        return;
    }
    env_check_detail(c, "systemd", json_boolean(sd->systemd));
    env_check_detail(c, "error", sd->error[0] ? json_string(sd->error) : json_null());
    if (!sd->systemd) {
        /* Containers and CI have no systemd: a fact to note, not a fault. */
        env_check_say(c, ENV_OK, ENV_SYSTEMD_NO_BUS, ENV_MSG_NONE);
    } else if (!sd->queried) {
        env_check_say(c, ENV_WARN, ENV_SYSTEMD_ERROR, ENV_MSG_NONE);
        env_words_arg(&c->found, "error", "%s", sd->error);
    } else {
        say_units(c, sd);
    }
}
