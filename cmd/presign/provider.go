package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"presign/control"
	"presign/control/provider/azure"
	"presign/control/provider/gcs"
)

// providerFlags choose the object store the control plane signs for (shared by "control"
// and "serve").
type providerFlags struct {
	name                                        string
	azureAccount, azureContainer, azureEndpoint string
	gcsBucket, gcsEndpoint, gcsHMACAccessID     string
}

func (f *providerFlags) register(fs *flag.FlagSet, s3Means string) {
	fs.StringVar(&f.name, "storage-provider", "s3", "the object store the control plane signs URLs for: s3 ("+s3Means+"), azure (Azure Blob Storage, SAS) or gcs (Google Cloud Storage, V4 signed URLs)")
	fs.StringVar(&f.azureAccount, "azure-account", "", "with --storage-provider azure: the storage account (default: the connection string's); its key comes from AZURE_STORAGE_KEY, or everything from AZURE_STORAGE_CONNECTION_STRING")
	fs.StringVar(&f.azureContainer, "azure-container", "", "with --storage-provider azure: the container the files go to (required; it must exist)")
	fs.StringVar(&f.azureEndpoint, "azure-endpoint", "", "with --storage-provider azure: the blob service URL (default https://ACCOUNT.blob.core.windows.net, or the connection string's), e.g. http://127.0.0.1:10000/devstoreaccount1 for Azurite")
	fs.StringVar(&f.gcsBucket, "gcs-bucket", "", "with --storage-provider gcs: the bucket the files go to (required; it must exist); the service account key comes from the file GOOGLE_APPLICATION_CREDENTIALS names")
	fs.StringVar(&f.gcsEndpoint, "gcs-endpoint", "", "with --storage-provider gcs: the storage API's URL (default "+gcs.DefaultEndpoint+"), e.g. an emulator's")
	fs.StringVar(&f.gcsHMACAccessID, "gcs-hmac-access-id", "", "with --storage-provider gcs: the access ID of an HMAC key (GOOG1…) that signs the URLs instead of the service account's RSA key, far cheaper per URL; its secret comes from PRESIGN_GCS_HMAC_SECRET. The control plane's own calls still use GOOGLE_APPLICATION_CREDENTIALS")
}

// cloud reports whether the flags choose a provider that signs its own URLs.
func (f *providerFlags) cloud() bool { return f.name == "azure" || f.name == "gcs" }

// check refuses an unknown provider or a missing required setting, before anything starts.
func (f *providerFlags) check() error {
	switch f.name {
	case "s3":
		return nil
	case "azure":
		if f.azureContainer == "" {
			return fmt.Errorf("--storage-provider azure needs --azure-container")
		}
	case "gcs":
		if f.gcsBucket == "" {
			return fmt.Errorf("--storage-provider gcs needs --gcs-bucket")
		}
	default:
		return fmt.Errorf("--storage-provider %q: want s3, azure or gcs", f.name)
	}
	return nil
}

// cloudObjects is the provider the flags choose, with the name of its bucket or container and
// the origin its URLs point at (for the web page's connect-src).
func (m *Main) cloudObjects(ctx context.Context, f providerFlags) (control.Objects, string, string, error) {
	switch f.name {
	case "azure":
		cfg := azure.Config{Account: f.azureAccount, Key: m.Getenv("AZURE_STORAGE_KEY"), Container: f.azureContainer, Endpoint: f.azureEndpoint}
		if cs := m.Getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
			parsed, err := azure.ParseConnectionString(cs)
			if err != nil {
				return nil, "", "", &exitError{code: 2, msg: "AZURE_STORAGE_CONNECTION_STRING: " + err.Error()}
			}
			if cfg.Account == "" {
				cfg.Account = parsed.Account
			}
			if cfg.Key == "" {
				cfg.Key = parsed.Key
			}
			if cfg.Endpoint == "" {
				cfg.Endpoint = parsed.Endpoint
			}
		}
		if cfg.Account == "" || cfg.Key == "" {
			return nil, "", "", &exitError{code: 2, msg: "--storage-provider azure needs --azure-account and AZURE_STORAGE_KEY, or AZURE_STORAGE_CONNECTION_STRING"}
		}
		p, err := azure.New(cfg)
		if err != nil {
			return nil, "", "", &exitError{code: 2, msg: err.Error()}
		}
		return p, f.azureContainer, origin(p.ObjectURL("")), nil
	case "gcs":
		path := m.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
		if path == "" {
			return nil, "", "", &exitError{code: 2, msg: "--storage-provider gcs needs GOOGLE_APPLICATION_CREDENTIALS: the path of a service account's key file (it signs the URLs)"}
		}
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, "", "", &exitError{code: 2, msg: "GOOGLE_APPLICATION_CREDENTIALS: " + err.Error()}
		}
		secret := m.Getenv("PRESIGN_GCS_HMAC_SECRET")
		if (f.gcsHMACAccessID == "") != (secret == "") {
			return nil, "", "", &exitError{code: 2, msg: "an HMAC key for --storage-provider gcs needs both --gcs-hmac-access-id and PRESIGN_GCS_HMAC_SECRET (only one is set)"}
		}
		cfg := gcs.Config{Bucket: f.gcsBucket, Credentials: key, Endpoint: f.gcsEndpoint,
			HMACAccessID: f.gcsHMACAccessID, HMACSecret: secret}
		// An emulator, named as for Google's client libraries; being plain HTTP, gcs.New calls
		// it unauthenticated.
		if host := m.Getenv("STORAGE_EMULATOR_HOST"); host != "" && cfg.Endpoint == "" {
			cfg.Endpoint = host
			if !strings.Contains(host, "://") {
				cfg.Endpoint = "http://" + host
			}
		}
		p, err := gcs.New(ctx, cfg)
		if err != nil {
			return nil, "", "", &exitError{code: 2, msg: err.Error()}
		}
		return p, f.gcsBucket, origin(p.ObjectURL("")), nil
	}
	return nil, "", "", fmt.Errorf("storage provider %q signs no URLs of its own", f.name)
}

// origin is scheme://host of a URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
