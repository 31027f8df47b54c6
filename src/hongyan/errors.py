"""The error catalog: every refusal Hongyan can give, in one place.

Each entry has a code, an HTTP status, a message in English and Chinese, and what the caller
should do. Code raises from here (``raise TENANT_NOT_FOUND()``), ``GET /v1/errors`` serves it and
``docs/reference/errors.md`` is generated from it (``hongyan errors --markdown``).

Exception tree::

    HongyanError            an entry of the catalog, raised with its field and parameters

Messages may use ``{placeholders}``; they are filled from the keyword arguments given at raise
time, and a placeholder with no value is left as written rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal

Lang = Literal["en", "zh"]

CATALOG: dict[str, ErrorSpec] = {}


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One entry of the catalog."""

    code: str
    status: int
    domain: str
    message_en: str
    message_zh: str
    action_en: str
    action_zh: str

    def __call__(self, *, field: str | None = None, **params: Any) -> HongyanError:
        """Make the exception for this entry, naming the field and filling the message."""
        return HongyanError(self, field=field, params=params)

    def message(self, lang: Lang, params: Mapping[str, Any] | None = None) -> str:
        template = self.message_zh if lang == "zh" else self.message_en
        return template.format_map(_Missing(params or {}))

    def action(self, lang: Lang, params: Mapping[str, Any] | None = None) -> str:
        template = self.action_zh if lang == "zh" else self.action_en
        return template.format_map(_Missing(params or {}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "http_status": self.status,
            "domain": self.domain,
            "message": {"en": self.message_en, "zh": self.message_zh},
            "action": {"en": self.action_en, "zh": self.action_zh},
        }


@dataclass(eq=False)
class HongyanError(Exception):
    """A refusal from the catalog; the API turns it into the error body of DESIGN.md."""

    spec: ErrorSpec
    field: str | None = None
    params: dict[str, Any] = dataclass_field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.spec.code)

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def status(self) -> int:
        return self.spec.status

    def message(self, lang: Lang = "en") -> str:
        return self.spec.message(lang, {"field": self.field, **self.params})

    def action(self, lang: Lang = "en") -> str:
        return self.spec.action(lang, {"field": self.field, **self.params})

    def __str__(self) -> str:
        return f"{self.code}: {self.message('en')}"


def define(
    code: str,
    status: int,
    domain: str,
    en: str,
    zh: str,
    *,
    do_en: str,
    do_zh: str,
) -> ErrorSpec:
    """Register a catalog entry; a code may be defined once only."""
    if code in CATALOG:
        raise ValueError(f"error code {code} defined twice")
    spec = ErrorSpec(code, status, domain, en, zh, do_en, do_zh)
    CATALOG[code] = spec
    return spec


def lang_from_header(accept_language: str | None) -> Lang:
    """Pick Chinese when the caller prefers it over English, else English."""
    if not accept_language:
        return "en"
    best: tuple[float, Lang] = (-1.0, "en")
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        tag = tag.strip().lower()
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        lang: Lang | None = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and weight > best[0]:
            best = (weight, lang)
    return best[1]


# ---------------------------------------------------------------------------------------------
# general: the request itself
# ---------------------------------------------------------------------------------------------

FIELD_REQUIRED = define(
    "FIELD_REQUIRED",
    422,
    "general",
    "The field '{field}' is required.",
    "缺少必填字段“{field}”。",
    do_en="Add the field to the request and send it again.",
    do_zh="在请求中补上该字段后重试。",
)
FIELD_INVALID = define(
    "FIELD_INVALID",
    422,
    "general",
    "The field '{field}' is not valid: {reason}",
    "字段“{field}”不合法:{reason}",
    do_en="Correct the value as the reason says; the API reference lists each field's format.",
    do_zh="按提示修正该字段的值;各字段格式见 API 参考文档。",
)
FIELD_TOO_LONG = define(
    "FIELD_TOO_LONG",
    422,
    "general",
    "The field '{field}' is too long: {reason}",
    "字段“{field}”过长:{reason}",
    do_en="Shorten the value to the stated limit.",
    do_zh="将该值缩短到限制以内。",
)
FIELD_TOO_SHORT = define(
    "FIELD_TOO_SHORT",
    422,
    "general",
    "The field '{field}' is too short: {reason}",
    "字段“{field}”过短:{reason}",
    do_en="Lengthen the value to the stated minimum.",
    do_zh="将该值补足到最小长度。",
)
FIELD_UNKNOWN = define(
    "FIELD_UNKNOWN",
    422,
    "general",
    "The field '{field}' is not accepted here.",
    "不接受字段“{field}”。",
    do_en="Remove the field; check its spelling against the API reference.",
    do_zh="删除该字段,并对照 API 参考检查拼写。",
)
BODY_NOT_JSON = define(
    "BODY_NOT_JSON",
    400,
    "general",
    "The request body is not valid JSON.",
    "请求体不是合法的 JSON。",
    do_en="Send a JSON object with Content-Type: application/json.",
    do_zh="以 Content-Type: application/json 发送一个 JSON 对象。",
)
NOT_FOUND = define(
    "NOT_FOUND",
    404,
    "general",
    "There is no such endpoint.",
    "没有这个接口。",
    do_en="Check the method and path against the API reference.",
    do_zh="对照 API 参考检查请求方法和路径。",
)
METHOD_NOT_ALLOWED = define(
    "METHOD_NOT_ALLOWED",
    405,
    "general",
    "This endpoint does not accept that method.",
    "该接口不支持此请求方法。",
    do_en="Use one of the methods listed in the Allow header.",
    do_zh="改用响应头 Allow 中列出的方法。",
)
INVALID_CURSOR = define(
    "INVALID_CURSOR",
    400,
    "general",
    "The pagination cursor is not valid.",
    "分页游标无效。",
    do_en="Pass the next_cursor value of the previous page unchanged, or omit it to start over.",
    do_zh="原样传入上一页返回的 next_cursor,或不传以从头开始。",
)
INTERNAL_ERROR = define(
    "INTERNAL_ERROR",
    500,
    "general",
    "Something went wrong on our side.",
    "服务内部错误。",
    do_en="Try again later; if it persists, give the operator the request_id.",
    do_zh="请稍后重试;如持续出现,请将 request_id 提供给平台运营方。",
)
NOT_READY = define(
    "NOT_READY",
    503,
    "general",
    "The service is not ready: {reason}",
    "服务尚未就绪:{reason}",
    do_en="Wait and retry; the operator should check the database and migrations.",
    do_zh="稍后重试;运营方应检查数据库与迁移状态。",
)

# ---------------------------------------------------------------------------------------------
# auth: who is calling
# ---------------------------------------------------------------------------------------------

AUTH_REQUIRED = define(
    "AUTH_REQUIRED",
    401,
    "auth",
    "This endpoint needs an API key.",
    "该接口需要 API 密钥。",
    do_en="Send Authorization: Basic base64(key_id:key_secret), or the signed form.",
    do_zh="发送 Authorization: Basic base64(key_id:key_secret),或使用签名方式。",
)
AUTH_MALFORMED = define(
    "AUTH_MALFORMED",
    401,
    "auth",
    "The Authorization header is malformed: {reason}",
    "Authorization 请求头格式错误:{reason}",
    do_en="Follow the format in the authentication how-to.",
    do_zh="按照“认证”指南中的格式构造请求头。",
)
INVALID_CREDENTIALS = define(
    "INVALID_CREDENTIALS",
    401,
    "auth",
    "The key id or secret is wrong.",
    "密钥 ID 或密钥不正确。",
    do_en="Check the key id and secret; a secret is shown only once, so create a new key if lost.",
    do_zh="检查密钥 ID 与密钥;密钥只显示一次,遗失请新建。",
)
SIGNATURE_MISMATCH = define(
    "SIGNATURE_MISMATCH",
    401,
    "auth",
    "The request signature does not match.",
    "请求签名不匹配。",
    do_en="Rebuild the canonical request exactly as documented (method, path, sorted query, "
    "signed headers, body hash) and sign it with the key's secret.",
    do_zh="严格按文档构造规范请求(方法、路径、排序后的查询串、签名头、请求体哈希)并用密钥签名。",
)
SIGNATURE_EXPIRED = define(
    "SIGNATURE_EXPIRED",
    401,
    "auth",
    "X-Hongyan-Date is missing or more than 15 minutes away from the server's clock.",
    "X-Hongyan-Date 缺失,或与服务器时间相差超过 15 分钟。",
    do_en="Send the current UTC time in RFC 3339 and keep your clock synchronized (NTP).",
    do_zh="以 RFC 3339 格式发送当前 UTC 时间,并保持时钟同步(NTP)。",
)
NONCE_REUSED = define(
    "NONCE_REUSED",
    401,
    "auth",
    "X-Hongyan-Nonce is missing or was already used.",
    "X-Hongyan-Nonce 缺失或已被使用。",
    do_en="Send a fresh random nonce (e.g. a UUID) with every signed request.",
    do_zh="每个签名请求都使用新的随机 nonce(例如 UUID)。",
)
KEY_REVOKED = define(
    "KEY_REVOKED",
    401,
    "auth",
    "This API key has been revoked.",
    "该 API 密钥已被吊销。",
    do_en="Use another key, or create a new one.",
    do_zh="改用其他密钥,或新建一个。",
)
TENANT_SUSPENDED = define(
    "TENANT_SUSPENDED",
    403,
    "auth",
    "This account is suspended.",
    "该账户已被停用。",
    do_en="Contact the platform operator to have the account resumed.",
    do_zh="请联系平台运营方恢复账户。",
)
SCOPE_MISSING = define(
    "SCOPE_MISSING",
    403,
    "auth",
    "This API key lacks the '{scope}' scope.",
    "该 API 密钥缺少“{scope}”权限。",
    do_en="Use a key created with that scope.",
    do_zh="改用具有该权限的密钥。",
)
OPERATOR_REQUIRED = define(
    "OPERATOR_REQUIRED",
    403,
    "auth",
    "Only an operator key may call this endpoint.",
    "只有平台运营方密钥可以调用此接口。",
    do_en="Call it with an operator key ('hongyan run' prints one; "
    "'hongyan key create --operator' makes more).",
    do_zh="请使用运营方密钥('hongyan run' 或 'hongyan key create --operator' 创建)。",
)

