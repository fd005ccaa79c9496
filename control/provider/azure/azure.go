// Package azure is the control plane's Azure Blob Storage provider: one container, reached
// with Azure's Go SDK (azblob) and a storage account's shared key, which also signs every URL
// handed out as a service SAS for one blob (package azblob/sas), locally.
//
// A single upload is a Put Blob with a SAS allowing create and write on that blob only; the
// client sends x-ms-blob-type: BlockBlob, the content type and a declared MD5 as Content-MD5,
// which Azure checks (a SAS cannot cover it; completion compares the MD5 Azure computed either
// way). A multipart upload is a Put Block per part (block ids derived from the part numbers, so the part URLs need nothing from
// the client) and a Put Block List by the control plane at completion. A download SAS carries
// the file name (rscd) and type (rsct). A SAS cannot cap the size of what is written, so an
// object's size is checked at completion only (the control plane's HEAD), and a SAS cannot be
// revoked alone.
package azure

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"presign/control"
)

// Config says where the container is and what signs.
type Config struct {
	// Account is the storage account's name. Required.
	Account string
	// Key is the account's shared key (base64). Required.
	Key string
	// Container is the container every blob goes to; it must exist. Required.
	Container string
	// Endpoint is the blob service's URL, https://<account>.blob.core.windows.net when empty;
	// an emulator's (Azurite: http://127.0.0.1:10000/devstoreaccount1) or a sovereign cloud's.
	Endpoint string
	// HTTPClient makes the requests; a client with sensible timeouts when nil.
	HTTPClient *http.Client
}

// Provider implements control.Objects and control.URLSigner on one container. It is safe for
// concurrent use.
type Provider struct {
	cred      *container.SharedKeyCredential
	cc        *container.Client
	endpoint  string // without a trailing slash
	container string
	protocol  sas.Protocol
}

var (
	_ control.Objects   = (*Provider)(nil)
	_ control.URLSigner = (*Provider)(nil)
)

// New returns a Provider for cfg. It makes no request.
func New(cfg Config) (*Provider, error) {
	if cfg.Account == "" || cfg.Key == "" || cfg.Container == "" {
		return nil, errors.New("azure: Config needs an Account, its Key and a Container")
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://" + cfg.Account + ".blob.core.windows.net"
	}
	ep, err := url.Parse(strings.TrimSuffix(cfg.Endpoint, "/"))
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" || ep.RawQuery != "" {
		return nil, fmt.Errorf("azure: endpoint %q must be http(s)://host[:port][/account]", cfg.Endpoint)
	}
	cred, err := container.NewSharedKeyCredential(cfg.Account, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("azure: account key: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: t, Timeout: 2 * time.Minute}
	}
	endpoint := ep.String()
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+"/"+cfg.Container, cred,
		&container.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	protocol := sas.ProtocolHTTPS
	if ep.Scheme == "http" {
		protocol = sas.ProtocolHTTPSandHTTP // an emulator on loopback
	}
	return &Provider{cred: cred, cc: cc, endpoint: endpoint, container: cfg.Container, protocol: protocol}, nil
}

// Provider is "azure".
func (p *Provider) Provider() string { return "azure" }

// CapsUploadSize is false: a SAS cannot limit what is written.
func (p *Provider) CapsUploadSize() bool { return false }

// PartETags is false: Put Block answers with no ETag.
func (p *Provider) PartETags() bool { return false }

// PartAnswersETag is false: Put Block answers no ETag.
func (p *Provider) PartAnswersETag() bool { return false }

// ChecksumCheck: the MD5 of a single upload, which Azure checks when Put Blob carries it as
// Content-MD5 (the ticket's headers do; the SAS does not cover them, so a client may leave it
// out) and computes and keeps as the blob's Content-MD5 either way. Azure keeps no CRC32C,
// and no MD5 of a blob committed from blocks (Put Block List stores whatever MD5 it is told,
// unchecked).
func (p *Provider) ChecksumCheck(kind control.UploadKind, checksum string) control.ChecksumCheck {
	if kind == control.UploadMultipart || checksum != control.ChecksumMD5 {
		return control.ChecksumCheck{}
	}
	return control.ChecksumCheck{Before: true, Reported: true}
}

// ObjectURL is the blob's URL, unsigned.
func (p *Provider) ObjectURL(key string) string {
	return p.endpoint + "/" + p.container + "/" + escapeKey(key)
}

// Ready reports whether the container answers.
func (p *Provider) Ready(ctx context.Context) error {
	if _, err := p.cc.GetProperties(ctx, nil); err != nil {
		return storageErr("get container properties "+p.container, err)
	}
	return nil
}

