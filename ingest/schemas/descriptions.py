"""What the fields shared by several records and events mean, said once for all their schemas."""

SCHEMA_VERSION = "The version of this record's schema: a subscriber skips versions it does not know"
EVENT_TYPE = "What happened: the event's name, also in the `event_type` Kafka header"
TICKET_ID = "The ticket number the gateway answered with"
CHANNEL = "`wechat`, `web` (web forms and Open311) or `phone` (call transcripts)"
EXTERNAL_ID = "The adapter's own id of the submission, if it sent one"
RECEIVED_AT = "When the gateway accepted it (just before its 202)"
TITLE = "The title as submitted (empty for most WeChat and phone messages)"
CONTENT = "The citizen's words as submitted (phone: the speech-recognition text)"
ADDRESS = "The address the adapter sent, if any"
CATEGORY = "The judged category (the first column of workers/judgement/routing.csv); null if none"
PROCESSED_AT = "When a worker stored it"
DISTRICT = "The district: the adapter's, else the one the text names or implies; null when unknown"
CATEGORY_CONFIDENCE = "The classifier's probability of `category`, 0–1"
NEEDS_REVIEW = "A person should check the judgement; true exactly when `review_reasons` is not empty"
REVIEW_REASONS = (
    "Why it needs review: the gateway's (e.g. a truncated text) and the judgement's (e.g. a category it is "
    "unsure of)"
)
URGENCY = (
    "`critical` (danger to life or health now), `high` (serious harm soon, or to many) or `normal`, as the "
    "urgency model judged it (docs/judgement.md)"
)
URGENCY_REASON = "The situation and the words that decided an urgency other than normal; null when normal"
DEPARTMENT = "The department the routing table sends this category to"
DUPLICATE_OF = (
    "The citizen's earlier ticket this one repeats (the same citizen, or a repeat that says so, sent through "
    "another channel); null when it is not a repeat"
)
INCIDENT_ID = (
    "The incident (one problem at one site) the ticket joined or started; null only for tickets stored "
    "before incident grouping existed"
)
STATUS = 'The ticket\'s status on its lifecycle (docs/storage.md, "Status lifecycle")'
STATUS_URL = "Where to read the ticket (GET, with any adapter's key): `received` until a worker stored it"
