package bucket_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"presign/control"
	"presign/control/bucket"
	"presign/control/provider/providertest"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

var creds = sigv4.Credentials{AccessKeyID: "PSCONTRACT", SecretAccessKey: "contract-secret"}

// TestContractOnPresignNode holds the S3 provider to the control plane's storage contract
// against presign's storage node, with its extensions and as plain S3.
func TestContractOnPresignNode(t *testing.T) {
	for _, ext := range []control.Extensions{control.ExtensionsOn, control.ExtensionsOff} {
		t.Run("extensions="+ext.String(), func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Target {
				quiet := slog.New(slog.DiscardHandler)
				be, err := disk.Open(context.Background(), disk.Options{Dir: t.TempDir(), Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { be.Close() })
				if err := be.CreateBucket(context.Background(), "files"); err != nil {
					t.Fatal(err)
				}
				node, err := storage.New(storage.Config{Backend: be, Nonces: be, Logger: quiet,
					Credentials: sigv4.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(node.Close)
				ts := httptest.NewServer(node)
				t.Cleanup(ts.Close)
				b, err := bucket.New(bucket.Config{Endpoint: ts.URL, Bucket: "files", AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey})
				if err != nil {
					t.Fatal(err)
				}
				return providertest.Target{Objects: b, CapsSize: true, PrivateDownloads: true,
					Checksums: []string{"md5", "crc32c"}, RefusesBadChecksum: true, ChecksumHeaderSigned: true, Configure: func(c *control.Config) {
						c.PublicStorageURL, c.Credentials, c.Extensions = ts.URL, creds, ext
					}}
			})
		})
	}
}
