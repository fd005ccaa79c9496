package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"presign/control"
)

// extensionsFlag is --s3-extensions: on, off or auto.
type extensionsFlag control.Extensions

func (e *extensionsFlag) String() string { return control.Extensions(*e).String() }

func (e *extensionsFlag) Set(s string) error {
	v, err := control.ParseExtensions(s)
	if err != nil {
		return err
	}
	*e = extensionsFlag(v)
	return nil
}

// prefixList is a comma-separated list of addresses and CIDR ranges; a bare address is a range
// of one.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	out := make([]string, len(*p))
	for i, v := range *p {
		out[i] = v.String()
	}
	return strings.Join(out, ",")
}

func (p *prefixList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(part); err == nil {
			*p = append(*p, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return fmt.Errorf("%q is neither an IP address nor a CIDR range", part)
		}
		a = a.Unmap()
		*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
	}
	return nil
}

// virtualHostStyle decides how the control plane addresses its bucket, for its own S3 calls and
// the URLs it hands out alike: in the host name (AWS S3's preferred way), unless --s3-path-style
// asks for the path or the endpoint is an IP address or localhost, which have no subdomains.
// A public storage URL that cannot take the bucket as a subdomain is then an error.
func virtualHostStyle(endpoint, publicURL string, pathStyle bool) (bool, error) {
	if pathStyle || !hasSubdomains(endpoint) {
		return false, nil
	}
	if publicURL != "" && !hasSubdomains(publicURL) {
		return false, fmt.Errorf("--public-storage-url %s cannot address the bucket in its host name (it is an IP address or localhost) while --s3-endpoint %s does: give --s3-path-style", publicURL, endpoint)
	}
	return true, nil
}

// hasSubdomains reports whether the host of a base URL is a DNS name that a bucket name can be
// prefixed to.
func hasSubdomains(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := u.Hostname()
	return host != "" && net.ParseIP(host) == nil && !strings.EqualFold(host, "localhost")
}
