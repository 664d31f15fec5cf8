/* SPDX-License-Identifier: MIT */
/* Tests api/errmap.c: every token error maps to an API code with an error status,
 * and the PIN and presence errors map to the codes the portal switches on. */
#include "api/errmap.h"
#include "tests/tap.h"

#define HTTP_CLIENT_ERROR_MIN 400

int main(void)
{
    TAP_EQ_INT(errmap_token(TOKEN_OK), API_OK, "TOKEN_OK is no problem");
    for (int e = TOKEN_OK + 1; e < TOKEN_E__COUNT; e++) {
        enum api_code c = errmap_token(e);

        tap_ok(c > API_OK && c < API_CODE__COUNT &&
               api_code_status(c) >= HTTP_CLIENT_ERROR_MIN,
               "%s maps to %s (%u)", token_err_name(e), api_code_name(c), api_code_status(c));
    }
    static const struct {
        token_err err;
        enum api_code code;
    } fixed[] = {
        { TOKEN_E_PIN_INCORRECT, API_PIN_INCORRECT },
        { TOKEN_E_PIN_BLOCKED, API_PIN_BLOCKED },
        { TOKEN_E_PIN_LAST_TRY, API_PIN_LAST_TRY },
        { TOKEN_E_PIN_POLICY, API_PIN_POLICY },
        { TOKEN_E_TOKEN_NOT_FOUND, API_TOKEN_NOT_FOUND },
        { TOKEN_E_TOKEN_REMOVED, API_TOKEN_REMOVED },
        { TOKEN_E_TOKEN_BUSY, API_TOKEN_BUSY },
        { TOKEN_E_PCSC_UNAVAILABLE, API_PCSC_UNAVAILABLE },
        { TOKEN_E_CARD_UNSUPPORTED, API_CARD_UNSUPPORTED },
        { TOKEN_E_INTERNAL, API_INTERNAL },
        { TOKEN_E_NO_MEMORY, API_INTERNAL },
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        tap_ok(errmap_token(fixed[i].err) == fixed[i].code, "%s -> %s",
               token_err_name(fixed[i].err), api_code_name(fixed[i].code));
    TAP_EQ_INT(errmap_token(TOKEN_E__COUNT + 5), API_INTERNAL, "out of range -> INTERNAL");
    return tap_done();
}
