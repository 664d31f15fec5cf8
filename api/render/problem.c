/* SPDX-License-Identifier: MIT */
/*
 * api/render/problem.c — every API error code's status and words, in zh-CN and en,
 * and the problem+json body built from them.
 *
 * Details are templates: "{field}", "{reason}", "{tries}", "{min}", "{max}",
 * "{charset}", "{rule}", "{attempts}", "{retry}" and "{state}" are filled from the problem. A template that needs a value
 * the problem lacks is never chosen: `detail_more` is used only when the
 * problem carries its value, `detail` always works alone.
 */
#include "api/render/problem.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#define PROBLEM_TYPE_PREFIX "urn:ukeyd:problem:"
#define PROBLEM_TEXT_MAX    512
#define PROBLEM_TYPE_MAX    64
#define NUMBER_TEXT_MAX     24

struct words {
    const char *title;
    const char *detail;
    const char *detail_more;     /* with the code's extra value, or NULL */
};

struct code_info {
    const char *name;
    unsigned status;
    struct words text[LANG__COUNT];
};

static const struct code_info codes[API_CODE__COUNT] = {
    [API_OK] = { "OK", MHD_HTTP_OK, {
        [LANG_ZH_CN] = { "成功", "请求已完成。", NULL },
        [LANG_EN] = { "OK", "The request succeeded.", NULL } } },
    [API_BAD_REQUEST] = { "BAD_REQUEST", MHD_HTTP_BAD_REQUEST, {
        [LANG_ZH_CN] = { "请求无效", "请求的格式不正确。", "字段“{field}”{reason}。" },
        [LANG_EN] = { "Bad request", "The request is malformed.",
                      "Field \"{field}\" {reason}." } } },
    [API_HOST_FORBIDDEN] = { "HOST_FORBIDDEN", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "主机名不被接受",
                         "请求的 Host 不是本机回环地址或 localhost，可能是 DNS 重绑定攻击。", NULL },
        [LANG_EN] = { "Host not accepted",
                      "The Host header does not name the loopback address or localhost; "
                      "this may be a DNS rebinding attack.", NULL } } },
    [API_MISDIRECTED_REQUEST] = { "MISDIRECTED_REQUEST", MHD_HTTP_MISDIRECTED_REQUEST, {
        [LANG_ZH_CN] = { "端口不符", "请求的 Host 指向的端口不是本服务监听的端口。", NULL },
        [LANG_EN] = { "Misdirected request",
                      "The Host header names a port this service does not listen on.", NULL } } },
    [API_ORIGIN_FORBIDDEN] = { "ORIGIN_FORBIDDEN", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "来源网站未获授权",
                         "发出请求的网页不在允许列表中，请求未被执行。", NULL },
        [LANG_EN] = { "Origin not allowed",
                      "The web page that sent this request is not on the allow-list; "
                      "nothing was done.", NULL } } },
    [API_PEER_NOT_ALLOWED] = { "PEER_NOT_ALLOWED", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "本机用户无权使用",
                         "发出请求的本机账户不是正在使用这台电脑的用户（或不在允许列表中），"
                         "请求未被执行。", NULL },
        [LANG_EN] = { "Local user not allowed",
                      "The local account that sent this request is not the user at this "
                      "computer (nor on the allow-list); nothing was done.", NULL } } },
    [API_NOT_FOUND] = { "NOT_FOUND", MHD_HTTP_NOT_FOUND, {
        [LANG_ZH_CN] = { "接口不存在", "没有这个接口路径。", NULL },
        [LANG_EN] = { "Not found", "There is no such API path.", NULL } } },
    [API_METHOD_NOT_ALLOWED] = { "METHOD_NOT_ALLOWED", MHD_HTTP_METHOD_NOT_ALLOWED, {
        [LANG_ZH_CN] = { "请求方法不被支持", "该接口不支持此请求方法，可用方法见 Allow 响应头。",
                         NULL },
        [LANG_EN] = { "Method not allowed",
                      "This path does not support the method; see the Allow header.", NULL } } },
    [API_PAYLOAD_TOO_LARGE] = { "PAYLOAD_TOO_LARGE", MHD_HTTP_CONTENT_TOO_LARGE, {
        [LANG_ZH_CN] = { "请求正文过大", "请求正文超过 16 KiB 的上限。", NULL },
        [LANG_EN] = { "Payload too large", "The request body exceeds the 16 KiB limit.",
                      NULL } } },
    [API_UNSUPPORTED_MEDIA_TYPE] = { "UNSUPPORTED_MEDIA_TYPE", MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, {
        [LANG_ZH_CN] = { "内容类型不被支持", "POST 请求的 Content-Type 必须是 application/json。",
                         NULL },
        [LANG_EN] = { "Unsupported media type",
                      "A POST request must have Content-Type: application/json.", NULL } } },
    [API_TOO_MANY_STREAMS] = { "TOO_MANY_STREAMS", MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "事件流过多", "同时打开的事件流已达上限，请关闭其他页面后重试。", NULL },
        [LANG_EN] = { "Too many event streams",
                      "The limit of concurrent event streams is reached; close other tabs "
                      "and try again.", NULL } } },
    [API_PIN_INCORRECT] = { "PIN_INCORRECT", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "密码错误", "密码不正确。", "密码不正确，还可以尝试 {tries} 次。" },
        [LANG_EN] = { "Incorrect PIN", "The PIN is incorrect.",
                      "The PIN is incorrect; {tries} tries left." } } },
    [API_PIN_BLOCKED] = { "PIN_BLOCKED", MHD_HTTP_LOCKED, {
        [LANG_ZH_CN] = { "密码已锁定", "密码已被锁定，请通过“找回密码”解锁后再使用。", NULL },
        [LANG_EN] = { "PIN blocked", "The PIN is blocked; the USB key must be unlocked first.",
                      NULL } } },
    [API_PIN_LAST_TRY] = { "PIN_LAST_TRY", MHD_HTTP_PRECONDITION_REQUIRED, {
        [LANG_ZH_CN] = { "仅剩最后一次机会",
                         "只剩最后一次尝试机会，再输错密码将被锁定。请确认无误后再继续。", NULL },
        [LANG_EN] = { "Last try",
                      "Only one try is left, and a wrong PIN will block it. Go on only when "
                      "you are sure of the PIN.", NULL } } },
    [API_PIN_POLICY] = { "PIN_POLICY", MHD_HTTP_UNPROCESSABLE_CONTENT, {
        [LANG_ZH_CN] = { "密码不符合规则", "密码不符合该电子钥匙的长度或字符要求。",
                         "“{field}”不符合该电子钥匙的密码规则：长度 {min}–{max} 位，{charset}。" },
        [LANG_EN] = { "PIN does not meet the rules",
                      "The PIN does not meet the USB key's length or character rules.",
                      "\"{field}\" does not meet the USB key's PIN rules: {min} to {max} "
                      "characters, {charset}." } } },
    [API_PIN_SAME_AS_OLD] = { "PIN_SAME_AS_OLD", MHD_HTTP_UNPROCESSABLE_CONTENT, {
        [LANG_ZH_CN] = { "新密码与原密码相同", "新密码不能与原密码相同，请另设一个。", NULL },
        [LANG_EN] = { "New PIN same as the old one",
                      "The new PIN must differ from the old one; choose another.", NULL } } },
    [API_PIN_TOO_SIMPLE] = { "PIN_TOO_SIMPLE", MHD_HTTP_UNPROCESSABLE_CONTENT, {
        [LANG_ZH_CN] = { "新密码过于简单", "新密码过于简单，容易被他人猜到，请另设一个。",
                         "新密码过于简单（{rule}），容易被他人猜到，请另设一个。" },
        [LANG_EN] = { "New PIN too simple",
                      "The new PIN is too easy to guess; choose another.",
                      "The new PIN is too easy to guess ({rule}); choose another." } } },
    [API_PUK_INCORRECT] = { "PUK_INCORRECT", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "PUK 码错误", "PUK 码不正确。", "PUK 码不正确，还可以尝试 {tries} 次。" },
        [LANG_EN] = { "Incorrect PUK", "The PUK is incorrect.",
                      "The PUK is incorrect; {tries} tries left." } } },
    [API_PUK_BLOCKED] = { "PUK_BLOCKED", MHD_HTTP_LOCKED, {
        [LANG_ZH_CN] = { "PUK 码已锁定", "PUK 码已被锁定，请联系证书颁发机构。", NULL },
        [LANG_EN] = { "PUK blocked",
                      "The PUK is blocked; please contact the certificate authority.", NULL } } },
    [API_PUK_LAST_TRY] = { "PUK_LAST_TRY", MHD_HTTP_LOCKED, {
        [LANG_ZH_CN] = { "PUK 码仅剩最后一次机会",
                         "这个电子钥匙的 PUK 码只剩最后一次尝试机会，ukeyd 不会冒险使用它。"
                         "请联系证书颁发机构。", NULL },
        [LANG_EN] = { "Last PUK try",
                      "The USB key's PUK has one try left, which ukeyd never risks; please "
                      "contact the certificate authority.", NULL } } },
    [API_TOKEN_NOT_FOUND] = { "TOKEN_NOT_FOUND", MHD_HTTP_NOT_FOUND, {
        [LANG_ZH_CN] = { "找不到电子钥匙", "没有找到这个电子钥匙，请确认已插好。", NULL },
        [LANG_EN] = { "USB key not found",
                      "No USB key with this id is present; check that it is plugged in.",
                      NULL } } },
    [API_TOKEN_REMOVED] = { "TOKEN_REMOVED", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "电子钥匙已拔出", "操作过程中电子钥匙被拔出，请重新插入后再试。", NULL },
        [LANG_EN] = { "USB key removed",
                      "The USB key was removed during the operation; plug it in and try "
                      "again.", NULL } } },
    [API_TOKEN_BUSY] = { "TOKEN_BUSY", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "电子钥匙忙", "另一个程序正在独占使用这个电子钥匙，请稍后再试。", NULL },
        [LANG_EN] = { "USB key busy",
                      "Another program is using the USB key exclusively; try again later.",
                      NULL } } },
    [API_CERTIFICATE_NOT_FOUND] = { "CERTIFICATE_NOT_FOUND", MHD_HTTP_NOT_FOUND, {
        [LANG_ZH_CN] = { "找不到证书", "电子钥匙中没有这张证书。", NULL },
        [LANG_EN] = { "Certificate not found", "The USB key holds no certificate in this slot.",
                      NULL } } },
    [API_CARD_UNSUPPORTED] = { "CARD_UNSUPPORTED", MHD_HTTP_UNPROCESSABLE_CONTENT, {
        [LANG_ZH_CN] = { "不支持的电子钥匙", "无法识别这个电子钥匙的类型。", NULL },
        [LANG_EN] = { "Unsupported USB key", "This kind of USB key is not supported.",
                      NULL } } },
    [API_CARD_ERROR] = { "CARD_ERROR", MHD_HTTP_BAD_GATEWAY, {
        [LANG_ZH_CN] = { "电子钥匙响应异常", "电子钥匙返回了意外的响应或数据。", NULL },
        [LANG_EN] = { "USB key error", "The USB key answered with an unexpected status or data.",
                      NULL } } },
    [API_PCSC_UNAVAILABLE] = { "PCSC_UNAVAILABLE", MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "智能卡服务不可用", "无法连接 pcscd 智能卡服务，请检查该服务是否运行。",
                         NULL },
        [LANG_EN] = { "Smart card service unavailable",
                      "The pcscd smart card service cannot be reached; check that it is "
                      "running.", NULL } } },
    [API_TIMEOUT] = { "TIMEOUT", MHD_HTTP_GATEWAY_TIMEOUT, {
        [LANG_ZH_CN] = { "电子钥匙超时", "电子钥匙没有及时响应。", NULL },
        [LANG_EN] = { "USB key timeout", "The USB key did not answer in time.", NULL } } },
    [API_UNLOCK_NOT_CONFIGURED] = { "UNLOCK_NOT_CONFIGURED", MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "在线解锁未开通",
                         "本机没有配置证书颁发机构的解锁服务（ca-service-url），请联系管理员。",
                         NULL },
        [LANG_EN] = { "Remote unlock not set up",
                      "This computer has no usable CA unlock service configured "
                      "(ca-service-url, state directory); contact the administrator.", NULL } } },
    [API_UNLOCK_SERVICE_UNAVAILABLE] = { "UNLOCK_SERVICE_UNAVAILABLE",
                                         MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "解锁服务不可用",
                         "暂时无法使用证书颁发机构的解锁服务，请检查网络后重试。", NULL },
        [LANG_EN] = { "Unlock service unavailable",
                      "The CA's unlock service cannot be reached or gave no usable answer; "
                      "check the network and try again.", NULL } } },
    [API_UNLOCK_SESSION_NOT_FOUND] = { "UNLOCK_SESSION_NOT_FOUND", MHD_HTTP_NOT_FOUND, {
        [LANG_ZH_CN] = { "解锁会话不存在", "没有这个解锁会话，请重新开始解锁。", NULL },
        [LANG_EN] = { "Unlock session not found",
                      "There is no such unlock session; start the unlock again.", NULL } } },
    [API_UNLOCK_SESSION_EXPIRED] = { "UNLOCK_SESSION_EXPIRED", MHD_HTTP_GONE, {
        [LANG_ZH_CN] = { "解锁会话已过期", "解锁会话已过期，请重新开始解锁。", NULL },
        [LANG_EN] = { "Unlock session expired",
                      "The unlock session has expired; start the unlock again.", NULL } } },
    [API_UNLOCK_STATE_CONFLICT] = { "UNLOCK_STATE_CONFLICT", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "当前不能执行这一步", "解锁流程当前不能执行这一步。",
                         "解锁流程处于“{state}”状态，不能执行这一步。" },
        [LANG_EN] = { "Not possible now", "The unlock cannot take this step now.",
                      "The unlock is in state \"{state}\" and cannot take this step." } } },
    [API_UNLOCK_TOKEN_UNKNOWN] = { "UNLOCK_TOKEN_UNKNOWN", MHD_HTTP_UNPROCESSABLE_CONTENT, {
        [LANG_ZH_CN] = { "证书颁发机构没有此电子钥匙的记录",
                         "证书颁发机构的解锁服务没有这个电子钥匙或其证书的记录，"
                         "请联系证书颁发机构。", NULL },
        [LANG_EN] = { "USB key unknown to the CA",
                      "The CA's unlock service has no record of this USB key or its "
                      "certificate; contact the CA.", NULL } } },
    [API_UNLOCK_RECORD_MISMATCH] = { "UNLOCK_RECORD_MISMATCH", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "证书颁发机构的记录与电子钥匙不符",
                         "证书颁发机构对这个电子钥匙的记录与实际不符，无法在线解锁；"
                         "已通知证书颁发机构，请联系其客服处理。电子钥匙没有被锁死。", NULL },
        [LANG_EN] = { "The CA's record does not match the USB key",
                      "The CA's record of this USB key does not match what is on it, so it "
                      "cannot be unlocked online. The CA has been told; please contact it. "
                      "The USB key is not blocked.", NULL } } },
    [API_PAYMENT_REQUIRED] = { "PAYMENT_REQUIRED", MHD_HTTP_PAYMENT_REQUIRED, {
        [LANG_ZH_CN] = { "请先支付解锁费用", "本次解锁需要付费，请先在支付页面完成支付。", NULL },
        [LANG_EN] = { "Payment required",
                      "This unlock is charged; complete the payment on the payment page first.",
                      NULL } } },
    [API_PHONE_MISMATCH] = { "PHONE_MISMATCH", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "手机号码不符", "输入的手机号码与证书登记的号码不一致。", NULL },
        [LANG_EN] = { "Phone number does not match",
                      "The phone number is not the one registered with the certificate.",
                      NULL } } },
    [API_CODE_INCORRECT] = { "CODE_INCORRECT", MHD_HTTP_FORBIDDEN, {
        [LANG_ZH_CN] = { "验证码错误", "验证码不正确。", "验证码不正确，还可以尝试 {attempts} 次。" },
        [LANG_EN] = { "Incorrect code", "The code is incorrect.",
                      "The code is incorrect; {attempts} attempts left." } } },
    [API_CODE_NOT_ISSUED] = { "CODE_NOT_ISSUED", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "没有可用的验证码", "尚未发出验证码，或验证码已使用，请重新获取。", NULL },
        [LANG_EN] = { "No code issued",
                      "No code of this kind is live (none was sent, or it was used); ask for "
                      "a new one.", NULL } } },
    [API_CODE_EXPIRED] = { "CODE_EXPIRED", MHD_HTTP_GONE, {
        [LANG_ZH_CN] = { "验证码已过期", "验证码已过期，请重新获取。", NULL },
        [LANG_EN] = { "Code expired", "The code has expired; ask for a new one.", NULL } } },
    [API_TOO_MANY_ATTEMPTS] = { "TOO_MANY_ATTEMPTS", MHD_HTTP_TOO_MANY_REQUESTS, {
        [LANG_ZH_CN] = { "尝试次数过多", "验证码输错次数过多，已经失效，请重新获取。", NULL },
        [LANG_EN] = { "Too many attempts",
                      "Too many wrong codes: this code no longer works; ask for a new one.",
                      NULL } } },
    [API_RATE_LIMITED] = { "RATE_LIMITED", MHD_HTTP_TOO_MANY_REQUESTS, {
        [LANG_ZH_CN] = { "操作过于频繁", "操作过于频繁，请稍后再试。",
                         "操作过于频繁，请 {retry} 秒后再试。" },
        [LANG_EN] = { "Too many requests", "Too many requests; try again later.",
                      "Too many requests; try again in {retry} seconds." } } },
    [API_CERT_SERVICE_UNAVAILABLE] = { "CERT_SERVICE_UNAVAILABLE", MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "证书服务不可用",
                         "暂时无法使用证书颁发机构的证书服务（或本机未配置 ca-service-url），"
                         "请检查网络后重试。电子钥匙上的证书没有改变。", NULL },
        [LANG_EN] = { "Certificate service unavailable",
                      "The CA's certificate service cannot be reached, is not configured "
                      "(ca-service-url) or gave no usable answer; the certificate on the USB "
                      "key is unchanged. Check the network and try again.", NULL } } },
    [API_CERT_ACTION_NOT_FOUND] = { "CERT_ACTION_NOT_FOUND", MHD_HTTP_NOT_FOUND, {
        [LANG_ZH_CN] = { "没有可执行的证书业务",
                         "证书颁发机构没有这个电子钥匙的这笔已批准的证书业务（可能尚未付费、尚在审核、"
                         "已被驳回或已经完成）。", NULL },
        [LANG_EN] = { "No such certificate action",
                      "The CA has no approved certificate action with this number for this "
                      "USB key (it may be unpaid, under review, rejected or already done).",
                      NULL } } },
    [API_CERT_ACTION_NOT_READY] = { "CERT_ACTION_NOT_READY", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "证书业务当前不能执行", "证书颁发机构表示这笔业务当前不能执行。",
                         "这笔证书业务处于“{state}”状态，当前不能执行。" },
        [LANG_EN] = { "Certificate action not ready",
                      "The CA says this certificate action cannot be carried out now.",
                      "The certificate action is in state \"{state}\" and cannot be carried "
                      "out now." } } },
    [API_CERT_INVALID] = { "CERT_INVALID", MHD_HTTP_BAD_GATEWAY, {
        [LANG_ZH_CN] = { "证书未通过校验",
                         "证书颁发机构签发的证书不能链接到本机配置的根证书（ca-roots），"
                         "或其公钥不是电子钥匙中的密钥；证书没有写入电子钥匙。", NULL },
        [LANG_EN] = { "Certificate rejected",
                      "The certificate the CA issued does not chain to the roots configured "
                      "here (ca-roots), or its public key is not the USB key's; nothing was "
                      "written.",
                      NULL } } },
    [API_MANAGEMENT_AUTH_FAILED] = { "MANAGEMENT_AUTH_FAILED", MHD_HTTP_BAD_GATEWAY, {
        [LANG_ZH_CN] = { "电子钥匙管理认证失败",
                         "电子钥匙拒绝了证书颁发机构的管理密钥认证，电子钥匙未被修改，"
                         "请联系证书颁发机构。",
                         NULL },
        [LANG_EN] = { "Management authentication failed",
                      "The USB key refused the CA's management key authentication; nothing was "
                      "written. Contact the CA.", NULL } } },
    [API_TOKEN_WRITE_FAILED] = { "TOKEN_WRITE_FAILED", MHD_HTTP_INTERNAL_SERVER_ERROR, {
        [LANG_ZH_CN] = { "写入电子钥匙失败",
                         "证书写入后读回的内容不一致。请保持电子钥匙插好并重试这笔业务。", NULL },
        [LANG_EN] = { "Write to the USB key failed",
                      "The certificate did not read back as written. Keep the USB key plugged "
                      "in and carry out the action again.", NULL } } },
    [API_TOKEN_FULL] = { "TOKEN_FULL", MHD_HTTP_INSUFFICIENT_STORAGE, {
        [LANG_ZH_CN] = { "电子钥匙空间不足", "电子钥匙没有足够的空间存放这张证书。", NULL },
        [LANG_EN] = { "USB key full", "The USB key has no room for this certificate.", NULL } } },
    [API_OPERATION_NOT_SUPPORTED] = { "OPERATION_NOT_SUPPORTED", MHD_HTTP_CONFLICT, {
        [LANG_ZH_CN] = { "电子钥匙不支持此操作",
                         "这个电子钥匙不支持所需的操作（例如在电子钥匙内生成该类型的密钥"
                         "或移动密钥）。", NULL },
        [LANG_EN] = { "Not supported by this USB key",
                      "This USB key lacks an operation the action needs (e.g. generating this "
                      "kind of key pair, or moving a key pair).", NULL } } },
    [API_CERT_ROOTS_NOT_CONFIGURED] = { "CERT_ROOTS_NOT_CONFIGURED",
                                        MHD_HTTP_SERVICE_UNAVAILABLE, {
        [LANG_ZH_CN] = { "未配置根证书",
                         "本机没有配置可用的证书颁发机构根证书（ca-roots），不能写入证书，"
                         "请联系管理员。", NULL },
        [LANG_EN] = { "CA roots not configured",
                      "This computer has no usable CA roots configured (ca-roots), so no "
                      "certificate can be written; contact the administrator.", NULL } } },
    [API_INTERNAL] = { "INTERNAL", MHD_HTTP_INTERNAL_SERVER_ERROR, {
        [LANG_ZH_CN] = { "内部错误", "服务内部出错，请查看日志。", NULL },
        [LANG_EN] = { "Internal error", "Something went wrong inside the service; see its log.",
                      NULL } } },
};