// Head describes the blob at key.
func (p *Provider) Head(ctx context.Context, key string) (control.ObjectInfo, error) {
	out, err := p.cc.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return control.ObjectInfo{}, control.ErrNoObject
		}
		return control.ObjectInfo{}, storageErr("get blob properties", err)
	}
	info := control.ObjectInfo{}
	if out.ContentLength != nil {
		info.Size = *out.ContentLength
	}
	if out.ContentType != nil {
		info.ContentType = *out.ContentType
	}
	if out.ETag != nil {
		info.ETag = strings.Trim(string(*out.ETag), `"`)
	}
	if len(out.ContentMD5) == 16 {
		info.MD5 = hex.EncodeToString(out.ContentMD5)
	}
	// Put Blob sets these from its headers, which the SAS does not cover.
	info.Replayed = control.ReplayedHeaders{CacheControl: deref(out.CacheControl), ContentDisposition: deref(out.ContentDisposition),
		ContentEncoding: deref(out.ContentEncoding), ContentLanguage: deref(out.ContentLanguage)}
	return info, nil
}

// Delete removes the blob at key with its snapshots; a missing blob is not an error.
func (p *Provider) Delete(ctx context.Context, key string) error {
	_, err := p.cc.NewBlobClient(key).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return storageErr("delete blob", err)
	}
	return nil
}

// CreateMultipart starts nothing in Azure (a blob's uncommitted blocks need no session): the
// id it returns carries the content type, which Put Block List sets at completion.
func (p *Provider) CreateMultipart(_ context.Context, _, contentType string) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "." + base64.RawURLEncoding.EncodeToString([]byte(contentType)), nil
}

// CompleteMultipart commits the parts' blocks, in part-number order, as the blob.
func (p *Provider) CompleteMultipart(ctx context.Context, key, uploadID string, parts []control.Part) (string, error) {
	ct, err := multipartType(uploadID)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(parts))
	for i, pt := range parts {
		ids[i] = BlockID(pt.Number)
	}
	out, err := p.cc.NewBlockBlobClient(key).CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct}})
	switch {
	case bloberror.HasCode(err, bloberror.InvalidBlockList, bloberror.InvalidBlockID):
		return "", fmt.Errorf("%w: %v", control.ErrBadParts, err)
	case err != nil:
		return "", storageErr("put block list", err)
	}
	if out.ETag == nil {
		return "", nil
	}
	return strings.Trim(string(*out.ETag), `"`), nil
}

// AbortMultipart has nothing to end: Azure discards uncommitted blocks a week after the last
// one arrived, and the control plane deletes the blob of an ended upload anyway.
func (p *Provider) AbortMultipart(context.Context, string, string) error { return nil }

// ListParts returns the uncommitted blocks of the blob that are parts (their ids are part
// numbers), in part-number order; ErrNoMultipart when the blob's blocks are committed and none
// waits (the upload was completed).
func (p *Provider) ListParts(ctx context.Context, key, _ string) ([]control.Part, error) {
	out, err := p.cc.NewBlockBlobClient(key).GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, nil // no block has arrived yet
	}
	if err != nil {
		return nil, storageErr("get block list", err)
	}
	if len(out.UncommittedBlocks) == 0 && len(out.CommittedBlocks) > 0 {
		return nil, control.ErrNoMultipart
	}
	var parts []control.Part
	for _, b := range out.UncommittedBlocks {
		if b.Name == nil {
			continue
		}
		n, ok := PartNumber(*b.Name)
		if !ok {
			continue
		}
		pt := control.Part{Number: n, ETag: *b.Name}
		if b.Size != nil {
			pt.Size = *b.Size
		}
		parts = append(parts, pt)
	}
	slices.SortFunc(parts, func(a, b control.Part) int { return a.Number - b.Number })
	return parts, nil
}

// blockPrefix starts every part's block id; with five digits of part number the ids all have
// the same length, as Azure requires of one blob's blocks.
const blockPrefix = "presign-part-"

// BlockID is the base64 block id of part n.
func BlockID(n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%05d", blockPrefix, n))
}

// PartNumber reads a part number back from a block id made by BlockID.
func PartNumber(id string) (int, bool) {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil || !strings.HasPrefix(string(raw), blockPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(raw), blockPrefix))
	return n, err == nil && n >= 1 && n <= control.MaxParts
}

func multipartType(uploadID string) (string, error) {
	_, enc, ok := strings.Cut(uploadID, ".")
	ct, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil {
		return "", fmt.Errorf("%w: upload id %q was not made by this provider", control.ErrNoMultipart, uploadID)
	}
	return string(ct), nil
}

func to[T any](v T) *T { return &v }

// deref is the string p points at, "" for nil (a property the blob does not have).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func storageErr(op string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		err = fmt.Errorf("%s (HTTP %d)", re.ErrorCode, re.StatusCode)
	}
	return &control.StorageError{Op: op, Err: err}
}
