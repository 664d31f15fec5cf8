/* SPDX-License-Identifier: MIT */
/*
 * tests/vskf/container.c — containers (GM/T 0016-2012 7.5) and what they
 * hold: an SM2 signing key pair made on the device, an SM2 encryption key
 * pair delivered enveloped under the signing key (7.6.12), and a
 * certificate for each; signatures on a digest need the user PIN.
 */
#include "tests/vskf/lib.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#define ENVELOPED_KEY_VERSION  1
#define SM4_KEY_BITS           128
/* The encrypted private key field holds the 32-byte scalar right-aligned in
 * 64 bytes, as the other ECC blobs hold their numbers. */
#define ENC_PRIV_FIELD         64
#define SESSION_KEY_MAX        64

static enum vskf_role role_of(const struct vskf_op *op)
{
    return vskf_ram_role(&op->ram, op->app->name);
}

static HANDLE open_con_handle(const struct vskf_op *op, HANDLE hApp, const char *name)
{
    struct vskf_ref ref = op->ref;

    ref.kind = VSKF_KIND_CON;
    vskf_strlcpy(ref.con, name, sizeof ref.con);
    (void)hApp;
    return vskf_handle_open(&ref);
}

ULONG SKF_CreateContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                          HCONTAINER *phContainer)
{
    struct vskf_op op;
    struct vskf_container *c;
    ULONG rv;

    if (!phContainer)
        return SAR_INVALIDPARAMERR;
    rv = vskf_check_name(szContainerName, VSKF_CON_NAME_MAX);
    if (rv != SAR_OK)
        return rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !vskf_rights_allow(op.app->create_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && vskf_find_container(op.app, szContainerName))
        rv = SAR_FILE_ALREADY_EXIST;
    else if (rv == SAR_OK && op.app->n_containers == VSKF_CONTAINERS_MAX)
        rv = SAR_REACH_MAX_CONTAINER_COUNT;
    if (rv != SAR_OK)
        return vskf_op_end(&op, rv);
    c = &op.app->containers[op.app->n_containers++];
    memset(c, 0, sizeof *c);
    vskf_strlcpy(c->name, szContainerName, sizeof c->name);
    op.st_dirty = true;
    *phContainer = open_con_handle(&op, hApplication, szContainerName);
    if (!*phContainer)
        rv = SAR_MEMORYERR;
    return vskf_op_end(&op, rv);
}

