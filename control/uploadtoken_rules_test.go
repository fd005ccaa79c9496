package control

import (
	"slices"
	"testing"
)

// TestNarrowLimitsRefusesWhatThePolicyDoesNotAllow: a token's limits are the caller's policy or
// narrower; a wider one is refused with limits_too_wide naming the rule, and unset ones take
// the policy's.
func TestNarrowLimitsRefusesWhatThePolicyDoesNotAllow(t *testing.T) {
	pol := Policy{MaxObjectBytes: 1 << 30, QuotaBytes: 10 << 30, AllowedContentTypes: []string{"image/*", "video/mp4"}}
	for _, tc := range []struct {
		name string
		req  UploadLimits
		code string
		want UploadLimits
	}{
		{"unset takes the policy's", UploadLimits{}, "",
			UploadLimits{MaxFileBytes: 1 << 30, AllowedContentTypes: []string{"image/*", "video/mp4"}}},
		{"narrower kept", UploadLimits{MaxFileBytes: 5 << 20, MaxTotalBytes: 1 << 30, MaxFiles: 3, AllowedContentTypes: []string{"IMAGE/PNG", "video/mp4"}, KeyPrefix: "avatars/42/"}, "",
			UploadLimits{MaxFileBytes: 5 << 20, MaxTotalBytes: 1 << 30, MaxFiles: 3, AllowedContentTypes: []string{"image/png", "video/mp4"}, KeyPrefix: "avatars/42/"}},
		{"file above max_object_bytes", UploadLimits{MaxFileBytes: 2 << 30}, CodeLimitsTooWide, UploadLimits{}},
		{"total above quota", UploadLimits{MaxTotalBytes: 11 << 30}, CodeLimitsTooWide, UploadLimits{}},
		{"type wider than the policy's", UploadLimits{AllowedContentTypes: []string{"video/*"}}, CodeLimitsTooWide, UploadLimits{}},
		{"every type", UploadLimits{AllowedContentTypes: []string{"*/*"}}, CodeLimitsTooWide, UploadLimits{}},
		{"not a pattern", UploadLimits{AllowedContentTypes: []string{"image"}}, CodeInvalidRequest, UploadLimits{}},
		{"negative", UploadLimits{MaxFiles: -1}, CodeInvalidRequest, UploadLimits{}},
		{"prefix escaping the namespace", UploadLimits{KeyPrefix: "../x/"}, CodeInvalidRequest, UploadLimits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := narrowLimits(tc.req, pol)
			if tc.code != "" {
				if e, ok := asError(err); !ok || e.Code != tc.code {
					t.Fatalf("err %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxFileBytes != tc.want.MaxFileBytes || got.MaxTotalBytes != tc.want.MaxTotalBytes || got.MaxFiles != tc.want.MaxFiles ||
				got.KeyPrefix != tc.want.KeyPrefix || !slices.Equal(got.AllowedContentTypes, tc.want.AllowedContentTypes) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPatternCovered: a token pattern is allowed only when everything it matches is.
func TestPatternCovered(t *testing.T) {
	for _, tc := range []struct {
		p      string
		policy []string
		want   bool
	}{
		{"image/png", []string{"image/*"}, true},
		{"image/*", []string{"image/*"}, true},
		{"image/*", []string{"image/png"}, false},
		{"*/*", []string{"image/*"}, false},
		{"*/*", []string{"*/*"}, true},
		{"*/*", nil, true},
		{"video/mp4", []string{"image/*", "video/mp4"}, true},
		{"video/webm", []string{"image/*", "video/mp4"}, false},
	} {
		if got := patternCovered(tc.p, tc.policy); got != tc.want {
			t.Errorf("patternCovered(%q, %v) = %v", tc.p, tc.policy, got)
		}
	}
}

// TestKeyPrefixStaysInsideItsNamespace: only whole safe segments, each ending in '/'.
func TestKeyPrefixStaysInsideItsNamespace(t *testing.T) {
	for p, ok := range map[string]bool{
		"": true, "avatars/": true, "app/42/v1.0/": true, "a_b-c/": true,
		"avatars": false, "/avatars/": false, "a//b/": false, "../": false, "a/../b/": false, "./": false,
		"a b/": false, "ü/": false, "a%2F/": false, string(make([]byte, 300)) + "/": false,
	} {
		if err := checkKeyPrefix(p); (err == nil) != ok {
			t.Errorf("checkKeyPrefix(%q): %v, want ok %v", p, err, ok)
		}
	}
}

// TestUnknownSizeMaxIsTheSmallestLimit: a form is bounded by S3's 5 GiB, multipart by 5 TiB,
// and both by the policy's and the token's limits.
func TestUnknownSizeMaxIsTheSmallestLimit(t *testing.T) {
	pol := Policy{MaxObjectBytes: 10 << 30}
	for _, tc := range []struct {
		name      string
		multipart bool
		pol       Policy
		lim       *UploadLimits
		want      int64
	}{
		{"form, S3's limit", false, pol, nil, MaxSinglePutSize},
		{"multipart, the policy's", true, pol, nil, 10 << 30},
		{"multipart, no limits", true, Policy{}, nil, MaxObjectSize},
		{"the token's file limit", true, pol, &UploadLimits{MaxFileBytes: 3 << 20}, 3 << 20},
		{"the token's total", false, pol, &UploadLimits{MaxFileBytes: 1 << 30, MaxTotalBytes: 7 << 20}, 7 << 20},
	} {
		if got := unknownSizeMax(tc.multipart, tc.pol, tc.lim); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPartCapLeavesRoomForTheEarlierParts: part n may hold what the maximum leaves after n-1
// parts of at least 5 MiB, and never more than 5 GiB.
func TestPartCapLeavesRoomForTheEarlierParts(t *testing.T) {
	for _, tc := range []struct {
		max  int64
		n    int
		want int64
	}{
		{100 << 20, 1, 100 << 20},
		{100 << 20, 20, 5 << 20},
		{100 << 20, 21, 0},
		{100 << 20, 22, -5 << 20},
		{1 << 40, 1, MaxPartSize},
		{1 << 40, 10000, MaxPartSize},
	} {
		if got := partCap(tc.max, tc.n); got != tc.want {
			t.Errorf("partCap(%d, %d) = %d, want %d", tc.max, tc.n, got, tc.want)
		}
	}
}
