package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The routes that Uppy's S3 plugin (@uppy/aws-s3 with companionEndpoint) expects of a signing
// server, "Companion", served by the control plane with presign's rules: who may upload what is
// enforced (upload tokens, policy, quota), every upload is recorded and completed exactly once.
//
// They live twice: under /v1/companion/{token}/s3/..., the companion_endpoint an upload token's
// answer gives (Uppy 6 sends no headers to its Companion, so the token is in the path), and
// under /v1/s3/... with Authorization: Bearer, for clients that can send a header. A token in a
// path must be an upload token: upload-only, short-lived, revocable, and never logged.
//
// Uppy never declares a size on these routes, so every upload here is of unknown size: a form
// (s3/params) takes 1 byte up to the maximum its limits allow; a multipart upload
// (s3/multipart) takes the client's own chunking. Which route the client calls decides single
// or multipart; presign has no threshold of its own here.
//
// Uppy 6 sends a single file as a POST form of the answer's fields (it ignores a method or
// headers) and a part as a PUT of the URL alone, reading the answer's ETag. On a provider, the
// routes go as far as the store allows (companionFits): GCS takes forms and answers each part
// object's ETag, so both work, with part URLs that require no header; Azure takes neither
// (no form upload; Put Block answers no ETag), so both routes refuse before recording
// anything, and say what to use instead.

// companionPrefixes are where the routes live: with the token in the path, and with a bearer
// header.
var companionPrefixes = []struct {
	path   string
	access access
}{
	{"/v1/companion/{token}/s3", uploadPath},
	{"/v1/s3", uploader},
}

// companionRoutes lists the Companion-compatible routes under both prefixes.
func (s *Service) companionRoutes() []route {
	var out []route
	for _, pre := range companionPrefixes {
		out = append(out,
			route{"GET", pre.path + "/params", pre.access, s.handleCompanionParams},
			route{"POST", pre.path + "/multipart", pre.access, s.handleCompanionCreate},
			route{"GET", pre.path + "/multipart/{uploadId}", pre.access, s.handleCompanionListParts},
			route{"GET", pre.path + "/multipart/{uploadId}/batch", pre.access, s.handleCompanionBatch},
			route{"GET", pre.path + "/multipart/{uploadId}/{partNumber}", pre.access, s.handleCompanionSignPart},
			route{"POST", pre.path + "/multipart/{uploadId}/complete", pre.access, s.handleCompanionComplete},
			route{"DELETE", pre.path + "/multipart/{uploadId}", pre.access, s.handleCompanionAbort},
			route{"GET", pre.path + "/sts", pre.access, handleCompanionSTS},
		)
	}
	return out
}

// companionCreate is the body of POST s3/multipart. Fields other Uppy versions add are ignored.
type companionCreate struct {
	Filename string `json:"filename"`
	Type     string `json:"type"`
	// Metadata is Uppy's file.meta (its allowed fields): kept as the upload's metadata.
	Metadata map[string]json.RawMessage `json:"metadata"`
}

