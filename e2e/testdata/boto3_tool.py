"""Drives boto3 (Debian's python3-boto3) through S3 operations for the e2e client tests.

    /usr/bin/python3 boto3_tool.py ENDPOINT BUCKET DIR STEP...

The credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for any boto3 program.
Every step uses boto3's default settings but for the endpoint and path-style addressing (the
node is on 127.0.0.1); the big upload lowers the multipart threshold to 5 MiB. Each step prints
one JSON line: {"step", "ok", "error" (the S3 error code or exception), "value"}. DIR holds the
files the steps upload (hello.txt, big.bin, streamed.bin); the caller checks the stored objects
itself.
"""
import io
import json
import os
import sys

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, bucket, folder = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


def read(name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


class Stream(io.RawIOBase):
    """A stream of unknown length that cannot seek, like a pipe."""

    def __init__(self, data):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        chunk = self.data.read(min(len(b), 64 << 10))
        b[: len(chunk)] = chunk
        return len(chunk)


def make_bucket():
    s3.create_bucket(Bucket=bucket)


def small_upload_with_metadata():
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=read("hello.txt"), ContentType="text/plain", Metadata={"color": "blue"})


def big_upload_in_parts():
    cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_file(os.path.join(folder, "big.bin"), bucket, "big.bin", Config=cfg)


def streamed_upload():
    cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_fileobj(Stream(read("streamed.bin")), bucket, "streamed.bin", Config=cfg)


def stat():
    h = s3.head_object(Bucket=bucket, Key="hello.txt")
    return {"size": h["ContentLength"], "metadata": h["Metadata"], "type": h["ContentType"]}


def ranged_read():
    return s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=100-199")["Body"].read().hex()


def copy():
    s3.copy({"Bucket": bucket, "Key": "hello.txt"}, bucket, "copy.txt")


def move():
    s3.copy_object(Bucket=bucket, Key="moved.txt", CopySource={"Bucket": bucket, "Key": "copy.txt"})
    s3.delete_object(Bucket=bucket, Key="copy.txt")


def list_past_1000_keys():
    counts = {}
    for op in ("list_objects", "list_objects_v2"):
        n = 0
        for page in s3.get_paginator(op).paginate(Bucket=bucket, Prefix="many/"):
            n += len(page.get("Contents", []))
        counts[op] = n
    return counts


def presign_get():
    return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "hello.txt"})


def presign_put():
    return s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned-put.txt", "ContentType": "text/plain"})


def presign_post():
    return s3.generate_presigned_post(bucket, "posted/${filename}", Conditions=[["starts-with", "$key", "posted/"]])


def versioning_reads():
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    versions = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="many/"):
        versions += len([v for v in page.get("Versions", []) if v["VersionId"] == "null" and v["IsLatest"]])
    s3.delete_object(Bucket=bucket, Key="many/k0000", VersionId="null")
    return {"status": status, "null_versions": versions}


def policy_read():
    try:
        s3.get_bucket_policy(Bucket=bucket)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "a policy"


def acl_reads():
    grants = [g["Permission"] for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]]
    grants += [g["Permission"] for g in s3.get_object_acl(Bucket=bucket, Key="hello.txt")["Grants"]]
    s3.put_object_acl(Bucket=bucket, Key="hello.txt", ACL="private")
    try:
        s3.put_object_acl(Bucket=bucket, Key="hello.txt", ACL="public-read")
        widened = "accepted"
    except botocore.exceptions.ClientError as e:
        widened = e.response["Error"]["Code"]
    return {"grants": grants, "public-read": widened}


def deletes():
    s3.delete_object(Bucket=bucket, Key="moved.txt")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/"):
        keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        out = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[i:i + 1000]})
        if out.get("Errors"):
            raise RuntimeError(out["Errors"])


def forced_bucket_removal():
    b = boto3.resource("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})).Bucket(bucket)
    b.object_versions.all().delete()
    b.delete()


for step in sys.argv[4:]:
    result = {"step": step, "ok": True, "error": "", "value": None}
    try:
        result["value"] = globals()[step.replace("-", "_")]()
    except botocore.exceptions.ClientError as e:
        result.update(ok=False, error=e.response["Error"].get("Code", "") + ": " + str(e))
    except Exception as e:  # noqa: BLE001 - every failure is reported, none ends the run
        result.update(ok=False, error=type(e).__name__ + ": " + str(e))
    print(json.dumps(result), flush=True)
