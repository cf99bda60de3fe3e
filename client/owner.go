package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/cidsum"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// ErrSequenceMoved: another client of the same identity committed a
// transaction while Put was sealing, so the record id the file was sealed
// for is taken, and the input cannot be read again to seal it anew.
var ErrSequenceMoved = errors.New("client: another client of this identity committed meanwhile; put again")

// Put seals size bytes of file under a fresh per-record key, uploads the
// sealed blob to a node, checks the CID the node computed against the one
// computed here, and commits the record. It returns the record id.
// meta.Size is set to size. If the identity's sequence moves meanwhile the
// file is sealed again when it is an io.Seeker; otherwise Put fails with
// ErrSequenceMoved.
//
// While a delegation with the grant or read right is live or yet to begin, the new record
// joins its scope (SPEC.md §7): on an error of that step the record is committed and its id
// returned with the error.
func (s *Session) Put(ctx context.Context, file io.Reader, size int64, meta envelope.Metadata, opts ...CallOption) (protocol.ID, error) {
	id, err := s.put(ctx, file, size, meta, opts...)
	if err != nil || meta.MediaType == KeyBundleType || meta.MediaType == SealedIdentityType {
		return id, err
	}
	return id, s.joinDelegations(ctx, id)
}

func (s *Session) put(ctx context.Context, file io.Reader, size int64, meta envelope.Metadata, opts ...CallOption) (protocol.ID, error) {
	o := collect(opts)
	meta.Size = size
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admit(ctx); err != nil { // before the upload, which nodes refuse otherwise
		return protocol.ID{}, err
	}
	for attempt := 0; ; attempt++ {
		seq, err := s.sequence(ctx)
		if err != nil {
			return protocol.ID{}, err
		}
		id := protocol.RecordID(s.nw.ChainID, s.me, seq)
		done, err := s.putAt(ctx, seq, id, file, size, meta, o)
		if err == nil {
			s.log.Debug("record put", "record", id, "height", done.height)
			return id, nil
		}
		if !errors.Is(err, protocol.ErrBadSequence) || attempt == 3 {
			return protocol.ID{}, err
		}
		s.seqKnown = false
		sk, ok := file.(io.Seeker)
		if !ok {
			return protocol.ID{}, fmt.Errorf("%w: %w", ErrSequenceMoved, err)
		}
		if _, err := sk.Seek(0, io.SeekStart); err != nil {
			return protocol.ID{}, err
		}
		// The sequence that was taken may still be in a mempool: give it
		// time to commit before reading the sequence again.
		if err := sleep(ctx, time.Duration(attempt+1)*150*time.Millisecond); err != nil {
			return protocol.ID{}, err
		}
	}
}

func (s *Session) putAt(ctx context.Context, seq uint64, id protocol.ID, file io.Reader, size int64, meta envelope.Metadata, o *callOpts) (*txDone, error) {
	dk, err := s.id.DelegatingKey(id[:])
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.tmp, "rrec-put-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c, sealed, err := sealTo(f, &countingReader{file, &counter{phase: "seal", total: size, fn: o.progress}}, dk.PublicKey(), meta)
	if err != nil {
		return nil, err
	}
	h, err := envelope.ParseHeader(io.NewSectionReader(f, 0, sealed))
	if err != nil {
		return nil, err
	}
	capsule, err := h.Capsule().MarshalBinary()
	if err != nil {
		return nil, err
	}
	up := &countingReaderAt{r: f, c: &counter{phase: "upload", total: sealed, fn: o.progress}}
	got, err := s.blobs.Upload(ctx, up, sealed)
	if err != nil {
		return nil, fmt.Errorf("client: upload: %w", classify(err))
	}
	if !got.Equals(c) {
		return nil, fmt.Errorf("%w: %s, computed %s", ErrCIDMismatch, got, c)
	}
	body := &protocol.PutRecord{CID: []byte(c.String()), Size: uint64(sealed), DelegatingKey: protocol.PubKeyOf(dk.PublicKey())}
	copy(body.Capsule[:], capsule)
	return s.submitAt(ctx, seq, body)
}

