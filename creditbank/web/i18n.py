# ruff: noqa: E501 - a message catalogue: one message pair per line reads best
"""Every string the pages show, in Chinese (first) and English.

A page picks its language from ``?lang=zh|en`` (remembered in the ``cb_lang`` cookie) and falls
back to Chinese. Templates call ``t("key")`` (with ``{name}`` placeholders filled from keyword
arguments); a missing key is a bug that the tests catch, and it shows as the key itself rather
than breaking the page.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
LANG_COOKIE = "cb_lang"
HTML_LANG: Mapping[Lang, str] = {"zh": "zh-CN", "en": "en"}

MESSAGES: dict[str, tuple[str, str]] = {
    # -- frame --------------------------------------------------------------------------------------
    "app.name": ("终身学习学分银行", "Lifelong Learning Credit Bank"),
    "app.tagline": (
        "北京市终身学习档案与学分认定转换试点",
        "Beijing pilot: lifelong learning archive and credits",
    ),
    "nav.skip": ("跳到正文", "Skip to content"),
    "nav.main": ("主导航", "Main navigation"),
    "nav.archive": ("我的档案", "My archive"),
    "nav.verify": ("证书核验", "Verify"),
    "nav.console": ("机构控制台", "Console"),
    "nav.language": ("English", "中文"),
    "nav.language_label": ("切换语言", "Switch language"),
    "nav.signed_in_as": ("已登录：{who}", "Signed in: {who}"),
    "nav.sign_out": ("退出登录", "Sign out"),
    "footer.no_cdn": (
        "本页所有内容（样式、脚本、图表）均由本服务直接提供，不请求任何其他网站。",
        "Everything on this page (styles, script, charts) comes from this service; no other site is contacted.",
    ),
    "footer.api": ("开放接口文档", "API documentation"),
    "common.yes": ("是", "yes"),
    "common.no": ("否", "no"),
    "common.none": ("无", "none"),
    "common.submit": ("提交", "Submit"),
    "common.back": ("返回", "Back"),
    "common.details": ("详情", "Details"),
    "common.error": ("出错了", "Something went wrong"),
    "common.errors_below": ("请修正下面标出的问题。", "Please correct the problems marked below."),
    "common.credits": ("学分", "credits"),
    "common.optional": ("（选填）", "(optional)"),
    "common.required": ("（必填）", "(required)"),
    "common.date": ("日期", "Date"),
    "common.status": ("状态", "Status"),
    "common.actions": ("操作", "Actions"),
    "common.download_json": ("下载 JSON", "Download JSON"),
    "common.download_pdf": ("下载 PDF", "Download PDF"),
    "common.verify": ("核验", "Verify"),
    "common.colon": ("：", ": "),
    "common.table_data": ("图表数据（表格）", "Chart data (table)"),
    # -- sign in ------------------------------------------------------------------------------------
    "signin.title": ("登录", "Sign in"),
    "signin.intro_archive": (
        "请粘贴学分银行发给您的访问令牌（以 cbt_ 开头），查看您的终身学习档案。",
        "Paste the access token the credit bank gave you (it starts with cbt_) to see your lifelong learning archive.",
    ),
    "signin.intro_console": (
        "机构或审核人员请粘贴访问令牌登录控制台。",
        "Institutions and reviewers: paste your access token to open the console.",
    ),
    "signin.token": ("访问令牌", "Access token"),
    "signin.token_hint": (
        "令牌只保存在本浏览器的会话 Cookie 中（签名、HttpOnly），8 小时后失效。",
        "The token is kept only in this browser's session cookie (signed, HttpOnly) for 8 hours.",
    ),
    "signin.submit": ("登录", "Sign in"),
    "signin.missing": ("请填写访问令牌。", "Please enter an access token."),
    "signin.invalid": ("令牌无效或已被吊销。", "The token is unknown or revoked."),
    "signin.wrong_role_archive": (
        "当前登录身份（{role}）不是学习者。档案页面只向学习者本人开放；请用学习者令牌登录。",
        "You are signed in as {role}, not as a learner. The archive is shown only to the learner; sign in with a learner token.",
    ),
    "signin.wrong_role_console": (
        "当前登录身份（{role}）不能使用控制台；请用机构、审核人员或管理员令牌登录。",
        "You are signed in as {role}, which has no console; sign in with an institution, reviewer or admin token.",
    ),
    "signin.signed_out": ("您已退出登录。", "You have signed out."),
    # -- roles --------------------------------------------------------------------------------------
    "role.learner": ("学习者", "learner"),
    "role.institution": ("机构", "institution"),
    "role.reviewer": ("审核人员", "reviewer"),
    "role.admin": ("管理员", "admin"),
    "role.auditor": ("审计人员", "auditor"),
    # -- archive ------------------------------------------------------------------------------------
    "archive.title": ("终身学习档案", "Lifelong learning archive"),
    "archive.shared_title": ("终身学习档案（只读分享）", "Lifelong learning archive (shared, read-only)"),
    "archive.shared_notice": (
        "这是学习者分享的只读视图，链接有效期至 {until}。",
        "This is a read-only view the learner shared; the link is valid until {until}.",
    ),
    "archive.learner": ("学习者", "Learner"),
    "archive.learner_id": ("学分银行编号", "Credit bank id"),
    "archive.identity_masked": ("身份证号", "Identity number"),
    "archive.erased": ("个人信息已按本人要求删除", "personal data erased at the learner's request"),
    "archive.summary": ("学分概览", "Credits at a glance"),
    "archive.total": ("累计认定学分", "Credits recognised"),
    "archive.available": ("可用学分", "Available"),
    "archive.converted": ("已转换学分", "Converted"),
    "archive.outcome_count": ("学习成果", "Learning outcomes"),
    "archive.by_category_level": ("按类别和资历框架等级", "By category and framework level"),
    "archive.category": ("类别", "Category"),
    "archive.level": ("等级", "Level"),
    "archive.level_n": ("第 {n} 级", "level {n}"),
    "archive.total_row": ("合计", "Total"),
    "archive.no_credits": ("尚无认定的学分。", "No credits recognised yet."),
    "archive.charts": ("图表", "Charts"),
    "chart.over_time": ("学分累计变化", "Credits over time"),
    "chart.over_time_desc": (
        "按学习成果取得日期累计的已认定学分：从 {first} 到 {last}，现为 {total} 学分。",
        "Recognised credits accumulated by the date each outcome was achieved: from {first} to {last}, now {total}.",
    ),
    "chart.by_category": ("各类别学分", "Credits by category"),
    "chart.by_category_desc": ("各类别的可用与已转换学分。", "Available and converted credits per category."),
    "chart.empty": ("暂无数据。", "No data yet."),
    "chart.legend_available": ("可用", "available"),
    "chart.legend_converted": ("已转换", "converted"),
    "archive.outcomes": ("学习成果与认定", "Outcomes and their recognition"),
    "archive.no_outcomes": ("档案中还没有学习成果。", "The archive holds no outcomes yet."),
    "archive.institution": ("认证机构", "Assessed by"),
    "archive.achieved_on": ("取得日期", "Achieved on"),
    "archive.hours": ("学时", "Hours"),
    "archive.grade": ("成绩", "Grade"),
    "archive.reference": ("机构编号", "Institution reference"),
    "archive.recognition": ("认定说明", "Recognition"),
    "archive.rule": ("依据规则", "Rule"),
    "archive.rule_cite": (
        "{rule} 第 {version} 版（规则集 {set} {set_version}）",
        "{rule} version {version} (rule set {set} {set_version})",
    ),
    "archive.rule_set_hash": ("规则集哈希", "Rule set hash"),
    "archive.manual": ("人工审核", "manual review"),
    "archive.why": ("说明", "Why"),
    "archive.review_reason": ("转人工审核原因", "Why it went to review"),
    "archive.review_stage": ("审核阶段：{stage}", "Review stage: {stage}"),
    "archive.expires": ("有效期至", "Valid until"),
    "archive.ledger_ref": ("账本位置", "Ledger reference"),
    "archive.ledger_log": ("日志", "log"),
    "archive.ledger_index": ("序号", "index"),
    "archive.ledger_leaf": ("叶哈希", "leaf hash"),
    "archive.ledger_none": ("未入账（无学分）", "not in the ledger (no credits)"),
    "archive.history": ("记录", "History"),
    "archive.supersedes": ("更正了成果 {id}", "corrects outcome {id}"),
    "archive.superseded_by": ("已由成果 {id} 更正", "corrected by outcome {id}"),
    "archive.lot_converted": ("已转换至 {programme}", "converted into {programme}"),
    "archive.credits_short": ("学分", "Credits"),
    "archive.get_certificate": ("生成学分证书", "Issue a credit certificate"),
    "archive.request_correction": ("申请更正", "Request a correction"),
    "archive.correction_reason": ("需要更正的内容", "What needs correcting"),
    "archive.correction_hint": (
        "请求将记入该成果的记录，并通知发布该成果的机构；只有机构可以更正或撤销成果。",
        "The request is recorded in the outcome's history for the institution that posted it; only that institution can correct or revoke the outcome.",
    ),
    "archive.conversions": ("学分转换", "Conversions"),
    "archive.no_conversions": ("尚无学分转换。", "No conversions yet."),
    "archive.programme": ("专业（项目）", "Programme"),
    "archive.at_institution": ("转换院校", "Institution"),
    "archive.reversed": ("已冲销", "reversed"),
    "archive.certificates": ("学分证书", "Certificates"),
    "archive.no_certificates": (
        "还没有证书。在上面的学习成果中选择“生成学分证书”，或在下方申请学分转移。",
        "No certificates yet. Choose “Issue a credit certificate” on an outcome above, or request a transfer below.",
    ),
    "archive.certificate": ("证书", "Certificate"),
    "archive.certificate_kind_lot": ("单项学分证书", "credit certificate"),
    "archive.certificate_kind_clr": ("学分转移证明（合集）", "transfer bundle (CLR)"),
    "archive.destination": ("转入院校", "Destination"),
    "archive.issued": ("签发时间", "Issued"),
    "archive.issuer": ("签发方", "Issuer"),
    "archive.cert_status_active": ("有效", "active"),
    "archive.cert_status_revoked": ("已吊销", "revoked"),
    "archive.cert_status_suspended": ("已暂停", "suspended"),
    "archive.cert_status_superseded": ("已换发（请使用新证书）", "superseded (use the re-issued one)"),
    "archive.open_badges_note": (
        "JSON 为 W3C 可验证凭证 2.0（Open Badges 3.0 格式），任何人可离线核验；PDF 附二维码，扫码即可核验。",
        "The JSON is a W3C Verifiable Credential 2.0 (Open Badges 3.0) anyone can verify offline; the PDF carries a QR code that opens its verification.",
    ),
    "archive.transcript_pdf": ("下载完整成绩单（PDF）", "Download the full transcript (PDF)"),
    "archive.share": ("分享档案", "Share the archive"),
    "archive.export_json": ("下载全部档案数据（JSON）", "Download all archive data (JSON)"),
    "archive.share_intro": (
        "生成一个只读链接（有效 {days} 天），对方无需登录即可查看本档案。每次查看都会被记录。",
        "Create a read-only link (valid for {days} days) that shows this archive without signing in. Every view is logged.",
    ),
    "archive.share_create": ("生成分享链接", "Create a share link"),
    "archive.share_link": ("分享链接（有效至 {until}）", "Share link (valid until {until})"),
    "archive.transfer": ("申请学分转移", "Request a credit transfer"),
    "archive.transfer_intro": (
        "选择要转移的学分和转入院校：学分银行将为所选学分签发以该院校为接收方的转移证书，转入院校核验后即可转换。",
        "Choose credits and the destination school: the bank issues transfer certificates addressed to that school, which verifies and converts them.",
    ),
    "archive.transfer_lots": ("要转移的学分", "Credits to transfer"),
    "archive.transfer_destination": ("转入院校与专业", "Destination school and programme"),
    "archive.transfer_no_programmes": (
        "还没有院校发布可转入的专业。",
        "No school has published a programme to transfer into yet.",
    ),
    "archive.transfers": ("我的学分转移", "My transfers"),
    "archive.no_transfers": ("还没有转移申请。", "No transfer requests yet."),
    "archive.converted_credits": ("转换 {credits} 学分", "{credits} credits converted"),
    "archive.transfer_submit": ("申请转移", "Request the transfer"),
    "archive.transfer_none": ("没有可转移的学分。", "No credits available to transfer."),
    "archive.access_log": ("谁查看了我的档案", "Who read my archive"),
    "archive.access_log_intro": (
        "除您本人外，每一次查看您的档案或下载您的证书文件（院校、管理员、审计人员、分享链接）都记录在此。",
        "Every read of your archive or download of your certificate files by anyone but you (schools, admins, auditors, share links) is recorded here.",
    ),
    "archive.access_reader": ("查看者", "Reader"),
    "archive.access_what": ("查看内容", "What"),
    "archive.access_share_link": ("分享链接", "Share link"),
    "archive.no_access": ("还没有他人查看记录。", "No one else has read it yet."),
    "archive.consents": ("我的授权（学分转换同意书）", "My consents to conversions"),
    "archive.consents_intro": (
        "只有您授权的院校才能转换您的学分：您本人申请的转移即为授权；院校持证书办理转换、或发证机构代您申请转移，都需要您在此给出的授权。未使用前可随时撤回。",
        "Only a school you consent to can convert your credits: your own transfer request is your consent; a school converting certificates you bring, or an issuing institution asking for a transfer for you, needs a consent you give here. You can withdraw it until it is used.",
    ),
    "archive.consent": ("授权", "Consent"),
    "archive.consent_school": ("获授权院校", "School that may convert"),
    "archive.consent_via": ("授权方式", "Given by"),
    "archive.consent_via_api": ("接口", "the API"),
    "archive.consent_via_archive": ("档案页面", "the archive page"),
    "archive.consent_via_transfer": ("本人的转移申请", "your transfer request"),
    "archive.consent_state_active": ("有效，未使用", "active, not used"),
    "archive.consent_state_used": ("已用于转换", "used by a conversion"),
    "archive.consent_state_revoked": ("已撤回", "withdrawn"),
    "archive.consent_revoke": ("撤回授权", "Withdraw"),
    "archive.no_consents": ("还没有授权记录。", "No consents yet."),
    "archive.consent_give": ("授权院校转换学分", "Consent to a school converting credits"),
    "archive.consent_give_intro": (
        "选择学分和院校：只有该院校能凭证书转换这些学分，且只能转换一次。授权在使用前可撤回。",
        "Choose credits and a school: only that school can convert these credits from their certificates, once. You can withdraw the consent until it is used.",
    ),
    "archive.consent_lots": ("可转换的学分", "Credits it may convert"),
    "archive.consent_submit": ("给出授权", "Give consent"),
    "archive.erasure": ("申请删除个人信息", "Request erasure of personal data"),
    "archive.erasure_intro": (
        "删除后，您的姓名和身份证号将被永久销毁（加密粉碎）；账本只保留不含个人信息的记录，仍可核验。此操作不可撤销。",
        "Erasure destroys your name and identity number for good (crypto-shredding); the ledger keeps only records without personal data and still verifies. This cannot be undone.",
    ),
    "archive.erasure_confirm": ("我确认要永久删除我的个人信息", "I confirm: erase my personal data for good"),
    "archive.erasure_submit": ("申请删除", "Request erasure"),
    "archive.erasure_missing": ("请先勾选确认。", "Please tick the confirmation first."),
    "archive.erasure_recorded": (
        "删除申请已提交。",
        "Your erasure request was submitted.",
    ),
    "archive.erasure_done": (
        "您的个人信息已删除。",
        "Your personal data was erased.",
    ),
    "done.certificate": (
        "证书已签发，可在“学分证书”中下载。",
        "The certificate was issued; download it under Certificates.",
    ),
    "done.transfer": (
        "转移申请已提交：转移证书已签发给转入院校，待其核验接收。",
        "Transfer requested: certificates were issued to the destination school, which will verify and accept them.",
    ),
    "done.correction": (
        "更正申请已记入该成果的记录，发布机构将处理。",
        "Your correction request is recorded in the outcome's history for the institution to act on.",
    ),
    "done.share": ("分享链接已生成。", "The share link was created."),
    "done.consent": (
        "授权已记录：该院校现在可以凭证书转换所选学分（一次）。",
        "Consent recorded: that school may now convert the chosen credits from their certificates (once).",
    ),
    "done.consent_revoked": ("授权已撤回。", "The consent was withdrawn."),
    "done.grant": (
        "查阅授权已生效：该院校在有效期内可查阅您的档案，每次查阅都会记录在下方。",
        "The grant is live: the institution may read your archive until it ends; every read is logged below.",
    ),
    "done.grant_revoked": ("查阅授权已撤销。", "The grant was revoked."),
    "done.share_revoked": (
        "分享链接已撤销，链接立即失效。",
        "The share link was revoked and stops working at once.",
    ),
    "access.title": ("谁可以查阅我的档案", "Who may read my archive"),
    "access.intro": (
        "院校为您登记或上传成果，并不能因此查阅您的完整档案：只有您授权的院校（在授权期内）和您申请转入的院校（待接收期间）可以查阅。每次查阅都会记录。",
        "An institution that registered you or posted your outcomes cannot read your whole archive for that: only institutions you grant access (while the grant lasts) and the school a transfer of yours is waiting at. Every read is logged.",
    ),
    "access.grants": ("查阅授权", "Read grants"),
    "access.institution": ("院校", "Institution"),
    "access.until": ("有效至", "Until"),
    "access.state": ("状态", "State"),
    "access.live": ("有效", "live"),
    "access.revoked": ("已撤销", "revoked"),
    "access.expired": ("已过期", "expired"),
    "access.revoke": ("撤销", "Revoke"),
    "access.no_grants": ("您尚未授权任何院校查阅档案。", "You have not granted any institution access."),
    "access.days": ("有效天数（1–365）", "Days (1–365)"),
    "access.purpose": ("用途（可选）", "Purpose (optional)"),
    "access.grant_submit": ("授权查阅", "Grant access"),
    "access.share_links": ("分享链接", "Share links"),
    "access.no_share_links": ("还没有分享链接。", "No share links yet."),
    "share.invalid": ("分享链接无效或已过期", "This share link is invalid or has expired"),
    "share.invalid_detail": (
        "链接可能已超过有效期，或被改动过。请向学习者索取新的链接。",
        "The link may have expired or been altered. Ask the learner for a new one.",
    ),
    # -- outcome types, categories, statuses ----------------------------------------------------------
    "type.degree_course": ("学历教育课程", "Degree course"),
    "type.training_course": ("非学历培训课程", "Training course"),
    "type.skill_level_certificate": ("职业技能等级证书", "Vocational skill level certificate"),
    "type.one_plus_x_certificate": ("1+X 证书", "1+X certificate"),
    "type.mooc": ("在线课程（慕课）", "MOOC"),
    "type.community_course": ("社区教育课程", "Community course"),
    "type.competition_award": ("技能竞赛获奖", "Skills competition award"),
    "type.work_experience": ("工作经历", "Work experience"),
    "category.non_degree_training": ("非学历培训", "Non-degree training"),
    "category.degree_course": ("学历教育", "Degree courses"),
    "category.vocational_certificate": ("职业资格与技能证书", "Vocational certificates"),
    "category.online_course": ("在线课程", "Online courses"),
    "category.community_education": ("社区教育", "Community education"),
    "category.elderly_education": ("老年教育", "Elderly education"),
    "category.skills_competition": ("技能竞赛", "Skills competitions"),
    "category.work_experience": ("工作经历", "Work experience"),
    "category.general": ("其他", "Other"),
    "status.recognised": ("已认定", "recognised"),
    "status.review": ("审核中", "in review"),
    "status.rejected": ("未予认定", "not recognised"),
    "status.revoked": ("已撤销", "revoked"),
    "status.superseded": ("已被更正", "superseded"),
    "stage.district": ("区分中心", "district sub-centre"),
    "stage.city": ("市中心", "city centre"),
    # -- verification -------------------------------------------------------------------------------
    "verify.title": ("证书核验", "Verify a certificate"),
    "verify.intro": (
        "粘贴或上传一份学分证书（JSON），逐项查看核验结果。核验使用公开格式，审计人员也可用命令行 creditbank verify 离线复核。",
        "Paste or upload a credit certificate (JSON) to see every check and its result. The formats are open; auditors can re-check offline with `creditbank verify`.",
    ),
    "verify.form": ("核验一份证书", "Check a certificate"),
    "verify.paste": ("证书 JSON", "Certificate JSON"),
    "verify.upload": ("或上传 JSON 文件", "or upload a JSON file"),
    "verify.learner": ("学习者编号（选填，用于核对持证人）", "Learner id (optional: checks the holder)"),
    "verify.submit": ("核验", "Verify"),
    "verify.empty": ("请粘贴或上传证书。", "Please paste or upload a certificate."),
    "verify.not_json": ("内容不是有效的 JSON：{error}", "This is not valid JSON: {error}"),
    "verify.too_large": ("文件过大（上限 {kb} KB）。", "The file is too large (at most {kb} KB)."),
    "verify.result": ("核验结果", "Result"),
    "verify.valid": ("证书有效：全部检查通过。", "The certificate is valid: every check passed."),
    "verify.invalid": ("证书无效：{failed} 未通过。", "The certificate is NOT valid: {failed} failed."),
    "verify.check": ("检查项", "Check"),
    "verify.outcome": ("结果", "Result"),
    "verify.reason": ("原因", "Reason"),
    "verify.pass": ("通过", "passed"),
    "verify.fail": ("未通过", "failed"),
    "verify.certificate_of": ("证书 {id}", "Certificate {id}"),
    "verify.unknown_certificate": ("没有编号为 {id} 的证书。", "There is no certificate {id}."),
    "verify.claims": ("证书内容", "What it says"),
    "verify.credential_withheld": (
        "本页只显示核验结果和纸质证书上已有的内容，不提供签名证书文件：证书文件只交给学习者本人、其指定的转入院校，或经学习者的分享链接提供。",
        "This page shows the verdict and what the printed certificate already says, not the signed certificate file: that goes only to the learner, the school the learner named, or through the learner's share link.",
    ),
    "verify.claim_name": ("名称", "Name"),
    "verify.claim_credits": ("学分", "Credits"),
    "verify.claim_issuer": ("签发方", "Issuer"),
    "verify.claim_valid": ("有效期", "Validity"),
    "check.proof": ("签名", "Signature"),
    "check.key": ("签名密钥", "Signing key"),
    "check.issuer": ("签发方", "Issuer"),
    "check.status": ("吊销状态", "Revocation status"),
    "check.validity": ("有效期", "Validity period"),
    "check.ledger": ("账本收录", "Ledger inclusion"),
    "check.learner": ("持证人", "Holder"),
    "logs.title": ("账本日志的最新检查点", "Latest checkpoints of the ledger logs"),
    "logs.intro": (
        "本浏览器记住上次看到的检查点（Cookie），服务端用一致性证明检验日志只追加、未被改写。",
        "This browser remembers the checkpoints it saw last (a cookie); the server checks a consistency proof that the log was only appended to.",
    ),
    "logs.server_reported": (
        "注意：下列签名和一致性结果均由本服务器自行检验并报告，本页面不在浏览器中独立验证。若不愿信任本服务器，请用下方的验证公钥（向发布方另行核对）在自己的电脑上运行 creditbank audit verify。",
        "Note: the signature and consistency results below are checked and reported by this server itself; this page does not verify them independently in your browser. If you do not want to trust this server, run creditbank audit verify on your own computer with the verifier key below (compare it with the one the bank publishes elsewhere).",
    ),
    "logs.as_reported": ("（据本服务器报告）", "(as reported by this server)"),
    "logs.verifier_key": ("验证公钥", "Verifier key"),
    "logs.audit_yourself": (
        "自行核验（不信任本服务器）：",
        "Check it yourself (without trusting this server):",
    ),
    "logs.log": ("日志", "Log"),
    "logs.size": ("条目数", "Size"),
    "logs.root": ("根哈希", "Root hash"),
    "logs.signature": ("签名", "Signature"),
    "logs.signature_ok": ("签名有效（{key}）", "signature verifies ({key})"),
    "logs.signature_bad": ("签名无效：{error}", "signature does NOT verify: {error}"),
    "logs.consistency": ("与上次所见一致", "Consistent with last seen"),
    "logs.first_seen": ("首次查看，已记住此检查点", "first visit: checkpoint remembered"),
    "logs.same": ("与上次相同（大小 {size}）", "unchanged since last seen (size {size})"),
    "logs.consistent": (
        "一致：从 {first} 增长到 {second}，一致性证明有效",
        "consistent: grew from {first} to {second}, the proof verifies",
    ),
    "logs.inconsistent": ("不一致！{reason}", "INCONSISTENT! {reason}"),
    "logs.none": ("尚未发布检查点。", "No checkpoint published yet."),
    "logs.note": ("签名检查点原文", "Signed checkpoint note"),
    # -- console ------------------------------------------------------------------------------------
    "console.title": ("机构控制台", "Institution console"),
    "console.reviewer_title": ("审核工作台", "Review desk"),
    "console.acting_for": ("当前机构：{name}", "Acting for: {name}"),
    "console.post": ("提交一项学习成果", "Post one outcome"),
    "console.post_intro": (
        "填写表单提交单项成果；系统按现行规则自动认定（或转人工审核），学分写入账本。",
        "Post one outcome; the rules in force recognise it (or send it to review) and its credits enter the ledger.",
    ),
    "console.post_submit": ("提交成果", "Post outcome"),
    "console.posted": (
        "已提交：成果 {id}，{status}，{credits} 学分。",
        "Posted: outcome {id}, {status}, {credits} credits.",
    ),
    "console.duplicate": (
        "该机构编号已提交过相同内容，未重复入账（成果 {id}）。",
        "This reference was already posted with the same content; nothing applied twice (outcome {id}).",
    ),
    "console.attributes_hint": ("每行一项，格式 名称=值", "One per line, as name=value"),
    "console.attributes_invalid": ("第 {line} 行应为 名称=值", "line {line} should be name=value"),
    "console.upload": ("批量上传（CSV）", "Bulk upload (CSV)"),
    "console.upload_intro": (
        "CSV 第一行为列名，与单项表单字段同名（如 learner_id, reference, outcome_type, title, achieved_on, hours）；以 attr. 开头的列作为附加属性。支持 UTF-8 与 GB18030 编码。",
        "The first CSV line names the columns, as in the form (e.g. learner_id, reference, outcome_type, title, achieved_on, hours); columns starting with attr. become attributes. UTF-8 and GB18030 are accepted.",
    ),
    "console.upload_file": ("CSV 文件", "CSV file"),
    "console.upload_submit": ("上传并提交", "Upload and post"),
    "console.upload_progress": ("上传进度", "Upload progress"),
    "console.upload_missing": ("请选择一个 CSV 文件。", "Please choose a CSV file."),
    "console.upload_bad": ("无法读取该文件：{error}", "The file cannot be read: {error}"),
    "console.report": ("上传报告", "Upload report"),
    "console.report_file": ("文件：{name}", "File: {name}"),
    "console.report_processing": (
        "共 {total} 行，逐行提交，结果依次列在下方。",
        "{total} rows, posted one by one; the results appear below as they come.",
    ),
    "console.report_row": ("行", "Row"),
    "console.report_result": ("结果", "Result"),
    "console.report_summary": (
        "共 {rows} 行：新增 {created}，重复 {duplicate}，出错 {errors}；其中认定 {recognised}，待审核 {review}，未予认定 {rejected}。",
        "{rows} rows: {created} created, {duplicate} duplicates, {errors} errors; {recognised} recognised, {review} in review, {rejected} not recognised.",
    ),
    "console.report_done": ("处理完成。", "Done."),
    "console.report_back": ("返回控制台", "Back to the console"),
    "row.created": ("已新增", "created"),
    "row.duplicate": ("重复", "duplicate"),
    "row.error": ("出错", "error"),
    "console.outcomes": ("本机构提交的成果", "Outcomes you posted"),
    "console.no_outcomes": ("还没有提交成果。", "No outcomes posted yet."),
    "console.revoke": ("撤销", "Revoke"),
    "console.revoke_reason": ("撤销原因", "Reason for revoking"),
    "console.revoked_outcome": ("成果 {id} 已撤销。", "Outcome {id} was revoked."),
    "console.correction_requests": ("学习者的更正申请", "Correction requests from learners"),
    "console.no_correction_requests": ("没有待处理的更正申请。", "No open correction requests."),
    "console.certificates": ("本机构签发的证书", "Certificates you issued"),
    "console.no_certificates": ("还没有签发证书。", "No certificates issued yet."),
    "console.revoke_certificate": ("吊销证书", "Revoke certificate"),
    "console.revoked_certificate": ("证书 {id} 已吊销。", "Certificate {id} was revoked."),
    "console.incoming": ("待接收的学分转移", "Incoming transfers"),
    "console.incoming_intro": (
        "学习者申请转入本机构专业的学分；待接收的转移在本页逐份核验证书，接收后按转换规则与专业上限转换，每项学分只转换一次。",
        "Credits learners ask to transfer into your programmes; the certificates of waiting transfers are verified on this page, and accepting converts them by the conversion rules and the programme's caps, each lot once.",
    ),
    "console.no_incoming": ("没有待接收的转移证书。", "No incoming transfer certificates."),
    "console.accept": ("接收并转换", "Accept and convert"),
    "console.reject_transfer": ("拒绝", "Decline"),
    "console.reject_reason": ("拒绝理由", "Why it is declined"),
    "console.accepted": (
        "已接收转移 {id}，学分已转换。",
        "Transfer {id} was accepted and its credits converted.",
    ),
    "console.rejected": ("已拒绝转移 {id}。", "Transfer {id} was declined."),
    "console.converted": ("已接收证书并完成转换 {id}。", "The certificates were accepted: conversion {id}."),
    "console.transfer": ("转移", "Transfer"),
    "console.programme": ("转入专业", "Programme"),
    "console.lots": ("学分批次", "Lots"),
    "console.verification": ("核验", "Verification"),
    "console.accept_certificates": ("接收学习者带来的证书", "Accept certificates a learner brings"),
    "console.accept_certificates_intro": (
        "粘贴学习者提供的一份证书（JSON），或多份证书组成的 JSON 数组，选择转入专业；证书经完整核验后按规则转换，同一学分在任何学校只能转换一次。",
        "Paste a certificate the learner gives you (JSON), or a JSON array of them, and choose the programme; they are fully verified, then converted by the rules. The same credits convert once, at any school.",
    ),
    "console.certificates_json": ("证书 JSON", "Certificate JSON"),
    "console.no_programmes": (
        "本机构尚未发布专业，无法接收转换；请先通过接口 POST /api/v1/programmes 发布专业。",
        "You have published no programmes, so nothing can be converted yet; publish one with POST /api/v1/programmes.",
    ),
    "transfer.issued": ("待接收", "waiting"),
    "transfer.accepted": ("已接收", "accepted"),
    "transfer.rejected": ("已拒绝", "declined"),
    "transfer.withdrawn": ("已撤回", "withdrawn"),
    "console.queue": ("待审核成果", "Review queue"),
    "console.queue_intro": (
        "规则要求人工审核的成果，分区分中心、市中心两级；同一人不能同时审核两级。",
        "Outcomes the rules send to manual review, in two stages (district, then city); one person may not decide both.",
    ),
    "console.queue_empty": ("没有待审核的成果。", "Nothing waits for review."),
    "console.proposed": ("拟认定 {credits} 学分", "{credits} credits proposed"),
    "console.decision": ("审核决定", "Decision"),
    "console.approve": ("通过", "Approve"),
    "console.reject": ("不予认定", "Reject"),
    "console.reason": ("理由", "Reason"),
    "console.credits_override": (
        "认定学分（选填，0.5 的倍数）",
        "Credits to grant (optional, half-credit steps)",
    ),
    "console.decided": ("已记录对成果 {id} 的审核决定。", "Your decision on outcome {id} was recorded."),
    "console.learner": ("学习者", "Learner"),
    # -- outcome form fields ------------------------------------------------------------------------
    "field.learner_id": ("学习者编号", "Learner id"),
    "field.learner_id.hint": (
        "学分银行编号（lrn_…），或改填身份证号",
        "The bank's id (lrn_…), or give the identity number instead",
    ),
    "field.identity_number": ("身份证号", "Identity number"),
    "field.learner_name": ("姓名", "Name"),
    "field.learner_name.hint": (
        "与身份证号一起填写时，未注册的学习者将自动注册",
        "With the identity number: registers the learner if not yet known",
    ),
    "field.reference": ("机构编号", "Your reference"),
    "field.reference.hint": (
        "本机构内唯一，如 T-2025-001",
        "Unique within your institution, e.g. T-2025-001",
    ),
    "field.outcome_type": ("成果类型", "Outcome type"),
    "field.title": ("名称", "Title"),
    "field.achieved_on": ("取得日期", "Date achieved"),
    "field.hours": ("学时", "Study hours"),
    "field.level": ("等级", "Level"),
    "field.level.hint": (
        "如 初级/中级/高级、五级…一级、national/provincial",
        "e.g. 初级/中级/高级, 五级..一级, national/provincial",
    ),
    "field.score": ("分数", "Score"),
    "field.grade": ("成绩等第", "Grade"),
    "field.grade.hint": ("如 优秀/良好/合格", "e.g. 优秀/良好/合格"),
    "field.field": ("专业或工种", "Field or trade"),
    "field.course_code": ("课程代码", "Course code"),
    "field.identity_verified": ("考核时已核验身份", "Identity verified at assessment"),
    "field.evidence_hash": ("证明材料哈希", "Evidence hash"),
    "field.evidence_hash.hint": ("sha256:64位十六进制", "sha256:<64 hex digits>"),
    "field.attributes": ("附加属性", "Further attributes"),
    # -- PDF documents ------------------------------------------------------------------------------
    "pdf.certificate_title": ("学分证书", "Credit certificate"),
    "pdf.bundle_title": ("学分转移证明", "Credit transfer certificate"),
    "pdf.subtitle": (
        "本证书由签发方以数字签名签署（W3C 可验证凭证 2.0 / Open Badges 3.0），学分记录收录于学分银行公开账本。",
        "Digitally signed by the issuer (W3C Verifiable Credential 2.0 / Open Badges 3.0); the credits are recorded in the credit bank's public ledger.",
    ),
    "pdf.certificate_id": ("证书编号", "Certificate id"),
    "pdf.credential_id": ("凭证标识", "Credential id"),
    "pdf.holder": ("持证人", "Holder"),
    "pdf.achievement": ("证书名称", "Achievement"),
    "pdf.outcome": ("学习成果", "Learning outcome"),
    "pdf.credits": ("学分", "Credits"),
    "pdf.category_level": ("类别与等级", "Category and level"),
    "pdf.rule": ("认定规则", "Recognition rule"),
    "pdf.ledger": ("账本位置", "Ledger reference"),
    "pdf.issuer": ("签发方", "Issuer"),
    "pdf.destination": ("转入院校", "Destination"),
    "pdf.validity": ("有效期", "Valid"),
    "pdf.valid_from_until": ("{start} 至 {end}", "{start} to {end}"),
    "pdf.open_ended": ("长期", "no end"),
    "pdf.status": ("状态（签发时）", "Status (when printed)"),
    "pdf.lots": ("学分批次", "Credit lots"),
    "pdf.qr_caption": ("扫码核验", "Scan to verify"),
    "pdf.verify_hint": (
        "核验：扫描二维码或打开下面的网址；下载的 JSON 证书也可用 creditbank verify 离线核验。",
        "To verify: scan the QR code or open the address below; the JSON certificate also verifies offline with `creditbank verify`.",
    ),
    "pdf.footer": ("{bank}　生成于 {at}", "{bank} - printed {at}"),
    "pdf.no_cjk_font": (
        "服务器未安装中文字体（Debian 软件包 {package}），无法打印的字符以 ? 代替。",
        "The server has no Chinese font (Debian package {package}); characters it cannot print are shown as ?.",
    ),
    "pdf.transcript_title": ("终身学习档案成绩单", "Lifelong learning transcript"),
    "pdf.generated": ("生成时间", "Generated"),
    "pdf.totals": ("学分合计", "Credits"),
    "pdf.totals_value": (
        "认定 {total}，其中可用 {available}，已转换 {converted}",
        "{total} recognised: {available} available, {converted} converted",
    ),
    "pdf.verify_archive": ("核验", "Verification"),
    "pdf.verify_archive_value": (
        "每项学分均附账本位置（日志、序号、叶哈希），可在 {url} 逐项核验。",
        "Every credit carries its ledger reference (log, index, leaf hash), checkable at {url}.",
    ),
    # -- validation messages (by pydantic error type) ------------------------------------------------
    "err.missing": ("必填", "required"),
    "err.string_too_short": ("不能为空", "must not be empty"),
    "err.string_too_long": ("过长", "too long"),
    "err.string_pattern_mismatch": ("格式不正确", "wrong format"),
    "err.date_from_datetime_parsing": ("日期格式应为 YYYY-MM-DD", "a date as YYYY-MM-DD"),
    "err.date_parsing": ("日期格式应为 YYYY-MM-DD", "a date as YYYY-MM-DD"),
    "err.decimal_parsing": ("应为数字", "must be a number"),
    "err.decimal_max_places": ("小数位过多", "too many decimal places"),
    "err.decimal_max_digits": ("数字过长", "too many digits"),
    "err.greater_than_equal": ("数值过小", "too small"),
    "err.greater_than": ("数值过小", "too small"),
    "err.less_than_equal": ("数值过大", "too large"),
    "err.literal_error": ("请从列表中选择", "choose from the list"),
    "err.one_learner": (
        "学习者编号与身份证号须且只能填一项",
        "give exactly one of learner id or identity number",
    ),
}


@dataclass(frozen=True)
class Translator:
    """``t(key, **values)``: the message in this language, with placeholders filled."""

    lang: Lang

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "zh" else "zh"

    def __call__(self, message: str, /, **values: object) -> str:
        pair = MESSAGES.get(message)
        if pair is None:
            return message
        text = pair[0] if self.lang == "zh" else pair[1]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in MESSAGES

    def pick(self, zh: str | None, en: str | None) -> str:
        """Of a stored pair of texts (e.g. an explanation), the one in this language."""
        first, second = (zh, en) if self.lang == "zh" else (en, zh)
        return first or second or ""

    def label(self, prefix: str, value: str | None) -> str:
        """A coded value's label (``type.mooc``); the raw value when there is none."""
        if value is None:
            return ""
        key = f"{prefix}.{value}"
        return self(key) if key in MESSAGES else value


def parse_lang(value: str | None) -> Lang | None:
    if value in ("zh", "zh-CN", "zh-cn"):
        return "zh"
    if value in ("en", "en-US", "en-GB"):
        return "en"
    return None
