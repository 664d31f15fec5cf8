/* SPDX-License-Identifier: MIT */
/*
 * tests/test-vskf.c — the virtual SKF token (tests/vskf/) judged as any
 * client of a GM/T 0016-2012 library would judge it: dlopen, the standard's
 * entry points, structures read at the standard's byte offsets. Nothing here
 * includes the library's own header, so a misreading there cannot hide here.
 * Certificates are checked with OpenSSL, signatures verified by OpenSSL over
 * the message with the SM2 user ID, the remote-unblock answer computed from
 * the vendor's published scheme independently of tests/vskf/unblock.c.
 *
 * Needs $UKEYD_BUILD (or the build beside this program) with vskf/ and demo/.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "tests/tap.h"

/* --- the standard, as this test reads it ------------------------------------------ */

typedef uint32_t ULONG;
typedef int32_t BOOL32;
typedef int64_t BOOL64;

#define R_OK_                0x00000000u
#define R_FAIL               0x0A000001u
#define R_NOTSUPPORTYET      0x0A000003u
#define R_INVALIDHANDLE      0x0A000005u
#define R_INVALIDPARAM       0x0A000006u
#define R_NOTINITIALIZE      0x0A00000Cu
#define R_INDATALEN          0x0A000010u
#define R_KEYNOTFOUND        0x0A00001Bu
#define R_BUFFER_TOO_SMALL   0x0A000020u
#define R_NOT_EVENT          0x0A000022u
#define R_DEVICE_REMOVED     0x0A000023u
#define R_PIN_INCORRECT      0x0A000024u
#define R_PIN_LOCKED         0x0A000025u
#define R_PIN_LEN_RANGE      0x0A000027u
#define R_USER_TYPE_INVALID  0x0A00002Au
#define R_USER_NOT_LOGGED_IN 0x0A00002Du
#define R_APP_NOT_EXISTS     0x0A00002Eu
#define R_FILE_NOT_EXIST     0x0A000031u

#define T_ADMIN 0u
#define T_USER  1u
#define ALG_SM2_1      0x00020100u
#define ALG_SM2_3      0x00020400u
#define ALG_SM2_1_ALT  0x00020200u
#define ALG_SM4_ECB    0x00000401u
#define ALG_SM3        0x00000001u
#define EVENT_IN       1u
#define EVENT_OUT      2u
#define STATE_ABSENT   0u
#define STATE_PRESENT  1u
#define CONTAINER_ECC  2u
#define RIGHTS_ANYONE  0xFFu
#define RIGHTS_USER    0x10u

/* DEVINFO: VERSION(2) Manufacturer[64] Issuer[64] Label[32] SerialNumber[32]
 * HWVersion(2) FirmwareVersion(2), then eight ULONGs and Reserved[64]. With
 * #pragma pack(1) the ULONGs start at 198; naturally aligned, at 200. */
#define DI_MANUFACTURER 2
#define DI_ISSUER       66
#define DI_LABEL        130
#define DI_SERIAL       162
#define DI_ULONGS_PACKED  198
#define DI_ULONGS_NATURAL 200
#define DI_SIZE_NATURAL   296
#define DI_SYM    0
#define DI_ASYM   1
#define DI_HASH   2
#define DI_DEVAUTH 3
/* ECCPUBLICKEYBLOB: BitLen, X[64], Y[64]; ECCSIGNATUREBLOB r[64] s[64];
 * 32-byte numbers right-aligned. */
#define COORD_FIELD  64
#define COORD_LEN    32
#define PUBBLOB_SIZE (4 + 2 * COORD_FIELD)
#define SIG_SIZE     (2 * COORD_FIELD)
/* FILEATTRIBUTE: FileName[32], FileSize, ReadRights, WriteRights. */
#define FA_SIZE      44
#define FA_FILESIZE  32

#define SM2_ID "1234567812345678"
#define USER_PIN  "123456"
#define ADMIN_PIN "12345678"
#define USER_TRIES 3
#define ADMIN_TRIES 5
#define DEV_AUTH_KEY "1234567812345678"
#define BUF 4096
#define WAIT_GIVE_UP_SECONDS 60

typedef void *H;

struct skf {
    void *dl;
    ULONG (*WaitForDevEvent)(char *, ULONG *, ULONG *);
    ULONG (*CancelWaitForDevEvent)(void);
    ULONG (*EnumDev)(BOOL32, char *, ULONG *);
    ULONG (*ConnectDev)(const char *, H *);
    ULONG (*DisConnectDev)(H);
    ULONG (*GetDevState)(const char *, ULONG *);
    ULONG (*SetLabel)(H, const char *);
    ULONG (*GetDevInfo)(H, void *);
    ULONG (*LockDev)(H, ULONG);
    ULONG (*UnlockDev)(H);
    ULONG (*ChangeDevAuthKey)(H, const uint8_t *, ULONG);
    ULONG (*DevAuth)(H, const uint8_t *, ULONG);
    ULONG (*ChangePIN)(H, ULONG, const char *, const char *, ULONG *);
    ULONG (*GetPINInfo)(H, ULONG, ULONG *, ULONG *, BOOL32 *);
    ULONG (*VerifyPIN)(H, ULONG, const char *, ULONG *);
    ULONG (*UnblockPIN)(H, const char *, const char *, ULONG *);
    ULONG (*ClearSecureState)(H);
    ULONG (*CreateApplication)(H, const char *, const char *, ULONG, const char *, ULONG, ULONG,
                               H *);
    ULONG (*EnumApplication)(H, char *, ULONG *);
    ULONG (*DeleteApplication)(H, const char *);
    ULONG (*OpenApplication)(H, const char *, H *);
    ULONG (*CloseApplication)(H);
    ULONG (*CreateFile)(H, const char *, ULONG, ULONG, ULONG);
    ULONG (*DeleteFile)(H, const char *);
    ULONG (*EnumFiles)(H, char *, ULONG *);
    ULONG (*GetFileInfo)(H, const char *, void *);
    ULONG (*ReadFile)(H, const char *, ULONG, ULONG, uint8_t *, ULONG *);
    ULONG (*WriteFile)(H, const char *, ULONG, const uint8_t *, ULONG);
    ULONG (*CreateContainer)(H, const char *, H *);
    ULONG (*DeleteContainer)(H, const char *);
    ULONG (*OpenContainer)(H, const char *, H *);
    ULONG (*CloseContainer)(H);
    ULONG (*EnumContainer)(H, char *, ULONG *);
    ULONG (*GetContainerType)(H, ULONG *);
    ULONG (*ImportCertificate)(H, BOOL32, const uint8_t *, ULONG);
    ULONG (*ExportCertificate)(H, BOOL32, uint8_t *, ULONG *);
    ULONG (*GenRandom)(H, uint8_t *, ULONG);
    ULONG (*GenECCKeyPair)(H, ULONG, uint8_t *);
    ULONG (*ImportECCKeyPair)(H, uint8_t *);
    ULONG (*ECCSignData)(H, const uint8_t *, ULONG, uint8_t *);
    ULONG (*ECCVerify)(H, const uint8_t *, const uint8_t *, ULONG, const uint8_t *);
    ULONG (*ExportPublicKey)(H, BOOL32, uint8_t *, ULONG *);
    ULONG (*CloseHandle)(H);
    ULONG (*GenRemoteUnblockRequest)(H, uint8_t *, ULONG);
    ULONG (*RemoteUnblockPIN)(H, const uint8_t *, ULONG, ULONG *);
};

static char build_dir[BUF], vskf_cli[BUF], dev_dir[BUF], demo_dir[BUF];

/* --- helpers --------------------------------------------------------------------- */

/* dir/file into out; a path that does not fit is a failed test, not a crash. */
static const char *join(char *out, size_t size, const char *dir, const char *file)
{
    int n = snprintf(out, size, "%s/%s", dir, file);

    if (n < 0 || (size_t)n >= size) {
        tap_diag("path too long: %s/%s", dir, file);
        out[0] = '\0';
    }
    return out;
}

static int load(struct skf *s, const char *file)
{
    char path[BUF];
    int missing = 0;

    char vdir[BUF];

    join(path, sizeof path, join(vdir, sizeof vdir, build_dir, "vskf"), file);
    memset(s, 0, sizeof *s);
    s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!s->dl) {
        tap_diag("dlopen %s: %s", path, dlerror());
        return -1;
    }
