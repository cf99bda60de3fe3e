package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// Rotation (SPEC.md §9, protocol/SPEC.md §18): the owner moves to a new identity. The old key
// is retired first, in one transaction, so a leaked key is cut off at once; then every live
// record is opened with the old seed, sealed again under the new one and put by the new
// identity, its live grants made again, and the old record erased by the new identity; each
// live stream likewise (rotatestream.go). The work is resumable: each moved record, and each
// moved stream's first chunk, names the one it replaces in a sealed label.

// RotatedFromLabel is the label a moved record's sealed metadata carries: the id (hex) of the
// record it replaces; likewise a moved stream's first chunk, with the old stream's id. A
// resumed rotation finds what it already moved by it.
const RotatedFromLabel = "rrec.rotated-from"

var (
	// ErrRotatedElsewhere: the old key is already retired in favour of another identity than
	// the one asked (whoever held the key rotated first).
	ErrRotatedElsewhere = errors.New("client: the key is already retired in favour of another identity")
	// ErrSuccessorInUse: the new identity has already transacted, been admitted, been granted
	// records, or succeeded another key; a successor must be a new identity.
	ErrSuccessorInUse = errors.New("client: the new identity is already in use")
)

// RotateStep reports one step of a rotation as it is done.
type RotateStep struct {
	// What: "retire", "end-delegation", "erase" (a record erased without moving: the sealed
	// identity of a recovery setup, a key bundle), "move", "grant", "erase-old",
	// "append-stream" (after each chunk appended to a moved stream: Done entries of Total),
	// "move-stream", "stream-grant", "erase-old-stream", "shared-with-old".
	What   string
	Done   int // records or streams handled so far ("move", "erase-old", "move-stream", "erase-old-stream"), of Total
	Total  int
	Old    protocol.ID // the old record, stream, grant or delegation
	New    protocol.ID // the new record, stream or grant, when there is one
	Detail string      // a name or recipient for people to read
}

// RotateOptions tune a rotation.
type RotateOptions struct {
	// Progress, when set, is called after each step, on the calling goroutine.
	Progress func(RotateStep)
	// StreamNames are names the owner gave its streams: a moved stream keeps the name of
	// these that is the old stream's (StreamNameMatches); a stream none of them names is
	// moved as MovedStreamName. Give the same names when resuming.
	StreamNames []string
}

// MovedRecord is an old record and the record of the new identity that replaces it.
type MovedRecord struct {
	Old, New protocol.ID
	Name     string
	Grants   []ReissuedGrant // made again by this run
}

// ReissuedGrant is a live grant of an old record made again on its new record.
type ReissuedGrant struct {
	Old, New  protocol.ID
	Recipient string // rrec1… identity
}

// SharedWithOld is an owner whose live grants name the old identity: the new identity cannot
// take them over; the owner must grant it again.
type SharedWithOld struct {
	Owner   string // rrec1… identity
	Records []protocol.ID
	Streams []protocol.ID // streams of which it granted the old identity a window
}

// RotateResult is what a rotation did.
type RotateResult struct {
	Successor identity.Public
	// Height is the Rotate's block when this run retired the key; 0 when an earlier run had.
	Height           int64
	Moved            []MovedRecord   // moved by this run (a resumed run lists only what was left)
	Streams          []MovedStream   // streams moved by this run, likewise
	Erased           []protocol.ID   // old records erased without moving (sealed identity, key bundles)
	DelegationsEnded []protocol.ID   // the old identity's delegations this run ended
	SharedWithOld    []SharedWithOld // owners to ask for new grants
	// RecoveryErased: the old identity had a recovery setup, whose sealed identity is
	// erased; the new identity needs a setup of its own.
	RecoveryErased bool
}

