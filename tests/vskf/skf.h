/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/skf.h — the GM/T 0016-2012 "SKF" smart-key API as the virtual
 * SKF token exports it: types, result codes, algorithm identifiers
 * (GM/T 0006), structures and the functions. Written here from the standard's
 * text and the public vendor headers (read as facts, nothing copied); ukeyd's
 * own client in token/ keeps its own declarations, so that one misreading
 * cannot hide on both sides.
 *
 * ABI choices that vendor libraries make differently are build-time knobs:
 *   VSKF_BOOL_BITS=64    BOOL is 64 bits (libvskf-bool64.so), else 32
 *   VSKF_NO_WAIT_EVENT   no SKF_WaitForDevEvent/SKF_CancelWaitForDevEvent
 *                        symbols at all (libvskf-nowait.so)
 * ULONG is 32 bits in every build, as in the standard's Linux headers.
 */
#ifndef UKEYD_VSKF_SKF_H
#define UKEYD_VSKF_SKF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint8_t  BYTE;
typedef char     CHAR;
typedef uint32_t ULONG;
typedef int32_t  LONG;
typedef uint32_t DWORD;
#if defined(VSKF_BOOL_BITS) && VSKF_BOOL_BITS == 64
typedef int64_t  BOOL;
#else
typedef int32_t  BOOL;
#endif
typedef char    *LPSTR;
typedef void    *HANDLE;
typedef HANDLE   DEVHANDLE;
typedef HANDLE   HAPPLICATION;
typedef HANDLE   HCONTAINER;

#define SKF_TRUE   1
#define SKF_FALSE  0

/* --- result codes (GM/T 0016-2012 appendix A) --------------------------- */
#define SAR_OK                        0x00000000u
#define SAR_FAIL                      0x0A000001u
#define SAR_UNKNOWNERR                0x0A000002u
#define SAR_NOTSUPPORTYETERR          0x0A000003u
#define SAR_FILEERR                   0x0A000004u
#define SAR_INVALIDHANDLEERR          0x0A000005u
#define SAR_INVALIDPARAMERR           0x0A000006u
#define SAR_READFILEERR               0x0A000007u
#define SAR_WRITEFILEERR              0x0A000008u
#define SAR_NAMELENERR                0x0A000009u
#define SAR_KEYUSAGEERR               0x0A00000Au
#define SAR_MODULUSLENERR             0x0A00000Bu
#define SAR_NOTINITIALIZEERR          0x0A00000Cu
#define SAR_OBJERR                    0x0A00000Du
#define SAR_MEMORYERR                 0x0A00000Eu
#define SAR_TIMEOUTERR                0x0A00000Fu
#define SAR_INDATALENERR              0x0A000010u
#define SAR_INDATAERR                 0x0A000011u
#define SAR_GENRANDERR                0x0A000012u
#define SAR_HASHOBJERR                0x0A000013u
#define SAR_HASHERR                   0x0A000014u
#define SAR_GENRSAKEYERR              0x0A000015u
#define SAR_RSAMODULUSLENERR          0x0A000016u
#define SAR_CSPIMPRTPUBKEYERR         0x0A000017u
#define SAR_RSAENCERR                 0x0A000018u
#define SAR_RSADECERR                 0x0A000019u
#define SAR_HASHNOTEQUALERR           0x0A00001Au
#define SAR_KEYNOTFOUNTERR            0x0A00001Bu
#define SAR_CERTNOTFOUNTERR           0x0A00001Cu
#define SAR_NOTEXPORTERR              0x0A00001Du
#define SAR_DECRYPTPADERR             0x0A00001Eu
#define SAR_MACLENERR                 0x0A00001Fu
#define SAR_BUFFER_TOO_SMALL          0x0A000020u
#define SAR_KEYINFOTYPEERR            0x0A000021u
#define SAR_NOT_EVENTERR              0x0A000022u
#define SAR_DEVICE_REMOVED            0x0A000023u
#define SAR_PIN_INCORRECT             0x0A000024u
#define SAR_PIN_LOCKED                0x0A000025u
#define SAR_PIN_INVALID               0x0A000026u
#define SAR_PIN_LEN_RANGE             0x0A000027u
#define SAR_USER_ALREADY_LOGGED_IN    0x0A000028u
#define SAR_USER_PIN_NOT_INITIALIZED  0x0A000029u
#define SAR_USER_TYPE_INVALID         0x0A00002Au
#define SAR_APPLICATION_NAME_INVALID  0x0A00002Bu
#define SAR_APPLICATION_EXISTS        0x0A00002Cu
#define SAR_USER_NOT_LOGGED_IN        0x0A00002Du
#define SAR_APPLICATION_NOT_EXISTS    0x0A00002Eu
#define SAR_FILE_ALREADY_EXIST        0x0A00002Fu
#define SAR_NO_ROOM                   0x0A000030u
#define SAR_FILE_NOT_EXIST            0x0A000031u
#define SAR_REACH_MAX_CONTAINER_COUNT 0x0A000032u