# ---------------------------------------------------------------------------------------------
# accounts: tenants and keys
# ---------------------------------------------------------------------------------------------

TENANT_NOT_FOUND = define(
    "TENANT_NOT_FOUND",
    404,
    "accounts",
    "There is no tenant '{id}'.",
    "租户“{id}”不存在。",
    do_en="Check the id; list tenants with GET /v1/admin/tenants.",
    do_zh="检查 ID;可用 GET /v1/admin/tenants 列出租户。",
)
TENANT_NAME_TAKEN = define(
    "TENANT_NAME_TAKEN",
    409,
    "accounts",
    "A tenant named '{name}' already exists.",
    "已存在名为“{name}”的租户。",
    do_en="Choose another name.",
    do_zh="换一个名称。",
)
KEY_NOT_FOUND = define(
    "KEY_NOT_FOUND",
    404,
    "accounts",
    "There is no API key '{id}'.",
    "API 密钥“{id}”不存在。",
    do_en="Check the id; list your keys with GET /v1/keys.",
    do_zh="检查 ID;可用 GET /v1/keys 列出密钥。",
)
VERIFICATION_NOT_PENDING = define(
    "VERIFICATION_NOT_PENDING",
    409,
    "accounts",
    "The enterprise verification is '{status}', not pending.",
    "企业认证状态为“{status}”,不是待审核。",
    do_en="Only a pending verification can be approved or rejected; the tenant submits first.",
    do_zh="只有待审核的认证可以通过或驳回;请租户先提交认证资料。",
)
VERIFICATION_ALREADY_VERIFIED = define(
    "VERIFICATION_ALREADY_VERIFIED",
    409,
    "accounts",
    "The enterprise is already verified.",
    "企业已通过认证。",
    do_en="Nothing to do; ask the operator if the company details must change.",
    do_zh="无需再次提交;如需变更企业信息请联系运营方。",
)

# ---------------------------------------------------------------------------------------------
# --- numbers: phone numbers ---
# ---------------------------------------------------------------------------------------------

NUMBER_UNPARSEABLE = define(
    "NUMBER_UNPARSEABLE",
    422,
    "numbers",
    "'{number}' does not look like a phone number.",
    "“{number}”看起来不是电话号码。",
    do_en="Send the number in E.164 (+8613800138000) or as dialled in the default region.",
    do_zh="请使用 E.164 格式(+8613800138000)或默认地区内的拨号格式发送号码。",
)
NUMBER_INVALID = define(
    "NUMBER_INVALID",
    422,
    "numbers",
    "'{number}' is not a valid phone number in any numbering plan.",
    "“{number}”不是任何号码规划中的有效号码。",
    do_en="Check the digits and the country code; a number without '+' is read in the default "
    "region.",
    do_zh="检查号码位数与国家码;不带“+”的号码按默认地区解析。",
)
NUMBER_NOT_MOBILE = define(
    "NUMBER_NOT_MOBILE",
    422,
    "numbers",
    "'{number}' is a {number_type} number, which cannot receive SMS.",
    "“{number}”是{number_type}号码,无法接收短信。",
    do_en="Send to a mobile number; landlines, toll-free and premium-rate numbers get no SMS.",
    do_zh="请发送到手机号码;固定电话、免费电话和增值付费号码无法接收短信。",
)
NUMBER_REGION_UNKNOWN = define(
    "NUMBER_REGION_UNKNOWN",
    422,
    "numbers",
    "'{region}' is not a region code we know.",
    "未知的地区代码“{region}”。",
    do_en="Use a two-letter ISO 3166-1 region code such as CN, US or GB.",
    do_zh="请使用两位 ISO 3166-1 地区代码,例如 CN、US、GB。",
)
NUMBERS_TOO_MANY = define(
    "NUMBERS_TOO_MANY",
    422,
    "numbers",
    "{count} numbers were given; at most {limit} are checked at once.",
    "共提交 {count} 个号码;每次最多检查 {limit} 个。",
    do_en="Split the list into batches of at most {limit}, or clean it as a CSV file.",
    do_zh="将号码分批提交(每批不超过上限),或以 CSV 文件方式清洗。",
)
CSV_COLUMN_MISSING = define(
    "CSV_COLUMN_MISSING",
    422,
    "numbers",
    "The file has no column '{column}'; its columns are: {columns}.",
    "文件中没有“{column}”列;现有列为:{columns}。",
    do_en="Name the column that holds the phone numbers (--column), exactly as in the header row.",
    do_zh="用 --column 指定存放号码的列名,需与表头一致。",
)
CSV_ROW_TOO_WIDE = define(
    "CSV_ROW_TOO_WIDE",
    422,
    "numbers",
    "Row {row} has more fields than the header row.",
    "第 {row} 行的字段数多于表头。",
    do_en="Quote fields that contain the delimiter, then clean the file again.",
    do_zh="为包含分隔符的字段加上引号后重新清洗。",
)
TENANT_KEY_REQUIRED = define(
    "TENANT_KEY_REQUIRED",
    403,
    "auth",
    "This endpoint acts for one tenant and needs that tenant's key.",
    "该接口代表某个租户操作,需要使用该租户的密钥。",
    do_en="Call it with a tenant key; operators use the /v1/admin endpoints instead.",
    do_zh="请使用租户密钥调用;运营方请使用 /v1/admin 下的接口。",
)

# ---------------------------------------------------------------------------------------------
# --- compliance ---
# ---------------------------------------------------------------------------------------------

