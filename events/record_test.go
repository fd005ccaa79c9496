package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// s3StylePut is what an S3 consumer expects for a PUT: the shape of the S3 user guide's
// "Event message structure" example, with presign's eventSource and MinIO's extra object
// fields (contentType, userMetadata).
const s3StylePut = `{
  "Records": [
    {
      "eventVersion": "2.1",
      "eventSource": "presign:s3",
      "awsRegion": "us-east-1",
      "eventTime": "2024-05-06T07:08:09.123Z",
      "eventName": "s3:ObjectCreated:Put",
      "userIdentity": {"principalId": "AKIAEXAMPLE"},
      "requestParameters": {"sourceIPAddress": "203.0.113.9"},
      "responseElements": {"x-amz-request-id": "17C5A1E0B2D3F4A5", "x-amz-id-2": "node-1"},
      "s3": {
        "s3SchemaVersion": "1.0",
        "configurationId": "presign-webhook",
        "bucket": {
          "name": "photos",
          "ownerIdentity": {"principalId": "AKIAEXAMPLE"},
          "arn": "arn:aws:s3:::photos"
        },
        "object": {
          "key": "u%2F42%2FMy+Photo+%281%29.jpg",
          "size": 1048576,
          "eTag": "d41d8cd98f00b204e9800998ecf8427e",
          "contentType": "image/jpeg",
          "userMetadata": {"camera": "x100"},
          "sequencer": "0000000000001A2B"
        }
      }
    }
  ]
}`

func TestNewRecordMatchesS3EventShape(t *testing.T) {
	rec := NewRecord(ObjectEvent{
		Name:            ObjectCreatedPut,
		Time:            time.Date(2024, 5, 6, 9, 8, 9, 123456789, time.FixedZone("CEST", 2*3600)),
		Region:          "us-east-1",
		Bucket:          "photos",
		Key:             "u/42/My Photo (1).jpg",
		Size:            1 << 20,
		ETag:            `"d41d8cd98f00b204e9800998ecf8427e"`,
		ContentType:     "image/jpeg",
		UserMetadata:    map[string]string{"camera": "x100"},
		Sequencer:       0x1A2B,
		RequestID:       "17C5A1E0B2D3F4A5",
		HostID:          "node-1",
		SourceIP:        "203.0.113.9",
		Principal:       "AKIAEXAMPLE",
		ConfigurationID: "presign-webhook",
	})
	got, err := Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(s3StylePut)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("message differs from the S3-style example\n got: %s\nwant: %s", got, want.Bytes())
	}
}

func TestRemovedRecordLeavesOutWhatADeleteDoesNotHave(t *testing.T) {
	rec := NewRecord(ObjectEvent{Name: ObjectRemovedDelete, Bucket: "b", Key: "k", Sequencer: 7, Time: time.Unix(0, 0)})
	body, err := Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{`"eTag"`, `"contentType"`, `"userMetadata"`, `"versionId"`} {
		if bytes.Contains(body, []byte(absent)) {
			t.Errorf("delete record has %s: %s", absent, body)
		}
	}
	if !bytes.Contains(body, []byte(`"size":0`)) || !bytes.Contains(body, []byte(`"sequencer":"0000000000000007"`)) {
		t.Errorf("delete record lacks size 0 or sequencer: %s", body)
	}
}

func TestNewRecordCopiesUserMetadata(t *testing.T) {
	meta := map[string]string{"a": "1"}
	rec := NewRecord(ObjectEvent{Name: ObjectCreatedPut, UserMetadata: meta})
	meta["a"] = "changed"
	if rec.S3.Object.UserMetadata["a"] != "1" {
		t.Error("record shares the caller's metadata map")
	}
}

// awsPut has the shape AWS's sample S3 PUT event has: no "s3:" prefix, an 18-digit sequencer.
const awsPut = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
"eventTime":"1970-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
"userIdentity":{"principalId":"EXAMPLE"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
"responseElements":{"x-amz-request-id":"EXAMPLE123456789","x-amz-id-2":"EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"},
"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule","bucket":{"name":"example-bucket",
"ownerIdentity":{"principalId":"EXAMPLE"},"arn":"arn:aws:s3:::example-bucket"},
"object":{"key":"test%2Fkey","size":1024,"eTag":"0123456789abcdef0123456789abcdef","sequencer":"0A1B2C3D4E5F678901"}}}]}`

func TestParseReadsAnAWSEvent(t *testing.T) {
	m, err := Parse([]byte(awsPut))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 1 {
		t.Fatalf("%d records", len(m.Records))
	}
	obj := m.Records[0].S3.Object
	if key, err := obj.DecodedKey(); err != nil || key != "test/key" {
		t.Errorf("DecodedKey = %q, %v", key, err)
	}
	if _, err := obj.SequencerValue(); err == nil {
		t.Error("an 18-digit sequencer above 2^64 was accepted as a uint64")
	}
	if tm, err := m.Records[0].Time(); err != nil || !tm.Equal(time.Unix(0, 0)) {
		t.Errorf("Time = %v, %v", tm, err)
	}
}

func TestParseRejectsNonJSON(t *testing.T) {
	if _, err := Parse([]byte(`{"Records":[`)); err == nil {
		t.Error("truncated JSON parsed")
	}
}

func TestDecodedKeyReturnsTheKeyNewRecordEncoded(t *testing.T) {
	for _, key := range []string{
		"plain", "a/b/c", "with space", "plus+sign", "percent%41", "../etc/passwd",
		"ünïcödé/ファイル.txt", "q?x=1&y=2#frag", "tab\tand\nnewline", strings.Repeat("k", 1024),
	} {
		rec := NewRecord(ObjectEvent{Name: ObjectCreatedPut, Key: key})
		got, err := rec.S3.Object.DecodedKey()
		if err != nil || got != key {
			t.Errorf("key %q: decoded %q, %v (encoded %q)", key, got, err, rec.S3.Object.Key)
		}
		if strings.ContainsAny(rec.S3.Object.Key, " /?#&") {
			t.Errorf("key %q encoded as %q keeps a reserved character", key, rec.S3.Object.Key)
		}
	}
}

func TestDecodedKeyRejectsBadEscape(t *testing.T) {
	if _, err := (Object{Key: "bad%zz"}).DecodedKey(); err == nil {
		t.Error("bad escape decoded")
	}
}

func TestSequencerStringOrderIsNumericOrder(t *testing.T) {
	pairs := [][2]uint64{{9, 10}, {0xF, 0x10}, {0xFF, 0x100}, {1, 1 << 40}, {1<<64 - 2, 1<<64 - 1}, {0, 1}}
	for _, p := range pairs {
		a, b := FormatSequencer(p[0]), FormatSequencer(p[1])
		if len(a) != 16 || len(b) != 16 || a >= b {
			t.Errorf("FormatSequencer(%d)=%q, FormatSequencer(%d)=%q: not fixed-width ascending", p[0], a, p[1], b)
		}
		if v, err := (Object{Sequencer: b}).SequencerValue(); err != nil || v != p[1] {
			t.Errorf("SequencerValue(%q) = %d, %v", b, v, err)
		}
	}
}

func TestSequencerValueRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "XYZ", "+1", "-1", "0x10"} {
		if v, err := (Object{Sequencer: s}).SequencerValue(); err == nil {
			t.Errorf("SequencerValue(%q) = %d, want error", s, v)
		}
	}
}
