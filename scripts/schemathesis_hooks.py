"""Schemathesis hooks for Airlock's API (loaded by scripts/schemathesis through SCHEMATHESIS_HOOKS).

Uploads (`PUT /deployments/{name}/artifacts/{kind}`) are `application/x-tar`, which schemathesis cannot
serialise by itself: a generated binary body becomes the content of one file in a real ustar archive,
so schema-valid uploads are valid bundles the server must store, and anything else (a schema-violating
value) is sent as it is, which the server must refuse as an invalid bundle.
"""

import io
import json
import tarfile

import schemathesis


@schemathesis.serializer("application/x-tar")
def tar_bundle(ctx, value):
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not isinstance(value, (bytes, bytearray)):
        return json.dumps(value).encode("utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        entry = tarfile.TarInfo("dags/fuzz.py")
        entry.size = len(value)
        entry.mode = 0o644
        archive.addfile(entry, io.BytesIO(bytes(value)))
    return buffer.getvalue()