WORD_NOT_FOUND = define(
    "WORD_NOT_FOUND",
    404,
    "compliance",
    "There is no sensitive word '{id}' in this list.",
    "该词库中没有敏感词“{id}”。",
    do_en="Check the id; list the words with GET /v1/compliance/words "
    "(operators: GET /v1/admin/compliance/words).",
    do_zh="检查 ID;可用 GET /v1/compliance/words 列出敏感词"
    "(运营方:GET /v1/admin/compliance/words)。",
)
WORD_EXISTS = define(
    "WORD_EXISTS",
    409,
    "compliance",
    "'{word}' is already listed as '{existing}' ({category}, {action}).",
    "“{word}”已在词库中,记为“{existing}”({category},{action})。",
    do_en="Nothing to add: spellings that differ only in case, width, spaces or punctuation are "
    "one word. To change its category or action, import it (imports update) or delete it first.",
    do_zh="无需重复添加:仅大小写、全半角、空格或标点不同的写法视为同一个词。"
    "如需修改分类或处理方式,请通过导入更新,或先删除再添加。",
)
WORD_INVALID = define(
    "WORD_INVALID",
    422,
    "compliance",
    "The word '{word}' cannot be listed: {reason}",
    "敏感词“{word}”无法加入词库:{reason}",
    do_en="A word has 1 to 100 characters with at least one letter, digit or ideograph; "
    "its action is block or review.",
    do_zh="敏感词长 1 至 100 个字符,至少含一个字母、数字或汉字;处理方式为 block 或 review。",
)
CATEGORY_INVALID = define(
    "CATEGORY_INVALID",
    422,
    "compliance",
    "'{category}' is not a valid word category.",
    "“{category}”不是有效的敏感词分类。",
    do_en="Use a lower-case slug of letters, digits, '-' or '_' (at most 32 characters), such as "
    "fraud, gambling, adult, political, drugs, spam or custom.",
    do_zh="请使用由小写字母、数字、“-”或“_”组成的标识(不超过 32 个字符),"
    "例如 fraud、gambling、adult、political、drugs、spam、custom。",
)
IMPORT_FILE_INVALID = define(
    "IMPORT_FILE_INVALID",
    422,
    "compliance",
    "The word list is not valid at line {line}: {reason}",
    "词表第 {line} 行有误:{reason}",
    do_en="Fix that line and import again; nothing was imported. Text: one word per line, "
    "optionally followed by a tab and block or review. CSV: a header row naming 'word' and "
    "optionally 'category' and 'action'.",
    do_zh="修正该行后重新导入;本次未导入任何词。文本格式:每行一个词,可在制表符后写 block 或 "
    "review。CSV 格式:表头须含 word 列,可选 category、action 列。",
)
IMPORT_TOO_LARGE = define(
    "IMPORT_TOO_LARGE",
    422,
    "compliance",
    "The word list has {count} words; at most {limit} are imported at once.",
    "词表共有 {count} 个词;每次最多导入 {limit} 个。",
    do_en="Split the file and import the parts one after the other.",
    do_zh="将文件拆分后依次导入。",
)
CONTENT_BLOCKED = define(
    "CONTENT_BLOCKED",
    422,
    "compliance",
    "The content contains a blocked word ('{word}', {category}).",
    "内容含有禁止发送的敏感词(“{word}”,{category})。",
    do_en="Remove or rephrase the word; POST /v1/content/check shows every hit. If the word is "
    "listed by mistake, remove it from your list or ask the operator (global list).",
    do_zh="删除或改写该词;可用 POST /v1/content/check 查看全部命中。如属误收录,"
    "请从自己的词库中删除,或联系运营方(全局词库)。",
)

# ---------------------------------------------------------------------------------------------
# --- signs: sign names and their qualification files ---
# ---------------------------------------------------------------------------------------------

SIGN_NOT_FOUND = define(
    "SIGN_NOT_FOUND",
    404,
    "signs",
    "There is no sign '{id}'.",
    "签名“{id}”不存在。",
    do_en="Check the id or name; list your signs with GET /v1/signs.",
    do_zh="检查 ID 或名称;可用 GET /v1/signs 列出签名。",
)
SIGN_NAME_INVALID = define(
    "SIGN_NAME_INVALID",
    422,
    "signs",
    "The sign name '{name}' is not valid: {reason}",
    "签名“{name}”不合法:{reason}",
    do_en="Use 2 to 12 characters: letters, digits, Chinese characters, spaces and - _ . & · "
    "only; no emoji and no brackets (the carrier adds 【】 itself).",
    do_zh="签名长 2 至 12 个字符,只能包含汉字、字母、数字、空格及 - _ . & ·;"
    "不能含表情符号或括号(【】由运营商自动添加)。",
)
SIGN_NAME_TAKEN = define(
    "SIGN_NAME_TAKEN",
    409,
    "signs",
    "You already have a sign named '{name}'.",
    "已存在名为“{name}”的签名。",
    do_en="Use that sign (GET /v1/signs), or delete it before creating it again.",
    do_zh="直接使用该签名(GET /v1/signs),或先删除后再创建。",
)
SIGN_NOT_MODIFIABLE = define(
    "SIGN_NOT_MODIFIABLE",
    409,
    "signs",
    "The sign '{id}' is {status}; only a pending or rejected sign can be modified.",
    "签名“{id}”状态为 {status};只有审核中或被驳回的签名可以修改。",
    do_en="An approved sign stays as approved; create a new sign for another name or purpose.",
    do_zh="已通过的签名不能修改;如需其他名称或用途,请新建签名。",
)
SIGN_UNDER_REVIEW = define(
    "SIGN_UNDER_REVIEW",
    409,
    "signs",
    "The sign '{id}' is under review and cannot be deleted.",
    "签名“{id}”正在审核中,不能删除。",
    do_en="Wait for the operator's decision, then delete it; or modify it instead.",
    do_zh="请等待审核结果后再删除,或直接修改。",
)
SIGN_NOT_APPROVED = define(
    "SIGN_NOT_APPROVED",
    422,
    "signs",
    "The sign '{name}' is {status}, not approved.",
    "签名“{name}”状态为 {status},尚未通过审核。",
    do_en="Send with an approved sign; GET /v1/signs?status=approved lists them.",
    do_zh="请使用已通过审核的签名;可用 GET /v1/signs?status=approved 查看。",
)
SIGN_SCENE_MISMATCH = define(
    "SIGN_SCENE_MISMATCH",
    422,
    "signs",
    "The sign '{name}' is for verification messages only; it cannot send a {kind} template.",
    "签名“{name}”仅限验证码场景,不能发送{kind}模板。",
    do_en="Use a general-purpose sign, or apply for one (POST /v1/signs with purpose general).",
    do_zh="请改用通用签名,或申请一个(POST /v1/signs,purpose 为 general)。",
)
SIGN_FILES_TOO_MANY = define(
    "SIGN_FILES_TOO_MANY",
    422,
    "signs",
    "A sign has at most {limit} files.",
    "每个签名最多上传 {limit} 个文件。",
    do_en="Delete a file you no longer need (DELETE /v1/signs/{id}/files/{file_id}) first.",
    do_zh="请先删除不再需要的文件(DELETE /v1/signs/{id}/files/{file_id})。",
)
FILE_NOT_FOUND = define(
    "FILE_NOT_FOUND",
    404,
    "signs",
    "There is no file '{id}' on this sign.",
    "该签名下没有文件“{id}”。",
    do_en="Check the id; GET /v1/signs/{id} lists the sign's files.",
    do_zh="检查 ID;GET /v1/signs/{id} 会列出签名的文件。",
)
FILE_TOO_LARGE = define(
    "FILE_TOO_LARGE",
    413,
    "signs",
    "The file is larger than {limit} bytes.",
    "文件超过 {limit} 字节。",
    do_en="Upload a smaller scan (at most 5 MiB): lower the resolution or compress the PDF.",
    do_zh="请上传更小的文件(不超过 5 MiB):降低扫描分辨率或压缩 PDF。",
)
FILE_TYPE_NOT_ALLOWED = define(
    "FILE_TYPE_NOT_ALLOWED",
    415,
    "signs",
    "The file is not a PDF, PNG or JPEG document.",
    "文件不是 PDF、PNG 或 JPEG 格式。",
    do_en="Upload the document as PDF, PNG or JPEG; the type is read from the file's content, "
    "not from its name.",
    do_zh="请以 PDF、PNG 或 JPEG 格式上传;格式按文件内容识别,与文件名无关。",
)

# ---------------------------------------------------------------------------------------------
# --- templates: templates, rendering and the review queue ---
# ---------------------------------------------------------------------------------------------

