package main

import (
	"strings"
	"testing"

	"presign/control"
)

func TestBucketAddressingFollowsTheEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint, public string
		pathStyle              bool
		want                   bool
		err                    string
	}{
		{"AWS: the bucket in the host name", "https://s3.eu-west-1.amazonaws.com", "", false, true, ""},
		{"asked for the path", "https://s3.eu-west-1.amazonaws.com", "", true, false, ""},
		{"an IP address has no subdomains", "http://10.0.0.5:8333", "", false, false, ""},
		{"nor has localhost", "http://localhost:9000", "", false, false, ""},
		{"public URL with a name", "http://s3.internal:8333", "https://files.example.com", false, true, ""},
		{"public URL at an address", "http://s3.internal:8333", "http://203.0.113.9:8333", false, false, "--s3-path-style"},
		{"public URL at an address, path style", "http://s3.internal:8333", "http://203.0.113.9:8333", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := virtualHostStyle(tc.endpoint, tc.public, tc.pathStyle)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error naming %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("virtual host style %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestTrustedProxiesTakeAddressesAndRanges(t *testing.T) {
	var p prefixList
	if err := p.Set("10.0.0.0/8, 192.168.1.7,::1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Set("fd00::/8"); err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != "10.0.0.0/8,192.168.1.7/32,::1/128,fd00::/8" {
		t.Fatalf("parsed %s", got)
	}
	for _, bad := range []string{"proxy.example.com", "10.0.0.0/33", "1.2.3"} {
		var q prefixList
		if err := q.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExtensionsFlagTakesOnOffAuto(t *testing.T) {
	for in, want := range map[string]control.Extensions{"on": control.ExtensionsOn, "off": control.ExtensionsOff, "auto": control.ExtensionsAuto} {
		var e extensionsFlag
		if err := e.Set(in); err != nil || control.Extensions(e) != want || e.String() != in {
			t.Errorf("%s: %v, %v", in, e, err)
		}
	}
	var e extensionsFlag
	if err := e.Set("yes"); err == nil {
		t.Error("yes accepted")
	}
}
