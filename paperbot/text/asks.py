"""What a question asks for (a figure, a speed-up, a memory saving, an organisation) and whether a sentence gives it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from paperbot.text.terms import terms

# Words of how a question is put, not of what it is about: "main ways to make X faster" is about X and speed, and a
# sentence that happens to say "in a way that makes" answers nothing.
QUESTION_WORDS = frozenset(terms(
    "main way ways make makes made kind kinds type types approach approaches method methods technique techniques "
    "work works much many well good better best do does done give gives get gets help helps exist existing "
    "propose proposed idea ideas tell describe explain list name company companies organisation organization "
    "build built develop developed create created"))

_QUANTITY = re.compile(
    r"\b(how (much|many|large|big|long|small|fast)|by how|by what|what (percentage|fraction|factor|ratio|share)|"
    r"what speed-?up|to what extent|how many times)\b", re.IGNORECASE)
# Wording that wants a result without asking "how much" ("Which papers reduce ...", "... improve throughput").
_FIGURES = re.compile(
    r"\b(how (much|many|fast|large|big|long|well)|by what|what (percentage|fraction|factor|speed-?up|accuracy|score)|"
    r"speed-?ups?|faster|percent|reduc\w*|improv\w*|accuracy|throughput|latency|cost)\b", re.IGNORECASE)
# Questions about several papers: each relevant one is quoted once before any is quoted twice.
_SEVERAL = re.compile(
    r"\b(papers|works|studies|methods|approaches|techniques|ways|systems|frameworks|strategies|compare[sd]?|"
    r"comparison|versus|vs\.?|both|each|differ\w*)\b", re.IGNORECASE)
_SPEED = re.compile(r"\b(faster|speed\w*|quick\w*|latency|throughput|accelerat\w*|slow\w*)\b", re.IGNORECASE)
_MEMORY = re.compile(r"\b(memory|footprint|smaller|compress\w*|storage|size)\b", re.IGNORECASE)
_ORGANISATION = re.compile(
    r"\b(which|what) (company|companies|organi[sz]ations?|firms?|labs?|laborator(y|ies)|institutions?|team|group)\b|"
    r"\bwho (built|made|developed|created|wrote|designed|deployed|proposed|uses?|runs?)\b", re.IGNORECASE)

# A result figure: a percentage, a multiple ("2.2×", "3.6x", "29 times", "10-fold") or a range of them.
RESULT_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?\s*(?:%|×|x\b|X\b|times\b|-?fold\b)|\bup to \d", re.IGNORECASE)
_ANY_NUMBER = re.compile(r"\d")
_SPEED_SENTENCE = re.compile(
    r"speed-?ups?|faster|throughput|latency|accelerat\w*|tokens?\s*(?:/|per)\s*s|wall-?clock|inference (?:time|speed)",
    re.IGNORECASE)
_MEMORY_SENTENCE = re.compile(r"memory|footprint|\bGB\b|\bMB\b|compress\w*|cache size|storage", re.IGNORECASE)
# Companies and labs that build and deploy the systems abstracts describe; matched case-sensitively, as names.
ORGANISATIONS = (
    "Alipay", "Ant Group", "Alibaba", "Google", "DeepMind", "Microsoft", "Meta", "Facebook", "NVIDIA", "Nvidia",
    "OpenAI", "Apple", "Amazon", "AWS", "Baidu", "Tencent", "ByteDance", "Huawei", "Anthropic", "IBM", "Intel", "AMD",
    "Samsung", "Qualcomm", "Hugging Face", "Snowflake", "Databricks", "Salesforce", "Adobe", "Netflix", "Uber",
    "LinkedIn", "Kuaishou", "Meituan", "Xiaomi", "SenseTime", "Cohere", "Mistral AI", "Stability AI", "DeepSeek",
    "Zhipu", "Moonshot", "Together AI", "Cerebras", "Groq", "Graphcore", "MediaTek", "Oracle",
)
# Not before a hyphen: "Meta-learning" names no company.
_ORGANISATION_NAME = re.compile(r"\b(?:" + "|".join(re.escape(name) for name in ORGANISATIONS) + r")\b(?!-)")


@dataclass(frozen=True)
class Asks:
    """The kinds of answer a question wants; a sentence that gives one of them answers it better."""

    quantity: bool = False
    figures: bool = False
    speed: bool = False
    memory: bool = False
    organisation: bool = False
    several: bool = False  # about several papers ("Which papers ...", "main ways to ...")

    def bonus(self, sentence: str) -> float:
        """Multiplier (1 = no preference) for how well `sentence` gives what is asked."""
        factor = 1.0
        has_result = bool(RESULT_NUMBER.search(sentence))
        if self.quantity:
            factor *= 1.8 if has_result else 1.3 if _ANY_NUMBER.search(sentence) else 1.0
        elif self.figures and _ANY_NUMBER.search(sentence):
            factor *= 1.5
        if self.speed and _SPEED_SENTENCE.search(sentence):
            factor *= 1.8 if has_result else 1.3
        if self.memory and _MEMORY_SENTENCE.search(sentence):
            factor *= 1.5 if has_result else 1.2
        if self.organisation and _ORGANISATION_NAME.search(sentence):
            factor *= 3.0
        return factor

    def satisfied_by(self, sentence: str) -> bool:
        """True when `sentence` gives the asked kind itself (the figure, the speed-up, the name)."""
        if self.organisation:
            return bool(_ORGANISATION_NAME.search(sentence))
        if self.speed and self.quantity:
            return bool(_SPEED_SENTENCE.search(sentence) and RESULT_NUMBER.search(sentence))
        if self.quantity:
            return bool(RESULT_NUMBER.search(sentence))
        return False

    @property
    def any(self) -> bool:
        return self.quantity or self.speed or self.memory or self.organisation


def asks(question: str) -> Asks:
    """What `question` asks for, from its wording."""
    quantity = bool(_QUANTITY.search(question))
    return Asks(quantity=quantity, figures=bool(_FIGURES.search(question)), speed=bool(_SPEED.search(question)),
                memory=bool(_MEMORY.search(question)) and quantity,
                organisation=bool(_ORGANISATION.search(question)), several=bool(_SEVERAL.search(question)))


def topic_terms(question: str) -> list[str]:
    """The question's content terms without the words of how it is put."""
    return [t for t in terms(question) if t not in QUESTION_WORDS]
