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

    def action(self, lang: Lang) -> str:
        return self.action_zh if lang == "zh" else self.action_en

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
