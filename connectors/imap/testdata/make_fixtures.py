#!/usr/bin/env python3
"""Writes the charset fixtures (*.eml) of the imap connector's golden tests.
Run from this folder; the .eml files are committed, this is how they were made."""
import base64, quopri

def b(s, cs):
    return "=?%s?B?%s?=" % (cs, base64.b64encode(s.encode(cs if cs not in ("euc-cn",) else "gb2312")).decode())

def q(s, cs):
    raw = s.encode(cs)
    return "=?%s?Q?%s?=" % (cs, "".join("=%02X" % c if c > 127 or c in b"=?_ " else chr(c) for c in raw))

def write(name, head, body=b""):
    data = head.replace("\n", "\r\n").encode("latin1") if isinstance(head, str) else head
    open(name, "wb").write(data + body)

HDR = "Message-ID: <{id}@example.cn>\nDate: Tue, 5 Mar 2024 09:30:00 +0800\n"

def simple(name, subject_hdr, from_hdr, ctype, cte, body_bytes, extra=""):
    h = HDR.format(id=name) + "From: %s\nTo: mayor@city.gov.cn\nSubject: %s\nMIME-Version: 1.0\n%sContent-Type: %s\nContent-Transfer-Encoding: %s\n\n" % (from_hdr, subject_hdr, extra, ctype, cte)
    if cte == "base64":
        body_bytes = base64.encodebytes(body_bytes)
    elif cte == "quoted-printable":
        body_bytes = quopri.encodestring(body_bytes)
    write(name + ".eml", h.replace("\n", "\r\n").encode("latin1"), body_bytes.replace(b"\n", b"\r\n") if cte != "8bit" else body_bytes)

T1 = "小区门口道路塌陷多日无人修复"
B1 = "市长您好：\n小区东门外的人行道塌陷，已经有老人摔倒受伤，请尽快修复。\n"
simple("gb2312_base64", b(T1, "gb2312"), '"%s" <zhang.san@example.cn>' % b("张三", "gb2312"), "text/plain; charset=gb2312", "base64", B1.encode("gb2312"))
# GBK-only characters (喆, 堃) in a part labelled gb2312, Q-encoded subject
simple("gbk_in_gb2312_qp", q("王喆反映噪音扰民", "gbk"), "%s <wang@example.cn>" % q("王喆", "gbk"), "text/plain; charset=gb2312", "quoted-printable", "夜间施工噪音扰民，王喆和李堃多次投诉无果。\n".encode("gbk"))
simple("big5_8bit", b("臺北市道路坑洞請盡速修補", "big5"), '"%s" <chen@example.tw>' % b("陳小明", "big5"), "text/plain; charset=big5", "8bit", "路面坑洞很多，機車騎士常常摔倒。\n".encode("big5"))
simple("gb18030_4byte", b("生僻字𠮷姓居民户籍问题", "gb18030"), "<ji@example.cn>", "text/plain; charset=GB18030", "base64", "𠮷先生的户口本姓氏无法录入系统。\n".encode("gb18030"))
# one character split across two encoded-words
raw = "供暖温度不达标".encode("gbk")
w1 = "=?gbk?B?%s?=" % base64.b64encode(raw[:5]).decode()
w2 = "=?gbk?B?%s?=" % base64.b64encode(raw[5:]).decode()
simple("split_encoded_word", w1 + "\n " + w2, "<heat@example.cn>", "text/plain; charset=gbk", "base64", "家里只有十四度。\n".encode("gbk"))
# raw 8-bit GBK header bytes, no encoded-words
h = (HDR.format(id="raw8bit_header")).encode() + b"From: " + "李四".encode("gbk") + b" <li.si@example.cn>\r\nSubject: " + "垃圾清运不及时".encode("gbk") + b"\r\nContent-Type: text/plain\r\n\r\n" + "垃圾桶满了三天没人清理。\r\n".encode("gbk")
write("raw8bit_header.eml", h)
# labels: aliases and malformed
for name, label, enc in [("label_euc_cn", "euc-cn", "gb2312"), ("label_cp950", "cp950", "big5"), ("label_euc_tw", "euc-tw", "big5"),
                         ("label_unknown_8bit", "unknown-8bit", "gbk"), ("label_quotes_inside", '"\\"gb2312\\""', "gb2312"),
                         ("label_single_quotes", "'gb2312'", "gb2312"), ("label_gb2312_charset", "gb2312_charset", "gb2312"),
                         ("label_unknown", "x-klingon", "gbk"), ("label_ascii_but_gbk", "us-ascii", "gbk")]:
    text = "路灯坏了" if enc != "big5" else "路燈壞了"
    simple(name, b(text, enc if enc != "gbk" else "gbk"), "<citizen@example.cn>", "text/plain; charset=%s" % label, "8bit", (text + "，晚上很黑。\n").encode(enc) if enc != "big5" else (text + "，晚上很黑。\n").encode("big5"))

