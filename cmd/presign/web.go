package main

import "net/url"

// ticketBase is the scheme://host of the URLs the control plane hands out, which the web page's
// Content-Security-Policy must let scripts connect to: the public storage URL, with the bucket
// in front of the host under virtual-host addressing (as control.Service signs them).
func ticketBase(public, bucket string, virtualHost bool) string {
	u, err := url.Parse(public)
	if err != nil || u.Host == "" {
		return public
	}
	if virtualHost {
		u.Host = bucket + "." + u.Host
	}
	return u.Scheme + "://" + u.Host
}