#define SYM(name)                                                               \
    do {                                                                        \
        *(void **)&s->name = dlsym(s->dl, "SKF_" #name);                        \
        if (!s->name && strcmp(#name, "WaitForDevEvent") &&                     \
            strcmp(#name, "CancelWaitForDevEvent")) {                           \
            tap_diag("%s: no SKF_%s", file, #name);                             \
            missing++;                                                          \
        }                                                                       \
    } while (0)
    SYM(WaitForDevEvent); SYM(CancelWaitForDevEvent); SYM(EnumDev); SYM(ConnectDev);
    SYM(DisConnectDev); SYM(GetDevState); SYM(SetLabel); SYM(GetDevInfo); SYM(LockDev);
    SYM(UnlockDev); SYM(ChangeDevAuthKey); SYM(DevAuth); SYM(ChangePIN); SYM(GetPINInfo);
    SYM(VerifyPIN); SYM(UnblockPIN); SYM(ClearSecureState); SYM(CreateApplication);
    SYM(EnumApplication); SYM(DeleteApplication); SYM(OpenApplication);
    SYM(CloseApplication); SYM(CreateFile); SYM(DeleteFile); SYM(EnumFiles);
    SYM(GetFileInfo); SYM(ReadFile); SYM(WriteFile); SYM(CreateContainer);
    SYM(DeleteContainer); SYM(OpenContainer); SYM(CloseContainer); SYM(EnumContainer);
    SYM(GetContainerType); SYM(ImportCertificate); SYM(ExportCertificate); SYM(GenRandom);
    SYM(GenECCKeyPair); SYM(ImportECCKeyPair); SYM(ECCSignData); SYM(ECCVerify);
    SYM(ExportPublicKey); SYM(CloseHandle); SYM(GenRemoteUnblockRequest);
    SYM(RemoteUnblockPIN);
#undef SYM
    return missing ? -1 : 0;
}

/* Runs the vskf CLI; returns its exit status (its output to out if given). */
#define CLI_ARGS_MAX 48
__attribute__((sentinel))
static int cli(char *out, size_t out_len, ...)
{
    char *args[CLI_ARGS_MAX + 2] = { vskf_cli };
    char sink[BUF];
    size_t n = 1, got = 0;
    int fds[2], status;
    va_list ap;
    ssize_t r;
    pid_t pid;

    va_start(ap, out_len);
    while (n <= CLI_ARGS_MAX && (args[n] = va_arg(ap, char *)))
        n++;
    va_end(ap);
    args[n] = NULL;
    if (pipe(fds) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(vskf_cli, args);
        _exit(127);
    }
    close(fds[1]);
    if (!out) {
        out = sink;
        out_len = sizeof sink;
    }
    while ((r = read(fds[0], out + got, out_len - 1 - got)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            got += (size_t)r;
    out[got] = '\0';
    close(fds[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int plug(const char *name) { return cli(NULL, 0, "plug", dev_dir, name, NULL); }
static int unplug(const char *name) { return cli(NULL, 0, "unplug", dev_dir, name, NULL); }

static bool show_has(const char *name, const char *line)
{
    char out[BUF * 2];

    return cli(out, sizeof out, "show", dev_dir, name, NULL) == 0 && strstr(out, line) != NULL;
}

static ULONG ulong_at(const uint8_t *p)
{
    ULONG v;

    memcpy(&v, p, sizeof v);
    return v;
}

static X509 *read_pem_cert(const char *file)
{
    char path[BUF];
    FILE *f;
    X509 *x;

    join(path, sizeof path, demo_dir, file);
    f = fopen(path, "r");
    if (!f)
        return NULL;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

static int cert_der(X509 *x, uint8_t *out, size_t size)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);

    if (len <= 0 || (size_t)len > size) {
        OPENSSL_free(der);
        return -1;
    }
    memcpy(out, der, (size_t)len);
    OPENSSL_free(der);
    return len;
}

/* The uncompressed point 04||X||Y of a public key. */
static int point_of(EVP_PKEY *key, uint8_t out[1 + 2 * COORD_LEN])
{
    size_t len = 0;

    return EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
                                           1 + 2 * COORD_LEN, &len) == 1 &&
                   len == 1 + 2 * COORD_LEN ? 0 : -1;
}

static bool blob_is_point(const uint8_t *blob, const uint8_t *point)
{
    static const uint8_t zero[COORD_FIELD - COORD_LEN];

    return ulong_at(blob) == 256 && memcmp(blob + 4, zero, sizeof zero) == 0 &&
           memcmp(blob + 4 + COORD_FIELD - COORD_LEN, point + 1, COORD_LEN) == 0 &&
           memcmp(blob + 4 + COORD_FIELD, zero, sizeof zero) == 0 &&
           memcmp(blob + 4 + 2 * COORD_FIELD - COORD_LEN, point + 1 + COORD_LEN, COORD_LEN) == 0;
}

static int sm3(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sm3(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 && (!blen || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;

    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)
 * (GB/T 32918.2), the digest SKF_ECCSignData takes. */
static int sm2_digest(EVP_PKEY *pub, const char *msg, uint8_t e[32])
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    BIGNUM *p = BN_new(), *a = BN_new(), *b = BN_new(), *x = BN_new(), *y = BN_new();
    uint8_t z_in[2 + 16 + 6 * COORD_LEN], point[1 + 2 * COORD_LEN], z[32];
    size_t id_bits = strlen(SM2_ID) * 8;
    int rc = -1;

    if (!g || !p || !a || !b || !x || !y || EC_GROUP_get_curve(g, p, a, b, NULL) != 1 ||
        EC_POINT_get_affine_coordinates(g, EC_GROUP_get0_generator(g), x, y, NULL) != 1 ||
        point_of(pub, point) < 0)
        goto out;
    z_in[0] = (uint8_t)(id_bits >> 8);
    z_in[1] = (uint8_t)id_bits;
    memcpy(z_in + 2, SM2_ID, 16);
    BN_bn2binpad(a, z_in + 18, COORD_LEN);
    BN_bn2binpad(b, z_in + 18 + COORD_LEN, COORD_LEN);
    BN_bn2binpad(x, z_in + 18 + 2 * COORD_LEN, COORD_LEN);
    BN_bn2binpad(y, z_in + 18 + 3 * COORD_LEN, COORD_LEN);
    memcpy(z_in + 18 + 4 * COORD_LEN, point + 1, 2 * COORD_LEN);
    if (sm3(z_in, sizeof z_in, NULL, 0, z) < 0 || sm3(z, sizeof z, msg, strlen(msg), e) < 0)
        goto out;
    rc = 0;
out:
    BN_free(p); BN_free(a); BN_free(b); BN_free(x); BN_free(y);
    EC_GROUP_free(g);
    return rc;
}

/* OpenSSL checks the token's (r, s) over the message itself, with the ID. */
static int openssl_verifies(EVP_PKEY *pub, const char *msg, const uint8_t *sig)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, COORD_FIELD, NULL), *sv = BN_bin2bn(sig + COORD_FIELD, COORD_FIELD, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pub, NULL);
    int len, ok = 0;

    if (!s || !r || !sv || ECDSA_SIG_set0(s, r, sv) != 1)
        goto out;
    r = sv = NULL;
    len = i2d_ECDSA_SIG(s, &der);
    if (len > 0 && md && pctx && EVP_PKEY_CTX_set1_id(pctx, SM2_ID, strlen(SM2_ID)) == 1) {
        EVP_MD_CTX_set_pkey_ctx(md, pctx);
        ok = EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, der, (size_t)len, (const uint8_t *)msg, strlen(msg)) == 1;
    }
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pctx);
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return ok;
}

static int sm4(const char *name, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
               size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, t = 0;
    int ok = c && EVP_EncryptInit_ex(c, EVP_get_cipherbyname(name), NULL, key, iv) == 1 &&
             EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
             EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 &&
             EVP_EncryptFinal_ex(c, out + n, &t) == 1;

    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* The CA's answer as the GM3000 SDK's RemoteUnblock sample builds it:
 * K = SHA-1(admin PIN in 16 zeroed bytes)[0..16); SM4-ECB_K(len16le ||
 * PIN || 80 00..) || first 4 bytes of the SM4 CBC-MAC_K of PIN||80 00..
 * with IV = random || 00... */
static size_t unblock_answer(const char *admin, const char *pin, const uint8_t *rnd,
                             size_t rnd_len, uint8_t *out)
{
    uint8_t padded_admin[16] = { 0 }, digest[20], block[48] = { 0 }, mac_in[32] = { 0 };
    uint8_t iv[16] = { 0 }, mac_out[32];
    size_t n = strlen(pin), blen = ((n + 2) / 16 + 1) * 16, mlen = (n / 16 + 1) * 16;
    unsigned int dl = 0;

    memcpy(padded_admin, admin, strlen(admin));
    EVP_Digest(padded_admin, sizeof padded_admin, digest, &dl, EVP_sha1(), NULL);
    block[0] = (uint8_t)n;
    block[1] = (uint8_t)(n >> 8);
    memcpy(block + 2, pin, n);
    block[2 + n] = 0x80;
    memcpy(mac_in, pin, n);
    mac_in[n] = 0x80;
    memcpy(iv, rnd, rnd_len);
    if (sm4("SM4-ECB", digest, NULL, block, blen, out) < 0 ||
        sm4("SM4-CBC", digest, iv, mac_in, mlen, mac_out) < 0)
        return 0;
    memcpy(out + blen, mac_out + mlen - 16, 4);
    return blen + 4;
}


/* --- the enveloped encryption key (GM/T 0016-2012 7.6.12) ----------------------- */

/* ENVELOPEDKEYBLOB, packed: Version, ulSymmAlgID, ulBits, cbEncryptedPriKey[64],
 * PubKey (ECCPUBLICKEYBLOB), then ECCCIPHERBLOB: X[64] Y[64] HASH[32]
 * CipherLen Cipher[CipherLen]. */
#define ENV_PRIKEY      12
#define ENV_PUBKEY      76
#define ENV_CIPHER      (ENV_PUBKEY + PUBBLOB_SIZE)
#define ENV_C_HASH      (ENV_CIPHER + 2 * COORD_FIELD)
#define ENV_C_LEN       (ENV_C_HASH + 32)
#define ENV_C_DATA      (ENV_C_LEN + 4)
#define SESSION_KEY_LEN 16

static EVP_PKEY *key_from_blob(const uint8_t *blob)
{
    uint8_t point[1 + 2 * COORD_LEN] = { 0x04 };
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;

    memcpy(point + 1, blob + 4 + COORD_FIELD - COORD_LEN, COORD_LEN);
    memcpy(point + 1 + COORD_LEN, blob + 4 + 2 * COORD_FIELD - COORD_LEN, COORD_LEN);
    if (bld && ctx && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static void put_ulong(uint8_t *p, ULONG v)
{
    memcpy(p, &v, sizeof v);
}

/* An INTEGER or OCTET STRING of the SM2 ciphertext, right-aligned in out. */
static int put_part(const ASN1_TYPE *t, int type, uint8_t *out, size_t field)
{
    const ASN1_STRING *str = t->value.asn1_string;
    int len = str ? ASN1_STRING_length(str) : -1;

    if (t->type != type || len < 0 || (size_t)len > field)
        return -1;
    memcpy(out + field - (size_t)len, ASN1_STRING_get0_data(str), (size_t)len);
    return 0;
}

/* The CA's key management centre's side: a fresh SM2 encryption key,
 * wrapped for the container whose signing public key is sign_blob. */
static size_t make_envelope(const uint8_t *sign_blob, EVP_PKEY **enc_out, uint8_t *env,
                            size_t env_size)
{
    EVP_PKEY *enc = EVP_PKEY_Q_keygen(NULL, NULL, "SM2"), *sign = key_from_blob(sign_blob);
    EVP_PKEY_CTX *ctx = sign ? EVP_PKEY_CTX_new(sign, NULL) : NULL;
    uint8_t session[SESSION_KEY_LEN], priv[2 * COORD_LEN] = { 0 }, point[1 + 2 * COORD_LEN];
    uint8_t der[512];
    size_t der_len = sizeof der, total = 0;
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *seq = NULL;
    BIGNUM *d = NULL;

    memset(env, 0, env_size);
    if (!enc || !ctx || RAND_bytes(session, sizeof session) != 1 ||
        EVP_PKEY_get_bn_param(enc, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, priv + COORD_LEN, COORD_LEN) < 0 || point_of(enc, point) < 0 ||
        EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_encrypt(ctx, der, &der_len, session, sizeof session) != 1 ||
        !(seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)der_len)) || sk_ASN1_TYPE_num(seq) != 4)
        goto out;
    put_ulong(env, 1);
    put_ulong(env + 4, ALG_SM4_ECB);
    put_ulong(env + 8, 256);
    if (sm4("SM4-ECB", session, NULL, priv, sizeof priv, env + ENV_PRIKEY) < 0)
        goto out;
    put_ulong(env + ENV_PUBKEY, 256);
    memcpy(env + ENV_PUBKEY + 4 + COORD_FIELD - COORD_LEN, point + 1, COORD_LEN);
    memcpy(env + ENV_PUBKEY + 4 + 2 * COORD_FIELD - COORD_LEN, point + 1 + COORD_LEN, COORD_LEN);
    if (put_part(sk_ASN1_TYPE_value(seq, 0), V_ASN1_INTEGER, env + ENV_CIPHER, COORD_FIELD) < 0 ||
        put_part(sk_ASN1_TYPE_value(seq, 1), V_ASN1_INTEGER, env + ENV_CIPHER + COORD_FIELD,
                 COORD_FIELD) < 0 ||
        put_part(sk_ASN1_TYPE_value(seq, 2), V_ASN1_OCTET_STRING, env + ENV_C_HASH, 32) < 0 ||
        put_part(sk_ASN1_TYPE_value(seq, 3), V_ASN1_OCTET_STRING, env + ENV_C_DATA,
                 SESSION_KEY_LEN) < 0)
        goto out;
    put_ulong(env + ENV_C_LEN, SESSION_KEY_LEN);
    total = ENV_C_DATA + SESSION_KEY_LEN;
    *enc_out = enc;
    enc = NULL;
out:
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    BN_clear_free(d);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(enc);
    EVP_PKEY_free(sign);
    return total;
}

/* A certificate for key, issued by a throwaway SM2 key: the token only
 * stores it, so any well-formed certificate serves. */
static int make_cert(EVP_PKEY *key, uint8_t *out, size_t size)
{
    EVP_PKEY *issuer = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int len = -1;

    if (issuer && x && name &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"测试",
                                   -1, -1, 0) == 1 &&
        X509_set_version(x, 2) == 1 && ASN1_INTEGER_set(X509_get_serialNumber(x), 7) == 1 &&
        X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1 &&
        X509_gmtime_adj(X509_getm_notBefore(x), 0) && X509_gmtime_adj(X509_getm_notAfter(x), 3600) &&
        X509_set_pubkey(x, key) == 1 && X509_sign(x, issuer, EVP_sm3()) > 0)
        len = cert_der(x, out, size);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(issuer);
    return len;
}

static void test_enveloped_key(struct skf *s, H con, const uint8_t *sign_blob)
{
    uint8_t env[BUF], blob[PUBBLOB_SIZE], point[1 + 2 * COORD_LEN], cert[BUF], back[BUF];
    EVP_PKEY *enc = NULL;
    size_t len = make_envelope(sign_blob, &enc, env, sizeof env);
    ULONG size = sizeof blob;
    int cert_len;

    if (!tap_ok(len > 0, "an enveloped SM2 encryption key, made with OpenSSL"))
        return;
    env[ENV_PUBKEY + 4 + COORD_FIELD - 1] ^= 1;
    tap_ok(s->ImportECCKeyPair(con, env) != R_OK_,
           "ImportECCKeyPair refuses a public key that is not the private key's");
    env[ENV_PUBKEY + 4 + COORD_FIELD - 1] ^= 1;
    TAP_EQ_INT(s->ImportECCKeyPair(con, env), R_OK_, "ImportECCKeyPair");
    TAP_EQ_INT(s->ExportPublicKey(con, 0, blob, &size), R_OK_, "ExportPublicKey(enc)");
    tap_ok(point_of(enc, point) == 0 && blob_is_point(blob, point),
           "the token holds the CA's encryption key");
    cert_len = make_cert(enc, cert, sizeof cert);
    TAP_EQ_INT(s->ImportCertificate(con, 0, cert, (ULONG)cert_len), R_OK_,
               "ImportCertificate(enc)");
    TAP_EQ_INT(s->ImportCertificate(con, 0, cert, 10), 0x0A000011u,
               "a truncated certificate: SAR_INDATAERR");
    size = sizeof back;
    s->ExportCertificate(con, 0, back, &size);
    tap_ok(size == (ULONG)cert_len && memcmp(back, cert, size) == 0,
           "ExportCertificate(enc) gives it back");
    EVP_PKEY_free(enc);
}

/* --- the parts -------------------------------------------------------------------- */

static H connect_dev(struct skf *s, const char *name)
{
    H h = NULL;

    return s->ConnectDev(name, &h) == R_OK_ ? h : NULL;
}

static H open_app(struct skf *s, H dev, const char *name)
{
    H h = NULL;

    return s->OpenApplication(dev, name, &h) == R_OK_ ? h : NULL;
}

static void test_enumeration(struct skf *s)
{
    char names[BUF];
    ULONG size = 0, state = 99;

    TAP_EQ_INT(s->EnumDev(1, NULL, &size), R_OK_, "EnumDev size query with nothing plugged");
    TAP_EQ_INT(size, 1, "an empty list is one NUL");
    size = sizeof names;
    TAP_EQ_INT(s->EnumDev(0, names, &size), R_OK_, "EnumDev(FALSE) lists every device");
    tap_ok(size == sizeof "alpha\0beta\0" && memcmp(names, "alpha\0beta\0", size) == 0,
           "alpha and beta, double-NUL terminated");
    TAP_EQ_INT(plug("alpha"), 0, "vskf plug alpha");
    size = 3;
    TAP_EQ_INT(s->EnumDev(1, names, &size), R_BUFFER_TOO_SMALL, "EnumDev into 3 bytes");
    TAP_EQ_INT(size, sizeof "alpha\0", "... says how much it needs");
    size = sizeof names;
    TAP_EQ_INT(s->EnumDev(1, names, &size), R_OK_, "EnumDev(TRUE)");
    tap_ok(size == sizeof "alpha\0" && memcmp(names, "alpha\0", size) == 0, "only alpha is present");
    s->GetDevState("alpha", &state);
    TAP_EQ_INT(state, STATE_PRESENT, "GetDevState alpha");
    s->GetDevState("beta", &state);
    TAP_EQ_INT(state, STATE_ABSENT, "GetDevState beta (unplugged)");
    s->GetDevState("nosuch", &state);
    TAP_EQ_INT(state, STATE_ABSENT, "GetDevState of an unknown name");
    H h = NULL;
    TAP_EQ_INT(s->ConnectDev("beta", &h), R_DEVICE_REMOVED, "ConnectDev to an unplugged device");
}

static void test_devinfo(struct skf *s, H dev)
{
    uint8_t info[DI_SIZE_NATURAL + 16];

    memset(info, 0xEE, sizeof info);
    TAP_EQ_INT(s->GetDevInfo(dev, info), R_OK_, "GetDevInfo");
    TAP_EQ_STR((char *)info + DI_LABEL, "演示专用's key", "Label");
    TAP_EQ_STR((char *)info + DI_SERIAL, "VSKF0001", "SerialNumber");
    TAP_EQ_STR((char *)info + DI_MANUFACTURER, "Longmai-style test", "Manufacturer");
    TAP_EQ_STR((char *)info + DI_ISSUER, "test issuer", "Issuer");
    const uint8_t *u = info + DI_ULONGS_PACKED;
    TAP_EQ_INT(ulong_at(u + 4 * DI_SYM), ALG_SM4_ECB, "AlgSymCap at the packed offset");
    TAP_EQ_INT(ulong_at(u + 4 * DI_ASYM), ALG_SM2_1 | ALG_SM2_3, "AlgAsymCap: SM2 sign+enc");
    TAP_EQ_INT(ulong_at(u + 4 * DI_HASH), ALG_SM3, "AlgHashCap: SM3");
    TAP_EQ_INT(ulong_at(u + 4 * DI_DEVAUTH), ALG_SM4_ECB, "DevAuthAlgId: SM4-ECB");
    tap_ok(info[DI_SIZE_NATURAL - 2] == 0xEE, "packed DEVINFO writes 294 bytes, no more");
}

static void test_pins(struct skf *s, H app)
{
    ULONG max = 0, left = 0, retry = 99;
    BOOL32 def = 0;

    TAP_EQ_INT(s->GetPINInfo(app, T_USER, &max, &left, &def), R_OK_, "GetPINInfo user");
    tap_ok(max == USER_TRIES && left == USER_TRIES && def == 1, "user PIN %u/%u, default", left, max);
    s->GetPINInfo(app, T_ADMIN, &max, &left, &def);
    tap_ok(max == ADMIN_TRIES && left == ADMIN_TRIES, "admin PIN %u/%u", left, max);
    TAP_EQ_INT(s->GetPINInfo(app, 7, &max, &left, &def), R_USER_TYPE_INVALID, "PIN type 7");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "000000", &retry), R_PIN_INCORRECT, "wrong PIN");
    TAP_EQ_INT(retry, USER_TRIES - 1, "... tries left");
    tap_ok(show_has("alpha", "user-pin-tries: 2/3"), "vskf show sees the lost try (state file)");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "000000", &retry), R_PIN_INCORRECT, "wrong PIN again");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "000000", &retry), R_PIN_LOCKED, "last try: locked");
    TAP_EQ_INT(retry, 0, "... no tries left");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, USER_PIN, &retry), R_PIN_LOCKED,
               "right PIN on a blocked PIN: still locked");
    s->GetPINInfo(app, T_USER, &max, &left, &def);
    TAP_EQ_INT(left, 0, "GetPINInfo: blocked");
    TAP_EQ_INT(s->UnblockPIN(app, "99999999", "654321", &retry), R_PIN_INCORRECT,
               "UnblockPIN with a wrong admin PIN");
    TAP_EQ_INT(retry, ADMIN_TRIES - 1, "... admin tries left");
    TAP_EQ_INT(s->UnblockPIN(app, ADMIN_PIN, "65", &retry), R_PIN_LEN_RANGE,
               "UnblockPIN to a 2-digit PIN");
    TAP_EQ_INT(s->UnblockPIN(app, ADMIN_PIN, "654321", &retry), R_OK_, "UnblockPIN");
    s->GetPINInfo(app, T_USER, &max, &left, &def);
    tap_ok(left == USER_TRIES && def == 0, "user tries restored, PIN no longer the default");
    s->GetPINInfo(app, T_ADMIN, &max, &left, &def);
    TAP_EQ_INT(left, ADMIN_TRIES, "admin tries restored by the right admin PIN");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "654321", &retry), R_OK_, "the new PIN verifies");
    TAP_EQ_INT(s->ChangePIN(app, T_USER, "654321", "1234", &retry), R_PIN_LEN_RANGE,
               "ChangePIN to 4 digits");
    TAP_EQ_INT(s->ChangePIN(app, T_USER, "000000", "111111", &retry), R_PIN_INCORRECT,
               "ChangePIN with a wrong old PIN");
    TAP_EQ_INT(s->ChangePIN(app, T_USER, "654321", USER_PIN, &retry), R_OK_, "ChangePIN");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "654321", &retry), R_PIN_INCORRECT, "old PIN refused");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, USER_PIN, &retry), R_OK_, "changed PIN verifies");
}