def multipart(name, subject, parts, ctype="multipart/mixed", extra=""):
    bd = "==b_" + name
    out = (HDR.format(id=name) + "From: <m@example.cn>\nSubject: %s\nMIME-Version: 1.0\n%sContent-Type: %s; boundary=\"%s\"\n\n" % (subject, extra, ctype, bd)).replace("\n", "\r\n").encode("latin1")
    for ph, pb in parts:
        out += ("--%s\r\n" % bd).encode() + ph.replace("\n", "\r\n").encode("latin1") + b"\r\n\r\n" + pb + b"\r\n"
    out += ("--%s--\r\n" % bd).encode()
    write(name + ".eml", out)

pdf = b"%PDF-1.4 fake photo of the pothole\n"
multipart("rfc2231_filename", b("附件：现场照片", "gbk"), [
    ("Content-Type: text/plain; charset=gbk\nContent-Transfer-Encoding: base64", base64.encodebytes("照片见附件。\n".encode("gbk"))),
    ("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=gbk''" + "".join("%%%02X" % c for c in "现场照片.pdf".encode("gbk")) + "\nContent-Transfer-Encoding: base64", base64.encodebytes(pdf)),
])
multipart("big5_unquoted_name", b("附件", "big5"), [
    ("Content-Type: text/plain; charset=big5", "請看附件。\n".encode("big5")),
    ("Content-Type: application/octet-stream; name=" + b("陳情書.doc", "big5") + "\nContent-Transfer-Encoding: base64", base64.encodebytes(b"fake doc bytes")),
])
multipart("alternative", b("公交线路调整建议", "gb2312"), [
    ("Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: base64", base64.encodebytes("建议增加早高峰班次。\n".encode("gb2312"))),
    ("Content-Type: text/html; charset=gb2312\nContent-Transfer-Encoding: base64", base64.encodebytes("<p>建议<b>增加</b>早高峰班次。</p>".encode("gb2312"))),
], ctype="multipart/alternative")
simple("html_only", b("网页表单来信", "gbk"), "<web@example.cn>", "text/html; charset=gbk", "quoted-printable",
       "<html><head><style>p{color:red}</style></head><body><p>菜市场&nbsp;占道经营</p><div>请城管处理&lt;谢谢&gt;</div></body></html>".encode("gbk"))
simple("reply_quoted", b("回复：关于噪音投诉的答复", "gb2312"), "<zhao@example.cn>", "text/plain; charset=utf-8", "8bit",
       "谢谢答复，但问题仍未解决，施工依旧持续到深夜。\n\n-- \n赵六 手机发送\n\n-----原始邮件-----\n发件人: 市长信箱\n> 您反映的问题已转交区环保局。\n".encode("utf-8"))
simple("reply_zai_xiedao", "=?utf-8?B?%s?=" % base64.b64encode("Re: 停车难".encode()).decode(), "<q@example.cn>", "text/plain; charset=utf-8", "8bit",
       "小区车位还是不够。\n\n在 2024年3月1日 10:00，市长信箱 写道：\n> 已转交物业。\n> 请耐心等待。\n".encode("utf-8"))
simple("autoreply", b("自动回复：休假中", "gb2312"), "<away@example.cn>", "text/plain; charset=gb2312", "8bit", "我正在休假，将于下周回复。\n".encode("gb2312"), extra="Auto-Submitted: auto-replied\n")
simple("bulk", "Weekly newsletter", "<news@example.com>", "text/plain; charset=us-ascii", "7bit", b"News of the week.\n", extra="Precedence: bulk\n")
multipart("bounce", "Undelivered Mail Returned to Sender", [
    ("Content-Type: text/plain; charset=us-ascii", b"This is the mail system at host mx.example.cn.\nI'm sorry to have to inform you that your message could not be delivered.\n"),
    ("Content-Type: message/delivery-status", b"Reporting-MTA: dns; mx.example.cn\n\nFinal-Recipient: rfc822; nobody@example.cn\nAction: failed\nStatus: 5.1.1\n"),
], ctype="multipart/report; report-type=delivery-status", extra="Return-Path: <>\n")
write("unparseable.eml", b"\xff\xfe binary junk without any header\r\nno colon here either\r\n\r\nbody\r\n")
# header syntax fine, but no From, Subject, Message-ID or Date: not a mail
write("not_a_mail.eml", b"X-Junk: 1\r\nX-More-Junk: 2\r\n\r\n\xff\xfe\x00garbage\r\n")
# 7-bit encodings, which look like ASCII: Japanese mail in ISO-2022-JP (its
# usual form), and HZ, an old 7-bit form of GB2312
simple("iso2022jp", b("道路の陥没について", "iso-2022-jp"), '"%s" <tanaka@example.jp>' % b("田中", "iso-2022-jp"), "text/plain; charset=ISO-2022-JP", "7bit", "城陽区のマンションの前の道路が一か月も陥没したままです。\n".encode("iso-2022-jp"))
simple("hz_gb2312", b("路灯不亮", "hz"), "<hz@example.cn>", "text/plain; charset=HZ-GB-2312", "7bit", "小区路灯坏了一个月。\n".encode("hz"))
# ISO-2022-CN (RFC 1922: GB2312 and CNS 11643 in 7 bits; Python has no codec,
# so glibc's iconv writes it) and ISO-2022-KR (RFC 1557), the 7-bit forms of
# Chinese and Korean mail
import subprocess
def iso2022cn(s):
    return subprocess.run(["iconv", "-f", "UTF-8", "-t", "ISO-2022-CN"], input=s.encode(), capture_output=True, check=True).stdout
