#!/usr/bin/python3
"""Signature Version 2 vectors made by real S3 clients: botocore (AWS's Python SDK, behind boto3
and the aws CLI) and s3cmd, each through its own request pipeline.

    /usr/bin/python3 gen_vectors.py botocore > botocore.json    # frozen clock, committed
    /usr/bin/python3 gen_vectors.py s3cmd > s3cmd.json
    /usr/bin/python3 gen_vectors.py botocore --live              # the real clock, for live tests

Each vector is a request as the client would send it (method, URL, headers) or a POST form,
the string to sign the client computed, and "now": a time at which the request is valid.
Nothing here computes a signature itself; the clients do, and their output is recorded.
"""
import base64
import datetime
import email.utils
import io
import json
import logging
import os
import sys
import tempfile
import time

FROZEN = 1369353600  # 2013-05-24T00:00:00Z, the date of AWS's documentation examples
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://127.0.0.1:9000"
# botocore >= 1.28 (endpoint rulesets) puts the query of an operation's URI template in its
# auth path, and then appends the sub-resources again ("/bucket?acl?acl").
REFUSED = ("botocore signs the URI template's query twice; S3's canonical resource has each "
           "sub-resource once, so this signature is refused")
# Headers that differ from run to run or machine to machine and that no signature covers.
VOLATILE = {"user-agent", "amz-sdk-invocation-id"}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def freeze(now):
    """Makes time.time (and everything built on it) return now."""
    time.time = lambda: float(now)
    real_gmtime = time.gmtime
    time.gmtime = lambda secs=None: real_gmtime(now if secs is None else secs)