// sealTo seals r into f and computes the sealed bytes' CID in the same pass.
func sealTo(f *os.File, r io.Reader, pk *umbral.PublicKey, meta envelope.Metadata) (cid.Cid, int64, error) {
	pr, pw := io.Pipe()
	type result struct {
		c   cid.Cid
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, n, err := cidsum.Sum(pr)
		pr.CloseWithError(err) // unblocks the sealer if hashing failed
		done <- result{c, n, err}
	}()
	w, err := envelope.Seal(io.MultiWriter(f, pw), pk, meta, nil)
	if err == nil {
		_, err = io.Copy(w, r)
		if err == nil {
			err = w.Close()
		}
	}
	pw.CloseWithError(err)
	res := <-done
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("client: sealing: %w", err)
	}
	if res.err != nil {
		return cid.Undef, 0, fmt.Errorf("client: computing the CID: %w", res.err)
	}
	return res.c, res.n, nil
}

type countingReaderAt struct {
	r io.ReaderAt
	c *counter
}

func (r *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if off+int64(n) > r.c.done { // a retried upload reads from the start again
		r.c.add(int(off + int64(n) - r.c.done))
	}
	return n, err
}

// GrantOptions shape a grant.
type GrantOptions struct {
	// Duration ends the grant this long after now (by block time); NotAfter
	// sets the end directly. Both zero: the grant lasts until revoked.
	Duration  time.Duration
	NotAfter  time.Time
	NotBefore time.Time
	Purpose   string
	// Threshold is how many nodes must re-encrypt (0: the ledger's default,
	// 2f+1 of n = 3f+1).
	Threshold int
}

// GrantResult is a committed grant and how its fragments were deposited.
type GrantResult struct {
	Grant    protocol.ID
	Height   int64
	Deposits []DepositResult // one per grant node; Err says why a node missed its fragment
	Accepted int
}

// Grant lets recipient have record re-encrypted: it makes one key fragment
// per registry node, commits the grant with their commitments, and deposits
// each fragment with its node. It succeeds once at least threshold nodes
// accepted; the result lists the rest. With fewer it returns the result
// and a *DepositError (the grant is committed but not usable yet).
func (s *Session) Grant(ctx context.Context, record protocol.ID, recipient identity.Public, o GrantOptions) (*GrantResult, error) {
	rec, err := s.Record(ctx, record)
	if err != nil {
		return nil, err
	}
	if rec.Owner != s.me {
		return nil, fmt.Errorf("%w: the record belongs to another identity", ErrUnauthorized)
	}
	dk, err := s.ownKey(rec)
	if err != nil {
		return nil, err
	}
	return s.grantWith(ctx, record, dk, s.id.Public().Receiving, recipient, o)
}

// grantWith makes the fragments of a grant of record with its delegating key dk, signs
// them and the Grant with this identity's key (the owner's, or a caregiver's for the owner
// whose receiving key is ownerEnc), commits it and deposits the fragments.
func (s *Session) grantWith(ctx context.Context, record protocol.ID, dk *umbral.SecretKey, ownerEnc *umbral.PublicKey,
	recipient identity.Public, o GrantOptions) (*GrantResult, error) {
	frags, body, err := s.makeGrant(record, dk, ownerEnc, recipient, o)
	if err != nil {
		return nil, err
	}
	return s.commitGrant(ctx, frags, body)
}

