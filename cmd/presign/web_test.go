package main

import "testing"

// TestTicketBaseIsWhereTicketsPoint: the page may connect to the storage host as tickets name
// it, including the bucket's host name under virtual-host addressing.
func TestTicketBaseIsWhereTicketsPoint(t *testing.T) {
	for _, tc := range []struct {
		public, bucket string
		virtualHost    bool
		want           string
	}{
		{"http://127.0.0.1:9000", "presign", false, "http://127.0.0.1:9000"},
		{"https://s3.example.com", "files", true, "https://files.s3.example.com"},
		{"https://s3.example.com:8443/", "files", true, "https://files.s3.example.com:8443"},
		{"https://storage.example.com", "files", false, "https://storage.example.com"},
	} {
		if got := ticketBase(tc.public, tc.bucket, tc.virtualHost); got != tc.want {
			t.Errorf("ticketBase(%q, %q, %v) = %q, want %q", tc.public, tc.bucket, tc.virtualHost, got, tc.want)
		}
	}
}
