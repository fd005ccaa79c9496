package azure

import (
	"errors"
	"fmt"
	"strings"
)

// Azurite's development account, which UseDevelopmentStorage=true names.
const (
	devAccount  = "devstoreaccount1"
	devKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
)

// ParseConnectionString reads an Azure Storage connection string (the value of
// AZURE_STORAGE_CONNECTION_STRING): the account, its key and the blob endpoint (given as
// BlobEndpoint, or made from DefaultEndpointsProtocol and EndpointSuffix). The container is not
// part of it. UseDevelopmentStorage=true is Azurite's development account on its default port.
func ParseConnectionString(s string) (Config, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Config{}, fmt.Errorf("azure: connection string: %q is not key=value", redact(k))
		}
		kv[strings.ToLower(k)] = v
	}
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		return Config{Account: devAccount, Key: devKey, Endpoint: devEndpoint}, nil
	}
	cfg := Config{Account: kv["accountname"], Key: kv["accountkey"], Endpoint: kv["blobendpoint"]}
	if cfg.Account == "" || cfg.Key == "" {
		return Config{}, errors.New("azure: connection string: AccountName and AccountKey are required (a SAS connection string cannot sign)")
	}
	if cfg.Endpoint == "" {
		proto, suffix := kv["defaultendpointsprotocol"], kv["endpointsuffix"]
		if proto == "" {
			proto = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		cfg.Endpoint = proto + "://" + cfg.Account + ".blob." + suffix
	}
	return cfg, nil
}

// redact keeps a malformed part's first characters only: it may be a key.
func redact(s string) string {
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}
