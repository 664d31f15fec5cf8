/* SPDX-License-Identifier: MIT */
/*
 * api/render/render.c — token layer structures → API JSON (camelCase members).
 *
 * Values the card did not give are JSON null rather than missing, so a
 * portal can rely on every documented member being present.
 */
#include "api/render/render.h"

#include <time.h>

#include <string.h>
#include <strings.h>

#include "api/base/json.h"

#define HEX_DIGITS "0123456789ABCDEF"
#define NIBBLE_BITS 4
#define NIBBLE_MASK 0x0f

/* Upper-case hex without separators, the way ATRs are usually written. */
static json_t *hex_string(const uint8_t *bytes, size_t len)
{
    char text[2 * TOKEN_ATR_MAX + 1];
    size_t n = len < TOKEN_ATR_MAX ? len : TOKEN_ATR_MAX;

    for (size_t i = 0; i < n; i++) {
        text[2 * i] = HEX_DIGITS[bytes[i] >> NIBBLE_BITS];
        text[2 * i + 1] = HEX_DIGITS[bytes[i] & NIBBLE_MASK];
    }
    text[2 * n] = '\0';
    return json_string(text);
}

json_t *render_status(const struct token_status *st, unsigned long uptime_s)
{
    return json_pack("{s:s, s:s, s:I, s:b, s:I, s:I}", "version", UKEYD_VERSION, "api", "v1",
                     "uptimeSeconds", (json_int_t)uptime_s, "pcscAvailable", st->pcsc_available,
                     "readerCount", (json_int_t)st->n_readers, "tokenCount",
                     (json_int_t)st->n_tokens);
}

static json_t *render_reader(const struct token_reader *rd)
{
    return json_pack("{s:s, s:b, s:o, s:o}", "name", rd->name ? rd->name : "", "cardPresent",
                     rd->card_present, "atr",
                     rd->card_present ? hex_string(rd->atr, rd->atr_len) : json_null(),
                     "tokenId", json_string_or_null(rd->token_id));
}

json_t *render_readers(const struct token_reader *readers, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, render_reader(&readers[i]))) {
            json_decref(list);
            return NULL;
        }
    }
    return list ? json_pack("{s:o}", "readers", list) : NULL;
}

/* true, false, or null when the token does not say (PIV) */
static json_t *pin_is_default(enum token_pin_default d)
{
    return d == TOKEN_PIN_DEFAULT_UNKNOWN ? json_null() : json_boolean(d == TOKEN_PIN_DEFAULT_YES);
}

static json_t *count_or_null(int n)
{
    return n >= 0 ? json_integer(n) : json_null();
}

json_t *render_pin(const struct token_pin_info *pin)
{
    return json_pack("{s:o, s:o, s:b, s:o, s:I, s:I, s:s}", "triesLeft",
                     count_or_null(pin->tries_left), "triesMax", count_or_null(pin->tries_max),
                     "blocked", pin->blocked, "isDefault", pin_is_default(pin->is_default),
                     "minLength", (json_int_t)pin->min_len, "maxLength",
                     (json_int_t)pin->max_len, "charset", pin->charset ? pin->charset : "");
}

/* The unlock mechanisms a token offers, by the names the API gives them. */
static const struct {
    unsigned cap;
    const char *name;
} unlock_names[] = {
    { TOKEN_CAP_UNLOCK_PUK, "puk" },
    { TOKEN_CAP_UNLOCK_ADMIN_PIN, "admin-pin" },
    { TOKEN_CAP_UNLOCK_REMOTE, "remote-unblock" },
};

static json_t *render_capabilities(unsigned caps)
{
    json_t *unlock = json_array();

    for (size_t i = 0; unlock && i < sizeof unlock_names / sizeof unlock_names[0]; i++) {
        if ((caps & unlock_names[i].cap) &&
            json_array_append_new(unlock, json_string(unlock_names[i].name))) {
            json_decref(unlock);
            return NULL;
        }
    }
    return json_pack("{s:o, s:b}", "unlock", unlock, "certificateWrites",
                     (caps & TOKEN_CAP_CERT_WRITE) != 0);
}

/* The certificate's id in URLs: PIV the slot ("9a"), SKF "<container>.sign". */
static const char *cert_id(const struct token_cert *c)
{
    return c->id ? c->id : c->slot_name;
}

