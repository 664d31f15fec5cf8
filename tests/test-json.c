/* SPDX-License-Identifier: MIT */
/* Tests api/base/json.c: the wiping allocator is installed and jansson works on it;
 * rendering is pretty or compact as asked. */
#include "api/base/json.h"
#include "tests/tap.h"

int main(void)
{
    json_error_t err;
    json_t *v;
    size_t len = 0;
    char *text;

    json_wipe_install();
    tap_ok(json_wipe_installed(), "wiping allocator installed");
    v = json_loads("{\"pin\":\"123456\",\"n\":[1,2,3],\"s\":\"演示\"}", 0, &err);
    tap_ok(v != NULL, "parse through the wiping allocator");
    TAP_EQ_STR(json_string_value(json_object_get(v, "pin")), "123456", "string member");

    text = json_text(v, false, &len);
    tap_ok(text && strcmp(text, "{\"pin\":\"123456\",\"n\":[1,2,3],\"s\":\"演示\"}\n") == 0,
           "compact, UTF-8 kept, newline at the end");
    TAP_EQ_INT(len, strlen(text), "length reported");
    json_text_free(text);

    text = json_text(v, true, &len);
    tap_ok(text && strstr(text, "\n  \"pin\": \"123456\",\n") != NULL, "pretty indents by two");
    json_text_free(text);
    json_decref(v);

    char *buf = malloc(16);
    memcpy(buf, "secret", 7);
    wipe_free(buf, 16);
    wipe_free(NULL, 0);
    tap_ok(1, "wipe_free on a buffer and on NULL");
    return tap_done();
}