static const char *const reasons[REASON__COUNT][LANG__COUNT] = {
    [REASON_NONE] = { [LANG_ZH_CN] = "无效", [LANG_EN] = "is invalid" },
    [REASON_MISSING] = { [LANG_ZH_CN] = "缺失", [LANG_EN] = "is missing" },
    [REASON_NOT_STRING] = { [LANG_ZH_CN] = "必须是字符串", [LANG_EN] = "must be a string" },
    [REASON_NOT_BOOLEAN] = { [LANG_ZH_CN] = "必须是 true 或 false",
                             [LANG_EN] = "must be true or false" },
    [REASON_UNKNOWN_FIELD] = { [LANG_ZH_CN] = "不被接受", [LANG_EN] = "is not accepted here" },
    [REASON_NOT_JSON] = { [LANG_ZH_CN] = "不是有效的 JSON", [LANG_EN] = "is not valid JSON" },
    [REASON_NOT_OBJECT] = { [LANG_ZH_CN] = "必须是 JSON 对象",
                            [LANG_EN] = "must be a JSON object" },
    [REASON_NOT_MATCHING] = { [LANG_ZH_CN] = "与 newPin 不一致",
                              [LANG_EN] = "does not match newPin" },
    [REASON_BAD_FORMAT] = { [LANG_ZH_CN] = "格式不正确",
                            [LANG_EN] = "is not in the expected format" },
    [REASON_EXCLUSIVE] = { [LANG_ZH_CN] = "不能与另一种验证码同时提供",
                           [LANG_EN] = "cannot be given together with the other code" },
};