def bcn(s):
    return "=?ISO-2022-CN?B?%s?=" % base64.b64encode(iso2022cn(s)).decode()
simple("iso2022cn", bcn("中山路路燈壞了"), '"%s" <lin@example.tw>' % bcn("林小姐"), "text/plain; charset=ISO-2022-CN", "7bit", iso2022cn("請問市府何時修理中山路的路燈？已經壞了一個月，晚上很黑。\n"))
simple("iso2022kr", b("도로 파손 신고", "iso-2022-kr"), '"%s" <kim@example.kr>' % b("김민수", "iso-2022-kr"), "text/plain; charset=ISO-2022-KR", "7bit", "청양구 아파트 정문 앞 도로가 한 달째 파손되어 있습니다.\n".encode("iso-2022-kr"))
# Fixtures of the 2026 decoding audit (F1-F13): what broke, as mail has it.
# A boundary parameter that matches nothing in the body (F3)
write("wrong_boundary.eml", (HDR.format(id="wrong_boundary") + "From: <wb@example.cn>\nSubject: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"----=_NextPart_000_0001\"\n\n" % b("井盖丢失", "gbk")).replace("\n", "\r\n").encode("latin1"),
      b"------=_NextPart_999_0009\r\nContent-Type: text/plain; charset=gbk\r\n\r\n" + "人民路口的井盖丢了，很危险。\r\n".encode("gbk") + b"------=_NextPart_999_0009--\r\n")
# HTML with its charset only in <meta> (F4)
simple("html_meta_big5", b("路燈不亮", "big5"), "<meta@example.tw>", "text/html", "8bit",
       '<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5"></head><body><p>中正路的路燈壞了兩週。</p></body></html>\n'.encode("big5"))
# UTF-8 under a gb2312 label (F13)
simple("utf8_under_gb2312", "=?gb2312?B?%s?=" % base64.b64encode("路灯坏了".encode()).decode(), "<u8@example.cn>", "text/plain; charset=gb2312", "8bit", "市长您好，我们小区的路灯坏了一个月了。\n".encode())
# UTF-7 (F1)
simple("utf7", b("中文来信", "utf-7"), "<u7@example.cn>", "text/plain; charset=utf-7", "7bit", "市长您好，公园的长椅坏了 (1 + 1 = 2)。\n".encode("utf-7"))
# Big5 under windows-950 (F2); ';' left out of Content-Type (F6)
simple("label_windows_950", b("路燈壞了", "big5").replace("big5", "windows-950"), "<w950@example.tw>", "text/plain; charset=windows-950", "8bit", "路燈壞了，晚上很黑。\n".encode("big5"))
simple("no_semicolon", b("路燈壞了", "big5"), "<semi@example.tw>", "text/plain charset=big5", "8bit", "路燈壞了，晚上很黑。\n".encode("big5"))
# A forwarded complaint and nothing else (F5)
multipart("forwarded_only", "Fwd: " + b("噪音投诉", "gbk"), [
    ("Content-Type: message/rfc822", ("From: <orig@example.cn>\r\nSubject: %s\r\nContent-Type: text/plain; charset=gbk\r\n\r\n" % b("噪音投诉", "gbk")).encode("latin1") + "楼下餐馆每天凌晨还在营业，噪音很大。\r\n".encode("gbk")),
])
# base64 padded on every line (F7)
t = "市长您好：\n公交站台的顶棚漏雨。\n".encode("gbk")
write("base64_line_padded.eml", (HDR.format(id="base64_line_padded") + "From: <pad@example.cn>\nSubject: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=gbk\nContent-Transfer-Encoding: base64\n\n" % b("站台漏雨", "gbk")).replace("\n", "\r\n").encode("latin1"),
      b"".join(base64.b64encode(t[i:i + 10]) + b"\r\n" for i in range(0, len(t), 10)))