/* --- algorithm identifiers (GM/T 0006-2012) ----------------------------- */
#define SGD_SM4_ECB    0x00000401u
#define SGD_SM4_CBC    0x00000402u
/* The standard numbers SM2 signature, key exchange and encryption 0x00020100,
 * 0x00020200 and 0x00020400; some libraries (GmSSL's sgd.h) shift them one
 * place up. The quirk "sm2-id-0x00020200" switches to that numbering. */
#define SGD_SM2_1      0x00020100u
#define SGD_SM2_2      0x00020200u
#define SGD_SM2_3      0x00020400u
#define SGD_SM2_1_ALT  0x00020200u
#define SGD_SM2_2_ALT  0x00020400u
#define SGD_SM2_3_ALT  0x00020800u
#define SGD_SM3        0x00000001u

/* --- PIN types, rights, states, events ------------------------------------ */
#define ADMIN_TYPE               0u
#define USER_TYPE                1u

#define SECURE_NEVER_ACCOUNT     0x00000000u
#define SECURE_ADM_ACCOUNT       0x00000001u
#define SECURE_USER_ACCOUNT      0x00000010u
#define SECURE_ANYONE_ACCOUNT    0x000000FFu

#define DEV_ABSENT_STATE         0u
#define DEV_PRESENT_STATE        1u
#define DEV_UNKNOW_STATE         2u

/* SKF_WaitForDevEvent's *pulEvent */
#define DEV_EVENT_INSERTED       1u
#define DEV_EVENT_REMOVED        2u

/* SKF_GetContainerType */
#define CONTAINER_TYPE_EMPTY     0u
#define CONTAINER_TYPE_RSA       1u
#define CONTAINER_TYPE_ECC       2u

/* SKF_LockDev's "wait for ever" */
#define SKF_TIMEOUT_INFINITE     0xFFFFFFFFu

#define MAX_IV_LEN                    32
#define MAX_FILE_NAME_SIZE            32
#define MAX_CONTAINER_NAME_SIZE       64
#define ECC_MAX_XCOORDINATE_BITS_LEN  512
#define ECC_MAX_YCOORDINATE_BITS_LEN  512
#define ECC_MAX_MODULUS_BITS_LEN      512
#define ECC_COORD_BYTES   (ECC_MAX_XCOORDINATE_BITS_LEN / 8)

/* --- structures (packed, as the standard's header declares them) --------- */
#pragma pack(push, 1)
typedef struct Struct_Version {
    BYTE major;
    BYTE minor;
} VERSION;

typedef struct Struct_DEVINFO {
    VERSION Version;
    CHAR    Manufacturer[64];
    CHAR    Issuer[64];
    CHAR    Label[32];
    CHAR    SerialNumber[32];
    VERSION HWVersion;
    VERSION FirmwareVersion;
    ULONG   AlgSymCap;
    ULONG   AlgAsymCap;
    ULONG   AlgHashCap;
    ULONG   DevAuthAlgId;
    ULONG   TotalSpace;
    ULONG   FreeSpace;
    ULONG   MaxECCBufferSize;
    ULONG   MaxBufferSize;
    BYTE    Reserved[64];
} DEVINFO, *PDEVINFO;

typedef struct Struct_ECCPUBLICKEYBLOB {
    ULONG BitLen;
    BYTE  XCoordinate[ECC_COORD_BYTES];
    BYTE  YCoordinate[ECC_COORD_BYTES];
} ECCPUBLICKEYBLOB, *PECCPUBLICKEYBLOB;

typedef struct Struct_ECCCIPHERBLOB {
    BYTE  XCoordinate[ECC_COORD_BYTES];
    BYTE  YCoordinate[ECC_COORD_BYTES];
    BYTE  HASH[32];
    ULONG CipherLen;
    BYTE  Cipher[1];     /* CipherLen bytes in fact: the caller allocates */
} ECCCIPHERBLOB, *PECCCIPHERBLOB;