static const struct {
    const char *charset;
    const char *words[LANG__COUNT];
} charsets[] = {
    { "digits", { [LANG_ZH_CN] = "仅限数字", [LANG_EN] = "digits only" } },
    { "ascii", { [LANG_ZH_CN] = "可打印 ASCII 字符", [LANG_EN] = "printable ASCII characters" } },
};

/* The rules of api/v1/pinrule.h, in words: what a page may show as they are. */
static const struct {
    const char *rule;
    const char *words[LANG__COUNT];
} simple_rules[] = {
    { "repeated", { [LANG_ZH_CN] = "全是同一个字符，如 111111",
                    [LANG_EN] = "one character over and over, like 111111" } },
    { "sequence", { [LANG_ZH_CN] = "是连续的数字，如 123456、654321",
                    [LANG_EN] = "a run of digits, like 123456 or 654321" } },
    { "pattern", { [LANG_ZH_CN] = "是一组数字的重复，如 123123、121212",
                   [LANG_EN] = "a group repeated, like 123123 or 121212" } },
    { "common", { [LANG_ZH_CN] = "是最常被猜的密码之一",
                  [LANG_EN] = "one of the PINs most often guessed" } },
};

static const struct code_info *info_of(enum api_code code)
{
    return (unsigned)code < API_CODE__COUNT ? &codes[code] : &codes[API_INTERNAL];
}

