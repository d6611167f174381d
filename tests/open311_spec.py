"""The GeoReport v2 specification's own sample requests and responses (wiki.open311.org/GeoReport_v2), for
holding jiesu's Open311 endpoint to the spec's shapes."""

from __future__ import annotations

from urllib.parse import parse_qsl

# "POST Service Request", sample POST data.
POST_REQUEST = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=001&lat=37.76524078&long=-122.4212043"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456"
    "&first_name=john&last_name=smith&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
)
JURISDICTION = "city.gov"

# "POST Service Request", the sample response of a server that answers with the id at once.
POST_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>293944</service_request_id>
    <service_notice>The City will inspect and require the responsible party to correct within 24 hours and/or
    issue a Correction Notice or Notice of Violation of the Public Works Code</service_notice>
    <account_id/>
  </request>
</service_requests>"""
# ... and of one that answers with a token.
POST_TOKEN_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <token>12345</token>
  </request>
</service_requests>"""

# "GET Service Requests", sample query and one request of its sample response.
GET_REQUESTS_QUERY = "start_date=2010-05-24T00:00:00Z&end_date=2010-06-24T00:00:00Z&status=open"
GET_REQUESTS_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>638344</service_request_id>
    <status>closed</status>
    <status_notes>Duplicate request.</status_notes>
    <service_name>Sidewalk and Curb Issues</service_name>
    <service_code>006</service_code>
    <description></description>
    <agency_responsible></agency_responsible>
    <service_notice></service_notice>
    <requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
    <updated_datetime>2010-04-14T15:37:38-08:00</updated_datetime>
    <expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
    <address>8TH AVE and JUDAH ST</address>
    <address_id>545483</address_id>
    <zipcode>94122</zipcode>
    <lat>37.762221815</lat>
    <long>-122.4651145</long>
    <media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url>
  </request>
</service_requests>"""

# "Errors", the sample error response.
ERROR_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<errors>
  <error>
    <code>403</code>
    <description>Invalid api_key received -- can't proceed with create_request.</description>
  </error>
</errors>"""
ERROR_RESPONSE_JSON = [
    {"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}
]


def post_form(**jiesu: str) -> dict[str, str]:
    """The sample POST data as a form, with `jiesu`'s values for the fields jiesu holds to its own rules (the
    key is an adapter's, the service codes are the taxonomy's, phone numbers are Chinese)."""
    return {**dict(parse_qsl(POST_REQUEST)), **jiesu}
