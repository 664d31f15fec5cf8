/* SPDX-License-Identifier: MIT */
/* token/skf/status.c — names of the SKF provider's errors (see status.h). */
#include "token/skf/abi.h"
#include "token/skf/status.h"

const char *skf_err_name(skf_err err)
{
    static const char *const names[SKF_E__COUNT] = {
        [SKF_OK] = "OK",
        [SKF_E_NO_MEMORY] = "NO_MEMORY",
        [SKF_E_INVALID_ARG] = "INVALID_ARG",
        [SKF_E_HELPER_START] = "HELPER_START",
        [SKF_E_HELPER_DIED] = "HELPER_DIED",
        [SKF_E_HELPER_TIMEOUT] = "HELPER_TIMEOUT",
        [SKF_E_HELPER_GARBAGE] = "HELPER_GARBAGE",
        [SKF_E_HELPER_BACKOFF] = "HELPER_BACKOFF",
        [SKF_E_LIBRARY_LOAD] = "LIBRARY_LOAD",
        [SKF_E_LIBRARY_SYMBOL] = "LIBRARY_SYMBOL",
        [SKF_E_NOT_SUPPORTED] = "NOT_SUPPORTED",
        [SKF_E_LIBRARY_FAIL] = "LIBRARY_FAIL",
        [SKF_E_MALFORMED] = "MALFORMED",
        [SKF_E_DEVICE_NOT_FOUND] = "DEVICE_NOT_FOUND",
        [SKF_E_DEVICE_REMOVED] = "DEVICE_REMOVED",
        [SKF_E_APP_NOT_FOUND] = "APP_NOT_FOUND",
        [SKF_E_CONTAINER_NOT_FOUND] = "CONTAINER_NOT_FOUND",
        [SKF_E_CERT_NOT_FOUND] = "CERT_NOT_FOUND",
        [SKF_E_PIN_INCORRECT] = "PIN_INCORRECT",
        [SKF_E_PIN_LOCKED] = "PIN_LOCKED",
        [SKF_E_PIN_POLICY] = "PIN_POLICY",
        [SKF_E_NOT_LOGGED_IN] = "NOT_LOGGED_IN",
        [SKF_E_TIMEOUT] = "TIMEOUT",
        [SKF_E_CHALLENGE_STALE] = "CHALLENGE_STALE",
    };

    if ((unsigned)err >= SKF_E__COUNT || !names[err])
        return "UNKNOWN";
    return names[err];
}

int skf_err_is_helper_fault(skf_err err)
{
    return err == SKF_E_HELPER_START || err == SKF_E_HELPER_DIED ||
           err == SKF_E_HELPER_TIMEOUT || err == SKF_E_HELPER_GARBAGE ||
           err == SKF_E_HELPER_BACKOFF;
}

skf_err skf_err_from_sar(uint32_t sar)
{
    switch (sar) {
    case SAR_OK:
        return SKF_OK;
    case SAR_MEMORYERR:
        return SKF_E_NO_MEMORY;
    case SAR_NOTSUPPORTYETERR:
        return SKF_E_NOT_SUPPORTED;
    case SAR_TIMEOUTERR:
        return SKF_E_TIMEOUT;
    case SAR_DEVICE_REMOVED:
        return SKF_E_DEVICE_REMOVED;
    case SAR_PIN_INCORRECT:
        return SKF_E_PIN_INCORRECT;
    case SAR_PIN_LOCKED:
        return SKF_E_PIN_LOCKED;
    case SAR_PIN_INVALID:
    case SAR_PIN_LEN_RANGE:
        return SKF_E_PIN_POLICY;
    case SAR_USER_NOT_LOGGED_IN:
    case SAR_SECURITY_INVALID:
        return SKF_E_NOT_LOGGED_IN;
    case SAR_APPLICATION_NOT_EXISTS:
    case SAR_APPLICATION_NAME_INVALID:
        return SKF_E_APP_NOT_FOUND;
    case SAR_CONTAINER_NOT_FOUND:
        return SKF_E_CONTAINER_NOT_FOUND;
    case SAR_CERTNOTFOUNTERR:
        return SKF_E_CERT_NOT_FOUND;
    default:
        return SKF_E_LIBRARY_FAIL;
    }
}