static json_t *render_name_attrs(const struct cert_name *name)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < name->n_attrs; i++) {
        const struct cert_name_attr *at = &name->attrs[i];

        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", at->name, "oid",
                                               at->oid, "value", at->value))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *render_name(const struct cert_name *name)
{
    return json_pack("{s:s, s:o, s:o}", "display", name->display ? name->display : "",
                     "commonName", json_string_or_null(name->common_name), "attributes",
                     render_name_attrs(name));
}

static const char *key_type_name(enum cert_key_type t)
{
    switch (t) {
    case CERT_KEY_RSA:
        return "RSA";
    case CERT_KEY_EC:
        return "EC";
    case CERT_KEY_SM2:
        return "SM2";
    case CERT_KEY_UNKNOWN:
        break;
    }
    return NULL;
}

/* The decoded part; json_pack's "s:o" takes the references it is given. */
static json_t *render_summary(const struct token_cert *c, const struct cert_summary *s)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, "
                     "s:o, s:o, s:o, s:{s:s, s:s}}",
                     "id", cert_id(c), "slot", c->slot_name, "label", c->slot_label, "decoded", 1,
                     "subject", render_name(&s->subject), "issuer", render_name(&s->issuer),
                     "serial", s->serial_hex ? s->serial_hex : "",
                     "notBefore", s->not_before_iso, "notAfter", s->not_after_iso,
                     "daysLeft", (json_int_t)cert_days_left(s, time(NULL)),
                     "keyAlgorithm", json_string_or_null(s->key_algorithm),
                     "keyType", json_string_or_null(key_type_name(s->key_type)),
                     "keyBits", s->key_bits > 0 ? json_integer(s->key_bits) : json_null(),
                     "curve", json_string_or_null(s->curve),
                     "signatureAlgorithm", json_string_or_null(s->signature_algorithm),
                     "keyUsage", json_string_array(s->key_usage, s->n_key_usage),
                     "extendedKeyUsage", json_string_array(s->ext_key_usage, s->n_ext_key_usage),
                     "fingerprints", "sha256", s->sha256_hex, "sm3", s->sm3_hex);
}

json_t *render_certificate(const struct token_cert *c)
{
    if (c->summary)
        return render_summary(c, c->summary);
    /* The card holds bytes that are not a certificate we can read: say so,
     * and let the .der route hand them out for a closer look. */
    return json_pack("{s:s, s:s, s:s, s:b}", "id", cert_id(c), "slot", c->slot_name, "label",
                     c->slot_label, "decoded", 0);
}

static json_t *certificate_array(const struct token_snapshot *s)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < s->n_certs; i++) {
        if (json_array_append_new(a, render_certificate(&s->certs[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *render_certificates(const struct token_snapshot *s)
{
    return json_pack("{s:s, s:o}", "tokenId", s->id, "certificates", certificate_array(s));
}

/* null for a token that cannot hold seals, or whose seals could not be read */
static json_t *render_seals(unsigned seals)
{
    return seals == TOKEN_SEALS_UNKNOWN ? json_null() : json_integer(seals);
}

json_t *render_token(const struct token_snapshot *s)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", s->id,
                     "reader", s->reader ? s->reader : "", "edge", s->edge ? s->edge : "",
                     "manufacturer", json_string_or_null(s->manufacturer), "capabilities",
                     render_capabilities(s->caps), "model",
                     json_string_or_null(s->model), "serial", json_string_or_null(s->serial),
                     "version", json_string_or_null(s->version), "atr",
                     hex_string(s->atr, s->atr_len), "pin", render_pin(&s->pin), "seals",
                     render_seals(s->seals), "certificates", certificate_array(s));
}

json_t *render_tokens(struct token_snapshot *const *list, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, render_token(list[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a ? json_pack("{s:o}", "tokens", a) : NULL;
}

/* An id as the token gave it; a PIV slot also in capitals ("9A"), as URLs
 * always allowed. An SKF id is exact: container names are case-sensitive. */
const struct token_cert *render_find_cert(const struct token_snapshot *s, const char *slot)
{
    for (size_t i = 0; i < s->n_certs; i++) {
        const struct token_cert *c = &s->certs[i];

        if (strcmp(cert_id(c), slot) == 0 ||
            (c->slot && c->slot_name && strcasecmp(c->slot_name, slot) == 0))
            return c;
    }
    return NULL;
}