TEMPLATE_NOT_FOUND = define(
    "TEMPLATE_NOT_FOUND",
    404,
    "templates",
    "There is no template '{id}'.",
    "模板“{id}”不存在。",
    do_en="Check the template code; list your templates with GET /v1/templates.",
    do_zh="检查模板编号;可用 GET /v1/templates 列出模板。",
)
TEMPLATE_NOT_MODIFIABLE = define(
    "TEMPLATE_NOT_MODIFIABLE",
    409,
    "templates",
    "The template '{id}' is {status}; only a pending or rejected template can be modified.",
    "模板“{id}”状态为 {status};只有审核中或被驳回的模板可以修改。",
    do_en="An approved template stays as approved so messages keep their meaning; create a new "
    "template for new wording.",
    do_zh="已通过的模板不能修改;如需新的内容,请新建模板。",
)
TEMPLATE_UNDER_REVIEW = define(
    "TEMPLATE_UNDER_REVIEW",
    409,
    "templates",
    "The template '{id}' is under review and cannot be deleted.",
    "模板“{id}”正在审核中,不能删除。",
    do_en="Wait for the operator's decision, then delete it; or modify it instead.",
    do_zh="请等待审核结果后再删除,或直接修改。",
)
TEMPLATE_NEEDS_VERIFIED_ENTERPRISE = define(
    "TEMPLATE_NEEDS_VERIFIED_ENTERPRISE",
    403,
    "templates",
    "Only a verified enterprise may submit {what} templates; your verification is {status}.",
    "只有通过企业认证的租户可以提交{what}模板;当前认证状态为 {status}。",
    do_en="Submit your company details (POST /v1/tenant/verification), wait for the operator "
    "to approve them, then submit the template again.",
    do_zh="请提交企业认证资料(POST /v1/tenant/verification),待运营方审核通过后重新提交模板。",
)
TEMPLATE_NOT_APPROVED = define(
    "TEMPLATE_NOT_APPROVED",
    422,
    "templates",
    "The template '{id}' is {status}, not approved.",
    "模板“{id}”状态为 {status},尚未通过审核。",
    do_en="Send with an approved template; GET /v1/templates/{id} shows its status and, when "
    "rejected, the reasons.",
    do_zh="请使用已通过审核的模板;GET /v1/templates/{id} 可查看状态及驳回原因。",
)
PARAM_MISSING = define(
    "PARAM_MISSING",
    422,
    "templates",
    "The template needs a value for the variable '{name}'.",
    "模板变量“{name}”缺少取值。",
    do_en="Add the variable to params: every variable of the template needs a value.",
    do_zh="请在 params 中补上该变量:模板中的每个变量都需要取值。",
)
PARAM_UNKNOWN = define(
    "PARAM_UNKNOWN",
    422,
    "templates",
    "The template has no variable '{name}'.",
    "模板中没有变量“{name}”。",
    do_en="Remove it from params, or check its spelling against the template's variables.",
    do_zh="请从 params 中删除该变量,或对照模板检查拼写。",
)
PARAM_INVALID = define(
    "PARAM_INVALID",
    422,
    "templates",
    "The value of the variable '{name}' is not valid: {reason}",
    "变量“{name}”的取值不合法:{reason}",
    do_en="Send a value that meets the variable's rule (GET /v1/templates/{id} shows the rules).",
    do_zh="请按变量规则传值(GET /v1/templates/{id} 可查看规则)。",
)
PARAM_CONTAINS_URL = define(
    "PARAM_CONTAINS_URL",
    422,
    "templates",
    "The value of the variable '{name}' carries a link to '{host}', which is not allowed.",
    "变量“{name}”的取值含有指向“{host}”的链接,不允许发送。",
    do_en="Put links in the template itself, to a domain the operator allows; variables carry "
    "no links to other domains.",
    do_zh="链接请写在模板正文中,且须为运营方允许的域名;变量中不能携带其他域名的链接。",
)
PARAM_VERIFICATION_CODE_INVALID = define(
    "PARAM_VERIFICATION_CODE_INVALID",
    422,
    "templates",
    "The verification code in '{name}' must be 4 to 6 letters or digits.",
    "变量“{name}”中的验证码须为 4 至 6 位字母或数字。",
    do_en="Send a code of 4 to 6 letters or digits, such as 482913.",
    do_zh="请传入 4 至 6 位字母或数字的验证码,例如 482913。",
)
REVIEW_NOT_FOUND = define(
    "REVIEW_NOT_FOUND",
    404,
    "templates",
    "There is no review '{id}'.",
    "审核单“{id}”不存在。",
    do_en="Check the id; GET /v1/admin/reviews lists the pending reviews.",
    do_zh="检查 ID;可用 GET /v1/admin/reviews 列出待审核项。",
)
REVIEW_ALREADY_DECIDED = define(
    "REVIEW_ALREADY_DECIDED",
    409,
    "templates",
    "The review '{id}' is already {status}.",
    "审核单“{id}”已处理,状态为 {status}。",
    do_en="Nothing to do; a superseded review was replaced by the tenant's newer version, "
    "which has a review of its own in the queue.",
    do_zh="无需处理;状态为 superseded 的审核单已被租户提交的新版本取代,新版本另有审核单。",
)

# ---------------------------------------------------------------------------------------------
# --- billing: prices, balances and the ledger ---
# ---------------------------------------------------------------------------------------------

INSUFFICIENT_BALANCE = define(
    "INSUFFICIENT_BALANCE",
    402,
    "billing",
    "The balance is {balance} {currency} (in minor units); this needs {needed}.",
    "账户余额为 {balance} {currency}(最小货币单位);本次需要 {needed}。",
    do_en="Ask the operator to top up the account (GET /v1/balance shows the balance); nothing "
    "was sent or charged. Aliyun calls this isv.AMOUNT_NOT_ENOUGH.",
    do_zh="请联系运营方充值(GET /v1/balance 可查看余额);本次未发送,也未扣费。"
    "对应阿里云错误码 isv.AMOUNT_NOT_ENOUGH。",
)
PRICE_NOT_SET = define(
    "PRICE_NOT_SET",
    422,
    "billing",
    "No price is set for {kind} messages to '{country}'.",
    "未设置发往“{country}”的{kind}短信价格。",
    do_en="Ask the operator to set one (PUT /v1/admin/prices or 'hongyan billing price set'); "
    "a price for country '*' covers every country without a price of its own.",
    do_zh="请联系运营方设置价格(PUT /v1/admin/prices 或 'hongyan billing price set');"
    "国家为“*”的价格适用于所有未单独定价的国家。",
)
CURRENCY_MISMATCH = define(
    "CURRENCY_MISMATCH",
    409,
    "billing",
    "The price for '{country}' is in {price_currency}, but the account is in {currency}.",
    "发往“{country}”的价格以 {price_currency} 计价,而账户币种为 {currency}。",
    do_en="The operator sets that price in the account's currency, or changes the account's "
    "currency (possible only while its balance and held amount are zero).",
    do_zh="请运营方以账户币种设置该价格,或修改账户币种(仅当余额与冻结金额均为零时可改)。",
)
PRICE_NOT_FOUND = define(
    "PRICE_NOT_FOUND",
    404,
    "billing",
    "There is no price for '{country}' (kind '{kind}').",
    "没有“{country}”(类型“{kind}”)的价格。",
    do_en="Check the country and kind; GET /v1/admin/prices lists the prices ('*' means any).",
    do_zh="检查国家与类型;可用 GET /v1/admin/prices 列出价格(“*”表示任意)。",
)
CURRENCY_LOCKED = define(
    "CURRENCY_LOCKED",
    409,
    "billing",
    "The currency cannot change while the account holds money: balance {balance}, held {held} "
    "{currency}.",
    "账户仍有资金,不能修改币种:余额 {balance},冻结 {held} {currency}。",
    do_en="Wait until held messages are settled, bring the balance to zero with an adjustment, "
    "change the currency, then top up in the new currency.",
    do_zh="请等待冻结中的短信结算完毕,通过调账将余额调为零,修改币种后再以新币种充值。",
)
LEDGER_KEY_REUSED = define(
    "LEDGER_KEY_REUSED",
    409,
    "billing",
    "The Idempotency-Key '{key}' was already used for a different {kind} of this tenant.",
    "幂等键“{key}”已用于该租户的另一笔不同的{kind}。",
    do_en="Send the same body again to get the first answer, or use a new key for a new request.",
    do_zh="如需取回首次结果请发送相同的请求体;新的请求请使用新的幂等键。",
)

# ---------------------------------------------------------------------------------------------
# --- messages: sending ---
# ---------------------------------------------------------------------------------------------