ULONG SKF_DeleteContainer(HAPPLICATION hApplication, LPSTR szContainerName)
{
    struct vskf_op op;
    struct vskf_container *c = NULL;
    ULONG rv;

    rv = vskf_check_name(szContainerName, VSKF_CON_NAME_MAX);
    if (rv != SAR_OK)
        return rv == SAR_NAMELENERR ? SAR_FILE_NOT_EXIST : rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !(c = vskf_find_container(op.app, szContainerName)))
        rv = SAR_FILE_NOT_EXIST;
    else if (rv == SAR_OK && !vskf_rights_allow(op.app->create_rights, role_of(&op)))
        rv = SAR_USER_NOT_LOGGED_IN;
    if (rv == SAR_OK) {
        vskf_container_free(c);
        *c = op.app->containers[op.app->n_containers - 1];
        memset(&op.app->containers[op.app->n_containers - 1], 0, sizeof *c);
        op.app->n_containers--;
        op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_OpenContainer(HAPPLICATION hApplication, LPSTR szContainerName,
                        HCONTAINER *phContainer)
{
    struct vskf_op op;
    ULONG rv;

    if (!phContainer)
        return SAR_INVALIDPARAMERR;
    rv = vskf_check_name(szContainerName, VSKF_CON_NAME_MAX);
    if (rv != SAR_OK)
        return rv == SAR_NAMELENERR ? SAR_FILE_NOT_EXIST : rv;
    rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);
    if (rv == SAR_OK && !vskf_find_container(op.app, szContainerName))
        rv = SAR_FILE_NOT_EXIST;
    if (rv == SAR_OK) {
        *phContainer = open_con_handle(&op, hApplication, szContainerName);
        if (!*phContainer)
            rv = SAR_MEMORYERR;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_CloseContainer(HCONTAINER hContainer)
{
    vskf_ensure_init();
    return vskf_handle_close(hContainer, VSKF_KIND_CON);
}

static size_t container_names(const struct vskf_app *app, char *out)
{
    size_t len = 0;

    for (size_t i = 0; i < app->n_containers; i++) {
        size_t n = strlen(app->containers[i].name) + 1;

        if (out)
            memcpy(out + len, app->containers[i].name, n);
        len += n;
    }
    if (out)
        out[len] = '\0';
    return len + 1;
}

ULONG SKF_EnumContainer(HAPPLICATION hApplication, LPSTR szContainerName, ULONG *pulSize)
{
    struct vskf_op op;
    char *names = NULL;
    ULONG rv = vskf_op_begin(hApplication, VSKF_KIND_APP, &op);

    if (rv == SAR_OK) {
        size_t len = container_names(op.app, NULL);

        names = malloc(len);
        if (!names) {
            rv = SAR_MEMORYERR;
        } else {
            container_names(op.app, names);
            rv = vskf_out(names, len, szContainerName, pulSize);
        }
    }
    free(names);
    return vskf_op_end(&op, rv);
}

ULONG SKF_GetContainerType(HCONTAINER hContainer, ULONG *pulContainerType)
{
    struct vskf_op op;
    ULONG rv;

    if (!pulContainerType)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK)
        *pulContainerType = op.con->sign_key.len || op.con->enc_key.len ? CONTAINER_TYPE_ECC
                                                                         : CONTAINER_TYPE_EMPTY;
    return vskf_op_end(&op, rv);
}

/* --- certificates ------------------------------------------------------------------ */

ULONG SKF_ImportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert, ULONG ulCertLen)
{
    const unsigned char *p = pbCert;
    struct vskf_op op;
    X509 *x;
    ULONG rv;

    if (!pbCert || ulCertLen == 0)
        return SAR_INVALIDPARAMERR;
    if (ulCertLen > VSKF_CERT_MAX)
        return SAR_INDATALENERR;
    x = d2i_X509(NULL, &p, (long)ulCertLen);
    if (!x || p != pbCert + ulCertLen) {
        X509_free(x);
        return SAR_INDATAERR;
    }
    X509_free(x);
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK && role_of(&op) != VSKF_ROLE_USER)
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK &&
             vskf_used_space(&op.st) + ulCertLen > op.st.total_space)
        rv = SAR_NO_ROOM;
    if (rv == SAR_OK) {
        struct vskf_bytes *slot = bSignFlag ? &op.con->sign_cert : &op.con->enc_cert;

        if (vskf_bytes_set(slot, pbCert, ulCertLen) < 0)
            rv = SAR_MEMORYERR;
        else
            op.st_dirty = true;
    }
    return vskf_op_end(&op, rv);
}

ULONG SKF_ExportCertificate(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbCert,
                            ULONG *pulCertLen)
{
    struct vskf_op op;
    ULONG rv;

    if (!pulCertLen)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK) {
        const struct vskf_bytes *cert = bSignFlag ? &op.con->sign_cert : &op.con->enc_cert;

        rv = cert->len ? vskf_out(cert->data, cert->len, pbCert, pulCertLen)
                       : SAR_CERTNOTFOUNTERR;
    }
    return vskf_op_end(&op, rv);
}

/* --- keys ------------------------------------------------------------------------------ */

ULONG SKF_GenECCKeyPair(HCONTAINER hContainer, ULONG ulAlgId, ECCPUBLICKEYBLOB *pBlob)
{
    struct vskf_op op;
    EVP_PKEY *key = NULL;
    ULONG rv;

    if (!pBlob)
        return SAR_INVALIDPARAMERR;
    if (ulAlgId != vskf_sm2_sign_alg())
        return SAR_NOTSUPPORTYETERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK && role_of(&op) != VSKF_ROLE_USER)
        rv = SAR_USER_NOT_LOGGED_IN;
    if (rv == SAR_OK) {
        key = vskf_sm2_generate();
        if (!key || vskf_key_to_blob(key, pBlob) < 0 || vskf_key_store(key, &op.con->sign_key) < 0)
            rv = SAR_FAIL;
        else
            op.st_dirty = true;
    }
    EVP_PKEY_free(key);
    return vskf_op_end(&op, rv);
}

ULONG SKF_ExportPublicKey(HCONTAINER hContainer, BOOL bSignFlag, BYTE *pbBlob, ULONG *pulBlobLen)
{
    ECCPUBLICKEYBLOB blob;
    struct vskf_op op;
    EVP_PKEY *key = NULL;
    ULONG rv;

    if (!pulBlobLen)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK) {
        key = vskf_key_load(bSignFlag ? &op.con->sign_key : &op.con->enc_key);
        if (!key)
            rv = SAR_KEYNOTFOUNTERR;
        else if (vskf_key_to_blob(key, &blob) < 0)
            rv = SAR_FAIL;
        else
            rv = vskf_out(&blob, sizeof blob, pbBlob, pulBlobLen);
    }
    EVP_PKEY_free(key);
    return vskf_op_end(&op, rv);
}