static void test_certificates(struct skf *s, H app, H *con_out)
{
    uint8_t cert[BUF], want[BUF], blob[PUBBLOB_SIZE], point[1 + 2 * COORD_LEN];
    char names[BUF];
    ULONG size = sizeof names, type = 0;
    X509 *sign = read_pem_cert("sm2-9a.pem"), *enc = read_pem_cert("sm2-9d.pem");
    H con = NULL;
    int want_len;

    TAP_EQ_INT(s->EnumContainer(app, names, &size), R_OK_, "EnumContainer");
    tap_ok(memcmp(names, "C1\0", 3) == 0, "the provisioned container");
    TAP_EQ_INT(s->OpenContainer(app, "nosuch", &con), R_FILE_NOT_EXIST, "OpenContainer unknown");
    TAP_EQ_INT(s->OpenContainer(app, "C1", &con), R_OK_, "OpenContainer");
    s->GetContainerType(con, &type);
    TAP_EQ_INT(type, CONTAINER_ECC, "GetContainerType: ECC");
    size = 0;
    TAP_EQ_INT(s->ExportCertificate(con, 1, NULL, &size), R_OK_, "ExportCertificate size query");
    want_len = sign ? cert_der(sign, want, sizeof want) : -1;
    TAP_EQ_INT(size, want_len, "... the signing certificate's length");
    size = sizeof cert;
    TAP_EQ_INT(s->ExportCertificate(con, 1, cert, &size), R_OK_, "ExportCertificate(sign)");
    tap_ok(want_len > 0 && size == (ULONG)want_len && memcmp(cert, want, size) == 0,
           "the signing certificate, byte for byte");
    const unsigned char *p = cert;
    X509 *x = d2i_X509(NULL, &p, size);
    char cn[128] = "";
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    TAP_EQ_STR(cn, "演示专用", "it parses, subject CN intact");
    size = sizeof cert;
    TAP_EQ_INT(s->ExportCertificate(con, 0, cert, &size), R_OK_, "ExportCertificate(enc)");
    want_len = enc ? cert_der(enc, want, sizeof want) : -1;
    tap_ok(want_len > 0 && size == (ULONG)want_len && memcmp(cert, want, size) == 0,
           "the encryption certificate, byte for byte");
    size = sizeof blob;
    TAP_EQ_INT(s->ExportPublicKey(con, 1, blob, &size), R_OK_, "ExportPublicKey(sign)");
    tap_ok(size == PUBBLOB_SIZE && x && point_of(X509_get0_pubkey(x), point) == 0 &&
               blob_is_point(blob, point),
           "ECCPUBLICKEYBLOB is the certificate's key, right-aligned");
    X509_free(x);
    X509_free(sign);
    X509_free(enc);
    *con_out = con;
}

