"""Every language a newsroom writes in: CJK n-grams, Arabic folding, language="auto"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relatedness import RelatedArticles, params
from relatedness.features.analysis import Analyzer, char_grams, raw_tokens, stemmer, tokenize
from relatedness.features.counting import gram_keys, gram_text
from relatedness.features.languages import describe, detect_language
from relatedness.features.scripts import cjk_terms, normalize_arabic, strip_arabic_marks
from relatedness.features.tfidf import FieldTfidfVectorizer

# Short stories written for these tests (two topics per language, six stories each).
CHINESE = {
    "sport": [
        "国家足球队昨晚在比赛中以二比一战胜对手，球迷在体育场欢呼。",
        "足球联赛本周末继续进行，主教练表示球队状态很好。",
        "篮球比赛中，中国队凭借最后一分钟的投篮赢得冠军。",
        "足球队的新前锋在比赛中打进两球，帮助球队晋级决赛。",
        "体育场内观众超过五万人，足球比赛气氛热烈。",
        "主教练赛后说，球员在比赛中表现出色，冠军是大家的。",
    ],
    "economy": [
        "中央银行宣布降低利率，股市在消息公布后上涨。",
        "今年第三季度经济增长百分之五，出口和消费都有提高。",
        "银行贷款利率下降，企业投资意愿明显增强。",
        "股市连续三天上涨，投资者对经济前景更有信心。",
        "物价上涨放缓，中央银行可能继续降低利率。",
        "出口企业订单增加，经济学家预计增长将持续。",
    ],
}
KOREAN = {
    "sport": [
        "국가대표 축구팀이 어젯밤 경기에서 이 대 일로 승리했다.",
        "축구 리그가 이번 주말 다시 시작되고 감독은 팀 상태가 좋다고 말했다.",
        "농구 경기에서 대표팀이 마지막 슛으로 우승을 차지했다.",
        "새 공격수가 경기에서 두 골을 넣어 팀을 결승으로 이끌었다.",
        "경기장에는 오만 명의 관중이 모여 축구 경기를 응원했다.",
        "감독은 경기 후 선수들이 훌륭했고 우승은 모두의 것이라고 말했다.",
    ],
    "economy": [
        "중앙은행이 금리를 인하하자 주식 시장이 상승했다.",
        "올해 삼분기 경제 성장률은 오 퍼센트로 수출과 소비가 늘었다.",
        "은행 대출 금리가 내려가 기업의 투자 의지가 커졌다.",
        "주식 시장이 사흘 연속 상승하며 투자자들의 경제 전망이 밝아졌다.",
        "물가 상승이 둔화되어 중앙은행이 금리를 더 내릴 수 있다.",
        "수출 기업의 주문이 늘어 경제 성장이 계속될 것으로 보인다.",
    ],
}


def stories(texts: dict[str, list[str]]) -> list[dict]:
    return [
        {"id": f"{topic}-{i}", "title": "", "body": body, "section": ""}
        for topic, bodies in texts.items()
        for i, body in enumerate(bodies)
    ]


# ---------------------------------------------------------------- tokens


def test_cjk_runs_become_bigrams_and_latin_parts_stay_words():
    assert cjk_terms("東京都") == ["東京", "京都"]
    assert raw_tokens("iPhone発売、東京") == ["iphone", "発売", "東京"]
    assert raw_tokens("iPhone発売、東京", "runs") == ["iphone発売", "東京"]
    assert tokenize("猫 a 犬") == ["猫", "犬"]  # one CJK character is a word; one letter is not


def test_arabic_letter_forms_fold_as_lucene_does():
    # alef with hamza above, taa marbuta, alef maksura, tatweel and a fatha
    word = "\u0623\u0645\u064e\u064a\u0640\u0631\u0629 \u0639\u0644\u0649"
    assert normalize_arabic(word) == "\u0627\u0645\u064a\u0631\u0647 \u0639\u0644\u064a"


def test_arabic_tokens_lose_their_marks_and_keep_their_letters_for_the_stemmer():
    """Folding letter variants before Snowball's Arabic stemmer (which normalises them
    itself) cost 0.006 P@10 on SaudiNewsNet: the tokenizer removes only tatweel and
    diacritics, so a mark no longer splits a word."""
    word = "\u0623\u0645\u064e\u064a\u0640\u0631\u0629 \u0639\u0644\u0649"
    assert raw_tokens(word) == ["\u0623\u0645\u064a\u0631\u0629", "\u0639\u0644\u0649"]
    assert strip_arabic_marks(word) == "\u0623\u0645\u064a\u0631\u0629 \u0639\u0644\u0649"
    # The old rule split a word at its diacritic (a combining mark is no letter).
    assert raw_tokens(word, "runs") == [
        "\u0623\u0645",
        "\u064a\u0640\u0631\u0629",
        "\u0639\u0644\u0649",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("東京都の天気はa B1 。、\u3000\n猫犬"), max_size=40))
def test_gram_keys_are_char_grams(text):
    for longest in (2, 3):
        assert [gram_text(int(k)) for k in gram_keys(text, longest)] == char_grams(text, longest)


def test_unsegmented_languages_are_cut_into_character_ngrams():
    analyzer = Analyzer("japanese", ngram_range=(1, 2))
    assert analyzer("東京都へ") == ["東京", "京都", "都へ", "東京都", "京都へ"]
    assert stemmer("chinese")("银行") == "银行"


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The central bank held its interest rates and the markets rose again.", "english"),
        (
            "O banco central não mudou as taxas de juros, e os mercados subiram com força.",
            "portuguese",
        ),
        ("La banque centrale a maintenu ses taux et les marchés ont progressé.", "french"),
        ("Die Zentralbank hat die Zinsen nicht verändert und die Börse stieg.", "german"),
        ("El banco central mantuvo las tasas y los mercados subieron de nuevo.", "spanish"),
        ("東京都の天気は晴れです。", "japanese"),
        ("中央银行宣布降低利率，股市上涨。", "chinese"),
        ("중앙은행이 금리를 인하했다.", "korean"),
        (
            "\u0623\u0639\u0644\u0646 \u0627\u0644\u0628\u0646\u0643",
            "arabic",
        ),
        ("Центральный банк сохранил ставку.", "russian"),
        ("", "english"),
        ("12345 !!!", "english"),
    ],
)
def test_detect_language_by_script_and_stop_words(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "O banco central manteve as taxas.",  # o/as/de are shared by several languages
        "a la de",
        "Rates rose",  # no stop word at all
    ],
)
def test_detect_language_returns_the_default_when_text_is_too_short_to_tell(text):
    assert detect_language(text, default="german") == "german"


def test_describe_lists_most_first():
    assert describe([("french", 24), ("english", 2201)]) == "2,201 english, 24 french"


# ---------------------------------------------------------------- models


@pytest.mark.parametrize(("texts", "language"), [(CHINESE, "chinese"), (KOREAN, "korean")])
@pytest.mark.parametrize("auto", [False, True])
def test_chinese_and_korean_stories_find_their_own_topic(texts, language, auto):
    rows = stories(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=3, min_df=1, language="auto" if auto else language).fit(rows)
    if auto:
        assert model.vectorizer_.languages_ == {language: len(rows)}
    hits = [
        sum(r.id.split("-")[0] == article_id.split("-")[0] for r in model.related(article_id))
        for article_id in model.ids_
    ]
    assert sum(hits) >= 0.8 * 3 * len(rows), hits  # most neighbours share the topic


def _mixed_corpus() -> list[dict]:
    english = [
        ("The central bank raised interest rates again", "banks"),
        ("Banks lend less after the interest rate rise", "banks"),
        ("The football team won the cup final", "sport"),
        ("Football fans celebrate the cup final win", "sport"),
    ]
    # Long enough to tell: each carries stop words only Portuguese has (não, com, uma, foi).
    portuguese = [
        ("O banco central aumentou os juros novamente e não foi uma surpresa", "bancos"),
        ("Os bancos emprestam menos com a alta dos juros, que não foi uma surpresa", "bancos"),
        ("O time de futebol venceu a final da copa com uma vitória que não foi fácil", "futebol"),
        (
            "Torcedores comemoram a vitória na final da copa com uma festa que não foi pequena",
            "futebol",
        ),
    ]
    rows = []
    for i, (text, topic) in enumerate(english + portuguese):
        rows.append({"id": f"{topic}-{i}", "title": text, "body": text * 2})
    return rows


def test_auto_analyses_each_article_in_its_own_language(tmp_path):
    rows = _mixed_corpus()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=2, min_df=1, language="auto", feedback=0).fit(rows)
    assert model.vectorizer_.languages_ == {"english": 4, "portuguese": 4}
    # Portuguese stems (bancos -> banc) and English stems (banks -> bank) both made terms.
    terms = set(model.vectorizer_.vocabulary_)
    assert {"banc", "bank", "futebol", "footbal"} <= terms
    assert "os" not in terms and "the" not in terms  # each article's own stop words
    loaded = RelatedArticles.load(model.save(tmp_path / "m"))
    assert loaded.vectorizer_.languages_ == model.vectorizer_.languages_
    assert loaded.related_many(loaded.ids_) == model.related_many(model.ids_)
    # An unseen Portuguese article is analysed in Portuguese.
    found = loaded.related_to(
        {"title": "Juros dos bancos", "body": "os bancos e os juros, que não foi uma surpresa"}
    )
    assert found and found[0].id.startswith("bancos")
    explained = loaded.related(rows[4]["id"], explain=True)[0].explanation
    assert (
        explained is not None
        and abs(sum(t.contribution for t in explained.terms) - explained.score) < 1e-6
    )


def test_auto_gives_articles_too_short_to_tell_the_archives_main_language():
    # Regression: headline-only rows were read as Romanian or French from one shared stop word.
    rows = _mixed_corpus()[4:] + [
        {"id": "bancos-short", "title": "Juros a 13%", "body": "Juros de 13% ao ano"},
        {"id": "futebol-short", "title": "A copa", "body": ""},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=2, min_df=1, language="auto", feedback=0).fit(rows)
    assert model.vectorizer_.languages_ == {"portuguese": 6}
    # At query time, too, a short unseen article is read in the main language.
    assert model.vectorizer_.clean_document({"title": "A copa", "body": ""})["language"] == (
        "portuguese"
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"language": "japanese", "ngram_range": (1, 1)},
        {"language": "japanese", "ngram_range": (1, 2)},
        {"language": "auto", "ngram_range": (1, 2)},
        {"language": "auto", "ngram_range": (1, 2), "stem": False},
    ],
)
def test_fast_counting_equals_the_analyzer_path_in_every_language(settings):
    """Character n-grams (int64 keys) and per-article languages: the fast path's counts are
    the analyzer's, term by term."""
    rows = _mixed_corpus() + [
        {"id": f"ja-{i}", "title": "東京の天気", "body": body}
        for i, body in enumerate(["東京都は晴れ、iPhone発売。", "大阪は雨です。東京は晴れ。"])
    ]
    vec = FieldTfidfVectorizer(min_df=1, **settings).fit(rows)
    cleaned = [vec.clean_document(r) for r in rows]
    fast, fast_vocab = vec.count(cleaned, None)
    plain, plain_vocab = vec._count_plain(cleaned, None)
    assert set(fast_vocab) == set(plain_vocab)
    order = sorted(plain_vocab)
    for field in fast:
        a = fast[field][:, [fast_vocab[t] for t in order]]
        b = plain[field][:, [plain_vocab[t] for t in order]]
        assert (a != b).nnz == 0


