// Package envelope implements the Resilient Records sealed-file format: a streaming,
// chunked encryption of one file whose random file key is wrapped by an Umbral capsule under
// the record's delegating public key (SPEC.md has the exact format).
//
// Sealing needs only the delegating public key:
//
//	w, err := envelope.Seal(dst, delegatingPK, envelope.Metadata{Name: "scan.dcm", Size: size}, nil)
//	io.Copy(w, src)
//	w.Close()
//
// Opening needs an Unwrapper: the owner's delegating secret key (OwnerKey) or a recipient's
// receiving key with verified cfrags from the proxies (RecipientKey). A recipient first reads
// the capsule with ParseHeader, obtains cfrags for it, then unwraps:
//
//	h, err := envelope.ParseHeader(src)          // no key needed
//	cfrags := askProxies(h.Capsule())
//	o, err := h.Unwrap(envelope.RecipientKey{Receiving: sk, Delegating: pk, CFrags: cfrags})
//	io.Copy(dst, o.NewReader(src))
//
// Open and NewReaderAt do both steps at once. Opened.CiphertextRange names the bytes a
// remote reader must fetch for a plaintext range, and ReaderAt decrypts only those chunks.
//
// Every chunk is authenticated (ChaCha20-Poly1305 in age's STREAM construction); truncation,
// reordering, duplication and extension are errors. Errors for malformed input wrap one of the
// sentinels ErrNotEnvelope, ErrUnsupportedVersion, ErrTruncated, ErrCorrupt, ErrAuthentication
// or ErrWrongKey.
package envelope