TEMPLATE_OR_BODY_REQUIRED = define(
    "TEMPLATE_OR_BODY_REQUIRED",
    422,
    "messages",
    "Give either 'template' (with 'params') or 'body', not both and not neither.",
    "请提供“template”(及“params”)或“body”之一,不能同时提供,也不能都不提供。",
    do_en="Send with an approved template code, or with free text where your account allows it.",
    do_zh="使用已审核通过的模板编号发送;或在账户允许时使用自由文本。",
)
FREE_TEXT_NOT_ALLOWED = define(
    "FREE_TEXT_NOT_ALLOWED",
    403,
    "messages",
    "This account may only send approved templates, not free text.",
    "该账户只能使用审核通过的模板发送,不能发送自由文本。",
    do_en="Submit the text as a template for review, or ask the operator to allow free text.",
    do_zh="将该内容作为模板提交审核,或请运营方开通自由文本。",
)
SIGN_REQUIRED = define(
    "SIGN_REQUIRED",
    422,
    "messages",
    "Messages to mainland China need an approved sign.",
    "发往中国大陆的短信需要已审核的签名。",
    do_en="Add 'sign' with the name of one of your approved signs.",
    do_zh="在请求中加入“sign”,填写已审核通过的签名名称。",
)
NUMBER_SUPPRESSED = define(
    "NUMBER_SUPPRESSED",
    422,
    "messages",
    "{msisdn} has opted out or is on your suppression list.",
    "{msisdn} 已退订或在您的黑名单中。",
    do_en="Do not message this number; remove it from the suppression list only with its consent.",
    do_zh="请勿向该号码发送;仅在取得用户同意后才可将其移出黑名单。",
)
TOO_MANY_SEGMENTS = define(
    "TOO_MANY_SEGMENTS",
    422,
    "messages",
    "The message needs {segments} segments; at most {max} are allowed.",
    "该短信需要 {segments} 条计费条数,最多允许 {max} 条。",
    do_en="Shorten the text or the variable values.",
    do_zh="缩短文本或变量值。",
)
SEND_AT_INVALID = define(
    "SEND_AT_INVALID",
    422,
    "messages",
    "send_at must be in the future and within {max_days} days.",
    "send_at 必须是未来时间,且在 {max_days} 天以内。",
    do_en="Give an RFC 3339 time with a zone, e.g. 2026-12-01T09:00:00+08:00.",
    do_zh="请提供带时区的 RFC 3339 时间,例如 2026-12-01T09:00:00+08:00。",
)
MESSAGE_NOT_FOUND = define(
    "MESSAGE_NOT_FOUND",
    404,
    "messages",
    "There is no message '{id}'.",
    "短信“{id}”不存在。",
    do_en="Check the id; list your messages with GET /v1/messages.",
    do_zh="检查 ID;可用 GET /v1/messages 查询。",
)
MESSAGE_NOT_CANCELABLE = define(
    "MESSAGE_NOT_CANCELABLE",
    409,
    "messages",
    "The message is '{status}'; only scheduled messages can be canceled.",
    "该短信状态为“{status}”,只有定时短信可以取消。",
    do_en="Nothing to do: it is already on its way or finished.",
    do_zh="无需操作:该短信已在发送或已结束。",
)
IDEMPOTENCY_KEY_REUSED = define(
    "IDEMPOTENCY_KEY_REUSED",
    409,
    "messages",
    "This Idempotency-Key was used with a different request.",
    "该 Idempotency-Key 已用于另一个不同的请求。",
    do_en="Use a new key for a new request; resend the same body to get the first answer again.",
    do_zh="新的请求请使用新的 key;重发相同请求体可再次得到首次的应答。",
)
EXPIRED = define(
    "EXPIRED",
    422,
    "messages",
    "The message's validity ran out before it could be sent.",
    "短信在有效期内未能发出。",
    do_en="Send again if it still matters; give a longer 'validity' if delays are expected.",
    do_zh="如仍需要请重新发送;预计有延迟时请设置更长的“validity”。",
)
SUBMIT_OUTCOME_UNKNOWN = define(
    "SUBMIT_OUTCOME_UNKNOWN",
    500,
    "messages",
    "The worker sending this message stopped; it may or may not have reached the carrier.",
    "发送该短信的进程中断,短信可能已送达运营商,也可能没有。",
    do_en="Marketing messages are not resent automatically to avoid duplicates; resend if needed.",
    do_zh="为避免重复,营销短信不会自动重发;如需要请重新发送。",
)

# ---------------------------------------------------------------------------------------------
# --- limits: per-number frequency limits, tenant request rate and caps ---
# ---------------------------------------------------------------------------------------------

FREQUENCY_LIMITED = define(
    "FREQUENCY_LIMITED",
    429,
    "limits",
    "Too many messages to {msisdn} in the last {window}: at most {max} with the same {scope}.",
    "{window_zh}内发送给 {msisdn} 的短信过多:同一{scope_zh}最多 {max} 条。",
    do_en="Wait before sending to this number again (resend verification codes no sooner than "
    "the limit allows). The operator sets the limits per tenant; numbers you test with can be "
    "exempted with POST /v1/limits/whitelist.",
    do_zh="请稍后再向该号码发送(验证码请勿在限制时间内重复发送)。频率限制由运营方按租户设置;"
    "测试用号码可通过 POST /v1/limits/whitelist 加入白名单以免受限制。",
)
TENANT_RATE_LIMITED = define(
    "TENANT_RATE_LIMITED",
    429,
    "limits",
    "Too many send requests: this account may make at most {rate} per second.",
    "发送请求过于频繁:该账户每秒最多 {rate} 次。",
    do_en="Slow down and retry after a second; put many recipients in one batch request "
    "(POST /v1/messages/batch) instead of many single requests, or ask the operator for a "
    "higher rate.",
    do_zh="请降低频率并在一秒后重试;多个接收号码请合并为一次批量请求(POST /v1/messages/batch),"
    "或联系运营方提高频率上限。",
)
DAILY_CAP_REACHED = define(
    "DAILY_CAP_REACHED",
    429,
    "limits",
    "This account has reached its cap of {cap} messages per day ({period}, {timezone}).",
    "该账户已达到每日 {cap} 条的发送上限({period},{timezone})。",
    do_en="Sending resumes at midnight in the account's time zone; ask the operator to raise "
    "the cap if you need more.",
    do_zh="按账户时区,次日零点后可继续发送;如需更多请联系运营方提高上限。",
)
MONTHLY_CAP_REACHED = define(
    "MONTHLY_CAP_REACHED",
    429,
    "limits",
    "This account has reached its cap of {cap} messages per month ({period}, {timezone}).",
    "该账户已达到每月 {cap} 条的发送上限({period},{timezone})。",
    do_en="Sending resumes on the first day of next month in the account's time zone; ask the "
    "operator to raise the cap if you need more.",
    do_zh="按账户时区,下月一日起可继续发送;如需更多请联系运营方提高上限。",
)
WHITELIST_ENTRY_NOT_FOUND = define(
    "WHITELIST_ENTRY_NOT_FOUND",
    404,
    "limits",
    "'{id}' is not on the frequency-limit whitelist.",
    "“{id}”不在频率限制白名单中。",
    do_en="Check the number or entry id; GET /v1/limits/whitelist lists the whitelist.",
    do_zh="检查号码或条目 ID;可用 GET /v1/limits/whitelist 查看白名单。",
)
WHITELIST_ENTRY_EXISTS = define(
    "WHITELIST_ENTRY_EXISTS",
    409,
    "limits",
    "{msisdn} is already on the frequency-limit whitelist.",
    "{msisdn} 已在频率限制白名单中。",
    do_en="Nothing to add; GET /v1/limits/whitelist lists the whitelist.",
    do_zh="无需重复添加;可用 GET /v1/limits/whitelist 查看白名单。",
)
WHITELIST_FULL = define(
    "WHITELIST_FULL",
    422,
    "limits",
    "The frequency-limit whitelist holds at most {limit} numbers.",
    "频率限制白名单最多 {limit} 个号码。",
    do_en="Remove numbers you no longer test with (DELETE /v1/limits/whitelist/{number}) first.",
    do_zh="请先删除不再使用的号码(DELETE /v1/limits/whitelist/{number})。",
)


# ---------------------------------------------------------------------------------------------
# --- webhooks: endpoints, signed deliveries, the delivery log ---
# ---------------------------------------------------------------------------------------------

