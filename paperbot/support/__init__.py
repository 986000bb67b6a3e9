"""Support scoring: does a claim follow from the sentences it cites? One seam, several scorers (lexical, learned, NLI)."""

from paperbot.support.checks import NumberChecked, numbers_stated
from paperbot.support.learned import LearnedSupportScorer, SupportModelError, load_model
from paperbot.support.scorer import LexicalSupportScorer, SupportScorer

# NliSupportScorer (paperbot.support.nli) is imported where it is built: it needs onnxruntime and tokenizers.
__all__ = ["LearnedSupportScorer", "LexicalSupportScorer", "NumberChecked", "SupportModelError", "SupportScorer",
           "load_model", "numbers_stated"]