static void test_signing(struct skf *s, H dev, H app, H con)
{
    X509 *sign = read_pem_cert("sm2-9a.pem");
    EVP_PKEY *pub = sign ? X509_get0_pubkey(sign) : NULL;
    const char *msg = "演示专用 signs this";
    uint8_t e[32], sig[SIG_SIZE], blob[PUBBLOB_SIZE];
    ULONG size = sizeof blob;

    tap_ok(pub && sm2_digest(pub, msg, e) == 0, "e = SM3(Z || M) computed here");
    s->ClearSecureState(app);
    TAP_EQ_INT(s->ECCSignData(con, e, 32, sig), R_USER_NOT_LOGGED_IN,
               "ECCSignData after ClearSecureState");
    ULONG retry;
    s->VerifyPIN(app, T_USER, USER_PIN, &retry);
    TAP_EQ_INT(s->ECCSignData(con, e, 20, sig), R_INDATALEN, "ECCSignData of 20 bytes");
    TAP_EQ_INT(s->ECCSignData(con, e, 32, sig), R_OK_, "ECCSignData");
    tap_ok(pub && openssl_verifies(pub, msg, sig), "OpenSSL verifies it over M with the SM2 ID");
    s->ExportPublicKey(con, 1, blob, &size);
    TAP_EQ_INT(s->ECCVerify(dev, blob, e, 32, sig), R_OK_, "ECCVerify accepts it");
    e[0] ^= 1;
    tap_ok(s->ECCVerify(dev, blob, e, 32, sig) != R_OK_, "ECCVerify refuses another digest");
    X509_free(sign);
}

