/* SPDX-License-Identifier: MIT */
/*
 * api/env/env_text.c — the words of the environment check and repair, zh-CN
 * first, en second, and the filling of their placeholders.
 *
 * Commands in hints are written out in full so a user can read them to an
 * administrator, or support staff can paste them; they never contain anything
 * a request sent.
 */
#include "api/env/env_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTF8_CONTINUATION_MASK 0xC0
#define UTF8_CONTINUATION      0x80

struct env_text {
    const char *words[LANG__COUNT];
};

#define T(zh, en) { { [LANG_ZH_CN] = (zh), [LANG_EN] = (en) } }

static const struct env_text texts[ENV_MSG__COUNT] = {
    [ENV_TIMED_OUT] = T("检查未在 {ms} 毫秒内完成",
                        "The check did not finish within {ms} ms"),
    [ENV_HINT_TIMED_OUT] = T("请稍后重试；如果一直如此，请查看 ukeyd 的日志。",
                             "Try again later; if it persists, look at ukeyd's log."),

    [ENV_OS_TITLE] = T("操作系统", "Operating system"),
    [ENV_OS_FOUND] = T("{distro}，内核 {kernel}，{arch}", "{distro}, kernel {kernel}, {arch}"),
    [ENV_OS_UNKNOWN] = T("无法读取发行版信息（/etc/os-release）；内核 {kernel}，{arch}",
                         "Cannot read the distribution (/etc/os-release); kernel {kernel}, "
                         "{arch}"),
    [ENV_OS_UNTESTED] = T("{distro}，内核 {kernel}，{arch}；ukeyd 未在该发行版上测试",
                          "{distro}, kernel {kernel}, {arch}; ukeyd is not tested on this "
                          "distribution"),
    [ENV_OS_HINT_UNTESTED] = T("ukeyd 支持 Debian、Ubuntu、统信 UOS、银河麒麟等 Debian 系发行版；"
                               "在其他系统上可能缺少 pcscd 或读卡器驱动。",
                               "ukeyd supports Debian-based distributions (Debian, Ubuntu, UOS, "
                               "Kylin); elsewhere pcscd or the reader drivers may be missing."),
    [ENV_UKEYD_TITLE] = T("ukeyd 版本", "ukeyd version"),
    [ENV_UKEYD_LATEST] = T("ukeyd {version}，已是 CA 服务公布的最新版本",
                           "ukeyd {version}, the latest version the CA service announces"),
    [ENV_UKEYD_NO_NEWS] = T("ukeyd {version}（CA 服务未公布最新版本）",
                            "ukeyd {version} (the CA service announces no latest version)"),
    [ENV_UKEYD_OUTDATED] = T("ukeyd {version}；CA 服务公布了新版本 {latest}",
                             "ukeyd {version}; the CA service announces version {latest}"),
    [ENV_UKEYD_HINT_UPGRADE] = T("请管理员升级 ukeyd：sudo apt-get update && sudo apt-get "
                                 "install --only-upgrade ukeyd",
                                 "Ask the administrator to upgrade ukeyd: sudo apt-get update "
                                 "&& sudo apt-get install --only-upgrade ukeyd"),

    [ENV_CLOCK_TITLE] = T("本地时间", "Local time"),
    [ENV_CLOCK_IN_SYNC] = T("本机时间 {local}，与 CA 服务的时间相差 {skew} 秒",
                            "Local time {local}, {skew} s from the CA service's clock"),
    [ENV_CLOCK_AHEAD] = T("本机时间 {local}，比 CA 服务快 {skew} 秒",
                          "Local time {local}, {skew} s ahead of the CA service's clock"),
    [ENV_CLOCK_BEHIND] = T("本机时间 {local}，比 CA 服务慢 {skew} 秒",
                           "Local time {local}, {skew} s behind the CA service's clock"),
    [ENV_CLOCK_UNCOMPARED] = T("本机时间 {local}；未配置 CA 服务，无法比对",
                               "Local time {local}; no CA service is configured to compare "
                               "with"),
    [ENV_CLOCK_UNREACHABLE] = T("本机时间 {local}；未能从 CA 服务取得时间进行比对",
                                "Local time {local}; the CA service's time could not be "
                                "obtained to compare with"),
    [ENV_CLOCK_HINT_SYNC] = T("时间偏差会导致证书校验和短信验证码失败。请管理员开启时间同步："
                              "sudo timedatectl set-ntp true",
                              "A wrong clock breaks certificate checks and SMS codes. Ask the "
                              "administrator to turn on time synchronisation: sudo timedatectl "
                              "set-ntp true"),
    [ENV_CLOCK_HINT_NETWORK] = T("请先解决与 CA 服务的网络问题（见“网络状态”一项）。",
                                 "Fix the network problem with the CA service first (see the "
                                 "network check)."),

    [ENV_NET_TITLE] = T("网络状态", "Network"),
    [ENV_NET_UNCONFIGURED] = T("未配置 CA 服务地址（ca-service-url）",
                               "No CA service address is configured (ca-service-url)"),
    [ENV_NET_HINT_CONFIGURE] = T("请管理员在 /etc/ukeyd/ukeyd.conf 中设置 ca-service-url，"
                                 "然后执行 sudo systemctl reload ukeyd",
                                 "Ask the administrator to set ca-service-url in "
                                 "/etc/ukeyd/ukeyd.conf, then run sudo systemctl reload ukeyd"),
    [ENV_NET_OK_TLS] = T("{host}（{address}）可以访问，TLS 证书验证通过，往返 {rtt} 毫秒",
                         "{host} ({address}) answers, its TLS certificate verifies, round trip "
                         "{rtt} ms"),
    [ENV_NET_OK_PLAIN] = T("{host}（{address}）可以访问（本机 HTTP，仅用于测试），往返 {rtt} 毫秒",
                           "{host} ({address}) answers (plain HTTP on this machine, for tests "
                           "only), round trip {rtt} ms"),
    [ENV_NET_SLOW] = T("{host}（{address}）可以访问，但往返用时 {rtt} 毫秒，较慢",
                       "{host} ({address}) answers, but slowly: round trip {rtt} ms"),
    [ENV_NET_HINT_SLOW] = T("网络较慢，远程解锁等操作可能超时；请检查网络连接或代理设置。",
                            "The network is slow and operations such as the remote unlock may "
                            "time out; check the connection or the proxy settings."),
    [ENV_NET_DNS] = T("无法解析域名 {host}", "The name {host} does not resolve"),
    [ENV_NET_HINT_DNS] = T("请检查网络连接和 DNS 设置，例如执行：getent hosts {host}",
                           "Check the network connection and the DNS settings, e.g. run: "
                           "getent hosts {host}"),
    [ENV_NET_CONNECT] = T("无法连接 {host}（{address}）的 {port} 端口",
                          "Cannot connect to {host} ({address}) on port {port}"),
    [ENV_NET_CONNECT_TIMEOUT] = T("连接 {host} 的 {port} 端口在 {ms} 毫秒内没有完成",
                                  "Connecting to {host} on port {port} did not complete within "
                                  "{ms} ms"),
    [ENV_NET_HINT_CONNECT] = T("请检查网络连接、防火墙或代理设置；执行 curl -v {url} 可以看到详情。",
                               "Check the network connection, the firewall or the proxy; "
                               "curl -v {url} shows more."),
    [ENV_NET_TLS] = T("与 {host} 的 TLS 握手失败：{error}",
                      "The TLS handshake with {host} failed: {error}"),
    [ENV_NET_HINT_TLS] = T("请检查系统时间是否正确，以及根证书是否安装（ca-certificates 软件包，"
                           "或配置项 ca-bundle）。",
                           "Check that the clock is right and that the root certificates are "
                           "installed (the ca-certificates package, or the ca-bundle setting)."),
    [ENV_NET_NO_ANSWER] = T("{host}（{address}）接受了连接，但在 {ms} 毫秒内没有应答",
                            "{host} ({address}) accepted the connection but did not answer "
                            "within {ms} ms"),
    [ENV_NET_HINT_NO_ANSWER] = T("CA 服务可能正忙或正在维护，请稍后重试；如果一直如此，请联系 CA。",
                                 "The CA service may be busy or under maintenance; try again "
                                 "later, and contact the CA if it persists."),
    [ENV_NET_HTTP] = T("{host} 应答了 HTTP {status}", "{host} answered HTTP {status}"),
    [ENV_NET_ERROR] = T("访问 {host} 失败：{error}", "Reaching {host} failed: {error}"),

    [ENV_PCSC_TITLE] = T("智能卡服务", "Smart card service"),
    [ENV_PCSC_UP] = T("pcscd 可以连接", "pcscd is reachable"),
    [ENV_PCSC_DOWN] = T("无法连接 pcscd 智能卡服务", "The pcscd smart card service cannot be "
                                                    "reached"),
    [ENV_PCSC_HINT_DOWN] = T("点击“环境修复”重启 pcscd；或请管理员执行 sudo systemctl restart "
                             "pcscd.socket pcscd.service",
                             "Press Repair to restart pcscd, or ask the administrator to run "
                             "sudo systemctl restart pcscd.socket pcscd.service"),
    [ENV_PCSC_UNKNOWN] = T("pcscd 不可用，无法检查", "Not checked: pcscd is unavailable"),
    [ENV_PCSC_HINT_UNKNOWN] = T("请先解决 pcscd 的问题（见“智能卡服务”一项）。",
                                "Fix pcscd first (see the smart card service check)."),
    [ENV_SYSTEMD_TITLE] = T("智能卡服务自动启动", "Smart card service start-up"),
    [ENV_SYSTEMD_NO_BUS] = T("没有 systemd 系统总线（容器或不使用 systemd 的系统），"
                             "未查看 pcscd 的服务状态",
                             "No systemd system bus (a container, or a system without "
                             "systemd): pcscd's unit state was not checked"),
    [ENV_SYSTEMD_STATE] = T("pcscd.service：{service}；pcscd.socket：{socket}",
                            "pcscd.service: {service}; pcscd.socket: {socket}"),
    [ENV_SYSTEMD_FAILED] = T("pcscd.service 处于失败状态（{sub}）",
                             "pcscd.service has failed ({sub})"),
    [ENV_SYSTEMD_HINT_FAILED] = T("点击“环境修复”重启 pcscd；或请管理员执行 sudo systemctl "
                                  "restart pcscd.service",
                                  "Press Repair to restart pcscd, or ask the administrator to "
                                  "run sudo systemctl restart pcscd.service"),
    [ENV_SYSTEMD_MISSING] = T("systemd 中没有 pcscd 服务，pcscd 可能没有安装",
                              "systemd knows no pcscd unit: pcscd may not be installed"),
    [ENV_SYSTEMD_HINT_INSTALL] = T("请管理员安装 pcscd：sudo apt-get install pcscd",
                                   "Ask the administrator to install pcscd: sudo apt-get "
                                   "install pcscd"),
    [ENV_SYSTEMD_ERROR] = T("无法向 systemd 查询 pcscd 的状态：{error}",
                            "Could not ask systemd about pcscd: {error}"),
    [ENV_DRIVERS_TITLE] = T("电子钥匙驱动", "USB key driver"),
    [ENV_DRIVERS_CCID] = T("已安装 CCID 通用读卡器驱动；{dir} 中共有 {count} 个驱动",
                           "The CCID driver for USB readers is installed; {count} driver(s) in "
                           "{dir}"),
    [ENV_DRIVERS_NO_CCID] = T("没有找到 CCID 通用读卡器驱动（{dir}/ifd-ccid.bundle），"
                              "电子钥匙可能无法识别",
                              "The CCID driver for USB readers is missing "
                              "({dir}/ifd-ccid.bundle): USB keys may not be seen"),
    [ENV_DRIVERS_HINT_CCID] = T("请管理员安装 CCID 驱动：sudo apt-get install libccid",
                                "Ask the administrator to install the CCID driver: sudo apt-get "
                                "install libccid"),
    [ENV_READERS_TITLE] = T("读卡器", "Card readers"),
    [ENV_READERS_FOUND] = T("发现 {count} 个读卡器：{names}", "{count} card reader(s): {names}"),
    [ENV_READERS_NONE] = T("没有发现读卡器", "No card reader found"),
    [ENV_READERS_HINT_NONE] = T("请插入电子钥匙；如果已经插入，请换一个 USB 接口，并用 lsusb "
                                "确认系统能看到它。",
                                "Plug in the USB key; if it is plugged in, try another USB "
                                "port and check that lsusb lists it."),
    [ENV_TOKENS_TITLE] = T("电子钥匙", "USB keys"),
    [ENV_TOKENS_FOUND] = T("识别到 {count} 个电子钥匙", "{count} USB key(s) recognised"),
    [ENV_TOKENS_NONE] = T("没有识别到电子钥匙", "No USB key found"),
    [ENV_TOKENS_HINT_NONE] = T("请插入电子钥匙。", "Plug in the USB key."),
    [ENV_TOKENS_UNRECOGNISED] = T("读卡器 {reader} 中的卡无法识别（ATR {atr}）",
                                  "The card in {reader} is not recognised (ATR {atr})"),
    [ENV_TOKENS_HINT_UNRECOGNISED] = T("这种电子钥匙暂不受支持；请记下 ATR 并联系技术支持。",
                                       "This kind of USB key is not supported; note the ATR and "
                                       "contact support."),

    [ENV_TOKEN_TITLE] = T("电子钥匙 {model}（序列号 {serial}）", "USB key {model} (serial {serial})"),
    [ENV_TOKEN_OK] = T("{count} 张证书均在有效期内，最早于 {date} 到期（剩 {days} 天）",
                       "{count} certificate(s), all valid; the first expires on {date} ({days} "
                       "days left)"),
    [ENV_TOKEN_PIN_BLOCKED] = T("密码已锁定", "The PIN is blocked"),
    [ENV_TOKEN_HINT_BLOCKED] = T("请点击“找回密码”：验证身份后远程解锁，并设置新密码。",
                                 "Use 找回密码 (Forgot PIN) on the CA's portal: after you "
                                 "prove who you are, the USB key is unlocked remotely and you "
                                 "set a new PIN."),
    [ENV_TOKEN_PIN_LAST] = T("密码只剩 {tries} 次尝试机会", "Only {tries} PIN try left"),
    [ENV_TOKEN_HINT_LAST] = T("再输错密码将被锁定；如果忘记了密码，请使用“找回密码”。",
                              "A wrong PIN will block the USB key; if you forgot it, use "
                              "找回密码 (Forgot PIN)."),
    [ENV_TOKEN_CERT_EXPIRED] = T("{cert}已于 {date} 过期", "The {cert} expired on {date}"),
    [ENV_TOKEN_HINT_EXPIRED] = T("请联系证书颁发机构办理证书更新。",
                                 "Contact the certificate authority to renew the certificate."),
    [ENV_TOKEN_CERT_EXPIRING] = T("{cert}将于 {date} 到期（剩 {days} 天）",
                                  "The {cert} expires on {date} ({days} days left)"),
    [ENV_TOKEN_HINT_EXPIRING] = T("请在到期前办理证书更新。",
                                  "Renew the certificate before it expires."),
    [ENV_TOKEN_CERT_NOT_YET] = T("{cert}要到 {date} 才生效",
                                 "The {cert} is not valid before {date}"),
    [ENV_TOKEN_HINT_NOT_YET] = T("请检查系统时钟是否正确。", "Check that the system clock is "
                                                           "right."),
    [ENV_TOKEN_CERT_UNREADABLE] = T("{cert}的数据不是可以解析的证书",
                                    "The {cert}'s data is not a certificate ukeyd can read"),
    [ENV_TOKEN_HINT_UNREADABLE] = T("请联系技术支持。", "Contact support."),
    [ENV_TOKEN_NO_CERT] = T("电子钥匙中没有证书", "The USB key holds no certificate"),
    [ENV_TOKEN_HINT_NO_CERT] = T("请联系证书颁发机构将证书写入电子钥匙。",
                                 "Contact the certificate authority to have the certificate "
                                 "written to the USB key."),

    [ENV_BROWSER_TITLE] = T("浏览器设置", "Browser settings"),
    [ENV_BROWSER_OK] = T("允许 {count} 个门户网站调用 ukeyd：{origins}",
                         "{count} portal origin(s) may call ukeyd: {origins}"),
    [ENV_BROWSER_HINT_LNA] = T("Chrome 142 起（Firefox 也在跟进），网页第一次访问本机时浏览器会询问"
                               "是否允许访问本地网络，请选择“允许”。管理员可用策略预先允许门户："
                               "Chrome 的 LocalNetworkAccessAllowedForUrls，Firefox 的 "
                               "LocalNetworkAccess。",
                               "From Chrome 142 on (Firefox is following), the browser asks "
                               "before a web page may reach this machine: choose Allow. "
                               "Administrators can pre-allow the portal with the policies "
                               "LocalNetworkAccessAllowedForUrls (Chrome) and LocalNetworkAccess "
                               "(Firefox)."),
    [ENV_BROWSER_NONE] = T("没有允许任何门户网站（origins 为空），网页无法调用 ukeyd",
                           "No portal origin is allowed (origins is empty): no web page can "
                           "call ukeyd"),
    [ENV_BROWSER_HINT_NONE] = T("请管理员在 /etc/ukeyd/ukeyd.conf 的 origins 中加入 CA 门户的地址，"
                                "然后执行 sudo systemctl reload ukeyd",
                                "Ask the administrator to add the CA portal's address to "
                                "origins in /etc/ukeyd/ukeyd.conf, then run sudo systemctl "
                                "reload ukeyd"),
    [ENV_BROWSER_INSECURE] = T("门户 {origin} 不是 HTTPS 网站，浏览器会阻止它访问本机",
                               "The portal {origin} is not served over HTTPS: browsers block it "
                               "from reaching this machine"),
    [ENV_BROWSER_HINT_INSECURE] = T("门户必须使用 HTTPS；请管理员在 origins 中改用 https:// 地址。",
                                    "The portal must use HTTPS; ask the administrator to list "
                                    "its https:// address in origins."),

    [ENV_REPAIR_PCSCD_RUNNING] = T("pcscd 运行正常，无需重启", "pcscd is running: not restarted"),
    [ENV_REPAIR_PCSCD_SYSTEMD] = T("已通过 systemd 重启 pcscd.service",
                                   "Restarted pcscd.service through systemd"),
    [ENV_REPAIR_PCSCD_DENIED] = T("没有权限通过 systemd 重启 pcscd（{error}）",
                                  "Not permitted to restart pcscd through systemd ({error})"),
    [ENV_REPAIR_PCSCD_SYSTEMD_FAILED] = T("通过 systemd 重启 pcscd 失败（{error}）",
                                          "Restarting pcscd through systemd failed ({error})"),
    [ENV_REPAIR_PCSCD_HOOK] = T("已运行配置的 pcscd 重启命令 {command}",
                                "Ran the configured pcscd restart command {command}"),
    [ENV_REPAIR_PCSCD_HOOK_EXIT] = T("配置的 pcscd 重启命令 {command} 失败，退出码 {code}",
                                     "The configured pcscd restart command {command} failed with "
                                     "exit status {code}"),
    [ENV_REPAIR_PCSCD_HOOK_SIGNAL] = T("配置的 pcscd 重启命令 {command} 被信号 {signal} 终止",
                                       "The configured pcscd restart command {command} was "
                                       "killed by signal {signal}"),
    [ENV_REPAIR_PCSCD_HOOK_TIMEOUT] = T("配置的 pcscd 重启命令 {command} 未在 {ms} 毫秒内结束，"
                                        "已被终止",
                                        "The configured pcscd restart command {command} did not "
                                        "finish within {ms} ms and was killed"),
    [ENV_REPAIR_PCSCD_HOOK_SPAWN] = T("无法启动配置的 pcscd 重启命令 {command}：{error}",
                                      "Could not start the configured pcscd restart command "
                                      "{command}: {error}"),
    [ENV_REPAIR_PCSCD_MANUAL] = T("无法自动重启 pcscd：没有 systemd 系统总线，也没有配置 "
                                  "pcscd-restart-command",
                                  "pcscd cannot be restarted from here: there is no systemd "
                                  "system bus and no pcscd-restart-command is configured"),
    [ENV_REPAIR_RESCAN_DONE] = T("已重新扫描读卡器并重新读取电子钥匙：{readers} 个读卡器，"
                                 "{tokens} 个电子钥匙",
                                 "Re-scanned the card readers and re-read the USB keys: "
                                 "{readers} card reader(s), {tokens} USB key(s)"),
    [ENV_REPAIR_RESCAN_FAILED] = T("无法重新扫描：pcscd 在 {ms} 毫秒内仍不可用",
                                   "Could not re-scan: pcscd was still unavailable after {ms} ms"),
    [ENV_REPAIR_INSTALL_CCID] = T("缺少 CCID 读卡器驱动，需要管理员安装",
                                  "The CCID reader driver is missing: an administrator must "
                                  "install it"),
    [ENV_REPAIR_INSTALL_PCSCD] = T("pcscd 没有安装，需要管理员安装",
                                   "pcscd is not installed: an administrator must install it"),
    [ENV_REPAIR_SYNC_CLOCK] = T("系统时间与 CA 服务相差 {skew} 秒，需要管理员开启时间同步",
                                "The clock is {skew} s off the CA service's: an administrator "
                                "must turn on time synchronisation"),
};