// makeGrant makes the fragments of a grant of record (or stream) with its delegating key dk
// for every registry node, and the Grant that commits to them.
func (s *Session) makeGrant(record protocol.ID, dk *umbral.SecretKey, ownerEnc *umbral.PublicKey,
	recipient identity.Public, o GrantOptions) (*Fragments, *protocol.Grant, error) {
	keys := make([]protocol.PubKey, len(s.nw.Nodes))
	for i, n := range s.nw.Nodes {
		keys[i] = n.ProxyKey
	}
	frags, err := MakeFragments(dk, s.id.Signer(), recipient.Receiving, keys, o.Threshold)
	if err != nil {
		return nil, nil, err
	}
	body := &protocol.Grant{Record: record, OwnerEnc: protocol.PubKeyOf(ownerEnc), RecipientSig: protocol.PubKeyOf(recipient.Signing),
		RecipientEnc: protocol.PubKeyOf(recipient.Receiving), Threshold: uint8(frags.Threshold),
		Nodes: frags.Nodes, Purpose: o.Purpose}
	if !o.NotBefore.IsZero() {
		body.NotBefore = o.NotBefore.UnixNano()
	}
	switch {
	case !o.NotAfter.IsZero():
		body.NotAfter = o.NotAfter.UnixNano()
	case o.Duration > 0:
		body.NotAfter = time.Now().Add(o.Duration).UnixNano()
	}
	return frags, body, nil
}

// commitGrant commits body (a Grant, or a StreamGrant around one) and deposits frags with
// the grant's nodes.
func (s *Session) commitGrant(ctx context.Context, frags *Fragments, body protocol.Body) (*GrantResult, error) {
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
	if err != nil {
		return nil, err
	}
	res := &GrantResult{Grant: protocol.GrantID(s.nw.ChainID, s.me, done.seq), Height: done.height}
	// A node takes a deposit only for a grant it has committed; one a block behind waits.
	res.Deposits, err = s.api.Deposit(ctx, s.nw.ChainID, res.Grant, done.height, frags, s.nw.Nodes)
	for _, d := range res.Deposits {
		if d.Err == nil {
			res.Accepted++
		}
	}
	return res, err
}

// Erase erases one of the identity's records: every grant of it is
// revoked, every node deletes the blob, and the ledger keeps a tombstone.
// Copies recipients already decrypted are beyond its reach.
func (s *Session) Erase(ctx context.Context, record protocol.ID) error {
	_, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.EraseRecord{Record: record}, nil })
	return err
}

// RevokeResult is a committed revocation and how many of the grant's nodes have reported,
// each in a transaction signed with its proxy key, that they hold no fragment of it any more.
type RevokeResult struct {
	Height    int64 // the block that revoked the grant
	Nodes     int   // the grant's nodes
	Destroyed int   // the nodes that reported destroying their fragment (FragmentDestroyed)
}

// Revoke ends a grant of one of the identity's records, or, for a caregiver with the revoke
// right, of its owner's (SPEC.md §7). Once it commits, every node deletes
// its fragment and refuses to re-encrypt, and reports the deletion on the ledger; WaitDestroyed
// waits for those reports.
func (s *Session) Revoke(ctx context.Context, grant protocol.ID) (*RevokeResult, error) {
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return &protocol.Revoke{Grant: grant}, nil })
	if err != nil {
		return nil, err
	}
	res, err := s.destroyed(ctx, grant)
	if err != nil {
		return nil, err
	}
	res.Height = done.height
	return res, nil
}

// WaitDestroyed waits until at least n nodes of the ended grant (n ≤ 0: all of them) have
// reported destroying their fragment, or ctx ends; it returns how many had, and ctx's error
// if fewer.
func (s *Session) WaitDestroyed(ctx context.Context, grant protocol.ID, n int) (*RevokeResult, error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		res, err := s.destroyed(ctx, grant)
		if err != nil || res.Destroyed >= res.Nodes || (n > 0 && res.Destroyed >= n) {
			return res, err
		}
		if err := sleep(ctx, wait); err != nil {
			return res, err
		}
	}
}

// destroyed counts the grant's nodes that reported destroying their fragment, as f+1 nodes
// agree.
func (s *Session) destroyed(ctx context.Context, grant protocol.ID) (*RevokeResult, error) {
	var g protocol.GrantState
	if _, err := s.l.query(ctx, "/grant/"+grant.String(), nil, &g); err != nil {
		return nil, fmt.Errorf("grant %s: %w", grant, err)
	}
	if g.ID != grant {
		return nil, fmt.Errorf("%w: answer names another grant", ErrNodeAnswer)
	}
	return &RevokeResult{Height: g.RevokedHeight, Nodes: len(g.Nodes), Destroyed: len(g.Destroyed)}, nil
}

