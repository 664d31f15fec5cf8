/* SPDX-License-Identifier: MIT */
/*
 * web-demo/ca-service/mechanism.c — the unlock mechanisms, the client's
 * offer and the service's choice (see mechanism.h).
 */
#include "mechanism.h"

#include <string.h>

#include "db.h"

#define INTERFACE_MAX  16
#define MECHANISM_NAME_MAX 32

static const char *const names[MECH__COUNT] = {
    [MECH_PUK] = "puk",
    [MECH_ADMIN_PIN] = "admin-pin",
    [MECH_REMOTE] = "remote-challenge",
};

/* What a token of each interface may be unlocked by: a PIV card has a PUK
 * and no admin PIN; an SKF key has an admin PIN, and perhaps the extension. */
static const struct {
    const char *name;
    unsigned mechanisms;
} interfaces[] = {
    { "PIV", MECH_BIT(MECH_PUK) },
    { "SKF", MECH_BIT(MECH_ADMIN_PIN) | MECH_BIT(MECH_REMOTE) },
};

/* The service's preference: the admin PIN never leaves it, then a secret
 * that is rotated after one use. */
static const enum mechanism preference[] = { MECH_REMOTE, MECH_ADMIN_PIN, MECH_PUK };

const char *mechanism_name(enum mechanism m)
{
    return (unsigned)m < MECH__COUNT ? names[m] : names[MECH_PUK];
}

bool mechanism_of_name(const char *name, enum mechanism *out)
{
    for (int m = 0; name && m < MECH__COUNT; m++)
        if (strcmp(name, names[m]) == 0) {
            *out = (enum mechanism)m;
            return true;
        }
    return false;
}

struct ca_problem mechanism_offer(json_t *body, unsigned *offered)
{
    json_t *list = body ? json_object_get(body, "mechanisms") : NULL;
    json_t *iface = body ? json_object_get(body, "interface") : NULL;
    json_t *v;
    size_t i;

    *offered = MECH_BIT(MECH_PUK);
    if (iface && (!json_is_string(iface) || json_string_length(iface) >= INTERFACE_MAX))
        return ca_bad_field("interface");
    if (!list)
        return ca_ok();
    if (!json_is_array(list) || json_array_size(list) == 0)
        return ca_bad_field("mechanisms");
    *offered = 0;
    json_array_foreach(list, i, v) {
        enum mechanism m;

        if (!json_is_string(v) || json_string_length(v) >= MECHANISM_NAME_MAX)
            return ca_bad_field("mechanisms");
        if (mechanism_of_name(json_string_value(v), &m))
            *offered |= MECH_BIT(m);
    }
    return ca_ok();
}

/* The token's interface and the mechanism its record names ("" for none). */
static bool load_choice(sqlite3 *db, const char *token_id, unsigned *fits, char *named,
                        size_t size)
{
    DB_STMT *st = db_prepare(db, "SELECT interface, unlock_mechanism FROM tokens WHERE id = ?",
                             "s", token_id);
    char iface[INTERFACE_MAX];
    bool failed = false;

    if (!st || !db_row(st, &failed))
        return false;
    db_text(st, 0, iface, sizeof iface);
    db_text(st, 1, named, size);
    *fits = 0;
    for (size_t i = 0; i < sizeof interfaces / sizeof interfaces[0]; i++)
        if (strcmp(iface, interfaces[i].name) == 0)
            *fits = interfaces[i].mechanisms;
    return true;
}

struct ca_problem mechanism_choose(sqlite3 *db, const char *token_id, unsigned offered,
                                   enum mechanism *out)
{
    char named[MECHANISM_NAME_MAX] = "";
    unsigned fits = 0, usable;
    enum mechanism m;

    if (!load_choice(db, token_id, &fits, named, sizeof named))
        return ca_fail(CA_INTERNAL);
    usable = offered & fits;
    if (named[0] && mechanism_of_name(named, &m))
        usable &= MECH_BIT(m);
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++)
        if (usable & MECH_BIT(preference[i])) {
            *out = preference[i];
            return ca_ok();
        }
    return ca_fail(CA_MECHANISM_UNSUPPORTED);
}