#undef T

/* The placeholder whose value is a token layer's certificate label, shown
 * as the name the CA's assistant gives that certificate. */
#define ARG_CERT "cert"

static const struct {
    const char *label;           /* token_cert.slot_label */
    const char *words[LANG__COUNT];
} cert_names[] = {
    { "PIV Authentication", { [LANG_ZH_CN] = "身份认证证书",
                              [LANG_EN] = "authentication certificate" } },
    { "Digital Signature", { [LANG_ZH_CN] = "签名证书", [LANG_EN] = "signing certificate" } },
    { "Key Management", { [LANG_ZH_CN] = "加密证书", [LANG_EN] = "encryption certificate" } },
    { "Card Authentication", { [LANG_ZH_CN] = "设备认证证书",
                               [LANG_EN] = "device authentication certificate" } },
    { "SKF signing", { [LANG_ZH_CN] = "签名证书", [LANG_EN] = "signing certificate" } },
    { "SKF encryption", { [LANG_ZH_CN] = "加密证书", [LANG_EN] = "encryption certificate" } },
};

static const char *cert_name(const char *label, enum api_lang lang)
{
    for (size_t i = 0; i < sizeof cert_names / sizeof cert_names[0]; i++)
        if (strcmp(label, cert_names[i].label) == 0)
            return cert_names[i].words[lang];
    return lang == LANG_ZH_CN ? "证书" : "certificate";
}

