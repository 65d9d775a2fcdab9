"""Schemathesis hooks for the intake API's contract test: a raw email body goes on the wire as
the text it is (schemathesis has no serializer of its own for message/rfc822)."""

import schemathesis

schemathesis.serializer.alias("message/rfc822", "text/plain")
