"""One word for one thing in the Chinese catalogue.

The city centre is 市级管理中心 (市中心 reads as "downtown"); a district's sub-centre standing alone is
区级分中心 (区分中心 also reads as "区分" + "中心", "the distinguishing centre"), while 该区分中心 /
其他区分中心 / 海淀区分中心 name a district and its 分中心; the ledger is 账簿 on the pages and in the
command line alike; a token is 撤销 (revoked), 吊销 being kept for certificates and credentials,
as in 证书吊销列表.
"""

import re

from creditbank.i18n import read_catalogue

CERTIFICATE_IDS = (
    "archive.cert",
    "cert.",
    "check.status",
    "console.revoke",
    "detail.credentials",
    "detail.standards",
    "problem.certificate",
    "problem.credential",
    "reason.credential",
    "reason.ok.status",
    "verified.",
)
ALONE = re.compile(r"(?<![该他])区分中心")
"""区分中心 not following 该 / 其他 (their district's 分中心)."""


def chinese() -> dict[str, str]:
    return {str(m.id): str(m.string) for m in read_catalogue("zh") if m.id and isinstance(m.string, str)}


def test_the_city_centre_is_never_downtown() -> None:
    assert [i for i, text in chinese().items() if "市中心" in text] == []
    assert sum("市级管理中心" in text for text in chinese().values()) >= 20


def test_a_sub_centre_standing_alone_is_named_by_its_level() -> None:
    assert [i for i, text in chinese().items() if ALONE.search(text)] == []
    assert sum("区级分中心" in text for text in chinese().values()) >= 5


def test_the_ledger_has_one_name() -> None:
    texts = chinese()
    assert [i for i, text in texts.items() if "账本" in text] == []
    assert sum("账簿" in text for text in texts.values()) >= 40


def test_a_token_is_revoked_with_the_word_the_account_page_uses() -> None:
    texts = chinese()
    assert [i for i, text in texts.items() if "吊销" in text and not i.startswith(CERTIFICATE_IDS)] == []
    assert "撤销" in texts["admin.revoke"] and "撤销" in texts["help.main.tokens_revoke"]
