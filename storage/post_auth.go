package storage

import (
	"maps"

	"presign/sigv2"
	"presign/sigv4"
)

// verifyForm checks the signature of a POST form, Signature Version 4 or 2, and the form
// against its policy, and returns the policy. form maps lower-case field names to values.
// A SigV2 form has the same policy rules as a SigV4 one; its signature fields need no
// condition, and it may not carry a presign extension field: the extensions are promised for
// SigV4 only, whatever covers the field.
func (s *Server) verifyForm(form map[string]string, req *request) (*sigv4.PostPolicy, error) {
	// The kind is known before the signature is checked, and the access log names it for a
	// refused form too; the access key only once it is verified.
	v2 := sigv2.InForm(form)
	req.authKind = authPostV4
	if v2 {
		req.authKind = authPostV2
	}
	if v, ok := form["acl"]; ok && !cannedACLs[v] {
		return nil, errACLWidens("the canned ACL " + v)
	}
	if !v2 {
		a, err := s.verifier.VerifyPost(form, req.bucket, s.now())
		if err != nil {
			return nil, err
		}
		req.accessKey = a.AccessKeyID
		return a.Policy, nil
	}
	if s.cfg.NoSigV2 {
		return nil, &sigv2.Error{Kind: sigv2.KindUnsupported}
	}
	a, err := s.v2.VerifyPost(form)
	if err != nil {
		return nil, err
	}
	req.accessKey = a.AccessKeyID
	if name, ok := extensionParam(maps.Keys(form)); ok {
		return nil, errExtensionUnsigned(name, "signed with Signature Version 2")
	}
	p, err := sigv4.ParsePostPolicy(form["policy"])
	if err != nil {
		return nil, err
	}
	fields := maps.Clone(form)
	for _, f := range sigv2.PostFields {
		delete(fields, f)
	}
	if err := p.Allows(fields, req.bucket, s.now()); err != nil {
		return nil, err
	}
	return p, nil
}
