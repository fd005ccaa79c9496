package azure_test

import (
	"testing"

	"presign/control/provider/azure"
	"presign/control/provider/azure/azuritetest"
)

func TestParseConnectionString(t *testing.T) {
	for _, tc := range []struct {
		in                     string
		account, key, endpoint string
		bad                    bool
	}{
		{in: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
			account: "acct", key: "a2V5", endpoint: "https://acct.blob.core.chinacloudapi.cn"},
		{in: "AccountName=acct;AccountKey=a2V5", account: "acct", key: "a2V5", endpoint: "https://acct.blob.core.windows.net"},
		{in: "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
			account: "devstoreaccount1", key: "a2V5", endpoint: "http://127.0.0.1:10000/devstoreaccount1"},
		{in: "UseDevelopmentStorage=true", account: "devstoreaccount1", key: azuritetest.Key, endpoint: "http://127.0.0.1:10000/devstoreaccount1"},
		{in: "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2020", bad: true},
		{in: "AccountName=acct;garbage", bad: true},
	} {
		got, err := azure.ParseConnectionString(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || got.Account != tc.account || got.Key != tc.key || got.Endpoint != tc.endpoint {
			t.Errorf("%q: %+v, %v", tc.in, got, err)
		}
	}
}