static void test_unblock(struct skf *s, H app)
{
    uint8_t rnd[8], answer[64] = { 0 };
    size_t len;
    ULONG retry = 99, max, left;
    BOOL32 def;
    char hex[17], out[BUF], want_hex[2 * sizeof answer + 1];

    TAP_EQ_INT(s->RemoteUnblockPIN(app, answer, 20, &retry), R_NOTINITIALIZE,
               "RemoteUnblockPIN without a challenge");
    for (int i = 0; i < USER_TRIES; i++)
        s->VerifyPIN(app, T_USER, "000000", &retry);
    TAP_EQ_INT(s->GenRemoteUnblockRequest(app, rnd, sizeof rnd), R_OK_,
               "GenRemoteUnblockRequest");
    len = unblock_answer("87654321", "222222", rnd, sizeof rnd, answer);
    TAP_EQ_INT(s->RemoteUnblockPIN(app, answer, (ULONG)len, &retry), R_PIN_INCORRECT,
               "an answer made with a wrong admin PIN");
    TAP_EQ_INT(retry, ADMIN_TRIES - 1, "... costs an admin try");
    TAP_EQ_INT(s->RemoteUnblockPIN(app, answer, (ULONG)len, &retry), R_NOTINITIALIZE,
               "the challenge answers once");
    s->GenRemoteUnblockRequest(app, rnd, sizeof rnd);
    len = unblock_answer(ADMIN_PIN, "222222", rnd, sizeof rnd, answer);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    for (size_t i = 0; i < len; i++)
        snprintf(want_hex + 2 * i, 3, "%02X", answer[i]);
    tap_ok(cli(out, sizeof out, "unblock-answer", ADMIN_PIN, "222222", hex, NULL) == 0 &&
               strncmp(out, want_hex, 2 * len) == 0,
           "vskf unblock-answer computes the same answer");
    TAP_EQ_INT(s->RemoteUnblockPIN(app, answer, (ULONG)len, &retry), R_OK_, "RemoteUnblockPIN");
    s->GetPINInfo(app, T_USER, &max, &left, &def);
    TAP_EQ_INT(left, USER_TRIES, "user PIN unblocked");
    s->GetPINInfo(app, T_ADMIN, &max, &left, &def);
    TAP_EQ_INT(left, ADMIN_TRIES, "admin tries restored");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, "222222", &retry), R_OK_, "the CA's new PIN verifies");
    s->GenRemoteUnblockRequest(app, rnd, sizeof rnd);
    len = unblock_answer(ADMIN_PIN, "222222", rnd, sizeof rnd, answer);
    rnd[0] ^= 1;
    s->GenRemoteUnblockRequest(app, rnd, sizeof rnd);   /* a newer challenge */
    TAP_EQ_INT(s->RemoteUnblockPIN(app, answer, (ULONG)len, &retry), R_PIN_INCORRECT,
               "an answer to an older challenge is refused");
    s->ChangePIN(app, T_USER, "222222", USER_PIN, &retry);
}

