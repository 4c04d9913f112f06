"""Does a reply ask something a person should answer? (``InboundMessage.needs_reply``)

A plain reply is a question when it has a question mark (``?`` or Spanish ``¿``)
or when a sentence opens the way questions do, in English or Spanish, accents
optional: a question word ("what", "when", "dónde", "cuánto", "por qué" …), or a
verb that opens a question followed by who it asks about ("can you", "do you",
"is there", "puedes", "tienen", "hay" …). Keywords are never questions for a
person (STOP, START, YES, HELP: the keyword handler answers them), and common
exclamations that open like questions ("what a deal", "qué bueno") are not.

Pure text work, no database: the inbound webhook calls it on every reply.
"""

from __future__ import annotations

import re
import unicodedata

from .keywords import HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, OPT_OUT_PHRASES, normalize

KEYWORDS = OPT_OUT_KEYWORDS | OPT_OUT_PHRASES | OPT_IN_KEYWORDS | HELP_KEYWORDS

#: A sentence opening with one of these asks something.
QUESTION_WORDS = frozenset(
    {
        # English
        *("what", "whats", "when", "whens", "where", "wheres", "why", "whys", "who", "whos", "whom", "whose"),
        *("how", "hows", "which", "wat", "wut"),
        # Spanish (accents stripped)
        *("que", "cuando", "donde", "adonde", "quien", "quienes", "como", "cual", "cuales"),
        *("cuanto", "cuanta", "cuantos", "cuantas", "porque"),
    }
)
#: Openings of two words or more that ask (matched on whole words).
QUESTION_PHRASES = (
    "por que",
    "a que",
    "de que",
    "en que",
    "para que",
    "con quien",
    "a donde",
    "de donde",
    "hasta cuando",
    "desde cuando",
    "i wonder",
    "i was wondering",
    "wondering if",
    "any idea",
    "any chance",
    "anyone know",
    "is it possible",
    "se puede",
    "me puedes",
    "me pueden",
    "me podrias",
    "me podrian",
    "me puede",
    "me podria",
    "alguien sabe",
    "sabes si",
    "saben si",
    "sabe si",
)
#: Verbs that open a question when who or what they ask about follows ("can you", "do they", "is there") …
ASKING_VERBS = frozenset(
    {
        *("can", "could", "do", "does", "did", "is", "are", "was", "were", "will", "would", "should", "shall"),
        *("may", "might", "have", "has", "am", "cant", "dont", "doesnt", "isnt", "arent", "wont", "wouldnt"),
    }
)
# … and what must follow them. "a"/"an" left out: "have a nice day" is no question.
SUBJECTS = frozenset(
    {
        *("i", "you", "u", "ya", "we", "they", "he", "she", "it", "there", "this", "that", "these", "those"),
        *("the", "my", "your", "our", "their", "his", "her", "its", "anyone", "anybody", "someone", "somebody"),
        *("yall", "any"),
    }
)
#: Spanish verbs that open a question on their own ("tienen envío gratis", "hay mesa", "abren mañana").
SPANISH_ASKING_VERBS = frozenset(
    {
        *("puede", "puedes", "pueden", "podria", "podrias", "podrian", "podemos", "puedo"),
        *("tienen", "tiene", "tienes", "hay", "habra", "aceptan", "acepta", "abren", "abre", "cierran"),
        *("venden", "hacen", "hace", "sigue", "siguen", "estan", "quedan", "queda", "sabes", "saben", "sabe"),
    }
)
#: Openings that look like questions and are not (exclamations, wishes, "as I said", "you're right").
NOT_QUESTIONS = (
    "what a",
    "what an",
    "how nice",
    "how kind",
    "how sweet",
    "how cool",
    "how lovely",
    "how great",
    "how awesome",
    "how wonderful",
    "who cares",
    "que bueno",
    "que buena",
    "que bien",
    "que padre",
    "que lindo",
    "que linda",
    "que rico",
    "que genial",
    "que chido",
    "que pena",
    "que suerte",
    "que tengas",
    "que tenga",
    "que tengan",
    "que pases",
    "que pase",
    "que le vaya",
    "que te vaya",
    "que dios",
    "como siempre",
    "como te dije",
    "como le dije",
    "como les dije",
    "como ya",
    "do it",
    "do that",
    "do this",
    "have it",
    "have that",
    "tienes razon",
    "tiene razon",
    "hay que",
)
#: Words that open a sentence without changing what it is ("hi, what time …", "ok so do you …", "hola, ¿hay …").
LEAD_INS = frozenset(
    {
        *("hi", "hello", "hey", "heya", "yo", "ok", "okay", "k", "so", "and", "but", "also", "oh", "um", "uh"),
        *("thanks", "thank", "thx", "sorry", "please", "pls", "plz", "quick", "question", "excuse", "me", "btw"),
        *("hola", "buenas", "buenos", "dias", "tardes", "noches", "oye", "oiga", "disculpa", "disculpe"),
        *("perdon", "gracias", "y", "pero", "entonces", "tambien", "pregunta", "una", "porfa", "favor"),
    }
)
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_SENTENCES = re.compile(r"[.!;:,\n¡]+")


def fold(text: str) -> str:
    """Lower case, accents off (``¿Cuándo?`` → ``¿cuando?``): Spanish is often typed without them."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _opens_a_question(words: list[str]) -> bool:
    while words and words[0] in LEAD_INS:
        words = words[1:]
    if not words:
        return False
    text = " ".join(words)
    if any(text == p or text.startswith(p + " ") for p in NOT_QUESTIONS):
        return False
    if words[0] in QUESTION_WORDS or words[0] in SPANISH_ASKING_VERBS:
        return True
    if any(text == p or text.startswith(p + " ") for p in QUESTION_PHRASES):
        return True
    return words[0] in ASKING_VERBS and len(words) > 1 and words[1] in SUBJECTS


def is_question(text: str) -> bool:
    """True when a reply asks something a person should answer (see the module's docstring)."""
    if not text or normalize(text) in KEYWORDS:
        return False
    text = _URL.sub(" ", fold(text))  # a "?" inside a link asks nothing
    if "?" in text or "¿" in text:
        return True
    for sentence in _SENTENCES.split(text):
        words = re.sub(r"[\W_]+", " ", sentence.replace("'", "").replace("’", "")).split()
        if _opens_a_question(words):
            return True
    return False
