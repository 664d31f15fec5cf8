/* SPDX-License-Identifier: MIT */
/*
 * fuzz-skf-wire — what crosses the process boundary to an SKF helper, read by
 * both sides (token/skf/wire.c), and what a vendor library writes that the
 * helper decodes: name lists (token/skf/lib.c) and DEVINFO under every
 * layout (token/skf/profile.c); READ_DEVICE's certificate entries
 * (skf_frame_next_cert).
 *
 * Properties: a frame that parses lies wholly in the input, every field
 * inside it, and writing the fields back with the encoder gives the input
 * byte for byte (one encoding per frame); a name list splits into names that
 * lie in the buffer, each within the length limit, or is refused whole.
 */
#include "tests/fuzz/fuzz.h"
#include "token/skf/lib.h"
#include "token/skf/profile.h"
#include "token/skf/wire.h"

static uint8_t again[SKF_WIRE_FRAME_MAX];

/* READ_DEVICE's certificates: each entry handed on lies in the input, has a
 * name and a certificate within their limits, and the walk ends. */
static void check_certs(const struct skf_frame *f, const uint8_t *data, size_t size)
{
    struct skf_cert_entry ce;
    size_t cursor = 0, before = 0;
    int got;

    while ((got = skf_frame_next_cert(f, &cursor, &ce)) == 1) {
        FUZZ_ASSERT(cursor > before && cursor <= f->nfields);
        FUZZ_ASSERT(ce.container_len > 0 && ce.container_len <= SKF_WIRE_NAME_MAX && ce.der_len > 0);
        FUZZ_ASSERT((const uint8_t *)ce.container >= data &&
                    (const uint8_t *)ce.container + ce.container_len <= data + size);
        FUZZ_ASSERT(ce.der >= data && ce.der + ce.der_len <= data + size);
        before = cursor;
    }
    FUZZ_ASSERT(got == 0 || got == -1);
}

static void check_frame(const uint8_t *data, size_t size)
{
    static struct skf_frame f;
    struct skf_wire_out w;
    size_t total, n;

    if (size >= SKF_WIRE_PREFIX_LEN && skf_wire_frame_size(data, &total) == SKF_WIRE_OK)
        FUZZ_ASSERT(total >= SKF_WIRE_PREFIX_LEN + SKF_WIRE_HEADER_LEN && total <= SKF_WIRE_FRAME_MAX);
    if (skf_wire_parse(data, size, &f) != SKF_WIRE_OK)
        return;
    FUZZ_ASSERT(f.nfields <= SKF_WIRE_FIELDS_MAX);
    skf_wire_begin(&w, again, sizeof again, f.kind, f.op, f.id);
    for (size_t i = 0; i < f.nfields; i++) {
        const struct skf_field *fl = &f.fields[i];

        FUZZ_ASSERT(fl->val >= data && fl->val + fl->len <= data + size);
        FUZZ_ASSERT(skf_wire_tag_type(fl->tag) == fl->type);
        if (fl->type == SKF_T_U32)
            skf_wire_u32(&w, fl->tag, (uint32_t)fl->val[0] << 24 | (uint32_t)fl->val[1] << 16 |
                                      (uint32_t)fl->val[2] << 8 | fl->val[3]);
        else if (fl->type == SKF_T_STR) {
            char *s = strndup((const char *)fl->val, fl->len);

            FUZZ_ASSERT(s && strlen(s) == fl->len);
            skf_wire_str(&w, fl->tag, s);
            free(s);
        } else
            skf_wire_bytes(&w, fl->tag, fl->val, fl->len);
    }
    n = skf_wire_end(&w);
    FUZZ_ASSERT(n == size && memcmp(again, data, size) == 0);
    check_certs(&f, data, size);
}

static void check_names(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    struct skf_names l;

    FUZZ_ASSERT(buf != NULL);
    memcpy(buf, data, size);
    if (skf_names_split(buf, size, &l) != SKF_OK)
        return;      /* freed by the refusal */
    FUZZ_ASSERT(l.n <= SKF_NAMES_MAX);
    for (size_t i = 0; i < l.n; i++) {
        size_t len = strlen(l.name[i]);

        FUZZ_ASSERT(l.name[i] >= buf && l.name[i] + len < buf + size);
        FUZZ_ASSERT(len > 0 && len <= SKF_NAME_MAX);
    }
    skf_names_free(&l);
}

static void check_devinfo(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "standard", "gmssl" };
    struct skf_profile p;
    struct skf_devinfo d;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (unsigned layout = 0; layout < 4; layout++) {
            p = *skf_profile_find(names[i]);
            p.devinfo_packed = layout & 1;
            p.ulong_bits = layout & 2 ? 64 : 32;
            if (skf_devinfo_decode(&p, data, size, &d)) {
                FUZZ_ASSERT(size >= skf_devinfo_size(&p));
                FUZZ_ASSERT(strlen(d.manufacturer) < sizeof d.manufacturer &&
                            strlen(d.serial) < sizeof d.serial && strlen(d.label) < sizeof d.label);
            }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SKF_WIRE_FRAME_MAX)
        return 0;
    check_frame(data, size);
    check_names(data, size);
    check_devinfo(data, size);
    return 0;
}