static void test_device_auth_and_apps(struct skf *s)
{
    uint8_t rnd[16] = { 0 }, block[16], data[64], back[64];
    char names[BUF];
    H dev, app = NULL, con = NULL;
    ULONG size, retry, type = 99;
    uint8_t blob[PUBBLOB_SIZE], blob2[PUBBLOB_SIZE], fa[FA_SIZE];

    TAP_EQ_INT(plug("beta"), 0, "vskf plug beta");
    dev = connect_dev(s, "beta");
    tap_ok(dev != NULL, "ConnectDev beta");
    size = sizeof names;
    TAP_EQ_INT(s->EnumApplication(dev, names, &size), R_OK_, "EnumApplication on a blank device");
    TAP_EQ_INT(size, 1, "... no applications");
    TAP_EQ_INT(s->CreateApplication(dev, "APP2", ADMIN_PIN, 5, USER_PIN, 5, RIGHTS_USER, &app),
               R_USER_NOT_LOGGED_IN, "CreateApplication without device authentication");
    s->GenRandom(dev, rnd, 8);
    sm4("SM4-ECB", (const uint8_t *)"0000000000000000", NULL, rnd, 16, block);
    tap_ok(s->DevAuth(dev, block, 16) != R_OK_, "DevAuth with a wrong key fails");
    s->GenRandom(dev, rnd, 8);
    sm4("SM4-ECB", (const uint8_t *)DEV_AUTH_KEY, NULL, rnd, 16, block);
    TAP_EQ_INT(s->DevAuth(dev, block, 16), R_OK_, "DevAuth: SM4-ECB(key, random || 00..)");
    TAP_EQ_INT(s->CreateApplication(dev, "APP\nX=1", ADMIN_PIN, 5, USER_PIN, 5, RIGHTS_USER,
                                    &app), R_INVALIDPARAM, "an application name with a newline");
    TAP_EQ_INT(s->SetLabel(dev, "two\nlines"), R_INVALIDPARAM, "a label with a newline");
    TAP_EQ_INT(s->CreateApplication(dev, "APP2", ADMIN_PIN, 5, USER_PIN, 5, RIGHTS_USER, &app),
               R_OK_, "CreateApplication");
    size = sizeof names;
    s->EnumApplication(dev, names, &size);
    tap_ok(size == sizeof "APP2" + 1 && memcmp(names, "APP2\0", 6) == 0, "EnumApplication: APP2");
    TAP_EQ_INT(s->CreateContainer(app, "K1", &con), R_USER_NOT_LOGGED_IN,
               "CreateContainer needs the user PIN (create rights)");
    s->VerifyPIN(app, T_USER, USER_PIN, &retry);
    TAP_EQ_INT(s->CreateContainer(app, "K1", &con), R_OK_, "CreateContainer");
    s->GetContainerType(con, &type);
    TAP_EQ_INT(type, 0, "an empty container's type is 0");
    TAP_EQ_INT(s->GenECCKeyPair(con, ALG_SM2_1, blob), R_OK_, "GenECCKeyPair(SGD_SM2_1)");
    size = sizeof blob2;
    s->ExportPublicKey(con, 1, blob2, &size);
    tap_ok(memcmp(blob, blob2, sizeof blob) == 0, "ExportPublicKey returns the generated key");
    size = sizeof blob2;
    TAP_EQ_INT(s->ExportPublicKey(con, 0, blob2, &size), R_KEYNOTFOUND, "no encryption key yet");
    test_enveloped_key(s, con, blob);
    s->GetContainerType(con, &type);
    TAP_EQ_INT(type, CONTAINER_ECC, "a container with keys is ECC");
    TAP_EQ_INT(s->CreateFile(app, "seal.1", 64, RIGHTS_ANYONE, RIGHTS_USER), R_OK_, "CreateFile");
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    TAP_EQ_INT(s->WriteFile(app, "seal.1", 0, data, 64), R_OK_, "WriteFile");
    TAP_EQ_INT(s->WriteFile(app, "seal.1", 60, data, 8), R_INDATALEN, "WriteFile past the end");
    s->ClearSecureState(app);
    TAP_EQ_INT(s->WriteFile(app, "seal.1", 0, data, 4), R_USER_NOT_LOGGED_IN,
               "WriteFile needs the user PIN");
    size = sizeof back;
    TAP_EQ_INT(s->ReadFile(app, "seal.1", 16, 64, back, &size), R_OK_, "ReadFile by anyone");
    tap_ok(size == 48 && memcmp(back, data + 16, 48) == 0, "reads what was written");
    TAP_EQ_INT(s->GetFileInfo(app, "seal.1", fa), R_OK_, "GetFileInfo");
    tap_ok(strcmp((char *)fa, "seal.1") == 0 && ulong_at(fa + FA_FILESIZE) == 64 &&
               ulong_at(fa + FA_FILESIZE + 4) == RIGHTS_ANYONE,
           "FILEATTRIBUTE name, size, rights");
    size = sizeof names;
    s->EnumFiles(app, names, &size);
    tap_ok(memcmp(names, "seal.1\0\0", 8) == 0, "EnumFiles");
    TAP_EQ_INT(s->DeleteFile(app, "seal.1"), R_USER_NOT_LOGGED_IN, "DeleteFile needs the PIN");
    s->VerifyPIN(app, T_USER, USER_PIN, &retry);
    TAP_EQ_INT(s->DeleteFile(app, "seal.1"), R_OK_, "DeleteFile");
    TAP_EQ_INT(s->GetFileInfo(app, "seal.1", fa), R_FILE_NOT_EXIST, "gone");
    s->ClearSecureState(app);
    TAP_EQ_INT(s->DeleteApplication(dev, "APP2"), R_OK_, "DeleteApplication (device authenticated)");
    TAP_EQ_INT(s->VerifyPIN(app, T_USER, USER_PIN, &retry), R_APP_NOT_EXISTS,
               "its handle now names nothing");
    s->DisConnectDev(dev);
    TAP_EQ_INT(s->GetDevInfo(dev, data), R_INVALIDHANDLE, "a disconnected handle is invalid");
}

/* --- events ----------------------------------------------------------------------- */

struct waiter {
    struct skf *s;
    char name[64];
    ULONG len, event, rv;
    volatile int done;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;

    w->len = sizeof w->name;
    w->rv = w->s->WaitForDevEvent(w->name, &w->len, &w->event);
    w->done = 1;
    return NULL;
}

/* Waits for the thread; gives up (a failure, not a pass) after a minute. */
static bool join_within(pthread_t t, struct waiter *w, bool keep_cancelling)
{
    struct timespec step = { 0, 20 * 1000 * 1000 };

    for (int i = 0; i < WAIT_GIVE_UP_SECONDS * 50 && !w->done; i++) {
        if (keep_cancelling && w->s->CancelWaitForDevEvent)
            w->s->CancelWaitForDevEvent();
        nanosleep(&step, NULL);
    }
    if (!w->done) {
        pthread_cancel(t);
        return false;
    }
    pthread_join(t, NULL);
    return true;
}

static void test_events(struct skf *s)
{
    struct waiter w = { .s = s };
    char name[64];
    ULONG len = sizeof name, event = 0;
    pthread_t t;
    H dev, old;

    TAP_EQ_INT(s->WaitForDevEvent(name, &len, &event), R_OK_,
               "WaitForDevEvent: alpha was plugged after the library started");
    tap_ok(event == EVENT_IN && strcmp(name, "alpha") == 0, "... alpha inserted (%u)", event);
    len = sizeof name;
    s->WaitForDevEvent(name, &len, &event);
    tap_ok(event == EVENT_IN && strcmp(name, "beta") == 0, "... then beta inserted");
    old = connect_dev(s, "alpha");
    pthread_create(&t, NULL, wait_thread, &w);
    TAP_EQ_INT(unplug("alpha"), 0, "vskf unplug alpha");
    tap_ok(join_within(t, &w, false) && w.rv == R_OK_ && w.event == EVENT_OUT &&
               strcmp(w.name, "alpha") == 0,
           "a blocked WaitForDevEvent wakes: alpha removed");
    TAP_EQ_INT(s->GetDevInfo(old, name), R_DEVICE_REMOVED, "its handle: SAR_DEVICE_REMOVED");
    plug("alpha");
    unplug("alpha");
    plug("alpha");
    len = 2;
    TAP_EQ_INT(s->WaitForDevEvent(name, &len, &event), R_BUFFER_TOO_SMALL,
               "a 2-byte name buffer");
    TAP_EQ_INT(len, sizeof "alpha", "... says how much");
    len = sizeof name;
    s->WaitForDevEvent(name, &len, &event);
    tap_ok(event == EVENT_IN && strcmp(name, "alpha") == 0,
           "unplug+replug while nobody waited: alpha inserted, not lost");
    TAP_EQ_INT(s->GetDevInfo(old, name), R_DEVICE_REMOVED, "a replug keeps old handles dead");
    dev = connect_dev(s, "alpha");
    tap_ok(dev != NULL, "a new ConnectDev works");
    unplug("alpha");
    plug("alpha");
    len = sizeof name;
    s->WaitForDevEvent(name, &len, &event);
    tap_ok(event == EVENT_OUT && strcmp(name, "alpha") == 0, "a quick replug: first removed");
    len = sizeof name;
    s->WaitForDevEvent(name, &len, &event);
    tap_ok(event == EVENT_IN && strcmp(name, "alpha") == 0, "... then inserted");
    TAP_EQ_INT(s->GetDevInfo(dev, name), R_DEVICE_REMOVED, "... and the handle before it is dead");
    s->DisConnectDev(dev);
    dev = connect_dev(s, "alpha");
    s->DisConnectDev(dev);
    s->DisConnectDev(old);
    memset(&w, 0, sizeof w);
    w.s = s;
    pthread_create(&t, NULL, wait_thread, &w);
    tap_ok(join_within(t, &w, true) && w.rv == R_NOT_EVENT,
           "CancelWaitForDevEvent wakes the waiter with SAR_NOT_EVENTERR");
}


static void test_lock_dev(struct skf *s)
{
    uint8_t info[DI_SIZE_NATURAL];
    H h1 = connect_dev(s, "alpha"), h2 = connect_dev(s, "alpha");

    TAP_EQ_INT(s->LockDev(h1, 0), R_OK_, "LockDev");
    TAP_EQ_INT(s->GetDevInfo(h1, info), R_OK_, "the locking handle works");
    TAP_EQ_INT(s->GetDevInfo(h2, info), R_FAIL, "another handle is shut out");
    TAP_EQ_INT(s->LockDev(h2, 30), 0x0A00000Fu, "LockDev by another handle: SAR_TIMEOUTERR");
    TAP_EQ_INT(s->UnlockDev(h1), R_OK_, "UnlockDev");
    TAP_EQ_INT(s->GetDevInfo(h2, info), R_OK_, "the other handle works again");
    s->LockDev(h2, 0);
    s->DisConnectDev(h2);
    TAP_EQ_INT(s->GetDevInfo(h1, info), R_OK_, "closing the locking handle unlocks");
    s->DisConnectDev(h1);
}