const char *api_code_name(enum api_code code)
{
    return info_of(code)->name;
}

unsigned api_code_status(enum api_code code)
{
    return info_of(code)->status;
}

bool api_code_has_tries(enum api_code code)
{
    return code == API_PIN_INCORRECT || code == API_PIN_BLOCKED || code == API_PIN_LAST_TRY ||
           code == API_PUK_INCORRECT || code == API_PUK_BLOCKED || code == API_PUK_LAST_TRY;
}

bool api_code_has_attempts(enum api_code code)
{
    return code == API_CODE_INCORRECT || code == API_TOO_MANY_ATTEMPTS;
}

static const char *charset_words(const char *charset, enum api_lang lang)
{
    for (size_t i = 0; i < sizeof charsets / sizeof charsets[0]; i++)
        if (charset && strcmp(charset, charsets[i].charset) == 0)
            return charsets[i].words[lang];
    return charset ? charset : "";
}

static const char *rule_words(const char *rule, enum api_lang lang)
{
    for (size_t i = 0; i < sizeof simple_rules / sizeof simple_rules[0]; i++)
        if (rule && strcmp(rule, simple_rules[i].rule) == 0)
            return simple_rules[i].words[lang];
    return NULL;
}

/* The value of one "{name}" placeholder, or NULL when the problem has none. */
static const char *placeholder_value(const char *name, size_t len, const struct problem *p,
                                     enum api_lang lang, char *num, size_t num_size)
{
    if (len == 5 && strncmp(name, "field", len) == 0)
        return p->field;
    if (len == 6 && strncmp(name, "reason", len) == 0)
        return reasons[(unsigned)p->reason < REASON__COUNT ? p->reason : REASON_NONE][lang];
    if (len == 5 && strncmp(name, "tries", len) == 0 && p->tries_left >= 0) {
        snprintf(num, num_size, "%d", p->tries_left);
        return num;
    }
    if (len == 8 && strncmp(name, "attempts", len) == 0 && p->attempts_left >= 0) {
        snprintf(num, num_size, "%d", p->attempts_left);
        return num;
    }
    if (len == 5 && strncmp(name, "retry", len) == 0 && p->retry_after_s > 0) {
        snprintf(num, num_size, "%u", p->retry_after_s);
        return num;
    }
    if (len == 5 && strncmp(name, "state", len) == 0)
        return p->state;
    if (len == 4 && strncmp(name, "rule", len) == 0)
        return rule_words(p->rule, lang);
    if (!p->policy)
        return NULL;
    if (len == 3 && strncmp(name, "min", len) == 0) {
        snprintf(num, num_size, "%zu", p->policy->min_len);
        return num;
    }
    if (len == 3 && strncmp(name, "max", len) == 0) {
        snprintf(num, num_size, "%zu", p->policy->max_len);
        return num;
    }
    if (len == 7 && strncmp(name, "charset", len) == 0)
        return charset_words(p->policy->charset, lang);
    return NULL;
}