// Rotate retires this session's identity in favour of next and moves everything it owns
// there: see the package comment above and SPEC.md §9. Running it again after an error (or a
// crash) finishes the job without doing anything twice; run on an identity already fully
// moved it changes nothing. This Session can no longer transact afterwards; open a Session
// of next to go on.
func (s *Session) Rotate(ctx context.Context, next *identity.Identity, o RotateOptions) (*RotateResult, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(RotateStep) {}
	}
	nextKey := protocol.PubKeyOf(next.Public().Signing)
	if nextKey == s.me {
		return nil, fmt.Errorf("%w: it is this identity", ErrSuccessorInUse)
	}
	res := &RotateResult{Successor: next.Public()}
	height, err := s.retire(ctx, next)
	if err != nil {
		return nil, err
	}
	res.Height = height
	progress(RotateStep{What: "retire", Detail: next.Public().String()})
	ns, err := New(s.nw, next, s.successorOptions())
	if err != nil {
		return res, err
	}
	if err := s.endDelegations(ctx, ns, res, progress); err != nil {
		return res, err
	}
	if err := s.moveRecords(ctx, ns, res, progress); err != nil {
		return res, err
	}
	if err := s.moveStreams(ctx, ns, o.StreamNames, res, progress); err != nil {
		return res, err
	}
	if err := s.sharedWithOld(ctx, res, progress); err != nil {
		return res, err
	}
	return res, nil
}

// retire commits the Rotate unless the key is already retired in favour of next; it returns
// the Rotate's height, 0 when an earlier run committed it.
func (s *Session) retire(ctx context.Context, next *identity.Identity) (int64, error) {
	nextKey := protocol.PubKeyOf(next.Public().Signing)
	t, err := s.retirement(ctx, "/retired/", s.me)
	if err != nil {
		return 0, err
	}
	if t != nil {
		if t.Successor != nextKey {
			return 0, fmt.Errorf("%w: %s at height %d, in favour of %s", ErrRotatedElsewhere, s.me, t.Height,
				identityString(t.Successor, t.SuccessorEnc))
		}
		return 0, nil
	}
	if err := s.checkFresh(ctx, nextKey); err != nil {
		return 0, err
	}
	body, err := protocol.NewRotate(next.Signer(), protocol.PubKeyOf(next.Public().Receiving), s.nw.ChainID, s.me)
	if err != nil {
		return 0, err
	}
	done, err := s.transact(ctx, func(uint64) (protocol.Body, error) { return body, nil })
	if err != nil {
		if errors.Is(err, protocol.ErrAlreadyExists) {
			err = fmt.Errorf("%w: %w", ErrSuccessorInUse, err)
		}
		return 0, fmt.Errorf("rotate: %w", classify(err))
	}
	return done.height, nil
}

// checkFresh refuses a successor the ledger has seen, before anything is signed (the ledger
// refuses it too, already_exists): a clear error instead of a spent sequence.
func (s *Session) checkFresh(ctx context.Context, k protocol.PubKey) error {
	var v struct {
		Sequence uint64 `json:"sequence"`
	}
	if _, err := s.l.query(ctx, "/account/"+k.String(), nil, &v); err != nil && !errors.Is(err, protocol.ErrNotFound) {
		return err
	} else if v.Sequence > 0 {
		return fmt.Errorf("%w: it has signed %d transactions", ErrSuccessorInUse, v.Sequence)
	}
	var acc protocol.Account
	if _, err := s.l.query(ctx, "/admission/"+k.String(), nil, &acc); err == nil {
		return fmt.Errorf("%w: it is admitted to the network", ErrSuccessorInUse)
	} else if !errors.Is(err, protocol.ErrNotFound) {
		return err
	}
	// The ledger would take a key others already grant to, but it is someone's in use: an
	// owner rotating onto it by mistake would merge two people's records and grants.
	var gs protocol.Page[*protocol.GrantState]
	if _, err := s.l.query(ctx, "/grants/recipient/"+k.String()+"?start=0&limit=1", grantPageKey, &gs); err != nil && !errors.Is(err, protocol.ErrNotFound) {
		return err
	} else if len(gs.Items) > 0 {
		return fmt.Errorf("%w: records are shared with it", ErrSuccessorInUse)
	}
	if t, err := s.retirement(ctx, "/predecessor/", k); err != nil {
		return err
	} else if t != nil {
		return fmt.Errorf("%w: it already succeeds %s", ErrSuccessorInUse, t.Old)
	}
	return nil
}