/* Two processes verify at once; the flock keeps every count whole. */
#define HAMMER_ROUNDS 25
static void test_two_processes(struct skf *s)
{
    pid_t kids[2];
    int bad = 0, status;
    ULONG max = 0, left = 0;
    BOOL32 def;

    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            H dev = connect_dev(s, "alpha"), app = dev ? open_app(s, dev, "APP1") : NULL;
            ULONG retry;
            int errors = 0;

            for (int i = 0; i < HAMMER_ROUNDS && app; i++) {
                ULONG a = s->VerifyPIN(app, T_USER, "000000", &retry);

                errors += a != R_PIN_INCORRECT;
                errors += s->VerifyPIN(app, T_USER, USER_PIN, &retry) != R_OK_;
            }
            _exit(app && errors == 0 ? 0 : 1);
        }
    }
    for (int k = 0; k < 2; k++)
        if (kids[k] < 0 || waitpid(kids[k], &status, 0) != kids[k] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
    TAP_EQ_INT(bad, 0, "two processes, 100 PIN checks between them, every answer as expected");
    H dev = connect_dev(s, "alpha"), app = dev ? open_app(s, dev, "APP1") : NULL;
    s->GetPINInfo(app, T_USER, &max, &left, &def);
    tap_ok(left == USER_TRIES && max == USER_TRIES, "tries intact afterwards (%u/%u)", left, max);
    s->DisConnectDev(dev);
}

static void test_damaged_state(struct skf *s)
{
    char path[BUF], out[BUF];
    FILE *f;
    H h = NULL;

    cli(NULL, 0, "provision", dev_dir, "gamma", "--serial", "VSKF0003", NULL);
    cli(NULL, 0, "plug", dev_dir, "gamma", NULL);
    join(path, sizeof path, dev_dir, "gamma.skf");
    f = fopen(path, "r+");
    if (f) {
        fseek(f, 30, SEEK_SET);         /* inside the label line */
        fputc('X', f);
        fclose(f);
    }
    TAP_EQ_INT(s->ConnectDev("gamma", &h), R_FAIL, "a damaged state file: ConnectDev fails");
    tap_ok(cli(out, sizeof out, "show", dev_dir, "gamma", NULL) == 1 && strstr(out, "crc32"),
           "vskf show names the damage (crc32)");
    cli(NULL, 0, "unplug", dev_dir, "gamma", NULL);
    unlink(path);
}

/* --- quirks ------------------------------------------------------------------------ */

static void test_quirks(struct skf *s)
{
    uint8_t info[DI_SIZE_NATURAL + 16], blob[PUBBLOB_SIZE];
    char name[64];
    ULONG size = 0, len = sizeof name, event = 99, max, left, retry;
    BOOL32 def;
    H a, b, app, con = NULL;

    setenv("VSKF_QUIRKS", "size-query-too-small", 1);
    TAP_EQ_INT(s->EnumDev(1, NULL, &size), R_BUFFER_TOO_SMALL,
               "size-query-too-small: NULL buffer answered SAR_BUFFER_TOO_SMALL");
    TAP_EQ_INT(size, sizeof "alpha\0beta\0", "... with the size");
    plug("beta");
    a = connect_dev(s, "alpha");
    b = connect_dev(s, "beta");
    setenv("VSKF_QUIRKS", "natural-devinfo", 1);
    memset(info, 0, sizeof info);
    s->GetDevInfo(a, info);
    TAP_EQ_INT(ulong_at(info + DI_ULONGS_NATURAL), ALG_SM4_ECB,
               "natural-devinfo: AlgSymCap at offset 200");
    setenv("VSKF_QUIRKS", "sm2-id-0x00020200", 1);
    s->GetDevInfo(a, info);
    TAP_EQ_INT(ulong_at(info + DI_ULONGS_PACKED + 4 * DI_ASYM), ALG_SM2_1_ALT | 0x00020800u,
               "sm2-id-0x00020200: AlgAsymCap in the shifted numbering");
    app = open_app(s, a, "APP1");
    s->VerifyPIN(app, T_USER, USER_PIN, &retry);
    s->CreateContainer(app, "Q1", &con);
    TAP_EQ_INT(s->GenECCKeyPair(con, ALG_SM2_1, blob), R_NOTSUPPORTYET,
               "... GenECCKeyPair refuses 0x00020100");
    TAP_EQ_INT(s->GenECCKeyPair(con, ALG_SM2_1_ALT, blob), R_OK_, "... takes 0x00020200");
    s->DeleteContainer(app, "Q1");
    setenv("VSKF_QUIRKS", "pin-types-swapped", 1);
    s->GetPINInfo(app, 0, &max, &left, &def);
    TAP_EQ_INT(max, USER_TRIES, "pin-types-swapped: type 0 is the user PIN");
    s->GetPINInfo(app, 1, &max, &left, &def);
    TAP_EQ_INT(max, ADMIN_TRIES, "... type 1 the admin PIN");
    setenv("VSKF_QUIRKS", "no-wait-event", 1);
    TAP_EQ_INT(s->WaitForDevEvent(name, &len, &event), R_NOTSUPPORTYET,
               "no-wait-event: SAR_NOTSUPPORTYETERR");
    setenv("VSKF_QUIRKS", "wait-returns-at-once", 1);
    len = sizeof name;
    TAP_EQ_INT(s->WaitForDevEvent(name, &len, &event), R_OK_,
               "wait-returns-at-once: returns with nothing to say");
    TAP_EQ_INT(event, 0, "... event 0");
    setenv("VSKF_QUIRKS", "global-device", 1);
    memset(info, 0, sizeof info);
    s->GetDevInfo(a, info);
    TAP_EQ_STR((char *)info + DI_SERIAL, "VSKF0002",
               "global-device: alpha's handle answers for beta, connected last");
    TAP_EQ_INT(s->GetDevInfo((H)(uintptr_t)0x1234, info), R_OK_, "... even a made-up handle");
    unsetenv("VSKF_QUIRKS");
    TAP_EQ_INT(s->GetDevInfo((H)(uintptr_t)0x1234, info), R_INVALIDHANDLE,
               "without the quirk a made-up handle is invalid");
    TAP_EQ_INT(cli(NULL, 0, "quirks", dev_dir, "natural-devinfo", NULL), 0,
               "vskf quirks DIR natural-devinfo");
    memset(info, 0, sizeof info);
    s->GetDevInfo(a, info);
    TAP_EQ_INT(ulong_at(info + DI_ULONGS_NATURAL), ALG_SM4_ECB, "the quirks file takes effect");
    tap_ok(cli(NULL, 0, "quirks", dev_dir, "no-such-quirk", NULL) != 0,
           "vskf quirks refuses an unknown quirk");
    cli(NULL, 0, "quirks", dev_dir, NULL);
    s->GetDevInfo(a, info);
    TAP_EQ_INT(ulong_at(info + DI_ULONGS_PACKED), ALG_SM4_ECB, "cleared: packed again");
    s->CloseApplication(app);
    s->DisConnectDev(a);
    s->DisConnectDev(b);
}

static void test_abi_variants(void)
{
    struct skf b64, nw;
    ULONG (*pin_info64)(H, ULONG, ULONG *, ULONG *, BOOL64 *);
    ULONG max, left;
    BOOL64 def = (BOOL64)0xAAAAAAAAAAAAAAAAull;
    H dev, app;

    if (load(&b64, "libvskf-bool64.so") < 0) {
        tap_ok(0, "libvskf-bool64.so loads");
        return;
    }
    dev = connect_dev(&b64, "alpha");
    app = dev ? open_app(&b64, dev, "APP1") : NULL;
    *(void **)&pin_info64 = dlsym(b64.dl, "SKF_GetPINInfo");
    TAP_EQ_INT(pin_info64(app, T_USER, &max, &left, &def), R_OK_, "bool64: GetPINInfo");
    tap_ok(def == 0 || def == 1, "bool64: all 8 bytes of BOOL written (%llx)",
           (unsigned long long)def);
    b64.DisConnectDev(dev);
    dlclose(b64.dl);

    tap_ok(load(&nw, "libvskf-nowait.so") == 0, "libvskf-nowait.so has the rest");
    tap_ok(nw.dl && !nw.WaitForDevEvent && !nw.CancelWaitForDevEvent,
           "libvskf-nowait.so has no SKF_WaitForDevEvent/SKF_CancelWaitForDevEvent");
    if (nw.dl)
        dlclose(nw.dl);
}