ULONG SKF_ECCSignData(HCONTAINER hContainer, BYTE *pbDigest, ULONG ulDigestLen,
                      ECCSIGNATUREBLOB *pSignature)
{
    struct vskf_op op;
    EVP_PKEY *key = NULL;
    ULONG rv;

    if (!pbDigest || !pSignature)
        return SAR_INVALIDPARAMERR;
    if (ulDigestLen != VSKF_SM3_LEN)
        return SAR_INDATALENERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK && role_of(&op) != VSKF_ROLE_USER)
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && !(key = vskf_key_load(&op.con->sign_key)))
        rv = SAR_KEYNOTFOUNTERR;
    if (rv == SAR_OK && vskf_sign_digest(key, pbDigest, ulDigestLen, pSignature) < 0)
        rv = SAR_FAIL;
    EVP_PKEY_free(key);
    return vskf_op_end(&op, rv);
}

/* GM/T 0016-2012 7.6.12: the CA's key management centre encrypts the
 * encryption private key with a fresh symmetric key (ECB) and that key with
 * the container's signing public key; only the token can open both. */
static ULONG open_envelope(EVP_PKEY *sign_key, const ENVELOPEDKEYBLOB *env,
                           struct vskf_bytes *out_pkcs8)
{
    uint8_t session[SESSION_KEY_MAX], priv[ENC_PRIV_FIELD];
    size_t session_len = sizeof session;
    ECCPUBLICKEYBLOB derived;
    EVP_PKEY *enc = NULL;
    ULONG rv = SAR_INDATAERR;

    if (env->Version != ENVELOPED_KEY_VERSION || env->ulSymmAlgID != SGD_SM4_ECB ||
        env->ulBits != VSKF_SM2_BITS || env->ECCCipherBlob.CipherLen != VSKF_SM4_KEY_LEN)
        return SAR_INVALIDPARAMERR;
    if (vskf_sm2_decrypt_blob(sign_key, &env->ECCCipherBlob, session, &session_len) < 0 ||
        session_len != VSKF_SM4_KEY_LEN)
        goto out;
    if (vskf_sm4_ecb(session, env->cbEncryptedPriKey, sizeof priv, priv, false) < 0)
        goto out;
    for (size_t i = 0; i < ENC_PRIV_FIELD - VSKF_SM2_COORD_LEN; i++)
        if (priv[i])
            goto out;
    enc = vskf_sm2_from_private(priv + ENC_PRIV_FIELD - VSKF_SM2_COORD_LEN, VSKF_SM2_COORD_LEN);
    /* The public key in the envelope must be the private key's. */
    if (!enc || vskf_key_to_blob(enc, &derived) < 0 ||
        memcmp(&derived, &env->PubKey, sizeof derived) != 0)
        goto out;
    rv = vskf_key_store(enc, out_pkcs8) < 0 ? SAR_MEMORYERR : SAR_OK;
out:
    EVP_PKEY_free(enc);
    OPENSSL_cleanse(session, sizeof session);
    OPENSSL_cleanse(priv, sizeof priv);
    return rv;
}

ULONG SKF_ImportECCKeyPair(HCONTAINER hContainer, ENVELOPEDKEYBLOB *pEnvelopedKeyBlob)
{
    struct vskf_op op;
    EVP_PKEY *sign_key = NULL;
    ULONG rv;

    if (!pEnvelopedKeyBlob)
        return SAR_INVALIDPARAMERR;
    rv = vskf_op_begin(hContainer, VSKF_KIND_CON, &op);
    if (rv == SAR_OK && role_of(&op) != VSKF_ROLE_USER)
        rv = SAR_USER_NOT_LOGGED_IN;
    else if (rv == SAR_OK && !(sign_key = vskf_key_load(&op.con->sign_key)))
        rv = SAR_KEYNOTFOUNTERR;
    if (rv == SAR_OK)
        rv = open_envelope(sign_key, pEnvelopedKeyBlob, &op.con->enc_key);
    if (rv == SAR_OK)
        op.st_dirty = true;
    EVP_PKEY_free(sign_key);
    return vskf_op_end(&op, rv);
}
