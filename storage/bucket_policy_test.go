package storage

import (
	"errors"
	"strings"
	"testing"
)

// The documents "mc anonymous set" writes, captured from mc.
const (
	mcDownloadPrefix = `{"Version":"2012-10-17","Statement":[{"Action":["s3:GetBucketLocation"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt"],"Sid":""},{"Action":["s3:ListBucket"],"Condition":{"StringEquals":{"s3:prefix":["pub/"]}},"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt"],"Sid":""},{"Action":["s3:GetObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt/pub/*"],"Sid":""}]}`
	mcDownloadBucket = `{"Version":"2012-10-17","Statement":[{"Action":["s3:GetBucketLocation","s3:ListBucket"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt"],"Sid":""},{"Action":["s3:GetObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt/*"],"Sid":""}]}`
	mcPublic         = `{"Version":"2012-10-17","Statement":[{"Action":["s3:GetBucketLocation","s3:ListBucket","s3:ListBucketMultipartUploads"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt"],"Sid":""},{"Action":["s3:AbortMultipartUpload","s3:DeleteObject","s3:GetObject","s3:ListMultipartUploadParts","s3:PutObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt/*"],"Sid":""}]}`
	mcUpload         = `{"Version":"2012-10-17","Statement":[{"Action":["s3:GetBucketLocation","s3:ListBucketMultipartUploads"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt"],"Sid":""},{"Action":["s3:AbortMultipartUpload","s3:DeleteObject","s3:ListMultipartUploadParts","s3:PutObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bkt/up/*"],"Sid":""}]}`
)

// TestBucketPolicyAcceptsAnonymousRead: the documents of "mc anonymous set download" and the
// plain AWS form are accepted, and allow what they say and nothing more.
func TestBucketPolicyAcceptsAnonymousRead(t *testing.T) {
	type check struct {
		key  string
		want bool
	}
	type list struct {
		prefix  string
		present bool
		want    bool
	}
	for _, tc := range []struct {
		name     string
		doc      string
		gets     []check
		lists    []list
		location bool
	}{
		{"mc download of a prefix", mcDownloadPrefix,
			[]check{{"pub/a.png", true}, {"pub/", true}, {"pub", false}, {"private/a", false}, {"pubx", false}},
			[]list{{"pub/", true, true}, {"pub/a", true, false}, {"", false, false}, {"", true, false}}, true},
		{"mc download of a bucket", mcDownloadBucket,
			[]check{{"anything", true}, {"a/b/c", true}},
			[]list{{"", false, true}, {"x/", true, true}}, true},
		{"AWS example, one statement, string forms", `{"Version":"2012-10-17","Statement":{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/thumbs/*"}}`,
			[]check{{"thumbs/1.jpg", true}, {"thumb", false}},
			[]list{{"thumbs/", true, false}}, false},
		{"exact key", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bkt/index.html","arn:aws:s3:::bkt/css/*"]}]}`,
			[]check{{"index.html", true}, {"index.htmlx", false}, {"css/site.css", true}},
			nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseBucketPolicy("bkt", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.gets {
				if got := p.allowsGet(c.key); got != c.want {
					t.Errorf("allowsGet(%q) = %v", c.key, got)
				}
			}
			for _, l := range tc.lists {
				if got := p.allowsList(l.prefix, l.present); got != l.want {
					t.Errorf("allowsList(%q, %v) = %v", l.prefix, l.present, got)
				}
			}
			if p.location != tc.location {
				t.Errorf("location = %v", p.location)
			}
		})
	}
}

// TestBucketPolicyRefusesWhatItWouldNotEnforce: every other policy is MalformedPolicy, with a
// message naming what is not supported.
func TestBucketPolicyRefusesWhatItWouldNotEnforce(t *testing.T) {
	st := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	for _, tc := range []struct {
		name, doc, mentions string
	}{
		{"mc public", mcPublic, "s3:ListBucketMultipartUploads"},
		{"mc upload", mcUpload, "s3:ListBucketMultipartUploads"},
		{"put object", st(`{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"}`), `"s3:PutObject"`},
		{"wildcard action", st(`{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::bkt/*"}`), `"s3:Get*"`},
		{"deny", st(`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}`), `Effect "Deny"`},
		{"no effect", st(`{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}`), "Effect (missing)"},
		{"an account", st(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}`), "Principal"},
		{"two principals", st(`{"Effect":"Allow","Principal":{"AWS":["*","arn:aws:iam::1:root"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}`), "Principal"},
		{"not principal", st(`{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}`), "NotPrincipal"},
		{"not action", st(`{"Effect":"Allow","Principal":"*","NotAction":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*"}`), "NotAction"},
		{"another bucket", st(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), `"arn:aws:s3:::other/*"`},
		{"inner wildcard", st(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*/public/*"}`), "wildcard"},
		{"question mark", st(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/a?c"}`), "wildcard"},
		{"object action on the bucket", st(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}`), "not an object"},
		{"list on objects", st(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt/*"}`), "is not bucket"},
		{"condition on get", st(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:prefix":"a"}}}`), "Condition on s3:GetObject"},
		{"ip condition", st(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`), "IpAddress"},
		{"unknown element", `{"Version":"2012-10-17","Statement":[],"Extra":1}`, `"Extra"`},
		{"old version", `{"Version":"2000-01-01","Statement":[]}`, "Version"},
		{"empty statements", `{"Version":"2012-10-17","Statement":[]}`, "Statement"},
		{"not JSON", `Version: 2012`, "valid JSON"},
		{"trailing data", mcDownloadBucket + `{}`, "valid JSON"},
		{"too large", `{"Id":"` + strings.Repeat("x", maxPolicySize) + `"}`, "maximum allowed document size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBucketPolicy("bkt", []byte(tc.doc))
			var api *APIError
			if !errors.As(err, &api) || api.Code != "MalformedPolicy" || api.Status != 400 {
				t.Fatalf("got %v, want MalformedPolicy", err)
			}
			if !strings.Contains(api.Message, tc.mentions) {
				t.Fatalf("message %q does not mention %q", api.Message, tc.mentions)
			}
		})
	}
}

// FuzzParseBucketPolicy: any document is accepted or refused with MalformedPolicy, and an
// accepted one never lets anyone read a key outside the resources it names.
func FuzzParseBucketPolicy(f *testing.F) {
	for _, doc := range []string{mcDownloadPrefix, mcDownloadBucket, mcPublic, mcUpload, `{}`, `[]`, `{"Statement":{}}`} {
		f.Add(doc, "pub/a")
	}
	f.Fuzz(func(t *testing.T, doc, key string) {
		p, err := parseBucketPolicy("bkt", []byte(doc))
		if err != nil {
			var api *APIError
			if !errors.As(err, &api) || api.Code != "MalformedPolicy" {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if p.allowsGet(key) && !strings.Contains(doc, `arn:aws:s3:::bkt/`) {
			t.Fatalf("%q allows reading %q without naming an object of bkt", doc, key)
		}
	})
}