// Record returns a committed record.
func (s *Session) Record(ctx context.Context, id protocol.ID) (*protocol.Record, error) {
	var r protocol.Record
	if _, err := s.l.query(ctx, "/record/"+id.String(), recordKey, &r); err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("%w: answer names another record", ErrNodeAnswer)
	}
	return &r, nil
}

// GrantState returns a committed grant and what happened to it since.
func (s *Session) GrantState(ctx context.Context, id protocol.ID) (*protocol.GrantState, error) {
	var g protocol.GrantState
	if _, err := s.l.query(ctx, "/grant/"+id.String(), grantKey, &g); err != nil {
		return nil, fmt.Errorf("grant %s: %w", id, err)
	}
	if g.ID != id {
		return nil, fmt.Errorf("%w: answer names another grant", ErrNodeAnswer)
	}
	return &g, nil
}

// RecordsPage lists the identity's records from position start (limit 0:
// a full page of protocol.MaxPage).
func (s *Session) RecordsPage(ctx context.Context, start uint64, limit int) (*protocol.Page[*protocol.Record], error) {
	p, _, err := page[*protocol.Record](ctx, s, fmt.Sprintf("/records/owner/%s", s.me), recordPageKey, start, limit)
	return p, err
}

// Records lists all the identity's records, oldest first.
func (s *Session) Records(ctx context.Context) ([]*protocol.Record, error) {
	return all[*protocol.Record](ctx, s, fmt.Sprintf("/records/owner/%s", s.me), recordPageKey)
}

// Grants lists a record's grants, oldest first, live or not.
func (s *Session) Grants(ctx context.Context, record protocol.ID) ([]*protocol.GrantState, error) {
	return all[*protocol.GrantState](ctx, s, "/grants/record/"+record.String(), grantPageKey)
}

// Audit returns a record's whole audit log in order: the put, grants, access requests,
// revocations, expiries, erasure, holding reports and fragment destructions, each with
// height and time. Every page is confirmed by f+1 nodes, so no f nodes can hide an entry.
func (s *Session) Audit(ctx context.Context, record protocol.ID) ([]protocol.AuditEntry, error) {
	return all[protocol.AuditEntry](ctx, s, "/audit/"+record.String(), nil)
}

// page reads one page of a list, confirmed by f+1 nodes on key.
func page[T any](ctx context.Context, s *Session, path string, key decisive, start uint64, limit int) (*protocol.Page[T], answered, error) {
	if limit <= 0 || limit > protocol.MaxPage {
		limit = protocol.MaxPage
	}
	var p protocol.Page[T]
	at, err := s.l.query(ctx, fmt.Sprintf("%s?start=%d&limit=%d", path, start, limit), key, &p)
	if err != nil {
		return nil, at, err
	}
	return &p, at, nil
}

// maxListed bounds what all collects, against a node that never ends a
// listing.
const maxListed = 1_000_000

func all[T any](ctx context.Context, s *Session, path string, key decisive) ([]T, error) {
	out, _, err := allAt[T](ctx, s, path, key)
	return out, err
}

// allAt is all, and the earliest block time the pages' quorums answered at.
func allAt[T any](ctx context.Context, s *Session, path string, key decisive) ([]T, int64, error) {
	var out []T
	var start uint64
	first := int64(-1)
	for {
		p, at, err := page[T](ctx, s, path, key, start, 0)
		if err != nil {
			return nil, 0, err
		}
		if first < 0 || at.time < first {
			first = at.time
		}
		out = append(out, p.Items...)
		if p.Next < 0 || len(p.Items) == 0 {
			return out, first, nil
		}
		if uint64(p.Next) <= start || len(out) > maxListed {
			return nil, 0, fmt.Errorf("%w: listing does not advance", ErrNodeAnswer)
		}
		start = uint64(p.Next)
	}
}
