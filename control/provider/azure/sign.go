package azure

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"presign/control"
)

// clockSkew is how far before the ticket's time a SAS starts, so that a store whose clock is a
// little behind the control plane's accepts it at once.
const clockSkew = 5 * time.Minute

// SignUpload signs a Put Blob: create and write on this one blob, until now+TTL; the
// declared MD5 goes in the headers as Content-MD5.
func (p *Provider) SignUpload(r control.UploadSigning) (control.SignedRequest, error) {
	q, err := p.blobSAS(r.Key, &sas.BlobPermissions{Create: true, Write: true}, r.Now, r.TTL, "", "")
	if err != nil {
		return control.SignedRequest{}, err
	}
	h := map[string]string{"x-ms-blob-type": "BlockBlob", "Content-Type": r.ContentType}
	if r.MD5 != "" {
		h["Content-MD5"] = r.MD5 // checked by Azure; not part of the SAS
	}
	return control.SignedRequest{Method: http.MethodPut, URL: p.ObjectURL(r.Key) + "?" + q, Headers: h}, nil
}

// SignPart signs a Put Block of part r.Number: write on this one blob, the block id fixed by
// the part number.
func (p *Provider) SignPart(r control.PartSigning) (control.SignedRequest, error) {
	q, err := p.blobSAS(r.Key, &sas.BlobPermissions{Write: true}, r.Now, r.TTL, "", "")
	if err != nil {
		return control.SignedRequest{}, err
	}
	return control.SignedRequest{Method: http.MethodPut,
		URL: p.ObjectURL(r.Key) + "?comp=block&blockid=" + url.QueryEscape(BlockID(r.Number)) + "&" + q}, nil
}

// SignDownload signs a Get Blob: read on this one blob, answered with the disposition (rscd)
// and type (rsct) given.
func (p *Provider) SignDownload(key, disposition, contentType string, now time.Time, ttl time.Duration) (string, error) {
	q, err := p.blobSAS(key, &sas.BlobPermissions{Read: true}, now, ttl, disposition, contentType)
	if err != nil {
		return "", err
	}
	return p.ObjectURL(key) + "?" + q, nil
}

// blobSAS is the encoded service SAS of one blob.
func (p *Provider) blobSAS(key string, perms *sas.BlobPermissions, now time.Time, ttl time.Duration, disposition, contentType string) (string, error) {
	v := sas.BlobSignatureValues{
		Protocol:           p.protocol,
		StartTime:          now.Add(-clockSkew).UTC(),
		ExpiryTime:         now.Add(ttl).UTC(),
		Permissions:        perms.String(),
		ContainerName:      p.container,
		BlobName:           key,
		ContentDisposition: disposition,
		ContentType:        contentType,
	}
	if disposition != "" {
		// A download: a shared cache must not keep the file past its deletion or revocation.
		v.CacheControl = "private"
	}
	q, err := v.SignWithSharedKey(p.cred)
	if err != nil {
		return "", fmt.Errorf("azure: sign SAS: %w", err)
	}
	return q.Encode(), nil
}

// escapeKey percent-encodes a blob name for a URL path, keeping its slashes.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
