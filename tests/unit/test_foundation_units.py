"""Small pieces of the foundation: ids, signing, language choice, settings, crypto."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from hongyan import errors, ids
from hongyan.config import Settings, normalize_database_url
from hongyan.ids import id_time_ms, looks_like, new_id
from hongyan.kit import signing
from hongyan.kit.crypto import SecretBox


def test_ids_sort_by_time_and_are_unique() -> None:
    ids = [new_id("msg") for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(looks_like(i, "msg") for i in ids[:10])
    assert id_time_ms(ids[-1]) >= id_time_ms(ids[0])
    with pytest.raises(ValueError):
        new_id("zzz")


def test_id_digits_are_the_reference_encoding() -> None:
    rng = random.Random(3)
    values = [0, 1, (1 << 128) - 1] + [rng.getrandbits(128) for _ in range(2_000)]
    assert all(ids._digits(v) == ids._encode(v) for v in values)


def test_a_forked_child_draws_its_own_randomness() -> None:
    new_id("msg")  # the parent holds unused random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many buffered bytes it inherited, then leave
        os.write(write, str(len(ids._noise)).encode())
        os._exit(0)
    os.close(write)
    inherited = os.read(read, 32)
    os.waitpid(pid, 0)
    os.close(read)
    assert inherited == b"0" and len(ids._noise) > 0


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("zh-CN", "zh"),
        ("en-US,zh;q=0.5", "en"),
        ("zh-TW;q=0.9,en;q=0.8", "zh"),
        ("fr", "en"),
        ("fr, zh;q=0.1", "zh"),
    ],
)
def test_language_from_accept_language(header: str | None, lang: str) -> None:
    assert errors.lang_from_header(header) == lang


def test_canonical_request_sorts_query_and_headers() -> None:
    one = signing.canonical_request(
        "get",
        "/v1/x",
        "b=2&a=1&a=0",
        {"X-Hongyan-Date": " d ", "x-hongyan-nonce": "n"},
        ["x-hongyan-nonce", "x-hongyan-date"],
        b"",
    )
    assert one.split("\n")[:6] == [
        "GET",
        "/v1/x",
        "a=0&a=1&b=2",
        "x-hongyan-date:d",
        "x-hongyan-nonce:n",
        "",
    ]


def test_authorization_must_sign_date_and_nonce() -> None:
    with pytest.raises(ValueError, match="must include"):
        signing.parse_authorization(
            "HONGYAN-HMAC-SHA256 Credential=k, SignedHeaders=host, Signature=ab"
        )


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox(b"one")
    token = box.encrypt("hys_abc")
    assert "hys_abc" not in token and box.decrypt(token) == "hys_abc"
    with pytest.raises(ValueError):
        SecretBox(b"two").decrypt(token)


def test_secret_key_generated_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.resolve_secret_key()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path).resolve_secret_key() == first


def test_settings_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hongyan.toml").write_text('port = 9000\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("HONGYAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HONGYAN_PORT", "9100")
    settings = Settings()
    assert settings.port == 9100  # environment wins over the file
    assert settings.log_level == "DEBUG"
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/hongyan.db"


def test_database_urls_get_async_drivers() -> None:
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