WEBHOOK_NOT_FOUND = define(
    "WEBHOOK_NOT_FOUND",
    404,
    "webhooks",
    "There is no webhook endpoint '{id}'.",
    "Webhook 端点“{id}”不存在。",
    do_en="Check the id; GET /v1/webhooks lists your endpoints.",
    do_zh="检查 ID;可用 GET /v1/webhooks 列出您的端点。",
)
WEBHOOK_URL_INVALID = define(
    "WEBHOOK_URL_INVALID",
    422,
    "webhooks",
    "The webhook URL is not valid: {reason}",
    "Webhook 地址不合法:{reason}",
    do_en="Give an absolute http:// or https:// URL that Hongyan can reach, such as "
    "https://example.com/hongyan/events.",
    do_zh="请提供 Hongyan 可访问的完整 http:// 或 https:// 地址,例如 "
    "https://example.com/hongyan/events。",
)
WEBHOOK_EVENT_UNKNOWN = define(
    "WEBHOOK_EVENT_UNKNOWN",
    422,
    "webhooks",
    "'{event}' is not an event Hongyan sends.",
    "“{event}”不是 Hongyan 会发送的事件。",
    do_en="Subscribe to message.sent, message.delivered, message.failed, message.undelivered, "
    "message.expired, message.canceled, inbound.received, or * for all of them.",
    do_zh="可订阅的事件为 message.sent、message.delivered、message.failed、message.undelivered、"
    "message.expired、message.canceled、inbound.received,或用 * 订阅全部。",
)
WEBHOOK_LIMIT_REACHED = define(
    "WEBHOOK_LIMIT_REACHED",
    409,
    "webhooks",
    "A tenant may have at most {limit} webhook endpoints.",
    "每个租户最多可创建 {limit} 个 Webhook 端点。",
    do_en="Delete an endpoint you no longer use, or subscribe an existing one to more events.",
    do_zh="请删除不再使用的端点,或让现有端点订阅更多事件。",
)
DELIVERY_NOT_FOUND = define(
    "DELIVERY_NOT_FOUND",
    404,
    "webhooks",
    "There is no webhook delivery '{id}'.",
    "Webhook 投递记录“{id}”不存在。",
    do_en="Check the id; GET /v1/webhooks/deliveries lists your deliveries.",
    do_zh="检查 ID;可用 GET /v1/webhooks/deliveries 列出投递记录。",
)
DELIVERY_NOT_REPLAYABLE = define(
    "DELIVERY_NOT_REPLAYABLE",
    409,
    "webhooks",
    "The delivery '{id}' is still pending; it will be tried again at its next_attempt_at.",
    "投递记录“{id}”仍在等待投递,将在 next_attempt_at 时再次尝试。",
    do_en="Wait for it: only delivered or dead deliveries can be replayed.",
    do_zh="请等待:只有已送达(delivered)或已放弃(dead)的投递才能重放。",
)

# ---------------------------------------------------------------------------------------------
# --- routing: connectors, routes, failover ---
# ---------------------------------------------------------------------------------------------

NO_ROUTE = define(
    "NO_ROUTE",
    422,
    "routing",
    "No route leads to this destination (region {region}, {kind} message).",
    "没有可发往该目的地的路由(地区 {region},{kind} 类短信)。",
    do_en="The operator must add an enabled route whose filters match (GET /v1/admin/routes); "
    "a route with no filters catches everything.",
    do_zh="请运营方添加一条启用且过滤条件匹配的路由(GET /v1/admin/routes);"
    "不设过滤条件的路由匹配所有短信。",
)
ROUTE_NOT_FOUND = define(
    "ROUTE_NOT_FOUND",
    404,
    "routing",
    "There is no route '{id}'.",
    "路由“{id}”不存在。",
    do_en="Check the id or name; GET /v1/admin/routes lists the routes.",
    do_zh="检查 ID 或名称;可用 GET /v1/admin/routes 列出路由。",
)
ROUTE_NAME_TAKEN = define(
    "ROUTE_NAME_TAKEN",
    409,
    "routing",
    "A route named '{name}' already exists.",
    "名为“{name}”的路由已存在。",
    do_en="Choose another name, or change the existing route instead.",
    do_zh="请换一个名称,或修改已有的路由。",
)
CONNECTOR_NOT_FOUND = define(
    "CONNECTOR_NOT_FOUND",
    404,
    "routing",
    "There is no connector '{id}'.",
    "通道“{id}”不存在。",
    do_en="Check the id or name; GET /v1/admin/connectors lists the connectors.",
    do_zh="检查 ID 或名称;可用 GET /v1/admin/connectors 列出通道。",
)
CONNECTOR_NAME_TAKEN = define(
    "CONNECTOR_NAME_TAKEN",
    409,
    "routing",
    "A connector named '{name}' already exists.",
    "名为“{name}”的通道已存在。",
    do_en="Choose another name, or change the existing connector instead.",
    do_zh="请换一个名称,或修改已有的通道。",
)
CONNECTOR_KIND_UNKNOWN = define(
    "CONNECTOR_KIND_UNKNOWN",
    422,
    "routing",
    "There is no connector kind '{kind}'; the known kinds are: {kinds}.",
    "不存在“{kind}”类型的通道;可用的类型为:{kinds}。",
    do_en="Use one of the known kinds; GET /v1/admin/connector-kinds describes each one's "
    "settings.",
    do_zh="请使用已有的类型;GET /v1/admin/connector-kinds 列出每种类型的配置项。",
)
CONNECTOR_SETTINGS_INVALID = define(
    "CONNECTOR_SETTINGS_INVALID",
    422,
    "routing",
    "The connector setting '{field}' is not valid: {reason}",
    "通道配置项“{field}”不合法:{reason}",
    do_en="Correct the setting; GET /v1/admin/connector-kinds lists each kind's settings.",
    do_zh="请修正该配置项;GET /v1/admin/connector-kinds 列出每种类型的配置项。",
)
CONNECTOR_IN_USE = define(
    "CONNECTOR_IN_USE",
    409,
    "routing",
    "The connector '{id}' is used by the routes {routes}.",
    "通道“{id}”正被以下路由使用:{routes}。",
    do_en="Remove those routes or point them to another connector first, or disable the "
    "connector instead of removing it.",
    do_zh="请先删除这些路由或将其改到其他通道;也可以停用该通道而不删除。",
)
CONNECTOR_DISABLED = define(
    "CONNECTOR_DISABLED",
    409,
    "routing",
    "The connector '{id}' is disabled.",
    "通道“{id}”已停用。",
    do_en="Enable it (PATCH /v1/admin/connectors/{id} with enabled: true) or use another one.",
    do_zh="请启用该通道(PATCH /v1/admin/connectors/{id},enabled 设为 true)或使用其他通道。",
)
CONNECTOR_CANNOT_SIMULATE = define(
    "CONNECTOR_CANNOT_SIMULATE",
    409,
    "routing",
    "The connector '{id}' is of kind '{kind}'; only simulator connectors make up inbound messages.",
    "通道“{id}”的类型为“{kind}”;只有模拟器通道可以模拟上行短信。",
    do_en="Use a connector of kind 'simulator'.",
    do_zh="请使用类型为“simulator”的通道。",
)

# ---------------------------------------------------------------------------------------------
# --- connectors: what a connector or a receipt reports about one message ---
# ---------------------------------------------------------------------------------------------

UNDELIVERABLE = define(
    "UNDELIVERABLE",
    422,
    "connectors",
    "The carrier could not deliver the message to the handset.",
    "运营商未能将短信送达手机。",
    do_en="Check that the number is in service; do not retry the same number at once.",
    do_zh="请确认号码是否正常使用;不要立即向该号码重发。",
)
REJECTED_BY_CARRIER = define(
    "REJECTED_BY_CARRIER",
    422,
    "connectors",
    "The carrier or upstream refused the message when it was submitted.",
    "运营商或上游通道在提交时拒绝了该短信。",
    do_en="Check the number and the content; the raw code in the message status says more.",
    do_zh="请检查号码和内容;短信状态中的原始代码(raw_code)有更多信息。",
)
DELIVERY_EXPIRED = define(
    "DELIVERY_EXPIRED",
    422,
    "connectors",
    "The carrier gave up delivering the message within its validity (handset off or out of "
    "coverage).",
    "运营商在有效期内未能送达该短信(手机关机或不在服务区)。",
    do_en="Send again later if it still matters.",
    do_zh="如仍需要,请稍后重新发送。",
)
CONNECTOR_UNAVAILABLE = define(
    "CONNECTOR_UNAVAILABLE",
    503,
    "connectors",
    "No connector could take the message just now.",
    "暂时没有可用的通道接收该短信。",
    do_en="Nothing to do: Hongyan tries again and fails over to other routes by itself.",
    do_zh="无需操作:系统会自动重试并切换到其他路由。",
)
SUBMIT_TIMEOUT = define(
    "SUBMIT_TIMEOUT",
    504,
    "connectors",
    "The connector did not answer the submit in time.",
    "通道未能及时响应提交请求。",
    do_en="Nothing to do: Hongyan tries again and fails over to other routes by itself.",
    do_zh="无需操作:系统会自动重试并切换到其他路由。",
)
SEGMENTS_OVER_CONNECTOR_LIMIT = define(
    "SEGMENTS_OVER_CONNECTOR_LIMIT",
    422,
    "connectors",
    "The message has {segments} segments; the connectors of its route take at most {max}.",
    "该短信共 {segments} 条计费条数;其路由上的通道最多接受 {max} 条。",
    do_en="Shorten the message, or ask the operator for a route to a connector that takes longer "
    "messages.",
    do_zh="请缩短短信,或请运营方提供可接收更长短信的通道路由。",
)