void env_words_set(struct env_words *w, enum env_msg msg)
{
    w->msg = msg;
    w->n_args = 0;
}

/* Cuts `s` at `len` bytes, moved back to the start of a UTF-8 character. */
static void cut_utf8(char *s, size_t len)
{
    while (len > 0 && ((unsigned char)s[len] & UTF8_CONTINUATION_MASK) == UTF8_CONTINUATION)
        len--;
    s[len] = '\0';
}

static struct env_arg *arg_slot(struct env_words *w, const char *name)
{
    for (size_t i = 0; i < w->n_args; i++)
        if (strcmp(w->args[i].name, name) == 0)
            return &w->args[i];
    if (w->n_args >= ENV_ARGS_MAX)
        return NULL;
    w->args[w->n_args].name = name;
    return &w->args[w->n_args++];
}

void env_words_arg(struct env_words *w, const char *name, const char *fmt, ...)
{
    struct env_arg *a = arg_slot(w, name);
    va_list ap;
    int n;

    if (!a)
        return;
    va_start(ap, fmt);
    n = vsnprintf(a->value, sizeof a->value, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof a->value)
        cut_utf8(a->value, sizeof a->value - 1);
}

const char *env_text_template(enum env_msg msg, enum api_lang lang)
{
    if (msg <= ENV_MSG_NONE || msg >= ENV_MSG__COUNT || (unsigned)lang >= LANG__COUNT)
        return NULL;
    return texts[msg].words[lang];
}

static const char *arg_value(const struct env_words *w, const char *name, size_t len)
{
    for (size_t i = 0; i < w->n_args; i++)
        if (strlen(w->args[i].name) == len && strncmp(w->args[i].name, name, len) == 0)
            return w->args[i].value;
    return NULL;
}

char *env_text_render(const struct env_words *w, enum api_lang lang)
{
    const char *p = env_text_template(w->msg, lang);
    char *out = NULL;
    size_t size = 0;
    FILE *f;

    if (!p || !(f = open_memstream(&out, &size)))
        return NULL;
    while (*p) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        size_t len = close ? (size_t)(close - p - 1) : 0;
        const char *value = close ? arg_value(w, p + 1, len) : NULL;

        if (value && len == strlen(ARG_CERT) && strncmp(p + 1, ARG_CERT, len) == 0)
            value = cert_name(value, lang);
        if (value) {
            fputs(value, f);
            p = close + 1;
        } else {
            fputc(*p++, f);
        }
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