class StringsToSign(logging.Handler):
    """Collects the strings to sign botocore logs at debug level."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen = []

    def emit(self, record):
        if record.msg == "StringToSign:\n%s":
            self.seen.append(record.args[0])


def botocore_vectors(now):
    import botocore
    import botocore.auth
    import botocore.awsrequest
    import botocore.session
    from botocore.config import Config

    import botocore.signers

    botocore.auth.formatdate = lambda usegmt=True: email.utils.formatdate(now, usegmt=True)

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)

    botocore.signers.datetime = type("frozen", (), {"datetime": FrozenDatetime, "timedelta": datetime.timedelta})
    sts = StringsToSign()
    logging.getLogger("botocore.auth").addHandler(sts)
    logging.getLogger("botocore.auth").setLevel(logging.DEBUG)
    session = botocore.session.get_session()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    vectors = []

    def client(signature_version=None, style="path", endpoint=ENDPOINT, token=None):
        cfg = {"s3": {"addressing_style": style}, "retries": {"max_attempts": 1}}
        if signature_version:
            cfg["signature_version"] = signature_version
        s = botocore.session.get_session()
        s.set_credentials(ACCESS_KEY, SECRET_KEY, token)
        c = s.create_client("s3", region_name="us-east-1", endpoint_url=endpoint, config=Config(**cfg))
        c.meta.events.register("before-send.s3", capture)
        return c

    sent = []

    def capture(request, **kwargs):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        sent.append((request.method, request.url, list(request.headers.items()), body))
        return botocore.awsrequest.AWSResponse(request.url, 200, {}, io.BytesIO(b""))

    def header_case(name, note, call, host_bucket="", refused=False):
        sent.clear()
        sts.seen.clear()
        try:
            call()
        except Exception:
            pass  # the empty answer may not parse; the request was captured
        method, url, headers, _ = sent[0]
        vectors.append({
            "name": name, "note": note, "mode": "header", "method": method, "url": url,
            "host_bucket": host_bucket,
            "headers": ["%s: %s" % (k, v.decode() if isinstance(v, bytes) else v) for k, v in headers if k.lower() not in VOLATILE],
            "string_to_sign": sts.seen[-1], "now": iso(now),
        })
        if refused:
            vectors[-1]["refused"] = REFUSED

    def query_case(name, note, url, method="GET", headers=None, host_bucket=""):
        vectors.append({
            "name": name, "note": note, "mode": "query", "method": method, "url": url,
            "host_bucket": host_bucket, "headers": headers or [],
            "string_to_sign": sts.seen[-1], "now": iso(now),
        })

    v2 = client("s3")
    header_case("get-object", "GetObject, path style", lambda: v2.get_object(Bucket="bucket", Key="photos/puppy.jpg"))
    header_case("get-object-special-key", "a key with space, plus, unicode and sub-delimiters, a Range and versionId=null",
                lambda: v2.get_object(Bucket="bucket", Key="a b+c/\u00fcber!~*'();=$&@,.txt", Range="bytes=0-9", VersionId="null"))
    header_case("get-object-response-overrides", "response-* overrides enter the canonical resource, decoded and sorted",
                lambda: v2.get_object(Bucket="bucket", Key="report.pdf", ResponseContentType="application/pdf",
                                      ResponseContentDisposition='attachment; filename="r\u00e9sum\u00e9.pdf"', ResponseCacheControl="no-cache"))
    header_case("put-object-metadata", "PutObject with Content-Type, Content-MD5 and x-amz-meta-* headers",
                lambda: v2.put_object(Bucket="bucket", Key="docs/a.txt", Body=b"hello", ContentType="text/plain",
                                      ContentMD5=base64.b64encode(__import__("hashlib").md5(b"hello").digest()).decode(),
                                      Metadata={"owner": "alice", "Project": "presign"}, ACL="private"))
    header_case("list-objects", "ListObjects: prefix, delimiter and marker are not signed",
                lambda: v2.list_objects(Bucket="bucket", Prefix="photos/", Delimiter="/", Marker="photos/a", MaxKeys=10))
    header_case("list-objects-v2", "ListObjectsV2: list-type is not a sub-resource",
                lambda: v2.list_objects_v2(Bucket="bucket", Prefix="a b/", StartAfter="a b/c"), refused=True)
    header_case("delete-objects", "DeleteObjects: POST ?delete with Content-MD5",
                lambda: v2.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]}), refused=True)
    header_case("create-multipart-upload", "?uploads", lambda: v2.create_multipart_upload(Bucket="bucket", Key="big.bin"), refused=True)
    header_case("upload-part", "?partNumber&uploadId, sorted", lambda: v2.upload_part(Bucket="bucket", Key="big.bin", UploadId="VXBsb2FkSUQ", PartNumber=3, Body=b"part"))
    header_case("get-bucket-acl", "?acl", lambda: v2.get_bucket_acl(Bucket="bucket"), refused=True)
    header_case("get-bucket-versioning", "?versioning", lambda: v2.get_bucket_versioning(Bucket="bucket"), refused=True)
    header_case("list-object-versions", "?versions with a key-marker and version-id-marker (not signed)",
                lambda: v2.list_object_versions(Bucket="bucket", KeyMarker="k", VersionIdMarker="null"), refused=True)
    header_case("copy-object", "CopyObject: x-amz-copy-source and x-amz-metadata-directive",
                lambda: v2.copy_object(Bucket="bucket", Key="copy.txt", CopySource="bucket/docs/a b.txt", MetadataDirective="REPLACE", ContentType="text/x-copy"))
    header_case("list-buckets", "ListBuckets: the resource is /", lambda: v2.list_buckets())
    header_case("head-bucket", "HeadBucket: a path-style bucket is signed as /bucket/", lambda: v2.head_bucket(Bucket="bucket"))
    header_case("create-bucket", "CreateBucket: a path-style bucket is signed as /bucket/", lambda: v2.create_bucket(Bucket="new-bucket"))
    header_case("session-token", "temporary credentials: x-amz-security-token is signed",
                lambda: client("s3", token="FQoGZXIvYXdzEXAMPLETOKEN").head_object(Bucket="bucket", Key="k"))
    header_case("virtual-host", "virtual-host addressing: the resource starts with /bucket",
                lambda: client("s3", style="virtual", endpoint="http://storage.example:9000").get_object(Bucket="bucket", Key="k.txt"),
                host_bucket="bucket")

    # Presigned URLs with botocore's default settings: no signature version configured.
    default = client()
    u = default.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "photos/puppy.jpg"}, ExpiresIn=3600)
    query_case("presigned-get-default", "generate_presigned_url with default settings", u)
    u = default.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "a b+c/\u00fcber!.txt"}, ExpiresIn=60)
    query_case("presigned-get-special-key", "a key that needs escaping", u)
    u = default.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "r.pdf", "ResponseContentDisposition": 'attachment; filename="a b.pdf"', "ResponseContentType": "application/pdf"}, ExpiresIn=600)
    query_case("presigned-get-response-overrides", "response-* overrides are signed", u)
    u = default.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "up.mp4", "ContentType": "video/mp4"}, ExpiresIn=900)
    query_case("presigned-put-content-type", "Content-Type travels as a query parameter and is signed", u, method="PUT")
    u = default.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "meta.txt", "Metadata": {"owner": "alice"}}, ExpiresIn=900)
    query_case("presigned-put-metadata", "x-amz-meta-* travels as a query parameter and is signed", u, method="PUT")
    u = default.generate_presigned_url("head_object", Params={"Bucket": "bucket", "Key": "photos/puppy.jpg"}, ExpiresIn=3600, HttpMethod="HEAD")
    query_case("presigned-head", "a presigned HEAD", u, method="HEAD")
    u = client(token="FQoGZXIvYXdzEXAMPLETOKEN").generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"}, ExpiresIn=3600)
    query_case("presigned-get-session-token", "x-amz-security-token travels as a query parameter", u)
    u = client(style="virtual", endpoint="http://storage.example:9000").generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k.txt"}, ExpiresIn=3600)
    query_case("presigned-get-virtual-host", "virtual-host addressing", u, host_bucket="bucket")

    post = default.generate_presigned_post("bucket", "uploads/${filename}", Fields={"Content-Type": "image/png", "success_action_status": "201"},
                                           Conditions=[{"Content-Type": "image/png"}, {"success_action_status": "201"}, ["starts-with", "$key", "uploads/"], ["content-length-range", 1, 1048576]],
                                           ExpiresIn=3600)
    vectors.append({"name": "presigned-post-default", "note": "generate_presigned_post with default settings", "mode": "post",
                    "method": "POST", "url": post["url"], "host_bucket": "", "fields": post["fields"],
                    "string_to_sign": post["fields"].get("policy", ""), "now": iso(now)})
    return vectors


def s3cmd_vectors(now):
    cfgfile = tempfile.NamedTemporaryFile("w", suffix=".s3cfg", delete=False)
    cfgfile.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:9000\nhost_bucket = 127.0.0.1:9000\n"
                  "use_https = False\nsignature_v2 = True\n" % (ACCESS_KEY, SECRET_KEY))
    cfgfile.close()
    from S3.Config import Config
    cfg = Config(cfgfile.name)
    os.unlink(cfgfile.name)
    from S3.S3 import S3, S3Request
    from S3.S3Uri import S3Uri
    import S3.Crypto as crypto

    s3 = S3(cfg)
    vectors = []

    def header_case(name, note, method, uri, headers=None, params=None, extra=""):
        bucket, _, key = uri.partition("/")
        resource = {"bucket": bucket or None, "uri": "/" + key}
        req = S3Request(s3, method, resource, headers or {}, b"", params or {})
        seen = []
        real = crypto.sign_string_v2

        def record(string_to_sign):
            seen.append(string_to_sign.decode() if isinstance(string_to_sign, bytes) else string_to_sign)
            return real(string_to_sign)
        crypto.sign_string_v2 = record
        try:
            method, res, hdrs = req.get_triplet()
        finally:
            crypto.sign_string_v2 = real
        path = ("/" + res["bucket"] if res.get("bucket") else "") + res["uri"]
        vectors.append({"name": name, "note": note, "mode": "header", "method": method,
                        "url": "http://127.0.0.1:9000" + path, "host_bucket": "",
                        "headers": ["%s: %s" % (k, v) for k, v in hdrs.items()],
                        "string_to_sign": seen[-1], "now": iso(now)})

    header_case("put-object", "s3cmd put: x-amz-date (RFC 1123 with +0000), Content-Type, x-amz-meta-s3cmd-attrs",
                "PUT", "bucket/dir/file name.txt", {"content-type": "text/plain", "x-amz-meta-s3cmd-attrs": "md5:5d41402abc4b2a76b9719d911017c592/size:5",
                                                    "x-amz-storage-class": "STANDARD"})
    header_case("get-object", "s3cmd get", "GET", "bucket/dir/\u00fcber+plus.txt")
    header_case("list-bucket", "s3cmd ls: delimiter and prefix are not signed", "GET", "bucket/", params={"delimiter": "/", "prefix": "dir/"})
    header_case("get-acl", "s3cmd info: ?acl", "GET", "bucket/dir/file.txt", params={"acl": None})
    header_case("initiate-multipart", "s3cmd multipart: ?uploads", "POST", "bucket/big.bin", params={"uploads": None})
    header_case("upload-part", "s3cmd multipart: ?partNumber&uploadId", "PUT", "bucket/big.bin", params={"partNumber": "2", "uploadId": "VXBsb2FkSUQ"})
    header_case("list-buckets", "s3cmd ls with no bucket", "GET", "")

    def signurl_case(name, note, uri, expiry, disposition=None, ctype=None):
        cfg.content_disposition, cfg.content_type = disposition, ctype
        seen = []
        real = crypto.sign_string_v2

        def record(string_to_sign):
            seen.append(string_to_sign.decode() if isinstance(string_to_sign, bytes) else string_to_sign)
            return real(string_to_sign)
        crypto.sign_string_v2 = record
        try:
            url = crypto.sign_url_v2(S3Uri("s3://" + uri), expiry)
        finally:
            crypto.sign_string_v2 = real
            cfg.content_disposition = cfg.content_type = None
        vectors.append({"name": name, "note": note, "mode": "query", "method": "GET", "url": url, "host_bucket": "",
                        "headers": [], "string_to_sign": seen[-1], "now": iso(now)})

    signurl_case("signurl", "s3cmd signurl s3://bucket/key +3600", "bucket/dir/file name.txt", now + 3600)
    signurl_case("signurl-overrides", "s3cmd signurl with content_disposition and content_type set", "bucket/r.pdf", now + 600,
                 disposition='attachment; filename="r.pdf"', ctype="application/pdf")
    return vectors


def main():
    which = sys.argv[1]
    now = int(time.time()) if "--live" in sys.argv else FROZEN
    freeze(now)
    vectors = botocore_vectors(now) if which == "botocore" else s3cmd_vectors(now)
    if which == "botocore":
        import botocore
        generator = "botocore " + botocore.__version__
    else:
        from S3.PkgInfo import version
        generator = "s3cmd " + version
    json.dump({"generator": generator, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "vectors": vectors},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
