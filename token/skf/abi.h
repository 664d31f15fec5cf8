/* SPDX-License-Identifier: MIT */
/*
 * token/skf/abi.h — ukeyd's own reading of the GM/T 0016-2012 "SKF" API:
 * the subset of functions, codes and structures the helper uses, named once.
 *
 * Facts taken from the standard as public headers give it (GmSSL's
 * src/skf/skf.h and src/sgd.h; the Longmai GM3000 SDK's skfapi.h for the
 * vendor extensions and error codes beyond 0x0A000032); the text is ours.
 * Only the helper program (host-main.c, lib.c) calls these functions; the
 * daemon side never includes the library.
 *
 * Widths differ between libraries (ULONG 32 or 64 bits, BOOL 32 or 64, see
 * profile.h). So the calls are declared width-neutrally for the little-endian
 * LP64 ABIs the vendors ship for (x86-64, aarch64, loongarch64, mips64el):
 *   - ULONG and BOOL arguments passed by value travel as 64-bit values, whose
 *     low half is what a 32-bit callee reads;
 *   - ULONG* and BOOL* arguments point at a zeroed 64-bit slot, whose low half
 *     a 32-bit callee reads and writes and whose whole a 64-bit callee does;
 *   - the ULONG result is read as 32 bits: every SAR_* code fits.
 */
#ifndef UKEYD_TOKEN_SKF_ABI_H
#define UKEYD_TOKEN_SKF_ABI_H

#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the width-neutral SKF calls of token/skf/abi.h assume a little-endian ABI"
#endif

typedef uint32_t skf_rv;          /* ULONG result: a SAR_* code */
typedef uint64_t skf_arg;         /* a ULONG or BOOL passed by value */
typedef uint64_t skf_slot;        /* what a ULONG* or BOOL* points at */
typedef void *skf_handle;         /* DEVHANDLE, HAPPLICATION, HCONTAINER */

/* --- result codes (SAR_*) ---------------------------------------------- */
#define SAR_OK                        0x00000000u
#define SAR_FAIL                      0x0A000001u
#define SAR_UNKNOWNERR                0x0A000002u
#define SAR_NOTSUPPORTYETERR          0x0A000003u
#define SAR_INVALIDHANDLEERR          0x0A000005u
#define SAR_INVALIDPARAMERR           0x0A000006u
#define SAR_NAMELENERR                0x0A000009u
#define SAR_MEMORYERR                 0x0A00000Eu
#define SAR_TIMEOUTERR                0x0A00000Fu
#define SAR_INDATALENERR              0x0A000010u
#define SAR_KEYNOTFOUNTERR            0x0A00001Bu   /* sic, as the standard spells it */
#define SAR_CERTNOTFOUNTERR           0x0A00001Cu
#define SAR_BUFFER_TOO_SMALL          0x0A000020u
#define SAR_NOT_EVENTERR              0x0A000022u
#define SAR_DEVICE_REMOVED            0x0A000023u
#define SAR_PIN_INCORRECT             0x0A000024u
#define SAR_PIN_LOCKED                0x0A000025u
#define SAR_PIN_INVALID               0x0A000026u
#define SAR_PIN_LEN_RANGE             0x0A000027u
#define SAR_USER_TYPE_INVALID         0x0A00002Au
#define SAR_APPLICATION_NAME_INVALID  0x0A00002Bu
#define SAR_USER_NOT_LOGGED_IN        0x0A00002Du
#define SAR_APPLICATION_NOT_EXISTS    0x0A00002Eu
#define SAR_FILE_NOT_EXIST            0x0A000031u
/* Longmai's additions (GM3000 SDK skfapi.h) */
#define SAR_SECURITY_INVALID          0x0B000033u
#define SAR_CONTAINER_NOT_FOUND       0x0B000035u

/* --- algorithm identifiers (GM/T 0006, as DEVINFO's capability masks use them) */
#define SGD_SM1_ECB                   0x00000101u
#define SGD_SM4_ECB                   0x00000401u
#define SGD_RSA                       0x00010000u
/* SM2 signing: 0x00020100 in the standard; some libraries report 0x00020200
 * (the standard's key exchange id) for SM2 as a whole. ukeyd accepts both. */
#define SGD_SM2_1                     0x00020100u
#define SGD_SM2_2                     0x00020200u
#define SGD_SM2_3                     0x00020400u
#define SGD_SM3                       0x00000001u
#define SGD_SHA1                      0x00000002u
#define SGD_SHA256                    0x00000004u

/* --- PIN types (swapped in some libraries: profile.h) ------------------- */
#define SKF_ADMIN_TYPE                0u
#define SKF_USER_TYPE                 1u

/* --- device events of SKF_WaitForDevEvent ------------------------------- */
#define SKF_DEV_EVENT_INSERTED        1u
#define SKF_DEV_EVENT_REMOVED         2u

/* --- container types of SKF_GetContainerType ---------------------------- */
#define SKF_CONTAINER_EMPTY           0u
#define SKF_CONTAINER_RSA             1u
#define SKF_CONTAINER_ECC             2u

/* --- BOOL values ---------------------------------------------------------- */
#define SKF_TRUE                      1u
#define SKF_FALSE                     0u

/* --- DEVINFO ---------------------------------------------------------------
 * VERSION {BYTE major, minor}; CHAR Manufacturer[64], Issuer[64], Label[32],
 * SerialNumber[32]; VERSION HWVersion, FirmwareVersion; eight ULONGs
 * (AlgSymCap, AlgAsymCap, AlgHashCap, DevAuthAlgId, TotalSpace, FreeSpace,
 * MaxECCBufferSize, MaxBufferSize); BYTE Reserved[64]. The headers pack it
 * (#pragma pack(1)); some builds do not, which puts two bytes of padding
 * before the first ULONG. profile.c decodes it from bytes either way. */
