"""The yardsticks the project measures itself against, below the batch jobs and the build (both
import them; neither climbs through the other):

- the tutorial's path: sentence-transformers on torch (`load_sentence_transformer`,
  `TutorialSearcher`), which the benchmarks time and the export's parity gate compares with;
- the shared data sets beside a checkout (`SAMPLE_FILE`, `BENCH_FILE`, `PACKAGES_FILE`).

Nothing here is imported by the service.
"""

from reference.data import BENCH_FILE, PACKAGES_FILE, SAMPLE_FILE, SHARED_DATA
from reference.model import DEFAULT_MODEL, PACKAGE, TutorialSearcher, load_sentence_transformer, packaged_model_dir

__all__ = ["BENCH_FILE", "PACKAGES_FILE", "SAMPLE_FILE", "SHARED_DATA", "DEFAULT_MODEL", "PACKAGE", "TutorialSearcher",
           "load_sentence_transformer", "packaged_model_dir"]