static void test_bool32_writes_four_bytes(struct skf *s)
{
    ULONG max, left;
    union { BOOL64 wide; BOOL32 half[2]; } def = { .wide = (BOOL64)0xAAAAAAAAAAAAAAAAull };
    H dev = connect_dev(s, "alpha"), app = dev ? open_app(s, dev, "APP1") : NULL;

    s->GetPINInfo(app, T_USER, &max, &left, &def.half[0]);
    tap_ok((uint32_t)def.half[1] == 0xAAAAAAAAu, "standard build: BOOL is 4 bytes");
    s->DisConnectDev(dev);
}

/* --- setup ------------------------------------------------------------------------------ */

static int provision(void)
{
    char sign[BUF], sign_key[BUF], enc[BUF], enc_key[BUF];

    join(sign, sizeof sign, demo_dir, "sm2-9a.pem");
    join(sign_key, sizeof sign_key, demo_dir, "sm2-9a-key.pem");
    join(enc, sizeof enc, demo_dir, "sm2-9d.pem");
    join(enc_key, sizeof enc_key, demo_dir, "sm2-9d-key.pem");
    if (cli(NULL, 0, "provision", dev_dir, "alpha", "--label", "演示专用's key", "--serial",
            "VSKF0001", "--manufacturer", "Longmai-style test", "--issuer", "test issuer",
            "--app", "APP1", "--container", "C1", "--user-pin", USER_PIN, "--user-tries", "3",
            "--admin-pin", ADMIN_PIN, "--admin-tries", "5", "--sign-cert", sign, "--sign-key",
            sign_key, "--enc-cert", enc, "--enc-key", enc_key, NULL) != 0)
        return -1;
    return cli(NULL, 0, "provision", dev_dir, "beta", "--serial", "VSKF0002", "--no-app",
               NULL);
}

static void remove_dev_dir(void)
{
    char cmd[BUF + 16];

    if (dev_dir[0] &&
        (snprintf(cmd, sizeof cmd, "rm -rf '%s'", dev_dir) >= (int)sizeof cmd || system(cmd) != 0))
        tap_diag("could not remove %s", dev_dir);
}

/* The demo token of make-demo-skf, on a copy of its device file. */
static void test_demo_token(struct skf *s)
{
    char skf_dir[BUF], src[BUF], dst[BUF], cmd[3 * BUF], names[BUF];
    uint8_t cert[BUF], want[BUF], info[DI_SIZE_NATURAL];
    X509 *sign = NULL, *ca = NULL;
    ULONG size = sizeof cert;
    H dev, app, con = NULL;
    FILE *f;
    int want_len = -1;

    join(skf_dir, sizeof skf_dir, build_dir, "demo-skf");
    join(src, sizeof src, skf_dir, "dev/demo-sm2.skf");
    join(dst, sizeof dst, dev_dir, "demo-sm2.skf");
    if (snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst) >= (int)sizeof cmd || system(cmd) != 0) {
        tap_ok(0, "the demo SKF token exists (%s)", src);
        return;
    }
    plug("demo-sm2");
    dev = connect_dev(s, "demo-sm2");
    app = dev ? open_app(s, dev, "UKEYD_DEMO") : NULL;
    tap_ok(app != NULL, "demo token: application UKEYD_DEMO");
    s->GetDevInfo(dev, info);
    TAP_EQ_STR((char *)info + DI_LABEL, "演示专用's key", "demo token: label");
    size = sizeof names;
    s->EnumContainer(app, names, &size);
    TAP_EQ_STR(names, "DEMO_SM2", "demo token: container");
    s->OpenContainer(app, "DEMO_SM2", &con);
    size = sizeof cert;
    s->ExportCertificate(con, 1, cert, &size);
    join(src, sizeof src, skf_dir, "sign.pem");
    if ((f = fopen(src, "r"))) {
        sign = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    ca = read_pem_cert("sm2-ca.pem");
    want_len = sign ? cert_der(sign, want, sizeof want) : -1;
    tap_ok(want_len > 0 && size == (ULONG)want_len && memcmp(cert, want, size) == 0,
           "demo token: the signing certificate of demo-skf/sign.pem");
    if (sign) {
        ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

        if (id && ASN1_OCTET_STRING_set(id, (const unsigned char *)SM2_ID, strlen(SM2_ID)) == 1)
            X509_set0_distinguishing_id(sign, id);     /* sign owns it now */
        else
            ASN1_OCTET_STRING_free(id);
    }
    tap_ok(sign && ca && X509_verify(sign, X509_get0_pubkey(ca)) == 1,
           "demo token: its signature verifies under the demo SM2 root");
    s->DisConnectDev(dev);
    unplug("demo-sm2");
    unlink(dst);
    X509_free(sign);
    X509_free(ca);
}

static void test_cli_refusals(void)
{
    char out[BUF], cert[BUF], key[BUF];

    join(cert, sizeof cert, demo_dir, "sm2-9a.pem");
    join(key, sizeof key, demo_dir, "sm2-9d-key.pem");
    tap_ok(cli(out, sizeof out, "provision", dev_dir, "bad", "--sign-cert", cert, "--sign-key",
               key, NULL) == 1 && strstr(out, "does not match"),
           "vskf provision refuses a key that is not the certificate's");
    tap_ok(cli(out, sizeof out, "provision", dev_dir, "bad", "--user-pin", "123", NULL) == 1,
           "vskf provision refuses a 3-digit PIN");
    tap_ok(cli(out, sizeof out, "provision", dev_dir, "../bad", NULL) == 1,
           "vskf provision refuses a name with a slash");
    tap_ok(cli(out, sizeof out, "plug", dev_dir, "nosuch", NULL) == 1, "vskf plug of no device");
    tap_ok(cli(out, sizeof out, "frobnicate", NULL) == 2, "vskf with a bad command: exit 2");
}

int main(int argc, char **argv)
{
    const char *env = getenv("UKEYD_BUILD");
    char tmpl[] = "/tmp/test-vskf.XXXXXX";
    struct skf s;
    H dev, app, con = NULL;

    if (env)
        snprintf(build_dir, sizeof build_dir, "%s", env);
    else
        snprintf(build_dir, sizeof build_dir, "%.*s/..",
                 (int)(strrchr(argv[0], '/') ? strrchr(argv[0], '/') - argv[0] : 1),
                 strrchr(argv[0], '/') ? argv[0] : ".");
    (void)argc;
    join(vskf_cli, sizeof vskf_cli, build_dir, "vskf/vskf");
    join(demo_dir, sizeof demo_dir, build_dir, "demo");
    if (access(vskf_cli, X_OK) < 0)
        tap_skip_all("no vskf CLI in the build (make all)");
    if (!mkdtemp(tmpl))
        tap_skip_all("no temp directory");
    snprintf(dev_dir, sizeof dev_dir, "%s", tmpl);
    atexit(remove_dev_dir);
    setenv("VSKF_DIR", dev_dir, 1);
    unsetenv("VSKF_QUIRKS");
    if (!tap_ok(provision() == 0, "vskf provision alpha (dual certificates) and beta (blank)"))
        return tap_done();
    if (!tap_ok(load(&s, "libvskf.so") == 0, "libvskf.so exports every function"))
        return tap_done();

    test_enumeration(&s);
    dev = connect_dev(&s, "alpha");
    tap_ok(dev != NULL, "ConnectDev alpha");
    test_devinfo(&s, dev);
    TAP_EQ_INT(s.SetLabel(dev, "a label far longer than thirty-one bytes"), R_INVALIDPARAM,
               "SetLabel too long");
    TAP_EQ_INT(s.OpenApplication(dev, "NOSUCH", &app), R_APP_NOT_EXISTS, "OpenApplication unknown");
    app = open_app(&s, dev, "APP1");
    tap_ok(app != NULL, "OpenApplication APP1");
    test_pins(&s, app);
    test_certificates(&s, app, &con);
    test_signing(&s, dev, app, con);
    test_unblock(&s, app);
    s.CloseContainer(con);
    s.CloseApplication(app);
    s.DisConnectDev(dev);
    test_device_auth_and_apps(&s);
    test_events(&s);
    test_lock_dev(&s);
    test_two_processes(&s);
    test_damaged_state(&s);
    test_quirks(&s);
    test_bool32_writes_four_bytes(&s);
    test_abi_variants();
    test_demo_token(&s);
    test_cli_refusals();
    dlclose(s.dl);
    return tap_done();
}