/* Fills `tmpl` into `out`; false when a placeholder has no value. */
static bool expand(const char *tmpl, const struct problem *p, enum api_lang lang, char *out,
                   size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    while (*tmpl) {
        const char *close = *tmpl == '{' ? strchr(tmpl, '}') : NULL;
        char num[NUMBER_TEXT_MAX];
        const char *value;
        size_t len;

        if (close) {
            value = placeholder_value(tmpl + 1, (size_t)(close - tmpl - 1), p, lang, num,
                                      sizeof num);
            if (!value)
                return false;
            len = strlen(value);
            tmpl = close + 1;
        } else {
            value = tmpl;
            len = 1;
            tmpl++;
        }
        if (used + len >= size)
            len = size - used - 1;
        memcpy(out + used, value, len);
        used += len;
        out[used] = '\0';
    }
    return true;
}

/* "PIN_INCORRECT" -> "urn:ukeyd:problem:pin-incorrect" */
static void type_uri(enum api_code code, char *out, size_t size)
{
    const char *name = api_code_name(code);
    size_t used = (size_t)snprintf(out, size, "%s", PROBLEM_TYPE_PREFIX);

    for (; *name && used + 1 < size; name++)
        out[used++] = *name == '_' ? '-' : (char)tolower((unsigned char)*name);
    out[used] = '\0';
}