def test_text_in_another_language_than_the_models_is_named_in_a_warning():
    rows = [{"id": i, "title": "", "body": f"東京都の天気は晴れです。第{i}回"} for i in range(30)]
    with pytest.warns(UserWarning, match=r"look japanese but are analysed as english.*'auto'"):
        RelatedArticles(min_df=1).fit(rows)


def test_cjk_read_as_runs_is_named_in_a_warning():
    rows = [{"id": i, "title": "", "body": f"東京都の天気は晴れです第{i}回"} for i in range(30)]
    with pytest.warns(UserWarning, match=r"tokenizer='runs' reads as one word per clause"):
        RelatedArticles(min_df=1, language="japanese", tokenizer="runs").fit(rows)


def test_models_saved_before_the_standard_tokenizer_keep_the_runs_rule():
    saved = params.to_manifest(params.DEFAULTS)
    del saved["tokenizer"]
    assert params.from_manifest(saved)["tokenizer"] == "runs"


def test_a_corpus_of_one_language_detected_auto_equals_that_language():
    rng = np.random.default_rng(3)
    words = ["bank", "rates", "market", "storm", "river", "cup", "final", "team", "vote"]
    rows = [
        {
            "id": i,
            "title": " ".join(rng.choice(words, 3)),
            "body": "the " + " ".join(rng.choice(words, 8)),
        }
        for i in range(40)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = RelatedArticles(min_df=1, language="auto").fit(rows)
        english = RelatedArticles(min_df=1, language="english").fit(rows)
    assert auto.vectorizer_.languages_ == {"english": 40}
    assert sorted(auto.vectorizer_.vocabulary_) == sorted(english.vectorizer_.vocabulary_)
    assert auto.related_many(auto.ids_) == english.related_many(english.ids_)


# ---------------------------------------------------------------- stemmer implementations

#: Largest share of a shared corpus's distinct tokens on which PyStemmer (Snowball's C
#: library, 3.x) and nltk's Snowball may stem differently (measured: English 0.15%, e.g.
#: "added" -> "add" vs nltk's "ad"; Portuguese 0.08%, nltk folds "ü"). Arabic is left out:
#: nltk's Arabic stemmer is its own algorithm, not Snowball's.
MAX_STEM_DISAGREEMENT = {"english": 0.003, "portuguese": 0.002}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "language"),
    [("bbc", "english"), ("huffpost_headlines_en", "english"), ("fakebr_pt", "portuguese")],
)
def test_pystemmer_gives_nltks_stems_on_real_vocabularies(name, language):
    pytest.importorskip("Stemmer")
    import json

    from relatedness.features.analysis import stem_all

    from .conftest import shared_file

    tokens: set[str] = set()
    with open(shared_file(f"{name}.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            tokens.update(tokenize(row["title"] + "\n" + row["body"]))
    ordered = sorted(tokens)
    fast = stem_all(ordered, language, "pystemmer")
    slow = stem_all(ordered, language, "nltk")
    differ = [(t, a, b) for t, a, b in zip(ordered, fast, slow, strict=True) if a != b]
    assert len(differ) <= MAX_STEM_DISAGREEMENT[language] * len(ordered), differ[:20]


def test_a_model_keeps_the_stemmer_that_made_its_vocabulary(tmp_path, monkeypatch):
    pytest.importorskip("Stemmer")
    import relatedness.features.tfidf as tfidf_module
    from relatedness import MissingDependencyError

    rows = _mixed_corpus()[:4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=2, min_df=1).fit(rows)
    assert model.vectorizer_.stemmer_["engine"] == "pystemmer"
    loaded = RelatedArticles.load(model.save(tmp_path / "m"))
    assert loaded.vectorizer_.stemmer_ == model.vectorizer_.stemmer_
    assert loaded.related_to("banks raised rates") == model.related_to("banks raised rates")
    # Without PyStemmer the loaded model refuses to stem queries another way.
    monkeypatch.setattr(tfidf_module, "engine_version", lambda engine: "")
    with pytest.raises(MissingDependencyError, match=r"stemmed by PyStemmer .* pip install"):
        loaded.related_to("banks raised rates")
    # Its stored lists need no stemmer.
    assert loaded.related(rows[0]["id"]) == model.related(rows[0]["id"])


def test_without_pystemmer_a_fit_uses_nltk_and_says_so(monkeypatch):
    import relatedness.features.tfidf as tfidf_module

    monkeypatch.setattr(tfidf_module, "available_engine", lambda: "nltk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=2, min_df=1).fit(_mixed_corpus()[:4])
    assert model.vectorizer_.stemmer_["engine"] == "nltk"


def test_stemmer_nltk_is_used_even_when_pystemmer_is_installed():
    """The two Snowball versions disagree on "international" (nltk "intern", Snowball 2.x
    "internat"): asking for nltk must give nltk's stem."""
    rows = [
        {"id": "a", "title": "International talks", "body": "international trade talks"},
        {"id": "b", "title": "Trade", "body": "international trade grows"},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RelatedArticles(k=1, min_df=1, stemmer="nltk").fit(rows)
    assert model.vectorizer_.stemmer_["engine"] == "nltk"
    assert "intern" in model.vectorizer_.vocabulary_


def test_stemmer_pystemmer_without_it_installed_is_a_clear_error(monkeypatch):
    import relatedness.features.tfidf as tfidf_module
    from relatedness import MissingDependencyError

    monkeypatch.setattr(tfidf_module, "engine_version", lambda engine: "")
    with pytest.raises(MissingDependencyError, match=r"stemmer='pystemmer' needs PyStemmer"):
        RelatedArticles(k=1, min_df=1, stemmer="pystemmer").fit(_mixed_corpus()[:4])


def test_an_unknown_stemmer_is_refused():
    from relatedness.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="stemmer"):
        RelatedArticles(stemmer="porter").fit(_mixed_corpus()[:4])