#define SKF_VERSION_SIZE              2
#define SKF_DEVINFO_MANUFACTURER_LEN  64
#define SKF_DEVINFO_ISSUER_LEN        64
#define SKF_DEVINFO_LABEL_LEN         32
#define SKF_DEVINFO_SERIAL_LEN        32
#define SKF_DEVINFO_ULONG_COUNT       8
#define SKF_DEVINFO_RESERVED_LEN      64
/* what the helper hands SKF_GetDevInfo: room for every layout and then some,
 * since a library writing a larger vendor structure must not overrun us */
#define SKF_DEVINFO_BUFFER            1024

/* --- ECC blobs ---------------------------------------------------------------
 * ECCPUBLICKEYBLOB: ULONG BitLen; BYTE XCoordinate[64], YCoordinate[64] (a
 * 256-bit coordinate right-aligned: 32 zero bytes first); its ULONG is as
 * wide as the library's (profile.h), so the coordinates follow 4 or 8 bytes
 * in. ECCSIGNATUREBLOB: BYTE r[64], s[64], right-aligned alike. */
#define SKF_ECC_MAX_COORD_LEN         64    /* ECC_MAX_XCOORDINATE_BITS_LEN / 8 */
#define SKF_ECC_SIGNATURE_LEN         (2 * SKF_ECC_MAX_COORD_LEN)   /* r, s */
#define SKF_ECC_PUBLIC_BLOB_MAX       (8 + 2 * SKF_ECC_MAX_COORD_LEN)
#define SKF_SM2_BITS                  256

/* --- the functions ukeyd calls -------------------------------------------- */
typedef skf_rv (*skf_fn_wait_for_dev_event)(char *name, skf_slot *name_len, skf_slot *event);
typedef skf_rv (*skf_fn_cancel_wait_for_dev_event)(void);
typedef skf_rv (*skf_fn_enum_dev)(skf_arg present, char *names, skf_slot *size);
typedef skf_rv (*skf_fn_connect_dev)(const char *name, skf_handle *dev);
typedef skf_rv (*skf_fn_disconnect_dev)(skf_handle dev);
typedef skf_rv (*skf_fn_get_dev_info)(skf_handle dev, void *devinfo);
typedef skf_rv (*skf_fn_enum_application)(skf_handle dev, char *names, skf_slot *size);
typedef skf_rv (*skf_fn_open_application)(skf_handle dev, const char *name, skf_handle *app);
typedef skf_rv (*skf_fn_close_application)(skf_handle app);
typedef skf_rv (*skf_fn_enum_container)(skf_handle app, char *names, skf_slot *size);
typedef skf_rv (*skf_fn_open_container)(skf_handle app, const char *name, skf_handle *con);
typedef skf_rv (*skf_fn_close_container)(skf_handle con);
typedef skf_rv (*skf_fn_get_container_type)(skf_handle con, skf_slot *type);
typedef skf_rv (*skf_fn_export_certificate)(skf_handle con, skf_arg sign, uint8_t *cert, skf_slot *len);
typedef skf_rv (*skf_fn_get_pin_info)(skf_handle app, skf_arg type, skf_slot *max_retry,
                                      skf_slot *remain_retry, skf_slot *default_pin);
typedef skf_rv (*skf_fn_verify_pin)(skf_handle app, skf_arg type, const char *pin, skf_slot *retry);
typedef skf_rv (*skf_fn_change_pin)(skf_handle app, skf_arg type, const char *old_pin,
                                    const char *new_pin, skf_slot *retry);
typedef skf_rv (*skf_fn_unblock_pin)(skf_handle app, const char *admin_pin,
                                     const char *new_user_pin, skf_slot *retry);
typedef skf_rv (*skf_fn_clear_secure_state)(skf_handle app);
/* Longmai's remote unblock extension: the token's random challenge, then the
 * new user PIN encrypted under a key derived from the admin PIN with a MAC
 * over the challenge (computed by whoever holds the admin PIN: the CA). */
typedef skf_rv (*skf_fn_gen_remote_unblock_request)(skf_handle app, uint8_t *random, skf_arg len);
typedef skf_rv (*skf_fn_remote_unblock_pin)(skf_handle app, const uint8_t *cipher, skf_arg len,
                                            skf_slot *retry);
/* Certificate writes (GM/T 0016-2012 7.5.9, 7.5.10, 7.6.3, 7.6.9, 7.6.10). The
 * key pair and signature blobs are the layouts above, as bytes. */
typedef skf_rv (*skf_fn_gen_ecc_key_pair)(skf_handle con, skf_arg alg_id, uint8_t *public_blob);
typedef skf_rv (*skf_fn_export_public_key)(skf_handle con, skf_arg sign, uint8_t *blob,
                                           skf_slot *len);
typedef skf_rv (*skf_fn_ecc_sign_data)(skf_handle con, const uint8_t *digest, skf_arg len,
                                       uint8_t *signature_blob);
typedef skf_rv (*skf_fn_import_certificate)(skf_handle con, skf_arg sign, const uint8_t *cert,
                                            skf_arg len);
/* Files of an application (GM/T 0016-2012 7.4.4, 7.4.6): where electronic seals live. */
typedef skf_rv (*skf_fn_enum_files)(skf_handle app, char *names, skf_slot *size);
typedef skf_rv (*skf_fn_read_file)(skf_handle app, const char *name, skf_arg offset, skf_arg size,
                                   uint8_t *out, skf_slot *out_len);

#endif
