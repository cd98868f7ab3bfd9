"""schemathesis hooks for the reliability suite (loaded through SCHEMATHESIS_HOOKS).

Dataset imports take `text/csv` and `application/x-ndjson` bodies, which
schemathesis 3.39 cannot send by itself: serialize them as the text they are,
exactly as its own `text/plain` serializer does.
"""

import schemathesis
from schemathesis.serializers import TextSerializer

for media_type in ("text/csv", "application/x-ndjson"):
    schemathesis.serializer(media_type)(TextSerializer)