# ---------------------------------------------------------------------------------------------
# --- dlr, inbound, stats: receipts, inbound messages, suppressions, statistics ---
# ---------------------------------------------------------------------------------------------

DELIVERY_UNKNOWN = define(
    "DELIVERY_UNKNOWN",
    422,
    "dlr",
    "The carrier reported the delivery outcome as unknown.",
    "运营商回执的投递结果为未知。",
    do_en="Treat it as not delivered; the raw code in the message status says more. Send again "
    "only if a duplicate would do no harm.",
    do_zh="请按未送达处理;短信状态中的原始代码(raw_code)有更多信息。仅在重复发送无害时再重发。",
)
INBOUND_NOT_FOUND = define(
    "INBOUND_NOT_FOUND",
    404,
    "inbound",
    "There is no inbound message '{id}'.",
    "上行短信“{id}”不存在。",
    do_en="Check the id; GET /v1/inbound lists your inbound messages.",
    do_zh="检查 ID;可用 GET /v1/inbound 查询上行短信。",
)
SUPPRESSION_NOT_FOUND = define(
    "SUPPRESSION_NOT_FOUND",
    404,
    "inbound",
    "{msisdn} is not on your suppression list.",
    "{msisdn} 不在您的黑名单中。",
    do_en="Nothing to remove; GET /v1/suppressions lists the suppressed numbers.",
    do_zh="无需移除;可用 GET /v1/suppressions 查看黑名单。",
)
STATS_RANGE_INVALID = define(
    "STATS_RANGE_INVALID",
    422,
    "stats",
    "'from' ({day_from}) is after 'to' ({day_to}).",
    "起始日期“from”({day_from})晚于结束日期“to”({day_to})。",
    do_en="Give dates as YYYY-MM-DD with 'from' on or before 'to' (both days are included).",
    do_zh="日期格式为 YYYY-MM-DD,且“from”不晚于“to”(两端日期均包含在内)。",
)
STATS_RANGE_TOO_LONG = define(
    "STATS_RANGE_TOO_LONG",
    422,
    "stats",
    "The range covers {days} days; at most {max_days} are answered at once.",
    "查询范围为 {days} 天;每次最多查询 {max_days} 天。",
    do_en="Ask for a shorter range, or for several ranges one after the other.",
    do_zh="请缩短查询范围,或分多次查询。",
)

# ---------------------------------------------------------------------------------------------
# --- tencent: what an upstream vendor (Tencent Cloud SMS first) says about a connector ---
# ---------------------------------------------------------------------------------------------

VENDOR_AUTH_FAILED = define(
    "VENDOR_AUTH_FAILED",
    502,
    "connectors",
    "The upstream vendor refused the connector's credentials or signature.",
    "上游服务商拒绝了该通道的凭证或请求签名。",
    do_en="Nothing to do as a tenant: Hongyan fails over to other routes. Operator: check the "
    "connector's keys, app id and the vendor's IP allow-list; the raw code names the check.",
    do_zh="租户无需操作:系统会切换到其他路由。运营方:请检查通道的密钥、应用 ID 及服务商的 IP "
    "白名单;原始代码(raw_code)说明了具体原因。",
)
VENDOR_ACCOUNT_UNAVAILABLE = define(
    "VENDOR_ACCOUNT_UNAVAILABLE",
    502,
    "connectors",
    "The connector's account at the upstream vendor cannot send now (balance, arrears, daily "
    "cap or a disabled app).",
    "该通道在上游服务商处的账户暂时无法发送(余量不足、欠费、日发送上限或应用被停用)。",
    do_en="Nothing to do as a tenant: Hongyan fails over to other routes. Operator: top up or "
    "raise the limit at the vendor; the raw code names the cause.",
    do_zh="租户无需操作:系统会切换到其他路由。运营方:请在服务商处充值或调整限额;"
    "原始代码(raw_code)说明了具体原因。",
)
VENDOR_TEMPLATE_REJECTED = define(
    "VENDOR_TEMPLATE_REJECTED",
    502,
    "connectors",
    "The upstream vendor does not accept the sign or template this connector maps the message "
    "to (not approved there, or its variables do not match).",
    "上游服务商不接受该通道为此短信对应的签名或模板(未在服务商处审核通过,或变量不匹配)。",
    do_en="Nothing to do as a tenant: Hongyan fails over to other routes. Operator: get the sign "
    "and template approved at the vendor and check the connector's sign_map and template_map.",
    do_zh="租户无需操作:系统会切换到其他路由。运营方:请在服务商处完成签名和模板审核,"
    "并检查通道的 sign_map 与 template_map 配置。",
)
VENDOR_TEMPLATE_NOT_MAPPED = define(
    "VENDOR_TEMPLATE_NOT_MAPPED",
    422,
    "connectors",
    "This connector has no vendor template for the message's template ('{template}').",
    "该通道没有与此短信模板(“{template}”)对应的服务商模板。",
    do_en="Nothing to do as a tenant: Hongyan fails over to other routes. Operator: add the "
    "template to the connector's template_map (free text needs free_text_template_id).",
    do_zh="租户无需操作:系统会切换到其他路由。运营方:请在通道的 template_map 中添加该模板"
    "(自由文本需配置 free_text_template_id)。",
)

# ---------------------------------------------------------------------------------------------
# --- twilio, generic http: vendor senders, destinations, carrier filtering, callback checks ---
# ---------------------------------------------------------------------------------------------

VENDOR_SENDER_INVALID = define(
    "VENDOR_SENDER_INVALID",
    502,
    "connectors",
    "The upstream vendor refused the connector's sender (its From number or messaging service).",
    "上游服务商拒绝了该通道的发送方(发送号码或消息服务)。",
    do_en="Nothing to do as a tenant: Hongyan fails over to other routes. Operator: check the "
    "connector's from_number or messaging_service_sid against the vendor's console; the raw code "
    "names the check.",
    do_zh="租户无需操作:系统会切换到其他路由。运营方:请对照服务商控制台检查通道的 from_number "
    "或 messaging_service_sid;原始代码(raw_code)说明了具体原因。",
)
RECIPIENT_OPTED_OUT = define(
    "RECIPIENT_OPTED_OUT",
    422,
    "connectors",
    "The recipient opted out at the upstream vendor (for example by replying STOP to the sender).",
    "接收方已在上游服务商处退订(例如向发送号码回复了 STOP)。",
    do_en="Do not message this number; it can opt in again by replying START to the sender.",
    do_zh="请勿再向该号码发送;对方可向发送号码回复 START 重新订阅。",
)
DESTINATION_NOT_PERMITTED = define(
    "DESTINATION_NOT_PERMITTED",
    422,
    "connectors",
    "The connector may not send to this destination (the region is not enabled at the vendor, "
    "or its sender cannot reach the number).",
    "该通道不能发往此目的地(服务商处未开通该地区,或其发送号码无法到达该号码)。",
    do_en="Operator: enable the region in the vendor's console, or route this region to another "
    "connector.",
    do_zh="运营方:请在服务商控制台开通该地区,或将该地区路由到其他通道。",
)
CARRIER_FILTERED = define(
    "CARRIER_FILTERED",
    422,
    "connectors",
    "The carrier filtered the message (taken for spam or unregistered traffic).",
    "运营商过滤了该短信(被判为垃圾短信或未登记的发送流量)。",
    do_en="Check the content and the sender's registration with the carriers (A2P 10DLC, "
    "toll-free verification); do not resend the same text at once.",
    do_zh="请检查内容及发送号码在运营商处的登记(如 A2P 10DLC、免费号码认证);不要立即重发相同内容。",
)
CALLBACK_SIGNATURE_INVALID = define(
    "CALLBACK_SIGNATURE_INVALID",
    403,
    "connectors",
    "The callback's signature or token does not match the connector's secret; nothing was stored.",
    "回调的签名或令牌与通道的密钥不符;未保存任何内容。",
    do_en="For vendors only. Operator: register the callback URL exactly as Hongyan is reached "
    "(see public_url in the vendor how-to) and check the connector's token or auth token.",
    do_zh="仅供服务商回调使用。运营方:请按 Hongyan 对外的访问地址注册回调 URL(参见服务商指南中的 "
    "public_url),并检查通道的令牌或 auth token。",
)