typedef struct Struct_ECCSIGNATUREBLOB {
    BYTE r[ECC_COORD_BYTES];
    BYTE s[ECC_COORD_BYTES];
} ECCSIGNATUREBLOB, *PECCSIGNATUREBLOB;

typedef struct SKF_ENVELOPEDKEYBLOB {
    ULONG            Version;
    ULONG            ulSymmAlgID;
    ULONG            ulBits;
    BYTE             cbEncryptedPriKey[64];
    ECCPUBLICKEYBLOB PubKey;
    ECCCIPHERBLOB    ECCCipherBlob;
} ENVELOPEDKEYBLOB, *PENVELOPEDKEYBLOB;

typedef struct Struct_FILEATTRIBUTE {
    CHAR  FileName[MAX_FILE_NAME_SIZE];
    ULONG FileSize;
    ULONG ReadRights;
    ULONG WriteRights;
} FILEATTRIBUTE, *PFILEATTRIBUTE;
#pragma pack(pop)

/* DEVINFO as a library built without the pack pragma lays it out: two bytes
 * of padding before AlgSymCap (quirk "natural-devinfo"). */
typedef struct Struct_DEVINFO_NATURAL {
    VERSION Version;
    CHAR    Manufacturer[64];
    CHAR    Issuer[64];
    CHAR    Label[32];
    CHAR    SerialNumber[32];
    VERSION HWVersion;
    VERSION FirmwareVersion;
    ULONG   AlgSymCap;
    ULONG   AlgAsymCap;
    ULONG   AlgHashCap;
    ULONG   DevAuthAlgId;
    ULONG   TotalSpace;
    ULONG   FreeSpace;
    ULONG   MaxECCBufferSize;
    ULONG   MaxBufferSize;
    BYTE    Reserved[64];
} DEVINFO_NATURAL;

#define VSKF_EXPORT __attribute__((visibility("default")))

/* --- device management (7.1) --------------------------------------------- */
#ifndef VSKF_NO_WAIT_EVENT
VSKF_EXPORT ULONG SKF_WaitForDevEvent(LPSTR szDevName, ULONG *pulDevNameLen, ULONG *pulEvent);
VSKF_EXPORT ULONG SKF_CancelWaitForDevEvent(void);
#endif
VSKF_EXPORT ULONG SKF_EnumDev(BOOL bPresent, LPSTR szNameList, ULONG *pulSize);
VSKF_EXPORT ULONG SKF_ConnectDev(LPSTR szName, DEVHANDLE *phDev);
VSKF_EXPORT ULONG SKF_DisConnectDev(DEVHANDLE hDev);
VSKF_EXPORT ULONG SKF_GetDevState(LPSTR szDevName, ULONG *pulDevState);
VSKF_EXPORT ULONG SKF_SetLabel(DEVHANDLE hDev, LPSTR szLabel);
VSKF_EXPORT ULONG SKF_GetDevInfo(DEVHANDLE hDev, DEVINFO *pDevInfo);
VSKF_EXPORT ULONG SKF_LockDev(DEVHANDLE hDev, ULONG ulTimeOut);
VSKF_EXPORT ULONG SKF_UnlockDev(DEVHANDLE hDev);

/* --- access control (7.2) ------------------------------------------------ */
VSKF_EXPORT ULONG SKF_ChangeDevAuthKey(DEVHANDLE hDev, BYTE *pbKeyValue, ULONG ulKeyLen);
VSKF_EXPORT ULONG SKF_DevAuth(DEVHANDLE hDev, BYTE *pbAuthData, ULONG ulLen);
VSKF_EXPORT ULONG SKF_ChangePIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szOldPin,
                                LPSTR szNewPin, ULONG *pulRetryCount);
VSKF_EXPORT ULONG SKF_GetPINInfo(HAPPLICATION hApplication, ULONG ulPINType,
                                 ULONG *pulMaxRetryCount, ULONG *pulRemainRetryCount,
                                 BOOL *pbDefaultPin);
VSKF_EXPORT ULONG SKF_VerifyPIN(HAPPLICATION hApplication, ULONG ulPINType, LPSTR szPIN,
                                ULONG *pulRetryCount);
VSKF_EXPORT ULONG SKF_UnblockPIN(HAPPLICATION hApplication, LPSTR szAdminPIN,
                                 LPSTR szNewUserPIN, ULONG *pulRetryCount);