// companionQueryMetadata reads the metadata that Uppy sends to s3/params as query parameters
// metadata[key]=value. Their values are text already: Uppy writes a missing value as "null".
func companionQueryMetadata(q url.Values) map[string]string {
	var m map[string]string
	for k, v := range q {
		name, ok := strings.CutPrefix(k, "metadata[")
		if !ok {
			continue
		}
		if name, ok = strings.CutSuffix(name, "]"); !ok || len(v) == 0 {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v[0]
	}
	return m
}

// companionJSONMetadata turns the metadata of POST s3/multipart, whose values are whatever the
// page put in file.meta, into the upload's: strings as they are, numbers and booleans as their
// JSON text, null left out (Uppy's Dashboard sets relativePath to null); anything else is
// refused.
func companionJSONMetadata(in map[string]json.RawMessage) (map[string]string, error) {
	var m map[string]string
	for k, raw := range in {
		raw = bytes.TrimSpace(raw)
		var v string
		switch {
		case bytes.Equal(raw, []byte("null")):
			continue
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, invalid("metadata %q: %v", k, err)
			}
		case bytes.Equal(raw, []byte("true")) || bytes.Equal(raw, []byte("false")) || json.Valid(raw) && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			v = string(raw)
		default:
			return nil, invalid("metadata %q: a value must be a string, a number or a boolean", k)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}

// companionPart is a part as Companion's clients send and read it.
type companionPart struct {
	PartNumber int    `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size,omitempty"`
}

func (s *Service) handleCompanionParams(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.companionFits(false); err != nil {
		return err
	}
	q := r.URL.Query()
	t, err := s.IssueTicket(r.Context(), p, TicketRequest{Filename: q.Get("filename"), ContentType: q.Get("type"),
		Form: true, Metadata: companionQueryMetadata(q), route: routeCompanion}, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Fields  map[string]string `json:"fields"`
		Expires int64             `json:"expires"`
	}{t.Method, t.URL, t.Fields, secondsUntil(t.Expires, s.now())})
}

func (s *Service) handleCompanionCreate(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.companionFits(true); err != nil {
		return err
	}
	var in companionCreate
	if err := decodeLenient(r, &in); err != nil {
		return err
	}
	meta, err := companionJSONMetadata(in.Metadata)
	if err != nil {
		return err
	}
	t, err := s.IssueTicket(r.Context(), p, TicketRequest{Filename: in.Filename, ContentType: in.Type,
		Multipart: true, Metadata: meta, route: routeCompanion}, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Key      string `json:"key"`
		UploadID string `json:"uploadId"`
		Bucket   string `json:"bucket"`
	}{t.Key, t.ID, s.cfg.Bucket})
}

func (s *Service) handleCompanionSignPart(w http.ResponseWriter, r *http.Request, p *Principal) error {
	n, err := strconv.Atoi(r.PathValue("partNumber"))
	if err != nil {
		return invalid("the part number must be a number between 1 and %d", MaxParts)
	}
	parts, err := s.signPartsFor(r, p, []int{n})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		URL     string `json:"url"`
		Expires int64  `json:"expires"`
	}{parts.Parts[0].URL, secondsUntil(parts.Expires, s.now())})
}

func (s *Service) handleCompanionBatch(w http.ResponseWriter, r *http.Request, p *Principal) error {
	raw := r.URL.Query().Get("partNumbers")
	if raw == "" {
		return invalid("partNumbers must list part numbers separated by commas, e.g. ?partNumbers=1,2,3")
	}
	fields := strings.Split(raw, ",")
	if len(fields) > maxPartsPerRequest {
		return invalid("partNumbers lists more than %d parts", maxPartsPerRequest)
	}
	numbers := make([]int, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return invalid("partNumbers: %q is not a part number between 1 and %d", f, MaxParts)
		}
		numbers[i] = n
	}
	parts, err := s.signPartsFor(r, p, numbers)
	if err != nil {
		return err
	}
	urls := make(map[string]string, len(parts.Parts))
	for _, pt := range parts.Parts {
		urls[strconv.Itoa(pt.Number)] = pt.URL
	}
	return writeJSON(w, http.StatusOK, struct {
		PresignedURLs map[string]string `json:"presignedUrls"`
	}{urls})
}

// signPartsFor signs the parts of the upload the request names, after checking that its
// ?key= is the upload's.
func (s *Service) signPartsFor(r *http.Request, p *Principal, numbers []int) (*PartURLs, error) {
	u, err := s.companionUpload(r, p)
	if err != nil {
		return nil, err
	}
	// Uppy sends a part's URL with the body and no header of the answer's.
	return s.signParts(r.Context(), p, u, numbers, nil, true, s.clientAddr(r))
}