// retirement reads /retired/<k> or /predecessor/<k>, confirmed; nil when there is none.
func (s *Session) retirement(ctx context.Context, path string, k protocol.PubKey) (*protocol.Retirement, error) {
	var t protocol.Retirement
	if _, err := s.l.query(ctx, path+k.String(), nil, &t); errors.Is(err, protocol.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, classify(err)
	}
	if (path == "/retired/" && t.Old != k) || (path == "/predecessor/" && t.Successor != k) {
		return nil, fmt.Errorf("%w: answer names another key", ErrNodeAnswer)
	}
	return &t, nil
}

// Retirement is the Rotate that retired this identity's key, as f+1 nodes say; nil while it
// is not retired.
func (s *Session) Retirement(ctx context.Context) (*protocol.Retirement, error) {
	return s.retirement(ctx, "/retired/", s.me)
}

// Predecessor is the Rotate in which this identity succeeded another key; nil if none.
func (s *Session) Predecessor(ctx context.Context) (*protocol.Retirement, error) {
	return s.retirement(ctx, "/predecessor/", s.me)
}

// SuccessorString is the rrec1… identity a retirement names as the key's successor.
func SuccessorString(t *protocol.Retirement) string {
	return identityString(t.Successor, t.SuccessorEnc)
}

// successorOptions are this session's options, for the successor's session.
func (s *Session) successorOptions() *Options {
	o := &Options{HTTP: s.blobAPI.HTTP, TempDir: s.tmp, Logger: s.log}
	if _, ok := s.blobs.(*nodeBlobs); !ok {
		o.Blobs = s.blobs
	}
	return o
}

// endDelegations ends, signed by the successor, every delegation of the old identity that
// has not ended; their grants end with the records they are of, erased below.
func (s *Session) endDelegations(ctx context.Context, ns *Session, res *RotateResult, progress func(RotateStep)) error {
	ds, err := s.Delegations(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Ended {
			continue
		}
		// EndDelegation's owner-or-caregiver check would refuse the successor, which the
		// ledger accepts for the old owner's delegations (ledger/SPEC.md §4.3).
		if _, err := ns.Submit(ctx, &protocol.EndDelegation{Delegation: d.ID}); err != nil && !errors.Is(err, protocol.ErrGrantRevoked) {
			return fmt.Errorf("ending delegation %s: %w", d.ID, err)
		}
		res.DelegationsEnded = append(res.DelegationsEnded, d.ID)
		progress(RotateStep{What: "end-delegation", Old: d.ID, Detail: identityString(d.Caregiver, d.CaregiverEnc)})
	}
	return nil
}

// sharedWithOld lists the owners whose live grants name the old identity.
func (s *Session) sharedWithOld(ctx context.Context, res *RotateResult, progress func(RotateStep)) error {
	sh, err := s.Shared(ctx)
	if err != nil {
		return err
	}
	at := map[string]int{}
	// of is the owner's entry, added at its first grant.
	of := func(owner string) *SharedWithOld {
		i, ok := at[owner]
		if !ok {
			i = len(res.SharedWithOld)
			at[owner] = i
			res.SharedWithOld = append(res.SharedWithOld, SharedWithOld{Owner: owner})
		}
		return &res.SharedWithOld[i]
	}
	for _, x := range sh {
		if x.Err != nil && !errors.Is(x.Err, ErrNotYetValid) {
			continue
		}
		o := of(OwnerString(x.Grant))
		if r := o.Records; len(r) == 0 || r[len(r)-1] != x.Grant.Record {
			o.Records = append(r, x.Grant.Record)
		}
	}
	shs, err := s.SharedStreams(ctx)
	if err != nil {
		return err
	}
	for _, x := range shs {
		if x.Err != nil && !errors.Is(x.Err, ErrNotYetValid) {
			continue
		}
		o := of(OwnerString(x.Grant.Grant))
		if st := o.Streams; len(st) == 0 || st[len(st)-1] != x.Stream.ID {
			o.Streams = append(st, x.Stream.ID)
		}
	}
	for _, x := range res.SharedWithOld {
		progress(RotateStep{What: "shared-with-old", Detail: x.Owner, Total: len(x.Records) + len(x.Streams)})
	}
	return nil
}

// delegationPurpose reports whether a grant was made for a delegation: it ends with it and
// is not made again.
func delegationPurpose(p string) bool {
	return strings.HasPrefix(p, bundlePurpose) || strings.HasPrefix(p, readPurpose)
}
