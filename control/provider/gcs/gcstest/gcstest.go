// Package gcstest makes what the GCS provider's tests need besides fake-gcs-server: a service
// account's key file. The emulator checks no signature (package gcsv4's conformance vectors
// check the signing), but the provider signs with a real key all the same.
package gcstest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"sync"
)

// ServiceAccount returns the JSON of a service-account key file (type, client_email and
// private_key, as GOOGLE_APPLICATION_CREDENTIALS names one) holding an RSA-2048 key made once
// per test binary: making one costs a good part of a second.
var ServiceAccount = sync.OnceValue(func() []byte {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "presign-test@example.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	if err != nil {
		panic(err)
	}
	return b
})