static int add_tries(json_t *body, int tries_left)
{
    return json_object_set_new(body, "triesLeft",
                               tries_left >= 0 ? json_integer(tries_left) : json_null());
}

static int add_policy(json_t *body, const struct token_pin_info *policy)
{
    return json_object_set_new(body, "minLength", json_integer((json_int_t)policy->min_len)) ||
           json_object_set_new(body, "maxLength", json_integer((json_int_t)policy->max_len)) ||
           json_object_set_new(body, "charset", json_string(policy->charset ? policy->charset : ""));
}

static int add_extensions(json_t *body, const struct problem *p, const char *request_id)
{
    if (p->field && json_object_set_new(body, "field", json_string(p->field)))
        return -1;
    if (api_code_has_tries(p->code) && p->tries_left != PROBLEM_TRIES_NONE &&
        add_tries(body, p->tries_left))
        return -1;
    if (p->policy && add_policy(body, p->policy))
        return -1;
    if (api_code_has_attempts(p->code) &&
        json_object_set_new(body, "attemptsLeft",
                            p->attempts_left >= 0 ? json_integer(p->attempts_left) : json_null()))
        return -1;
    if (p->code == API_RATE_LIMITED && p->retry_after_s > 0 &&
        json_object_set_new(body, "retryAfter", json_integer((json_int_t)p->retry_after_s)))
        return -1;
    if (p->state && json_object_set_new(body, "state", json_string(p->state)))
        return -1;
    if (p->rule && json_object_set_new(body, "rule", json_string(p->rule)))
        return -1;
    if (request_id && json_object_set_new(body, "requestId", json_string(request_id)))
        return -1;
    return 0;
}

json_t *problem_body(const struct problem *p, enum api_lang lang, const char *request_id)
{
    const struct code_info *info = info_of(p->code);
    const struct words *w = &info->text[(unsigned)lang < LANG__COUNT ? lang : LANG_ZH_CN];
    char type[PROBLEM_TYPE_MAX], detail[PROBLEM_TEXT_MAX];
    json_t *body;

    if (!w->detail_more || !expand(w->detail_more, p, lang, detail, sizeof detail))
        expand(w->detail, p, lang, detail, sizeof detail);
    type_uri(p->code, type, sizeof type);
    body = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", w->title, "status",
                     (int)info->status, "detail", detail, "code", info->name);
    if (body && add_extensions(body, p, request_id)) {
        json_decref(body);
        return NULL;
    }
    return body;
}