// companionFits returns nil when Uppy's S3 plugin can upload to the store the way the route
// asks — a single file as a POST form; parts whose answers carry an ETag — and otherwise the
// refusal that says why and what the page can do instead, before anything is recorded.
func (s *Service) companionFits(multipart bool) error {
	p := s.urlSigner()
	if p == nil {
		return nil
	}
	forms, etags := s.takesForms(), p.PartAnswersETag()
	if multipart && etags || !multipart && forms {
		return nil
	}
	rule, what := "form", "sends a single file as a POST form, which the store does not take"
	if multipart {
		rule, what = "multipart", "fails every part whose answer carries no ETag header, and the store's part uploads answer none"
	}
	instead := "upload with presign's browser module (presign.js) or the ticket API (POST /v1/uploads), which follow each ticket's method, URL and headers"
	switch {
	case multipart && forms:
		instead = "set shouldUseMultipart: false in Uppy's S3 options, so that every file goes up as one form, or " + instead
	case !multipart && etags:
		instead = "set shouldUseMultipart: true in Uppy's S3 options, so that every file goes up in parts, or " + instead
	}
	return s.refuse(rule, notOnProvider(p, fmt.Sprintf("cannot take Uppy's S3 plugin on this route: Uppy %s; %s", what, instead)))
}

func (s *Service) handleCompanionListParts(w http.ResponseWriter, r *http.Request, p *Principal) error {
	u, err := s.companionUpload(r, p)
	if err != nil {
		return err
	}
	parts, err := s.storedParts(r.Context(), u)
	if err != nil {
		return err
	}
	out := make([]companionPart, len(parts))
	for i, pt := range parts {
		out[i] = companionPart{PartNumber: pt.Number, ETag: pt.ETag, Size: pt.Size}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleCompanionComplete(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Parts []companionPart `json:"parts"`
	}
	if err := decodeLenient(r, &in); err != nil {
		return err
	}
	if len(in.Parts) == 0 {
		return invalid("parts must be an array of {PartNumber, ETag} objects")
	}
	u, err := s.companionUpload(r, p)
	if err != nil {
		return err
	}
	parts := make([]Part, len(in.Parts))
	for i, pt := range in.Parts {
		parts[i] = Part{Number: pt.PartNumber, ETag: pt.ETag}
	}
	f, err := s.completeUpload(r.Context(), u, parts)
	if err != nil {
		return err
	}
	var location string
	if p := s.urlSigner(); p != nil {
		location = p.ObjectURL(f.Key)
	} else {
		loc := s.objectURL(f.Key)
		location = loc.String()
	}
	return writeJSON(w, http.StatusOK, struct {
		Location string `json:"location"`
		Key      string `json:"key"`
		Bucket   string `json:"bucket"`
	}{location, f.Key, s.cfg.Bucket})
}

func (s *Service) handleCompanionAbort(w http.ResponseWriter, r *http.Request, p *Principal) error {
	u, err := s.companionUpload(r, p)
	if err != nil {
		return err
	}
	if _, err := s.abortUpload(r.Context(), p, u, s.clientAddr(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct{}{})
}

// handleCompanionSTS refuses what Companion's /s3/sts does: temporary storage credentials
// would let the browser sign anything, so there would be nothing left to enforce.
func handleCompanionSTS(http.ResponseWriter, *http.Request, *Principal) error {
	return errorf(http.StatusNotImplemented, CodeNotSupported,
		"presign hands out no storage credentials: every upload is signed here, one URL at a time, within the token's limits; use the signing routes (companionEndpoint) without getTemporarySecurityCredentials")
}

// companionUpload is the caller's upload the path names, whose ?key= must be its key (as
// Companion's clients send it back): another key is another upload, which does not exist.
func (s *Service) companionUpload(r *http.Request, p *Principal) (*Upload, error) {
	u, err := s.ownUpload(r.Context(), p, r.PathValue("uploadId"))
	if err != nil {
		return nil, err
	}
	if key := r.URL.Query().Get("key"); key != u.Key {
		return nil, notFoundErr("upload")
	}
	return u, nil
}

// decodeLenient reads a JSON object body into v, ignoring fields v does not have: Companion's
// clients differ between versions in what else they send.
func decodeLenient(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("a JSON object body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalid("request body: %v", err)
	}
	return nil
}

// secondsUntil is how many whole seconds remain until t (Companion answers "expires" in
// seconds).
func secondsUntil(t, now time.Time) int64 {
	return max(int64(t.Sub(now)/time.Second), 0)
}