# ---------------------------------------------------------------------------------------------
# --- smpp_server: SMPP credentials of tenants, binds and submits over SMPP ---
# ---------------------------------------------------------------------------------------------

SMPP_CREDENTIAL_NOT_FOUND = define(
    "SMPP_CREDENTIAL_NOT_FOUND",
    404,
    "smpp_server",
    "There is no SMPP credential '{id}'.",
    "不存在 SMPP 账号“{id}”。",
    do_en="Check the id or system_id; list the credentials with GET /v1/admin/smpp/credentials.",
    do_zh="请检查 id 或 system_id;可通过 GET /v1/admin/smpp/credentials 查看全部账号。",
)
SMPP_SYSTEM_ID_TAKEN = define(
    "SMPP_SYSTEM_ID_TAKEN",
    409,
    "smpp_server",
    "The system_id '{system_id}' is already used by another SMPP credential.",
    "system_id“{system_id}”已被其他 SMPP 账号使用。",
    do_en="Pick another system_id; system_ids are unique across all tenants.",
    do_zh="请换一个 system_id;system_id 在所有租户之间唯一。",
)
SMPP_SYSTEM_ID_UNKNOWN = define(
    "SMPP_SYSTEM_ID_UNKNOWN",
    401,
    "smpp_server",
    "No SMPP credential has this system_id (bind refused with ESME_RINVSYSID).",
    "没有使用该 system_id 的 SMPP 账号(绑定被拒绝,ESME_RINVSYSID)。",
    do_en="Bind with the system_id the operator issued; it is case-sensitive.",
    do_zh="请使用运营方发放的 system_id 绑定;区分大小写。",
)
SMPP_PASSWORD_WRONG = define(
    "SMPP_PASSWORD_WRONG",
    401,
    "smpp_server",
    "The SMPP password is wrong (bind refused with ESME_RINVPASWD).",
    "SMPP 密码错误(绑定被拒绝,ESME_RINVPASWD)。",
    do_en="Bind with the current password; after a rotation only the new one works. Ask the "
    "operator to rotate it if it is lost.",
    do_zh="请使用当前密码绑定;重置后只有新密码有效。如遗失请联系运营方重置。",
)
SMPP_CREDENTIAL_DISABLED = define(
    "SMPP_CREDENTIAL_DISABLED",
    403,
    "smpp_server",
    "This SMPP credential is disabled, or its tenant is suspended (bind refused with "
    "ESME_RBINDFAIL).",
    "该 SMPP 账号已停用,或其租户已被暂停(绑定被拒绝,ESME_RBINDFAIL)。",
    do_en="Ask the operator to enable the credential (hongyan smpp credentials enable).",
    do_zh="请联系运营方启用该账号(hongyan smpp credentials enable)。",
)
SMPP_IP_NOT_ALLOWED = define(
    "SMPP_IP_NOT_ALLOWED",
    403,
    "smpp_server",
    "Binds from {ip} are not allowed for this SMPP credential (bind refused with ESME_RBINDFAIL).",
    "该 SMPP 账号不允许从 {ip} 绑定(绑定被拒绝,ESME_RBINDFAIL)。",
    do_en="Bind from an address in the credential's IP allowlist, or ask the operator to add "
    "yours.",
    do_zh="请从账号 IP 白名单内的地址绑定,或联系运营方添加您的地址。",
)
SMPP_TOO_MANY_BINDS = define(
    "SMPP_TOO_MANY_BINDS",
    429,
    "smpp_server",
    "This SMPP credential already has its {max} binds open (bind refused with ESME_RBINDFAIL).",
    "该 SMPP 账号已打开 {max} 个绑定,达到上限(绑定被拒绝,ESME_RBINDFAIL)。",
    do_en="Close binds you no longer use (unbind), or ask the operator for more binds. A bind "
    "of a crashed client stops counting once the server notices the connection is gone.",
    do_zh="请关闭不再使用的绑定(unbind),或联系运营方提高绑定数。客户端崩溃留下的绑定在服务端发现连接断开后"
    "不再计数。",
)
SMPP_THROTTLED = define(
    "SMPP_THROTTLED",
    429,
    "smpp_server",
    "More than {rate} submits per second on this SMPP credential (ESME_RTHROTTLED).",
    "该 SMPP 账号每秒提交超过 {rate} 条(ESME_RTHROTTLED)。",
    do_en="Slow down and submit the refused PDU again shortly; ask the operator for a higher "
    "rate if you need one.",
    do_zh="请降低提交速度,稍后重新提交被拒绝的 PDU;如需更高速率请联系运营方。",
)
SMPP_SOURCE_NOT_ALLOWED = define(
    "SMPP_SOURCE_NOT_ALLOWED",
    422,
    "smpp_server",
    "The source address '{source}' is not allowed for this SMPP credential (ESME_RINVSRCADR).",
    "该 SMPP 账号不允许使用源地址“{source}”(ESME_RINVSRCADR)。",
    do_en="Submit with one of the source addresses the operator allowed for the credential.",
    do_zh="请使用运营方为该账号允许的源地址提交。",
)
SMPP_TEMPLATE_NOT_MATCHED = define(
    "SMPP_TEMPLATE_NOT_MATCHED",
    422,
    "smpp_server",
    "The text matches none of the tenant's approved templates, and free text is not allowed.",
    "短信内容与租户已通过审核的模板均不匹配,且该账户不允许发送自定义内容。",
    do_en="Send the text exactly as an approved template renders it (【sign】 first, then the "
    "template with its variables filled), or submit the template for review first.",
    do_zh="请按已审核模板渲染后的内容原样发送(先【签名】,再填好变量的模板内容),或先提交模板审核。",
)
SMPP_DATA_CODING_UNSUPPORTED = define(
    "SMPP_DATA_CODING_UNSUPPORTED",
    422,
    "smpp_server",
    "data_coding {data_coding} cannot be read as text, or the text does not decode with it.",
    "无法按 data_coding {data_coding} 读取文本,或文本无法按该编码解码。",
    do_en="Submit text as GSM-7 (0), IA5/ASCII (1), Latin-1 (3) or UCS-2 (8); binary "
    "messages are not accepted.",
    do_zh="请以 GSM-7(0)、IA5/ASCII(1)、Latin-1(3)或 UCS-2(8)编码提交文本;不接受二进制短信。",
)
SMPP_PARTS_INCOMPLETE = define(
    "SMPP_PARTS_INCOMPLETE",
    408,
    "smpp_server",
    "Parts of a concatenated message did not all arrive within {secs} seconds; none was sent.",
    "长短信的各分段未在 {secs} 秒内全部到达;整条短信未发送。",
    do_en="Submit every part of a long message on the same bind without waiting for each "
    "answer (parts are answered together once the message is complete), or send it whole in "
    "message_payload.",
    do_zh="请在同一绑定上连续提交长短信的全部分段,不要等待每段的应答(整条到齐后统一应答),"
    "或用 message_payload 整条提交。",
)
SMPP_PARTS_INVALID = define(
    "SMPP_PARTS_INVALID",
    422,
    "smpp_server",
    "A part of a concatenated message is inconsistent: {reason}.",
    "长短信的某个分段不一致:{reason}。",
    do_en="Give every part of one message the same reference, total and coding, with sequence "
    "numbers 1 to total.",
    do_zh="同一条长短信的各分段须使用相同的参考号、总段数和编码,序号从 1 到总段数。",
)
SMPP_SERVER_BUSY = define(
    "SMPP_SERVER_BUSY",
    503,
    "smpp_server",
    "The SMPP server could not accept the submit now (ESME_RMSGQFUL or ESME_RSYSERR).",
    "SMPP 服务暂时无法接收该提交(ESME_RMSGQFUL 或 ESME_RSYSERR)。",
    do_en="Submit the PDU again after a short pause; nothing was accepted.",
    do_zh="请稍候重新提交该 PDU;本次未接收任何内容。",
)
SMPP_VALIDITY_INVALID = define(
    "SMPP_VALIDITY_INVALID",
    422,
    "smpp_server",
    "The validity_period '{value}' is not an SMPP time, or it has already passed "
    "(ESME_RINVEXPIRY).",
    "validity_period“{value}”不是合法的 SMPP 时间,或已经过期(ESME_RINVEXPIRY)。",
    do_en="Give an absolute (YYMMDDhhmmsstnn+) or relative (YYMMDDhhmmss000R) time in the "
    "future, or leave it empty for the default.",
    do_zh="请填写未来的绝对时间(YYMMDDhhmmsstnn+)或相对时间(YYMMDDhhmmss000R),或留空使用默认值。",
)
