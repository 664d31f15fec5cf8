/* SPDX-License-Identifier: MIT */
/* Tests api/v1/errmap.c: every token error and every refusal of the CA unlock
 * service maps to an API code with an error status, and the PIN, presence and
 * unlock errors map to the codes the portal switches on. */
#include "api/v1/errmap.h"
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
        { TOKEN_E_PUK_LAST_TRY, API_PUK_LAST_TRY },
        /* the CA's PUK breaking the card's PUK rules is the CA's record at fault */
        { TOKEN_E_PUK_POLICY, API_UNLOCK_RECORD_MISMATCH },
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

    /* The CA unlock service's refusals. */
    TAP_EQ_INT(errmap_ca(CA_OK), API_OK, "CA_OK is no problem");
    for (int e = CA_OK + 1; e < CA_E__COUNT; e++) {
        enum api_code c = errmap_ca(e);

        tap_ok(c > API_OK && c < API_CODE__COUNT && api_code_status(c) >= HTTP_CLIENT_ERROR_MIN,
               "CA %s maps to %s (%u)", ca_err_name(e), api_code_name(c), api_code_status(c));
    }
    static const struct {
        ca_err err;
        enum api_code code;
    } from_ca[] = {
        { CA_E_UNAVAILABLE, API_UNLOCK_SERVICE_UNAVAILABLE },
        { CA_E_PAYMENT_REQUIRED, API_PAYMENT_REQUIRED },
        { CA_E_PHONE_MISMATCH, API_PHONE_MISMATCH },
        { CA_E_CODE_INCORRECT, API_CODE_INCORRECT },
        { CA_E_TOO_MANY_ATTEMPTS, API_TOO_MANY_ATTEMPTS },
        { CA_E_RATE_LIMITED, API_RATE_LIMITED },
        { CA_E_REQUEST_EXPIRED, API_UNLOCK_SESSION_EXPIRED },
        { CA_E_ROTATION_CLOSED, API_UNLOCK_SERVICE_UNAVAILABLE },
        { CA_E_PUK_RECORD_MISMATCH, API_UNLOCK_RECORD_MISMATCH },
    };
    for (size_t i = 0; i < sizeof from_ca / sizeof from_ca[0]; i++)
        tap_ok(errmap_ca(from_ca[i].err) == from_ca[i].code, "CA %s -> %s",
               ca_err_name(from_ca[i].err), api_code_name(from_ca[i].code));
    /* The CA certificate service's refusals. */
    TAP_EQ_INT(errmap_ca_cert(CA_OK), API_OK, "cert: CA_OK is no problem");
    for (int e = CA_OK + 1; e < CA_E__COUNT; e++) {
        enum api_code c = errmap_ca_cert(e);

        tap_ok(c > API_OK && c < API_CODE__COUNT && api_code_status(c) >= HTTP_CLIENT_ERROR_MIN,
               "cert: CA %s maps to %s (%u)", ca_err_name(e), api_code_name(c),
               api_code_status(c));
    }
    tap_ok(errmap_ca_cert(CA_E_UNAVAILABLE) == API_CERT_SERVICE_UNAVAILABLE &&
           errmap_ca_cert(CA_E_ACTION_UNKNOWN) == API_CERT_ACTION_NOT_FOUND &&
           errmap_ca_cert(CA_E_STATE_CONFLICT) == API_CERT_ACTION_NOT_READY,
           "cert: unavailable, unknown action, state conflict");
    tap_ok(errmap_token(TOKEN_E_MGMT_AUTH_FAILED) == API_MANAGEMENT_AUTH_FAILED &&
           errmap_token(TOKEN_E_KEY_MISMATCH) == API_CERT_INVALID &&
           errmap_token(TOKEN_E_WRITE_FAILED) == API_TOKEN_WRITE_FAILED &&
           errmap_token(TOKEN_E_NO_SPACE) == API_TOKEN_FULL &&
           errmap_token(TOKEN_E_NOT_SUPPORTED) == API_OPERATION_NOT_SUPPORTED,
           "the certificate-write token errors");
    return tap_done();
}