VSKF_EXPORT ULONG SKF_ClearSecureState(HAPPLICATION hApplication);
/* Vendor extension (Longmai GM3000 SDK): the CA's remote unblock. */
VSKF_EXPORT ULONG SKF_GenRemoteUnblockRequest(HAPPLICATION hApplication, BYTE *pbRandom,
                                              ULONG ulRandomLen);
VSKF_EXPORT ULONG SKF_RemoteUnblockPIN(HAPPLICATION hApplication, BYTE *pbCipherPIN,
                                       ULONG ulCipherPINLen, ULONG *pulRetryCount);

/* --- applications (7.3) -------------------------------------------------- */
VSKF_EXPORT ULONG SKF_CreateApplication(DEVHANDLE hDev, LPSTR szAppName, LPSTR szAdminPin,
                                        DWORD dwAdminPinRetryCount, LPSTR szUserPin,
                                        DWORD dwUserPinRetryCount, DWORD dwCreateFileRights,
                                        HAPPLICATION *phApplication);
VSKF_EXPORT ULONG SKF_EnumApplication(DEVHANDLE hDev, LPSTR szAppName, ULONG *pulSize);
VSKF_EXPORT ULONG SKF_DeleteApplication(DEVHANDLE hDev, LPSTR szAppName);
VSKF_EXPORT ULONG SKF_OpenApplication(DEVHANDLE hDev, LPSTR szAppName,
                                      HAPPLICATION *phApplication);
VSKF_EXPORT ULONG SKF_CloseApplication(HAPPLICATION hApplication);

/* --- files (7.4) --------------------------------------------------------- */
VSKF_EXPORT ULONG SKF_CreateFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulFileSize,
                                 ULONG ulReadRights, ULONG ulWriteRights);
VSKF_EXPORT ULONG SKF_DeleteFile(HAPPLICATION hApplication, LPSTR szFileName);
VSKF_EXPORT ULONG SKF_EnumFiles(HAPPLICATION hApplication, LPSTR szFileList, ULONG *pulSize);
VSKF_EXPORT ULONG SKF_GetFileInfo(HAPPLICATION hApplication, LPSTR szFileName,
                                  FILEATTRIBUTE *pFileInfo);
VSKF_EXPORT ULONG SKF_ReadFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                               ULONG ulSize, BYTE *pbOutData, ULONG *pulOutLen);
VSKF_EXPORT ULONG SKF_WriteFile(HAPPLICATION hApplication, LPSTR szFileName, ULONG ulOffset,
                                BYTE *pbData, ULONG ulSize);

/* --- containers (7.5) ---------------------------------------------------- */
VSKF_EXPORT ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                                      HCONTAINER *phContainer);
VSKF_EXPORT ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName);
VSKF_EXPORT ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                                    HCONTAINER *phContainer);
VSKF_EXPORT ULONG SKF_CloseContainer(HCONTAINER hContainer);
VSKF_EXPORT ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                                    ULONG *pulSize);
VSKF_EXPORT ULONG SKF_GetContainerType(HCONTAINER hContainer, ULONG *pulContainerType);
VSKF_EXPORT ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                        ULONG ulCertLen);
VSKF_EXPORT ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                                        ULONG *pulCertLen);

/* --- cryptographic services (7.6) ---------------------------------------- */
VSKF_EXPORT ULONG SKF_GenRandom(DEVHANDLE hDev, BYTE *pbRandom, ULONG ulRandomLen);
VSKF_EXPORT ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId,
                                    ECCPUBLICKEYBLOB *pBlob);
VSKF_EXPORT ULONG SKF_ImportECCKeyPair(HCONTAINER hContainer,
                                       ENVELOPEDKEYBLOB *pEnvelopedKeyBlob);
VSKF_EXPORT ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                                  ECCSIGNATUREBLOB *pSignature);
VSKF_EXPORT ULONG SKF_ECCVerify(DEVHANDLE hDev, ECCPUBLICKEYBLOB *pECCPubKeyBlob,
                                BYTE *pbData, ULONG ulDataLen, ECCSIGNATUREBLOB *pSignature);
VSKF_EXPORT ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob,
                                      ULONG *pulBlobLen);
VSKF_EXPORT ULONG SKF_CloseHandle(HANDLE hHandle);

#ifdef __cplusplus
}
#endif

#endif
